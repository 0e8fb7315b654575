#!/usr/bin/env bash
# Installs everything this project needs on a Debian 12 machine (run as root):
# Debian packages (PostgreSQL 15, R + Shiny, chromium), a Python venv with the pinned requirements.
#   scripts/bootstrap.sh         what `make up` runs (requirements.txt)
#   scripts/bootstrap.sh --dev   that and what the tests, linters and benchmarks need (requirements-dev.txt)
# Safe to run again: it only installs what is missing. Prints what it does, and how long each part took.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CLICKSTREAM_VENV:-/opt/clickstream-analytics/venv}"
STAMP_DIR="${VENV}/.stamps"
REQUIREMENTS="${here}/requirements.txt"
case "${1:-}" in
  --dev) REQUIREMENTS="${here}/requirements-dev.txt" ;;
  "") ;;
  *) echo "usage: $0 [--dev]" >&2; exit 2 ;;
esac

APT_PACKAGES=(
  python3 python3-venv ca-certificates curl git make
  postgresql postgresql-contrib postgresql-client ssl-cert openssl
  r-base-core r-cran-shiny r-cran-dbi r-cran-rpostgresql r-cran-ggplot2 r-cran-dt
  r-cran-bslib r-cran-scales r-cran-jsonlite
  chromium fonts-dejavu-core
  zip unzip procps iproute2
  dpkg-dev  # dpkg-scanpackages: tests/mirror build a package mirror (playbooks/package-mirror.yml)
  barman-cli-cloud python3-boto3  # WAL archiving and base backups (roles/pg_backup, docs/backups.md)
)

log() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*"; }
started=$SECONDS
took() { log "$1 took $((SECONDS - started)) s"; started=$SECONDS; }

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
  took "Debian packages"
else
  log "Debian packages already installed"
  started=$SECONDS
fi

# The venv is built from Debian's python in a world-readable place: tasks that become the postgres user
# must be able to run its interpreter (see docs/local-mode.md).
if [ ! -x "${VENV}/bin/python" ]; then
  log "creating venv ${VENV}"
  mkdir -p "$(dirname "${VENV}")"
  /usr/bin/python3 -m venv "${VENV}"
  chmod -R a+rX "$(dirname "${VENV}")"
  took "venv"
fi
mkdir -p "${STAMP_DIR}"
# A stamp per requirements file's content (requirements-dev.txt's with requirements.txt's, which it includes): a
# changed pin installs again. Installing the dev set installs the runtime set too, so it stamps both.
runtime_stamp="${STAMP_DIR}/$(sha256sum "${here}/requirements.txt" | cut -d' ' -f1)"
req_stamp="$runtime_stamp"
if [ "$REQUIREMENTS" != "${here}/requirements.txt" ]; then
  req_stamp="${STAMP_DIR}/$(cat "$REQUIREMENTS" "${here}/requirements.txt" | sha256sum | cut -d' ' -f1)"
fi
if [ ! -f "$req_stamp" ]; then
  log "installing Python requirements ($(basename "$REQUIREMENTS")) into ${VENV}"
  # uv (pinned in requirements.txt) installs the pinned set: one resolve, downloads in parallel, no byte-compiling
  # of the tens of thousands of modules (most of Ansible's bundled collections are never imported; Python compiles
  # what is used on first import). pip resolves, downloads and compiles one package after the other: several
  # times the wall time on a fresh machine (BENCHMARKS.md, "make up on a fresh machine"). Wheels only: every pin
  # has a wheel for Debian 12's Python, so nothing is compiled here (no gcc, no headers) and a pin without one
  # fails at once. uv does not read pip's configuration: where only a pip.conf mirror reaches the packages,
  # or uv fails for any other reason, pip installs the same set.
  uv_pin="$(grep -E '^uv==' "${here}/requirements.txt")"
  if "${VENV}/bin/pip" install -q --disable-pip-version-check --only-binary :all: "$uv_pin" &&
    "${VENV}/bin/uv" pip install --quiet --python "${VENV}/bin/python" --only-binary :all: -r "$REQUIREMENTS"; then
    :
  else
    log "uv could not install the requirements; installing them with pip"
    "${VENV}/bin/pip" install -q --disable-pip-version-check --only-binary :all: --no-compile -r "$REQUIREMENTS"
  fi
  chmod -R a+rX "${VENV}"
  touch "$req_stamp" "$runtime_stamp"
  took "Python requirements"
else
  log "Python requirements ($(basename "$REQUIREMENTS")) already installed"
fi
log "ready: venv ${VENV}"
