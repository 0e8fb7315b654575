"""Named checkpoints in the load, where a fault-injection test can stop the process and SIGKILL it.

Inactive unless ``CLICKSTREAM_ETL_PAUSE_AT=<checkpoint>:<n>`` and ``CLICKSTREAM_ETL_PAUSE_FILE=<path>`` are
set: on the n-th time the checkpoint is reached the process writes the file and waits to be killed.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

_hits: Counter[str] = Counter()
_lock = threading.Lock()  # the aggregates' apply reaches its checkpoints from two threads


def checkpoint(name: str) -> None:
    spec = os.environ.get("CLICKSTREAM_ETL_PAUSE_AT", "")
    if not spec:
        return
    with _lock:
        _hits[name] += 1
        hit = _hits[name]
    target, _, nth = spec.partition(":")
    if target != name or hit != int(nth or "1"):
        return
    path = os.environ.get("CLICKSTREAM_ETL_PAUSE_FILE", "")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            f.write(name)
    while True:  # wait for SIGKILL
        time.sleep(60)
