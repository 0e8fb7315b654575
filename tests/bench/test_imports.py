"""bench/ does not import tests/: what both need (services on free ports, process helpers, playbook runners, the
contract-fuzzing books) is scripts/harness, which imports neither. Checked on the import statements themselves."""

from __future__ import annotations

import ast
from pathlib import Path

from scripts.harness.ansible import REPO

# The one edge left: the contract-fuzzing bench builds its warehouse world with the ETL tests' make_world, which
# follows the ETL's internals (tests/etl/helpers.py).
ALLOWED = {("bench/fuzz/bench_fuzz.py", "tests.etl.helpers")}


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
    assert imports_of("bench", ("tests",)) <= ALLOWED


def test_the_harness_imports_neither_tests_nor_bench():
    bench_packages = tuple(p.name for p in (REPO / "bench").iterdir() if (p / "__init__.py").exists())
    assert imports_of("scripts/harness", ("tests", "bench", *bench_packages)) == set()


def test_the_check_sees_an_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import tests.support.moto\nfrom tests.etl import helpers\nfrom . import local\n")
    assert imported_modules(module) == {"tests.support.moto", "tests.etl"}
