"""The benchmarks' CPU meter (scripts/harness/cpu_meter.py) against a real PostgreSQL: a backend's CPU is counted once,
whether the backend still runs when the meter stops or has exited and been reaped by then."""

from __future__ import annotations

import psycopg2
import pytest

from scripts.harness.cpu_meter import CpuMeter, reaped
from scripts.harness.postgres import PostgresServer
from scripts.harness.procs import cpu_seconds

pytestmark = pytest.mark.integration

BURN = "SELECT count(*) FROM generate_series(1, 3000000)"


@pytest.fixture(scope="module")
def own_server():
    """A server of this module alone: the meter waits until the server runs no client backend, which another test's
    open connection to the session's server would prevent."""
    server = PostgresServer()
    yield server
    server.close()


def _burn(dsn: str, meter: CpuMeter, close: bool) -> tuple[float, float]:
    """(the server's CPU the meter saw, the backend's own CPU) for one CPU-bound query."""
    conn = psycopg2.connect(dsn)
    try:
        pid = conn.get_backend_pid()
        meter.start()
        own = cpu_seconds(pid)
        with conn.cursor() as cur:
            cur.execute(BURN)
        own = cpu_seconds(pid) - own
        if close:
            conn.close()
            reaped(meter.pg)
        return meter.stop()["postgres"], own
    finally:
        conn.close()


@pytest.mark.parametrize("order", [(False, True, True), (True, False, True)])
def test_backend_cpu_counted_once(own_server, order):
    meter = CpuMeter(own_server, None)
    for close in order:  # a backend closed just before the next start must not be lost or counted again
        seen, own = _burn(own_server.dsn, meter, close)
        assert own > 0.05, "the query used no measurable CPU"
        # the clock ticks are 10 ms; the background processes may add a few
        assert own - 0.02 <= seen <= own + 0.1, (close, seen, own)


def test_reaped_waits_for_client_backends(own_server):
    conn = psycopg2.connect(own_server.dsn)
    pid = conn.get_backend_pid()
    conn.close()
    reaped(own_server)
    with pytest.raises(FileNotFoundError):
        cpu_seconds(pid)
