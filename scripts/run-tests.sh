#!/usr/bin/env bash
# Runs the whole pytest suite. Every test that needs a service (moto, PostgreSQL, Shiny, chromium) starts
# its own on 127.0.0.1; nothing needs to be running beforehand.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
mkdir -p tests/artifacts
python -m pytest -p no:cacheprovider --junitxml=tests/artifacts/junit.xml "$@" tests
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "run-tests: pytest collected no tests; that is a failure for this suite" >&2
  exit 1
fi
exit "$rc"
