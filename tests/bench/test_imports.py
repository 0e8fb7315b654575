"""bench/ and tests/ do not import each other: what both need (services on free ports, process helpers, playbook
runners, the contract-fuzzing books, the ETL's private world, the CPU meter) is scripts/harness, which imports
neither. Checked on the import statements themselves (tests/bench loads bench/run_all.py by path: the test of it)."""

from __future__ import annotations

import ast
from pathlib import Path

from scripts.harness.ansible import REPO


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def imports_of(folder: str, prefixes: tuple[str, ...]) -> set[tuple[str, str]]:
    return {(str(path.relative_to(REPO)), name)
            for path in sorted((REPO / folder).rglob("*.py"))
            for name in imported_modules(path) if name.split(".")[0] in prefixes}


def test_bench_does_not_import_tests():
    assert imports_of("bench", ("tests",)) == set()


def test_tests_do_not_import_bench():
    """Except the traffic generator (bench/traffic), a program of its own that tests/traffic tests."""
    benchmarks = tuple(p.name for p in (REPO / "bench").iterdir()
                       if (p / "__init__.py").exists() and p.name != "traffic")
    assert imports_of("tests", ("bench", *benchmarks)) == set()


def test_the_harness_imports_neither_tests_nor_bench():
    bench_packages = tuple(p.name for p in (REPO / "bench").iterdir() if (p / "__init__.py").exists())
    assert imports_of("scripts/harness", ("tests", "bench", *bench_packages)) == set()


def test_the_check_sees_an_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import tests.support.moto\nfrom tests.etl import helpers\nfrom . import local\n")
    assert imported_modules(module) == {"tests.support.moto", "tests.etl"}
