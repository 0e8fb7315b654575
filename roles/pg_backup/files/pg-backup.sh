#!/bin/bash
# Backups of one PostgreSQL cluster with Barman's cloud tools (barman-cli-cloud), installed by the pg_backup role.
# Settings come from the file `env` next to this script (bucket, prefix, endpoint, port, retention).
#
#   pg-backup wal-archive <path>        archive_command: upload one WAL segment (compressed, encrypted)
#   pg-backup wal-restore <wal> <path>  restore_command: fetch one WAL segment during a recovery
#   pg-backup base-backup               take a base backup, apply the retention policy, publish the ages
#   pg-backup list                      the base backups in the bucket (JSON)
#   pg-backup choose [<target time>]    id of the newest base backup finished before the time (or the newest)
#   pg-backup fetch <backup id> <dir>   download a base backup into an empty data directory
#   pg-backup metrics                   publish the ages of the last base backup and of the last archived WAL
#   pg-backup check-system              none|same|different: are the prefix's backups of this cluster?
#   pg-backup loop                      local mode: base backups every BASE_INTERVAL_SECONDS, metrics every
#                                       METRICS_INTERVAL_SECONDS (where no cron runs)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=/dev/null
set -a; . "$HERE/env"; set +a

cloud=(--cloud-provider aws-s3)
[ -n "${ENDPOINT_URL:-}" ] && cloud+=(--endpoint-url "$ENDPOINT_URL")
enc=()
[ -n "${SSE:-}" ] && enc=(-e "$SSE")
url="s3://$BUCKET"

base_backup() {
  # A base backup is useless without the WAL written during it: refuse while archiving is off.
  if [ "$(psql -X -At -h "$PGHOST" -p "$PGPORT" -d postgres -c 'SHOW archive_mode')" = off ]; then
    echo "pg-backup: archive_mode is off on port $PGPORT: no base backup without WAL archiving" >&2
    return 1
  fi
  barman-cloud-backup "${cloud[@]}" "${enc[@]}" --gzip --immediate-checkpoint \
    -h "$PGHOST" -p "$PGPORT" "$url" "$SERVER"
  touch "$STATE_DIR/last-base-backup"
  # Retention: keep what a recovery to any point of the window needs (older base backups and their WAL go).
  barman-cloud-backup-delete "${cloud[@]}" -r "RECOVERY WINDOW OF ${RETENTION_DAYS} DAYS" "$url" "$SERVER"
}

metrics() {
  /usr/bin/python3 "$HERE/pg_backup_tool.py" metrics
}

case "${1:-}" in
  wal-archive)
    exec barman-cloud-wal-archive "${cloud[@]}" "${enc[@]}" --gzip "$url" "$SERVER" "$2" ;;
  wal-restore)
    exec barman-cloud-wal-restore "${cloud[@]}" "$url" "$SERVER" "$2" "$3" ;;
  base-backup)
    base_backup
    metrics || echo "pg-backup: could not publish the metrics" >&2 ;;
  list)
    exec barman-cloud-backup-list "${cloud[@]}" --format json "$url" "$SERVER" ;;
  choose)
    exec /usr/bin/python3 "$HERE/pg_backup_tool.py" choose "${2:-}" ;;
  check-system)
    exec /usr/bin/python3 "$HERE/pg_backup_tool.py" check-system ;;
  fetch)
    exec barman-cloud-restore "${cloud[@]}" "$url" "$SERVER" "$2" "$3" ;;
  metrics)
    metrics ;;
  loop)
    while :; do
      stamp="$STATE_DIR/last-base-backup"
      if [ ! -e "$stamp" ] || [ $(( $(date +%s) - $(stat -c %Y "$stamp") )) -ge "$BASE_INTERVAL_SECONDS" ]; then
        base_backup || echo "pg-backup: base backup failed" >&2
      fi
      metrics || echo "pg-backup: could not publish the metrics" >&2
      sleep "$METRICS_INTERVAL_SECONDS"
    done ;;
  *)
    echo "usage: $0 wal-archive|wal-restore|base-backup|list|choose|fetch|metrics|check-system|loop" >&2
    exit 2 ;;
esac
