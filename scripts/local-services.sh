#!/usr/bin/env bash
# Stop or show the local-mode services of one run: the AWS emulator, ingest endpoint, ETL scheduler, Shiny, the
# backup loops and the PostgreSQL clusters. Usage: scripts/local-services.sh stop|status
#
# A run is its run directory (CLICKSTREAM_RUN_DIR, default the local inventory's clickstream_local_run_dir,
# /run/clickstream-analytics): the services' pid files are there, and the postgresql role records each cluster it
# manages there (postgresql_run_dir) as postgresql-<version>-<name>.cluster holding "<version> <name>". This script
# touches only what that directory records, so a test's run never stops the user's `make up` platform.
set -uo pipefail
RUN_DIR="${CLICKSTREAM_RUN_DIR:-/run/clickstream-analytics}"
services() {
  # The emulator's pid file carries its port (clickstream-moto-5000), so list what is there.
  echo clickstream-shiny clickstream-etl-scheduler clickstream-ingest
  for f in "$RUN_DIR"/clickstream-moto-*.pid; do [ -e "$f" ] && basename "$f" .pid; done
  # The backup loop of each cluster (pg_backup role: clickstream-pg-backup-<cluster>).
  for f in "$RUN_DIR"/clickstream-pg-backup-*.pid; do [ -e "$f" ] && basename "$f" .pid; done
}

# "<version> <name>" of each cluster recorded in the run directory.
clusters() {
  local f version name
  for f in "$RUN_DIR"/postgresql-*.cluster; do
    [ -e "$f" ] || continue
    version="" name=""
    read -r version name _ <"$f"
    if [[ "$version" =~ ^[0-9]+$ && "$name" =~ ^[A-Za-z0-9_.-]+$ ]]; then
      echo "$version $name"
    else
      echo "$0: ignoring $f: not \"<version> <cluster>\"" >&2
    fi
  done
}

# The pg_lsclusters line of one cluster (version port status), empty when there is no such cluster.
cluster_line() {
  command -v pg_lsclusters >/dev/null || return 0
  pg_lsclusters -h 2>/dev/null | awk -v v="$1" -v c="$2" '$1==v && $2==c {print $1, $3, $4}'
}

status() {
  for s in $(services); do
    if start-stop-daemon --status --pidfile "$RUN_DIR/$s.pid" 2>/dev/null; then
      echo "$s: running (pid $(cat "$RUN_DIR/$s.pid"))"
    else
      echo "$s: stopped"
    fi
  done
  local found=0 version name line port state
  while read -r version name; do
    found=1
    line="$(cluster_line "$version" "$name")"
    if [ -n "$line" ]; then
      read -r _ port state <<<"$line"
      echo "postgresql $version/$name: $state (port $port)"
    else
      echo "postgresql $version/$name: no such cluster"
    fi
  done < <(clusters)
  [ "$found" = 1 ] || echo "postgresql: no cluster recorded in $RUN_DIR"
}

stop() {
  for s in $(services); do
    if start-stop-daemon --stop --pidfile "$RUN_DIR/$s.pid" --remove-pidfile --retry TERM/15/KILL/5 >/dev/null 2>&1; then
      echo "stopped $s"
    fi
  done
  local version name line
  while read -r version name; do
    line="$(cluster_line "$version" "$name")"
    if [[ "${line##* }" == online* ]]; then
      pg_ctlcluster "$version" "$name" stop </dev/null && echo "stopped postgresql $version/$name"
    fi
  done < <(clusters)
}

case "${1:-}" in
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 stop|status" >&2; exit 2 ;;
esac
