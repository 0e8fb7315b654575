"""Plan a batch's Python path: dedup and sessionize in Python, from what the run knows of its clients.

``plan_direct`` is pure: from the batch's parsed rows and its clients' states it makes a ``DirectPlan`` (the final
COPY text of ``dw.events`` / ``dw.sessions`` and the client changes), which ``load.apply_direct`` writes. The
pipeline plans one batch ahead, while the one before loads, from the states ``StateCache`` predicts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from operator import attrgetter

from . import sql
from .parse import EventRow
from .sessions import ClientState, Session, assign


@dataclass(frozen=True)
class DirectPlan:
    """One batch's Python path, built without the database from the clients' states: the final COPY text of
    ``dw.events`` / ``dw.sessions`` and the client changes (``apply_direct`` writes them), each client's window
    start for the aggregate deltas (``touched``: its continued session's start, else its first new event), the rows
    left to the SQL sessionization, and each client's state once the plan is applied (``after``; the clients of
    ``sql_rows`` are in ``sql_clients`` instead: only the warehouse knows their state then). Not changed once
    made: the load leaves out the clients already recorded for the aggregates itself (``Recorded``)."""

    loaded: Counter[int]
    sql_rows: list[EventRow]
    events: bytes = b""
    sessions: bytes = b""
    continued: list[str] = field(default_factory=list)
    new_clients: list[tuple[str, str, str, str]] = field(default_factory=list)  # id, first event, first/last at
    seen_clients: list[tuple[str, str]] = field(default_factory=list)  # id, last at
    touched: list[tuple[str, datetime, str]] = field(default_factory=list)  # id, window start (and its text)
    after: dict[str, ClientState] = field(default_factory=dict)
    sql_clients: set[str] = field(default_factory=set)


def client_states(cur, clients: list[str]) -> dict[str, ClientState]:
    """The warehouse's state of each known client of ``clients`` (a client it does not know is left out)."""
    cur.execute(sql.CLIENT_STATE, {"clients": sql.array(clients)})
    states = {}
    for client_id, last_seen_at, *session in cur.fetchall():
        last = Session.from_state(client_id, tuple(session)) if session[0] is not None else None
        states[client_id] = ClientState(last_seen_at.astimezone(UTC), last)
    return states


_FILE_IDX = attrgetter("file_idx")


def plan_direct(rows: list[EventRow], states: dict[str, ClientState], timeout: timedelta,
                unknown: frozenset[str] | set[str] = frozenset()) -> DirectPlan:
    """Dedup (first occurrence wins) and sessionize in Python every client whose new events all follow its loaded
    ones; the other clients' rows, and those of the ``unknown`` clients (state not known), are left to SQL.

    ``states``: the state of each client of ``rows`` that the warehouse knows (absent = a new client). Pure: no
    I/O; it extends the latest ``Session`` of a continued client in place (callers pass states they own).
    """
    seen: set[str] = set()
    by_client: dict[str, list[EventRow]] = {}
    for r in rows:
        if r.event_id in seen:
            continue
        seen.add(r.event_id)
        by_client.setdefault(r.client_id, []).append(r)
    plan = DirectPlan(Counter(), [])  # filled in here, then returned: nothing changes it after
    events: list[str] = []
    sessions: list[str] = []
    direct: list[EventRow] = []
    for client_id, client_rows in by_client.items():
        state = states.get(client_id)
        if client_id in unknown or (state is not None and not state.appendable(min(r.ts for r in client_rows))):
            plan.sql_rows.extend(client_rows)
            plan.sql_clients.add(client_id)
            continue
        a = assign(client_rows, state, timeout)
        events.extend([f"{row.text}\t{sid}\t{'t' if first_visit else 'f'}\n" for row, sid, first_visit in a.events])
        direct.extend(client_rows)
        for s in a.sessions:
            sessions.append(s.copy_text() + "\n")
        if a.continued is not None:
            plan.continued.append(a.continued)
        start = a.sessions[0]  # the continued session, else the first new one
        plan.touched.append((client_id, start.start, start.start_text or start.start.isoformat()))
        last = a.events[-1][0]
        if state is None:
            first = a.events[0][0]
            plan.new_clients.append((client_id, first.event_id, first.ts_text, last.ts_text))
        else:
            plan.seen_clients.append((client_id, last.ts_text))
        plan.after[client_id] = ClientState(last.ts, a.sessions[-1])
    plan.loaded.update(map(_FILE_IDX, direct))
    return replace(plan, events="".join(events).encode(), sessions="".join(sessions).encode())


class StateCache:
    """What the run knows of its clients' states without asking the warehouse, so that the next batch can be
    planned (sessionized in Python) while this one loads.

    Each client a plan touched maps to (batch, state): the state once that batch commits, or None when the
    batch left the client to the SQL path (then only the warehouse knows it, once that batch has committed).
    A client the run has not touched is read from the warehouse: the ETL holds its lock, so nothing else
    changes it. If a batch does not apply its plan as made (a duplicate of a loaded event, a slow-path line),
    the states predicted from that plan are wrong: ``reset`` forgets everything and the next batch is planned
    again from the warehouse. Used by the main thread only (the planner thread gets a copy of what it needs).
    """

    MAX_CLIENTS = 200_000  # beyond this, forget what the warehouse already holds (committed batches)

    def __init__(self) -> None:
        self._known: dict[str, tuple[int, ClientState | None]] = {}
        self.committed = -1  # index of the run's last committed batch

    def resolve(self, cur, clients: set[str]) -> tuple[dict[str, ClientState], set[str]]:
        """(states of the known clients, clients whose state is not known yet): from memory, else the warehouse."""
        states: dict[str, ClientState] = {}
        unknown: set[str] = set()
        ask: list[str] = []
        for c in clients:
            entry = self._known.get(c)
            if entry is None or (entry[1] is None and entry[0] <= self.committed):
                ask.append(c)
            elif entry[1] is None:
                unknown.add(c)
            else:
                states[c] = entry[1]
        if ask:
            states.update(client_states(cur, ask))
        return states, unknown

    def record(self, batch: int, plan: DirectPlan) -> None:
        for c, state in plan.after.items():
            self._known[c] = (batch, state)
        for c in plan.sql_clients:
            self._known[c] = (batch, None)
        if len(self._known) > self.MAX_CLIENTS:
            self._known = {c: e for c, e in self._known.items() if e[0] > self.committed}

    def reset(self) -> None:
        self._known.clear()


class Recorded:
    """The clients this run's direct-path batches made pending (committed) since the last apply, each with its
    earliest window start. Recording such a client again with a window that starts no earlier changes nothing
    (``aggregates.record_planned`` keeps the first facts and the earliest start), so the batch leaves it out: in a
    run that follows the same clients over many batches, most of each batch's clients were recorded before. The
    load step filters a plan's clients through it (``unrecorded``) and adds them once its batch has committed
    (``add``); the pipeline clears it after an apply."""

    def __init__(self) -> None:
        self._start: dict[str, datetime] = {}

    def unrecorded(self, touched: list[tuple[str, datetime, str]]) -> list[tuple[str, datetime, str]]:
        start = self._start.get
        return [t for t in touched if (s := start(t[0])) is None or t[1] < s]

    def add(self, touched: list[tuple[str, datetime, str]]) -> None:
        start = self._start
        for c, w, _ in touched:
            s = start.get(c)
            if s is None or w < s:
                start[c] = w

    def clear(self) -> None:
        self._start.clear()
