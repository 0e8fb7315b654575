"""bench/run_all.py writes BENCHMARKS.md consistently: the introduction names only the run that wrote the file,
each section opens with the run that measured it, and --only replaces its sections and keeps the others."""

from __future__ import annotations

import importlib.util
import re
import sys
import types

import pytest

from scripts.harness.ansible import REPO


@pytest.fixture
def run_all(monkeypatch):
    spec = importlib.util.spec_from_file_location("run_all_under_test", REPO / "bench/run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    calls: list[str] = []
    for name, value in (("alpha", 1.5), ("beta", 250.0)):
        fake = types.ModuleType(f"fake_bench_{name}")

        def run(quick=False, name=name, value=value):
            calls.append(name)
            return {"title": f"Bench {name}", "rows": [{"metric": f"{name} speed", "value": value + len(calls),
                                                        "unit": "x"}], "notes": [f"{name} note"]}

        fake.run = run
        monkeypatch.setitem(sys.modules, fake.__name__, fake)
    monkeypatch.setattr(module, "BENCHES", {"alpha": "fake_bench_alpha", "beta": "fake_bench_beta"})
    monkeypatch.setattr(module, "machine", lambda: {"cpu": "Test CPU", "cores": "2", "memory": "1.0 GiB"})
    monkeypatch.setattr(module, "commit", lambda: "abc1234")
    monkeypatch.setattr(module, "load_average", lambda: 3.25)
    monkeypatch.setattr(module.sys, "path", list(sys.path))
    module.calls = calls
    return module


def intro(text: str) -> str:
    return text.split("<!-- bench:", 1)[0]


def test_a_full_run_writes_every_section_with_its_run(run_all, tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    assert run_all.main(["--output", str(out)]) == 0
    text = out.read_text()
    head = intro(text)
    assert "Written by `python bench/run_all.py` on " in head and "code at abc1234" in head
    assert "- cpu: Test CPU" in head and "Not measured yet" not in head
    assert re.findall(r"^## (.*)$", text, re.MULTILINE) == ["Bench alpha", "Bench beta"]
    assert text.count("Measured by `python bench/run_all.py` on ") == 2
    assert text.count("on Test CPU (2 cores, 1.0 GiB); load average 3.2 when it began.") == 2
    assert "| alpha speed | 2.50 | x |" in text and "- beta note" in text


def test_only_replaces_its_section_and_keeps_the_others(run_all, tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    run_all.main(["--output", str(out)])
    beta_before = out.read_text().split("<!-- bench: beta -->", 1)[1]
    assert run_all.main(["--only", "alpha", "--output", str(out)]) == 0
    text = out.read_text()
    assert run_all.calls == ["alpha", "beta", "alpha"]
    assert "Written by `python bench/run_all.py --only alpha`" in intro(text)
    assert "Measured by `python bench/run_all.py --only alpha`" in text.split("<!-- bench: beta -->")[0]
    assert "| alpha speed | 4.50 | x |" in text and "| alpha speed | 2.50 |" not in text
    assert text.split("<!-- bench: beta -->", 1)[1] == beta_before
    assert text.count("<!-- bench: alpha -->") == 1 and text.count("## Bench alpha") == 1


def test_only_into_a_new_file_says_what_is_missing(run_all, tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    run_all.main(["--only", "beta", "--output", str(out)])
    text = out.read_text()
    assert "Not measured yet: alpha (`python bench/run_all.py --only alpha`)." in intro(text)
    assert "## Bench alpha" not in text and "## Bench beta" in text


def test_an_unknown_benchmark_is_refused(run_all, tmp_path, capsys):
    with pytest.raises(SystemExit):
        run_all.main(["--only", "gamma", "--output", str(tmp_path / "B.md")])
    assert "unknown benchmark(s) gamma" in capsys.readouterr().err
    assert not (tmp_path / "B.md").exists()


def test_the_checked_in_file_has_one_marked_section_per_benchmark(run_all):
    text = (REPO / "BENCHMARKS.md").read_text()
    real = importlib.util.spec_from_file_location("run_all_real", REPO / "bench/run_all.py")
    module = importlib.util.module_from_spec(real)
    real.loader.exec_module(module)
    assert list(module.kept_sections(REPO / "BENCHMARKS.md")) == list(module.BENCHES)
    assert text.count("Measured by `python bench/run_all.py") == len(module.BENCHES)
    assert len(re.findall(r"^Written by ", intro(text), re.MULTILINE)) == 1
    assert not re.search(r"session|\d\d:\d\d UTC|rewritten on|earlier", intro(text), re.IGNORECASE)
