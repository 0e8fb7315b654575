"""The batches' incremental aggregates (clickstream_etl.aggregates) equal a recompute from the loaded events after every
run, over seeded random histories: clients that come back within the hour, sessions across midnight, late events
(the SQL path re-sessionizes and merges sessions), login changes that move a session's events between login
states, one user on several browsers, products whose name changes, duplicates of loaded events."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from .helpers import AGGREGATES, event_line, ndjson, object_key

NAMES = ("page_view", "page_view", "screen_view", "view_item", "view_item", "add_to_cart", "begin_checkout",
         "purchase")


def _history(seed: int, base: datetime) -> list[dict[str, bytes]]:
    """Three runs of objects; each run's events are mostly after the previous run's, some are late."""
    rng = random.Random(seed)
    clients = [f"k{n}" for n in range(14)]
    users = ("u1", "u2", "u3")
    clock = {c: base + timedelta(minutes=rng.randint(0, 90)) for c in clients}
    sent: list[dict] = []
    runs: list[dict[str, bytes]] = []
    for run in range(3):
        files: dict[str, bytes] = {}
        for f in range(4):
            lines: list = []
            for _ in range(12):
                c = rng.choice(clients)
                clock[c] += timedelta(seconds=rng.choice((3, 30, 300, 1500, 1900, 2700, 4000)))
                name = rng.choice(NAMES)
                pid = rng.randint(1, 3)
                product = None if name in ("page_view", "screen_view") else {
                    "id": f"p{pid}", "name": rng.choice((f"Product {pid}", f"Product {pid} v2", None)),
                    "category": rng.choice(("mice", None)), "brand": "b", "price": rng.choice((9.99, "12.5"))}
                ts = clock[c]
                if rng.random() < 0.12:  # late: before what is already loaded for the client
                    ts -= timedelta(minutes=rng.choice((20, 45, 120, 300)))
                line = event_line(name, c, ts, received=clock[c] + timedelta(seconds=2),
                                  user_id=rng.choice((None, None, *users)),
                                  login=rng.choice((None, "logged_in", "logged_out", "logged_out")),
                                  page=rng.choice(("/", "/a", "/b", None)), product=product,
                                  quantity=rng.choice((None, 2)) if name == "purchase" else None)
                lines.append(line)
                sent.append(line)
            if run and f == 1:
                lines.append(dict(rng.choice(sent[:-12])))  # an event an earlier run loaded
            files[object_key(base, f"r{run}f{f}")] = ndjson(lines)
        runs.append(files)
    return runs


@pytest.mark.integration
@pytest.mark.parametrize(("seed", "every"), [(1, "0"), (2, "25"), (3, "1")])
def test_aggregates_after_every_run_equal_a_recompute(world, seed, every):
    """``every``: AGGREGATE_EVERY_EVENTS (0: the change is applied once, after the batches; else also between them,
    so a client's change is applied, then recorded again by a later batch of the same run)."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for n, files in enumerate(_history(seed, midnight - timedelta(hours=3)), 1):
        for key, body in files.items():
            world.put(key, body)
        r = world.run_cli(env=world.env(BATCH_MAX_FILES="1", AGGREGATE_EVERY_EVENTS=every))
        assert r["status"] == "succeeded", r
        incremental = world.snapshot()
        assert world.rebuilt() == incremental, f"run {n}"
    assert all(incremental[t] for t in AGGREGATES), "every aggregate has rows"
    days = {row[1] for row in incremental["dw.agg_hourly_activity"]}
    assert len(days) == 2  # across midnight
    late = world.query("SELECT count(*) FROM dw.sessions s WHERE EXISTS (SELECT 1 FROM dw.events e "
                       "WHERE e.session_id = s.session_id AND e.event_timestamp < e.received_at - interval '10 min')")
    assert late[0][0] > 0  # some sessions hold late events
