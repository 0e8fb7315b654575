#!/usr/bin/env bash
# Installs everything this project needs on a Debian 12 machine (run as root):
# Debian packages (PostgreSQL 15, R + Shiny, chromium), a Python venv with the pinned requirements.
# Safe to run again: it only installs what is missing. Prints what it does.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CLICKSTREAM_VENV:-/opt/clickstream-analytics/venv}"
STAMP_DIR="${VENV}/.stamps"

APT_PACKAGES=(
  python3 python3-venv python3-dev ca-certificates curl git make gcc libpq-dev
  postgresql postgresql-contrib postgresql-client ssl-cert openssl
  r-base-core r-cran-shiny r-cran-dbi r-cran-rpostgresql r-cran-ggplot2 r-cran-dt
  r-cran-bslib r-cran-scales r-cran-jsonlite
  chromium fonts-dejavu-core
  zip unzip procps iproute2
  dpkg-dev  # dpkg-scanpackages: tests/mirror build a package mirror (playbooks/package-mirror.yml)
  barman-cli-cloud python3-boto3  # WAL archiving and base backups (roles/pg_backup, docs/backups.md)
)

log() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*"; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing ${#missing[@]} Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The postgresql package would create and start a default cluster; the project manages its own clusters.
  mkdir -p /etc/postgresql-common
  if [ ! -f /etc/postgresql-common/createcluster.conf ] || ! grep -q '^create_main_cluster = false' /etc/postgresql-common/createcluster.conf; then
    echo 'create_main_cluster = false' >> /etc/postgresql-common/createcluster.conf
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages already installed"
fi

# The venv is built from Debian's python in a world-readable place: tasks that become the postgres user
# must be able to run its interpreter (see docs/local-mode.md).
if [ ! -x "${VENV}/bin/python" ]; then
  log "creating venv ${VENV}"
  mkdir -p "$(dirname "${VENV}")"
  /usr/bin/python3 -m venv "${VENV}"
  chmod -R a+rX "$(dirname "${VENV}")"
fi
mkdir -p "${STAMP_DIR}"
req_hash="$(sha256sum "${here}/requirements.txt" | cut -d' ' -f1)"
if [ ! -f "${STAMP_DIR}/${req_hash}" ]; then
  log "installing Python requirements into ${VENV}"
  "${VENV}/bin/pip" install -q --upgrade pip
  "${VENV}/bin/pip" install -q -r "${here}/requirements.txt"
  chmod -R a+rX "${VENV}"
  touch "${STAMP_DIR}/${req_hash}"
else
  log "Python requirements already installed"
fi
log "ready: venv ${VENV}"
