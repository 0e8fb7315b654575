#!/usr/bin/env bash
# `make up`: the whole platform on this machine. Provisions everything with site.yml against the local
# inventory, sends a demo month of traffic (bench/traffic/demo.py: 29 days written to the raw bucket in the
# ingest's own layout, the last 24 hours through the ingest endpoint), runs the ETL, prints where things are.
# Running it again changes nothing: site.yml is idempotent and the demo traffic is sent once.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
VENV="${CLICKSTREAM_VENV:-/opt/clickstream-analytics/venv}"
export PATH="$VENV/bin:$PATH" ANSIBLE_CONFIG="$here/ansible.cfg"
STATE_DIR="${CLICKSTREAM_STATE_DIR:-/var/lib/clickstream-analytics}"
DEMO_REPORT="$STATE_DIR/demo-traffic.json"
DEMO_CLIENTS="${DEMO_CLIENTS:-400}"   # visitors on an average weekday
DEMO_SEED="${DEMO_SEED:-20261125}"
# The ingest endpoint and the DW cluster's port: the local inventory's (clickstream_local_ingest_port, dw-local's
# postgresql_port); a copy of the inventory with other ports (e.g. a second platform on this machine) sets these.
INGEST_URL="${CLICKSTREAM_INGEST_URL:-http://127.0.0.1:8080/clickstream}"
DW_PORT="${CLICKSTREAM_DW_PORT:-5434}"
# The ETL settings the etl role writes under the state directory, for the demo traffic and etl_now alike.
export CLICKSTREAM_ETL_ENV_FILE="${CLICKSTREAM_ETL_ENV_FILE:-$STATE_DIR/etl/etl.env}"

# Each step's wall seconds, printed when the next one starts and summed up at the end.
timings=() step_name="" step_started=$SECONDS up_started=$SECONDS
step_done() {
  [ -n "$step_name" ] && timings+=("$step_name $((SECONDS - step_started)) s")
  step_name="${1:-}" step_started=$SECONDS
}
step() { step_done "$3"; printf '\n\033[1;34m==> [%s] %s\033[0m\n' "$1" "$2"; }
dw_events() {
  runuser -u postgres -- psql -X -q -p "$DW_PORT" -d clickstream_dw -tAc "SELECT count(*) FROM dw.events" 2>/dev/null || echo 0
}

step "1/4" "Provisioning the platform: ansible-playbook site.yml (local inventory: moto, PostgreSQL, Shiny)" site.yml
ansible-playbook site.yml

step "2/4" "Demo month of traffic: 29 days into the raw bucket, the last 24 h through $INGEST_URL" "demo traffic"
if [ -s "$DEMO_REPORT" ] && [ "$(dw_events)" -gt 0 ]; then
  echo "already sent (report: $DEMO_REPORT); delete it and pick another DEMO_SEED to send another month"
else
  mkdir -p "$STATE_DIR"
  PYTHONPATH="$here/bench" python -m traffic.demo --env-file "$CLICKSTREAM_ETL_ENV_FILE" --url "$INGEST_URL" \
    --clients "$DEMO_CLIENTS" --seed "$DEMO_SEED" --report "$DEMO_REPORT.tmp"
  mv "$DEMO_REPORT.tmp" "$DEMO_REPORT"
fi

step "3/4" "Running the ETL now (raw S3 objects -> warehouse)" ETL
# The whole prefix is listed (LISTING_LOOKBACK_HOURS=0): the demo's past days are older than what a scheduled run
# may already have loaded, and a scheduled run lists only from a day before its newest loaded key.
LISTING_LOOKBACK_HOURS=0 PYTHONPATH="$here/lambdas/local_runtime:$here/lambdas/etl/src" \
  python -m clickstream_local.etl_now

step "4/4" "Where everything is" summary
ansible-playbook playbooks/summary.yml 2>/dev/null | sed -n '/msg:/,/^$/p' | sed 's/^ *- //; /msg:/d'
printf 'Warehouse events: %s   (demo traffic report: %s)\n' "$(dw_events)" "$DEMO_REPORT"
step_done
printf 'make up took %d s (%s)\n' "$((SECONDS - up_started))" "$(IFS=,; echo "${timings[*]}" | sed 's/,/, /g')"
