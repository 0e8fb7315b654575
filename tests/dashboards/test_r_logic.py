"""The app's pure R logic (settings, bound parameters, filters, funnel/product/pipeline calculations), run by
Rscript from files/shiny/tests/test_logic.R; it also loads every app file, so a syntax error fails here."""

from __future__ import annotations

import subprocess

from .support import APP_DIR


def test_r_logic_unit_tests() -> None:
    proc = subprocess.run(["Rscript", "tests/test_logic.R"], cwd=str(APP_DIR), capture_output=True, text=True,
                          timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    last = proc.stdout.strip().splitlines()[-1]
    passed, failed = (int(x.split()[0]) for x in last.split(", "))
    assert failed == 0 and passed >= 30, out
