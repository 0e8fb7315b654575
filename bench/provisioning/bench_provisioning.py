"""Provisioning: the full site.yml against a fresh emulator, then the no-op re-run (its baseline is the first run).

Uses its own moto server on a free loopback port and a copy of the local inventory with its own PostgreSQL
clusters, ports and service directories (scripts/harness/local_platform.py), so the figures never depend on, and
never disturb, a `make up` platform on the same machine.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from scripts.harness.local_platform import local_platform  # noqa: E402
from scripts.harness.moto import MotoServer  # noqa: E402


def run(quick: bool = False) -> dict:
    log_dir = REPO / "bench/results"
    log_dir.mkdir(parents=True, exist_ok=True)
    moto = MotoServer(log_dir)
    tags = ["--tags", "network,storage,iam,compute,ingest,etl"] if quick else []
    try:
        with local_platform("clickstream-bench-") as platform:
            t0 = time.perf_counter()
            first = platform.site(moto.env(), *tags)
            fresh_s = time.perf_counter() - t0
            if first.rc != 0:
                raise RuntimeError("site.yml failed on a fresh emulator:\n" + first.output[-4000:])
            t0 = time.perf_counter()
            second = platform.site(moto.env(), *tags)
            rerun_s = time.perf_counter() - t0
            if second.rc != 0:
                raise RuntimeError("site.yml re-run failed:\n" + second.output[-4000:])
    finally:
        moto.close()
    scope = "tags " + tags[1] if tags else "full site.yml"
    return {
        "title": "Provisioning",
        "rows": [
            {"metric": f"{scope}, fresh emulator", "value": fresh_s, "unit": "s"},
            {"metric": f"{scope}, no-op re-run", "value": rerun_s, "unit": "s",
             "baseline": "fresh run", "baseline_value": fresh_s, "ratio": rerun_s / fresh_s,
             "target": "changed=0", "met": second.changed == 0},
        ],
        "notes": [f"Re-run reported changed={second.changed} (tasks: {', '.join(second.changed_tasks()) or 'none'})."],
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
