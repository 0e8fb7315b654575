"""bench/provisioning's report: every scope (each tag, then the whole site.yml) gets its pairs, median, ratio and
target, and a baseline that is not a real one (another inventory, changes on a no-op re-run) is said to be so."""

from __future__ import annotations

import importlib.util

import pytest

from scripts.harness.ansible import REPO


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_provisioning_under_test",
                                                  REPO / "bench/provisioning/bench_provisioning.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def record(seconds: dict[str, tuple[float, float]], pairs: int = 3, old_changed: int = 0,
           inventory: dict | None = None) -> dict:
    runs = []
    for i in range(1, pairs + 1):
        for scope, (new, old) in seconds.items():
            runs.append({"side": "new", "scope": scope, "pair": i, "seconds": new * i, "changed": 0, "tasks": 100,
                         "modules": 40, "cpu": 20.0 * i, "load": 2.0, "changed_tasks": []})
            runs.append({"side": "old", "scope": scope, "pair": i, "seconds": old * i, "changed": old_changed,
                         "tasks": 300, "modules": 80, "cpu": 50.0 * i, "load": 4.0,
                         "changed_tasks": ["x : y"] if old_changed else []})
    return {"baseline": "13a7b9d", "tags": ["etl", "storage"], "fresh": {"new": 200.0, "old": 250.0}, "runs": runs,
            "inventory": inventory or {"new": "abc", "old": "abc"}}


def test_every_scope_has_its_pairs_median_ratio_and_target(bench):
    out = bench.report(record({"tag-etl": (15.0, 30.0), "tag-storage": (8.0, 10.0), "full": (40.0, 120.0)}, pairs=1))
    rows = {r["metric"]: r for r in out["rows"]}
    full = rows["full site.yml, no-op re-run (median of 1)"]
    assert (full["value"], full["baseline_value"], full["target"], full["met"]) == (40.0, 120.0, "< 45 s, changed=0",
                                                                                   True)
    assert full["ratio"] == pytest.approx(1 / 3)
    etl = rows["--tags etl, no-op re-run (median of 1)"]
    assert etl["target"] == "< 20 s, changed=0" and etl["met"] is True
    assert rows["--tags storage, no-op re-run (median of 1)"]["ratio"] == pytest.approx(0.8)
    assert "| full site.yml | 1 | this code first | 40.0 | 120.0 | 0.33 | 100 / 300 | 40 / 80 | 20 / 50 | 2.0 / 4.0 |" \
        in out["markdown"]
    # the figures the load does not move: module runs and CPU time, each against the baseline's
    assert rows["full site.yml, module runs"]["ratio"] == pytest.approx(0.5)
    assert rows["full site.yml, CPU seconds (median)"]["ratio"] == pytest.approx(0.4)
    assert "identical on both sides" in out["notes"][1] and "changed=0 like this code's" in out["notes"][1]


def test_a_target_missed_by_the_median_of_three_pairs(bench):
    out = bench.report(record({"full": (30.0, 60.0)}, pairs=3))  # 30, 60, 90 s: median 60 s
    row = next(r for r in out["rows"] if r["metric"] == "full site.yml, no-op re-run (median of 3)")
    assert row["value"] == 60.0 and row["met"] is False
    assert "| full site.yml | 2 | baseline first |" in out["markdown"]


def test_a_baseline_that_is_not_real_is_called_out(bench):
    out = bench.report(record({"full": (30.0, 60.0)}, old_changed=2, inventory={"new": "abc", "old": "def"}))
    assert "DIFFERS between the sides" in out["notes"][1]
    assert "not a clean baseline" in out["notes"][1]


def test_an_incomplete_pair_is_left_out(bench):
    rec = record({"full": (30.0, 60.0)}, pairs=2)
    rec["runs"] = [r for r in rec["runs"] if not (r["pair"] == 2 and r["side"] == "old")]
    out = bench.report(rec)
    assert any(r["metric"] == "full site.yml, no-op re-run (median of 1)" for r in out["rows"])
    assert "| full site.yml | 2 |" not in out["markdown"]


def test_the_scopes_are_each_tag_then_the_whole_playbook(bench):
    assert bench.scopes(["etl", "storage"]) == [("tag-etl", ("--tags", "etl")), ("tag-storage", ("--tags", "storage")),
                                                ("full", ())]
    assert bench.BASELINE == "1c3b42d"


def test_the_inventory_digest_sees_a_changed_file(bench, tmp_path):
    for tree in ("a", "b"):
        (tmp_path / tree / "inventories/local/group_vars").mkdir(parents=True)
        (tmp_path / tree / "inventories/local/group_vars/x.yml").write_text("a: 1\n")
    assert bench.inventory_digest(tmp_path / "a") == bench.inventory_digest(tmp_path / "b")
    (tmp_path / "b/inventories/local/group_vars/x.yml").write_text("a: 2\n")
    assert bench.inventory_digest(tmp_path / "a") != bench.inventory_digest(tmp_path / "b")


def test_start_up_costs_and_the_per_play_table(bench):
    rec = record({"full": (30.0, 60.0)}, pairs=1)
    for run in rec["runs"]:
        run["plays"] = {"Preflight": {"seconds": 3.0 if run["side"] == "new" else 9.0, "tasks": 5, "modules": 1},
                        "Network": {"seconds": 10.0, "tasks": 12, "modules": 15 if run["side"] == "new" else 21}}
    rec["runs"][0]["plays"]["Inputs"] = {"seconds": 2.0, "tasks": 19, "modules": 0}
    rec["start_ups"] = [{"new": {"parse": 5.0, "tag": 7.0}, "old": {"parse": 5.0, "tag": 14.0}},
                        {"new": {"parse": 6.0, "tag": 9.0}, "old": {"parse": 6.0, "tag": 16.0}},
                        {"new": {"parse": 1.0, "tag": 1.0}}]  # an incomplete round is left out
    out = bench.report(rec)
    rows = {r["metric"]: r for r in out["rows"]}
    tag = rows["a single tag's fixed cost (parse + preflight, no tag matched), median"]
    assert (tag["value"], tag["baseline_value"]) == (8.0, 15.0)
    assert rows["start-up of every run (parse, nothing selected), median"]["ratio"] == pytest.approx(1.0)
    assert "| Network | 15 / 21 | 12 / 12 | 10 / 10 |" in out["markdown"]
    assert "| Inputs | 0 / - | 19 / - | 2 / - |" in out["markdown"]
