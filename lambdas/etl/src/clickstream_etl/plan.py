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
from .rules import LOGGED_IN, PURCHASE, first_event, revenue
from .sessions import ClientState, Session, assign, resessionize


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
_FILE_LINE = attrgetter("file_idx", "line_no")
_BY_TIME = attrgetter("ts", "event_id")


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
        events.extend([f"{row.text}\t{sid}\t{'t' if first_visit else 'f'}\t{row.revenue or 0}\n"
                       for row, sid, first_visit in a.events])
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
    batch planned the client in its own transaction (then only the warehouse knows it, once that batch has
    committed). A client the run has not touched is read from the warehouse: the ETL holds its lock, so nothing else
    changes it. If a batch does not apply its plan as made (a duplicate of a loaded event, a decoded odd line),
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


@dataclass(frozen=True)
class WarehousePlan:
    """Rows sessionized with what the warehouse holds of their clients (``plan_in_warehouse``): for clients whose
    new events do not all follow their loaded ones, rows of a batch the direct plan could not take, and rows that
    repeat a loaded event (left out). Each touched client's window -- from the start of its earliest session that
    a new event continues, else from its first new event -- is sessionized again from scratch (``resessionize``);
    ``load.apply_warehouse_plan`` writes it: the window's sessions replaced, its loaded events' changed session ids
    and first-visit flags, the new events, the clients."""

    loaded: Counter[int]
    events: bytes
    sessions: bytes
    windows: list[tuple[str, str]]  # client, window start: its sessions from there on are replaced
    rewrite: list[tuple[str, str, str]]  # loaded event id, its session id, 't'/'f' first visit
    clients: list[tuple[str, str, str, str]]  # id, first event, first/last at
    touched: list[tuple[str, datetime, str]]  # id, window start (and its text), for the aggregates
    new_clients: set[str]


def _loaded_row(row: tuple) -> tuple[EventRow, str, bool]:
    """A loaded event of sql.WINDOW_EVENTS, as a row for the sessionization, with its session id and flag."""
    (client_id, event_id, ts, name, user_id, login, page, price, discount, quantity, sid, first_visit, referrer,
     device, browser) = row
    ts = ts.astimezone(UTC)
    value = None
    if name == PURCHASE:
        value = revenue(*(None if x is None else str(x) for x in (price, discount, quantity)))
    row = EventRow(-1, 0, event_id, client_id, ts, ts.isoformat(), name, user_id, login == LOGGED_IN, page, value, "",
                   referrer, device, browser)
    return row, sid, first_visit


def plan_in_warehouse(cur, rows: list[EventRow], timeout: timedelta, ledger: bool = False) -> WarehousePlan:
    """Dedup ``rows`` (the first occurrence by object and line wins; an event already loaded is left out) and
    sessionize their clients' windows with what the warehouse holds (its reads run in the batch's transaction,
    under the ETL's lock: nothing else changes these clients meanwhile). ``ledger``: the hot window's schema, where
    the loaded ids are those of the ledger ``dw.event_ids`` (``dw.events`` keeps only the recent days)."""
    seen: set[str] = set()
    unique: list[EventRow] = []
    for r in sorted(rows, key=_FILE_LINE):
        if r.event_id not in seen:
            seen.add(r.event_id)
            unique.append(r)
    empty = WarehousePlan(Counter(), b"", b"", [], [], [], [], set())
    if not unique:
        return empty
    try:
        return _plan_in_warehouse(cur, unique, timeout, empty, ledger)
    finally:  # its reads go through the client indexes (sql.INDEX_ONLY), the rest of the transaction as before
        if sql.INDEX_ONLY:
            cur.execute(";\n".join(sql.planner_defaults(sql.INDEX_ONLY)))


def _plan_in_warehouse(cur, unique: list[EventRow], timeout: timedelta, empty: WarehousePlan,
                       ledger: bool = False) -> WarehousePlan:
    loaded = sql.LOADED_EVENT_IDS if ledger else sql.LOADED_EVENTS
    cur.execute(";\n".join([*sql.planner_off(sql.INDEX_ONLY), loaded]),
                {"ids": sql.array(r.event_id for r in unique)})
    loaded_ids = {r[0] for r in cur.fetchall()}
    by_client: dict[str, list[EventRow]] = {}
    for r in unique:
        if r.event_id not in loaded_ids:
            by_client.setdefault(r.client_id, []).append(r)
    if not by_client:
        return empty
    first_new = {c: min(rs, key=_BY_TIME) for c, rs in by_client.items()}
    cur.execute(sql.CLIENT_WINDOWS,
                {"clients": sql.array(by_client), "min_ts": sql.array(r.ts_text for r in first_new.values()),
                 "timeout": timeout})
    known: dict[str, tuple[str, datetime, datetime]] = {}
    starts: dict[str, tuple[datetime, str]] = {}
    for client_id, first_id, first_at, last_at, session_start in cur.fetchall():
        first = first_new[client_id]
        if first_id is not None:
            known[client_id] = (first_id, first_at.astimezone(UTC), last_at.astimezone(UTC))
        if session_start is not None and session_start < first.ts:
            start = session_start.astimezone(UTC)
            starts[client_id] = (start, start.isoformat())
        else:
            starts[client_id] = (first.ts, first.ts_text)
    old: dict[str, list[tuple[EventRow, str, bool]]] = {}
    if known:
        cur.execute(sql.WINDOW_EVENTS,
                    {"clients": sql.array(known), "starts": sql.array(starts[c][1] for c in known)})
        for row in cur.fetchall():
            old.setdefault(row[0], []).append(_loaded_row(row))
    events: list[str] = []
    sessions: list[str] = []
    plan = WarehousePlan(Counter(), b"", b"", [], [], [], [], set(by_client) - set(known))
    for client_id, new_rows in by_client.items():
        loaded = old.get(client_id, [])
        first = first_new[client_id]
        last = max(new_rows, key=_BY_TIME)
        if client_id in known:
            first_id, first_at, last_at = known[client_id]
            first_at, first_id = first_event((first_at, first_id), (first.ts, first.event_id))
            last_at = max(last_at, last.ts)
        else:
            first_at, first_id, last_at = first.ts, first.event_id, last.ts
        before = {row.event_id: (sid, was_first) for row, sid, was_first in loaded}
        assigned, window = resessionize([r for r, _, _ in loaded] + new_rows, first_id, timeout)
        for row, sid, is_first in assigned:
            if row.event_id in before:
                if before[row.event_id] != (sid, is_first):
                    plan.rewrite.append((row.event_id, sid, "t" if is_first else "f"))
            else:
                events.append(f"{row.text}\t{sid}\t{'t' if is_first else 'f'}\t{row.revenue or 0}\n")
        sessions.extend(s.copy_text() + "\n" for s in window)
        start, start_text = starts[client_id]
        plan.windows.append((client_id, start_text))
        plan.touched.append((client_id, start, start_text))
        plan.clients.append((client_id, first_id, first_at.isoformat(), last_at.isoformat()))
        plan.loaded.update(r.file_idx for r in new_rows)
    return replace(plan, events="".join(events).encode(), sessions="".join(sessions).encode())
