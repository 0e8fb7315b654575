"""CPU seconds a benchmark used: its own process and the children it waited for, a PostgreSQL server
(scripts.harness.postgres) with every process it ran, and an emulator process."""

from __future__ import annotations

import resource
import time

from .postgres import PostgresServer
from .procs import children, cpu_seconds


def _postmaster(pg: PostgresServer) -> int:
    return int((pg.datadir / "postmaster.pid").read_text().split()[0])


def server_cpu(pg: PostgresServer) -> float:
    """CPU seconds the whole PostgreSQL server has used so far: its postmaster, the processes it runs now (backends
    and background workers) and those that have exited (the postmaster reaps them). Read again when the postmaster
    reaped a process during the read: that one would be in neither or in both."""
    postmaster = _postmaster(pg)
    for _ in range(100):
        before = cpu_seconds(postmaster, reaped=True)
        try:
            live = sum(cpu_seconds(pid) for pid, _, _ in children(postmaster))
        except (FileNotFoundError, ProcessLookupError):  # exited meanwhile
            continue
        if cpu_seconds(postmaster, reaped=True) == before:
            return before + live
    raise RuntimeError("the server's processes kept changing")


class CpuMeter:
    """CPU seconds used between ``start`` and ``stop``: this process (all its threads), its children waited for in
    between (the ETL's parse worker), the PostgreSQL server and the emulator."""

    def __init__(self, pg: PostgresServer, emulator_pid: int | None) -> None:
        self.pg, self.emulator_pid = pg, emulator_pid

    def _now(self) -> dict[str, float]:
        reaped(self.pg, backends=False)
        waited = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {"python": time.process_time() + waited.ru_utime + waited.ru_stime,
                "postgres": server_cpu(self.pg),
                "emulator": cpu_seconds(self.emulator_pid) if self.emulator_pid else 0.0}

    def start(self) -> None:
        self._start = self._now()

    def stop(self) -> dict[str, float]:
        end = self._now()
        return {k: end[k] - self._start[k] for k in end}


def reaped(pg: PostgresServer, backends: bool = True, timeout: float = 10.0) -> None:
    """Wait until no process of the server is on its way out (a zombie, or one whose command line is already gone)
    and, with ``backends``, until it runs no client backend (each shows its client's address, 127.0.0.1(port), in
    its command line): the CPU of the ETL's backends is then all in the postmaster's reaped CPU."""
    deadline = time.monotonic() + timeout
    postmaster = _postmaster(pg)

    def leaving(state: str, cmdline: str) -> bool:
        return state in "ZX" or not cmdline.strip("\0") or (backends and "127.0.0.1(" in cmdline)

    while any(leaving(state, cmdline) for _, state, cmdline in children(postmaster)):
        if time.monotonic() > deadline:
            raise RuntimeError("the server's connections did not end")
        time.sleep(0.02)
