#!/usr/bin/env python3
"""Contract fuzzing, longer than CI runs it: requests generated from the event JSON Schema (hypothesis-jsonschema)
and the contract's edges go through the local ingest endpoint into a moto server's S3 and through the real ETL into
a throwaway PostgreSQL; after each example the books are checked (scripts/harness/contract_fuzz.py): every acknowledged
event is a row of dw.events or a reject with its reason, every refused one has a reason, no ETL run fails.

Reports how many requests and events were tried and where they ended. tests/e2e/test_contract_to_warehouse.py is
the same property, seeded and bounded for CI.

Run directly (`python bench/fuzz/bench_fuzz.py [--quick] [--examples N] [--seed S]`) or through bench/run_all.py
(`run(quick)`). Writes bench/results/fuzz.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
for p in (REPO, REPO / "bench", REPO / "lambdas/ingest/src", REPO / "lambdas/etl/src", REPO / "lambdas/local_runtime",
          REPO / "collections"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from scripts.harness.contract_fuzz import (  # noqa: E402
    CONTENT_TYPES,
    Books,
    Endpoint,
    contract_bodies,
    edge_bodies,
    now_ms,
)
from scripts.harness.etl_world import make_world  # noqa: E402
from scripts.harness.moto import MotoServer  # noqa: E402
from scripts.harness.postgres import PostgresServer  # noqa: E402

EXAMPLES = 400
QUICK_EXAMPLES = 40
SEED = 19


def fuzz(examples: int, seed_value: int) -> dict[str, Any]:
    results_dir = REPO / "bench/results"
    results_dir.mkdir(parents=True, exist_ok=True)
    pg, moto = PostgresServer(), MotoServer(results_dir)
    endpoint = None
    started = time.monotonic()
    try:
        world = make_world(pg, moto, "bench-fuzz")
        endpoint = Endpoint(moto.env(), world.bucket, results_dir)
        books = Books(world, endpoint)
        for content_type in CONTENT_TYPES:
            for _name, body, n_events, _expected in edge_bodies(now_ms()):
                books.send(body, content_type, n_events)
        books.check()
        start_ms = now_ms()

        @seed(seed_value)
        @settings(max_examples=examples, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                         HealthCheck.filter_too_much])
        @given(st.lists(contract_bodies(start_ms, max_events=20), min_size=1, max_size=5))
        def property_(bodies: list[tuple[str, str, int]]) -> None:
            for body, content_type, n_events in bodies:
                books.send(body, content_type, n_events)
            books.check()

        property_()
    finally:
        if endpoint is not None:
            endpoint.close()
        moto.close()
        pg.close()
    result = {"examples": examples, "seed": seed_value, "seconds": round(time.monotonic() - started, 1),
              **books.tally.as_dict()}
    (results_dir / "fuzz.json").write_text(json.dumps(result, indent=2))
    return result


def run(quick: bool = False) -> dict[str, Any]:
    r = fuzz(QUICK_EXAMPLES if quick else EXAMPLES, SEED)
    lost = r["accepted"] - r["loaded"] - r["duplicates"] - sum(r["rejected_by_etl"].values())
    rows = [{"metric": metric, "value": value, "unit": unit, "baseline": "", "baseline_value": None, "ratio": None,
             "target": target, "met": met} for metric, value, unit, target, met in [
        ("requests sent", r["requests"], "requests", "", None),
        ("events sent in well-formed requests", r["events"], "events", "", None),
        ("events accepted by the ingest", r["accepted"], "events", "", None),
        ("accepted events loaded into dw.events", r["loaded"], "events", "", None),
        ("accepted events that repeat a loaded event_id", r["duplicates"], "events", "", None),
        ("accepted events rejected by the ETL with a reason", sum(r["rejected_by_etl"].values()), "events", "",
         None),
        ("accepted events neither loaded nor rejected", lost, "events", "0", lost == 0),
        ("ETL runs, none failed", r["etl_runs"], "runs", "", None),
        ("wall time", r["seconds"], "s", "", None),
    ]]
    return {"title": "Contract fuzzing: schema-generated requests through ingest and ETL", "rows": rows,
            "notes": [f"{r['examples']} hypothesis examples (seed {r['seed']}) of 1-5 requests of up to 20 events "
                      "generated from the event JSON Schema, plus the contract's edges in both content types; "
                      "the run stops at the first event that is acknowledged and then lost, or a failed ETL run.",
                      f"Refused by the ingest, by reason: {json.dumps(r['refused_by_ingest'], sort_keys=True)}.",
                      f"Rejected by the ETL, by reason: {json.dumps(r['rejected_by_etl'], sort_keys=True)}."]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--examples", type=int, default=None)
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args()
    examples = args.examples or (QUICK_EXAMPLES if args.quick else EXAMPLES)
    print(json.dumps(fuzz(examples, args.seed), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
