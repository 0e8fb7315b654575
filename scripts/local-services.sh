#!/usr/bin/env bash
# Stop or show the local-mode services: the AWS emulator, ingest endpoint, ETL scheduler, Shiny and the
# two PostgreSQL clusters. Usage: scripts/local-services.sh stop|status
set -uo pipefail
RUN_DIR="${CLICKSTREAM_RUN_DIR:-/run/clickstream-analytics}"
services() {
  # The emulator's pid file carries its port (clickstream-moto-5000), so list what is there.
  echo clickstream-shiny clickstream-etl-scheduler clickstream-ingest
  for f in "$RUN_DIR"/clickstream-moto-*.pid; do [ -e "$f" ] && basename "$f" .pid; done
}
CLUSTERS=(oltp dw)

status() {
  for s in $(services); do
    if start-stop-daemon --status --pidfile "$RUN_DIR/$s.pid" 2>/dev/null; then
      echo "$s: running (pid $(cat "$RUN_DIR/$s.pid"))"
    else
      echo "$s: stopped"
    fi
  done
  for c in "${CLUSTERS[@]}"; do
    if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | awk '{print $2}' | grep -qx "$c"; then
      pg_lsclusters -h | awk -v c="$c" '$2==c {print "postgresql " $1 "/" $2 ": " $4 " (port " $3 ")"}'
    fi
  done
}

stop() {
  for s in $(services); do
    if start-stop-daemon --stop --pidfile "$RUN_DIR/$s.pid" --remove-pidfile --retry TERM/15/KILL/5 >/dev/null 2>&1; then
      echo "stopped $s"
    fi
  done
  for c in "${CLUSTERS[@]}"; do
    if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | awk '$4=="online"{print $2}' | grep -qx "$c"; then
      pg_ctlcluster 15 "$c" stop && echo "stopped postgresql 15/$c"
    fi
  done
}

case "${1:-}" in
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 stop|status" >&2; exit 2 ;;
esac
