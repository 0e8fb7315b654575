#!/usr/bin/env bash
# Runs the whole pytest suite. Every test that needs a service (moto, PostgreSQL, Shiny, chromium) starts
# its own on 127.0.0.1; nothing needs to be running beforehand.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
mkdir -p tests/artifacts
# Whole test files go to parallel workers (--dist loadfile keeps a file's module fixtures and order together):
# most of the suite waits on ansible-playbook, moto and PostgreSQL, so two workers pay off even on two cores.
# Each worker has its own session fixtures (moto server, PostgreSQL, browser). PYTEST_WORKERS overrides (0: off).
workers="${PYTEST_WORKERS:-}"
if [ -z "$workers" ]; then
  workers="$(nproc)"
  [ "$workers" -lt 2 ] && workers=2
  [ "$workers" -gt 4 ] && workers=4
fi
python -m pytest -p no:cacheprovider -n "$workers" --dist loadfile --junitxml=tests/artifacts/junit.xml "$@" tests
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "run-tests: pytest collected no tests; that is a failure for this suite" >&2
  exit 1
fi
exit "$rc"
