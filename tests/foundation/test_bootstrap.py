"""The Makefile's bootstrap wiring and the requirements split (scripts/bootstrap.sh, requirements*.txt).

`make up` installs requirements.txt (what it runs), `make test`/`lint`/`bench` requirements-dev.txt on top. The
recipes run against a stand-in scripts/bootstrap.sh and up.sh in a scratch directory (`make -f <repo>/Makefile`
from there), so nothing is installed: they print what they were given.
"""

from __future__ import annotations

import importlib.metadata as md
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from scripts.harness.ansible import REPO

STAND_IN = 'echo "$(basename "$0") args=[$*] venv=[${CLICKSTREAM_VENV:-}] python=[$(command -v python || true)]"\n'


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    for name in ("bootstrap.sh", "up.sh"):
        (tmp_path / "scripts" / name).write_text(STAND_IN)
    return tmp_path


def make(scratch: Path, *args: str, env: dict[str, str] | None = None) -> list[str]:
    proc = subprocess.run(["make", "-s", "-f", str(REPO / "Makefile"), *args], cwd=scratch, capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", **(env or {})}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_make_up_with_another_venv_bootstraps_and_uses_that_venv(scratch, tmp_path):
    venv = tmp_path / "elsewhere"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin/python").write_text("#!/bin/sh\n")
    (venv / "bin/python").chmod(0o755)
    lines = make(scratch, "up", f"VENV={venv}")
    assert lines == [f"bootstrap.sh args=[] venv=[{venv}] python=[{venv}/bin/python]",
                     f"up.sh args=[] venv=[{venv}] python=[{venv}/bin/python]"]


def test_the_venv_comes_from_clickstream_venv_too(scratch, tmp_path):
    lines = make(scratch, "bootstrap", env={"CLICKSTREAM_VENV": str(tmp_path / "v")})
    assert lines[0].startswith(f"bootstrap.sh args=[] venv=[{tmp_path / 'v'}]")


def test_test_lint_and_bench_bootstrap_the_dev_set_make_up_does_not(scratch):
    assert make(scratch, "bootstrap-dev")[0].startswith("bootstrap.sh args=[--dev]")
    assert [line.split()[1] for line in make(scratch, "up")] == ["args=[]", "args=[]"]
    dry = subprocess.run(["make", "-n", "-f", str(REPO / "Makefile"), "test", "lint", "bench"], cwd=scratch,
                         capture_output=True, text=True, timeout=60).stdout
    assert "scripts/bootstrap.sh --dev" in dry
    assert not re.search(r"scripts/bootstrap\.sh\s*$", dry, re.M), "test/lint/bench bootstrap the dev set"


def _pins(path: Path) -> dict[str, Requirement]:
    out = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)
            out[md.Distribution.from_name(req.name).metadata["Name"].lower()] = req
    return out


def _closure(pins: dict[str, Requirement]) -> set[str]:
    """The distributions ``pins`` install, with their dependencies (from the installed metadata)."""
    todo = [(name, set(req.extras)) for name, req in pins.items()]
    seen: set[str] = set()
    while todo:
        name, extras = todo.pop()
        dist = md.distribution(name)
        key = dist.metadata["Name"].lower()
        if key in seen and not extras:
            continue
        seen.add(key)
        for spec in dist.requires or []:
            dep = Requirement(spec)
            if dep.marker and not any(dep.marker.evaluate({"extra": e}) for e in extras | {""}):
                continue
            todo.append((dep.name, set(dep.extras)))
    return seen


# The code `make up` runs: site.yml's modules and filters, the ingest and ETL (the local endpoint and etl_now), the
# demo traffic (bench/traffic without its browser driver).
RUNTIME_CODE = [REPO / "lambdas", REPO / "collections/ansible_collections/clickstream", REPO / "bench/traffic"]
NOT_RUNTIME = {REPO / "bench/traffic/browser.py"}
IMPORT = re.compile(r"^\s*(?:from|import)\s+([A-Za-z_][A-Za-z0-9_]*)", re.M)


def test_the_code_make_up_runs_imports_only_what_requirements_txt_installs():
    runtime = _closure(_pins(REPO / "requirements.txt"))
    assert "pytest" not in runtime and "playwright" not in runtime, "requirements.txt holds only what make up runs"
    by_module = md.packages_distributions()
    local = {p.name for root in RUNTIME_CODE for p in root.rglob("*") if p.is_dir() or p.suffix == ".py"}
    local |= {p.stem for root in RUNTIME_CODE for p in root.rglob("*.py")}
    missing = {}
    for root in RUNTIME_CODE:
        for path in root.rglob("*.py"):
            if path in NOT_RUNTIME or "tests" in path.relative_to(REPO).parts:
                continue
            for module in set(IMPORT.findall(path.read_text(encoding="utf-8"))):
                if module in sys.stdlib_module_names or module in local or module == "__future__":
                    continue
                dists = {d.lower() for d in by_module.get(module, [])}
                if dists and not dists & runtime:
                    missing.setdefault(module, []).append(str(path.relative_to(REPO)))
    assert not missing, f"imported by what make up runs, installed only by requirements-dev.txt: {missing}"


def test_requirements_dev_adds_to_requirements_txt_without_pinning_anything_twice():
    dev_text = (REPO / "requirements-dev.txt").read_text()
    assert re.search(r"^-r requirements\.txt$", dev_text, re.M)
    runtime, dev = _pins(REPO / "requirements.txt"), _pins(REPO / "requirements-dev.txt")
    assert not runtime.keys() & dev.keys()
    assert "uv" in runtime, "scripts/bootstrap.sh installs the requirements with the uv pinned in requirements.txt"
