"""Incremental aggregates: the run adds to every aggregate table the change its batches made, for the clients they
touched only, so the cost follows the run's traffic, not what the day already holds.

A batch changes only its touched clients, and for each of them only from a point in time on (its *window start*
``w``): the events it adds, the sessions it rewrites (a continued session, or a re-sessionized window) and the
events of those sessions all lie at or after ``w``, and every session of the client that starts at or after ``w``
is rewritten. (A session never straddles ``w``: sessions of one client do not overlap.)

Each batch, before it writes, keeps the *facts* of its clients' windows as they are -- their events from the start
of the hour of ``w`` on, with their session's login state, and their sessions from the start of the day of ``w`` on
-- in ``etl.delta_facts`` / ``etl.delta_sfacts``, and the client with its window in ``etl.delta_clients``
(``record_script``, ``record_planned``; in the batch's transaction). A client already pending keeps its first facts;
only a window that now starts earlier (a late event) adds the older part. After the batches, ``apply_pending``
reads the same windows again and adds ``f(now) - f(kept)`` to each aggregate, in three parts on two connections,
each part committing with its mark in ``etl.delta_applied``, then forgets the pending clients and the marks in one
transaction: a kill before a part's commit leaves that part to the next run, and one after leaves nothing more to
do than to forget (exactly once either way).

Events and sessions no batch changed appear alike in both and cancel; the hour (day) start makes the distinct
clients of an hour (of a day) see all of the client's events of that hour (sessions of that day). The two counts
that are not per client -- distinct users of an hour, the product name (a max) -- go through the member-count
tables of sql/dw/0006. Rows whose counts all reach zero are deleted. The result equals a recompute from
``dw.events`` / ``dw.sessions`` (``rebuild.rebuild_dirty_days``: the rebuild command, the tests' oracle). The
apply's statements are in queries/aggregates.sql.
"""

from __future__ import annotations

import re
from datetime import datetime

from . import (
    acquisition_daily,
    acquisition_dims,
    attribution,
    dims,
    faults,
    product_dims,
    quarantine,
    queries,
    retention,
    sql,
)
from .attribution_dims import APPLY as ATTRIBUTION_DIMS_APPLY
from .connections import sibling_connection, side_by_side, transaction, two_connections
from .journeys import APPLY as JOURNEYS_APPLY
from .rebuild import HORIZON_DAYS
from .retention_dims import APPLY as RETENTION_DIMS_APPLY

# The facts of an event, as etl.delta_facts keeps them (sql/dw/0006).
_FACT_TYPES = {
    "client_id": "text NOT NULL", "session_id": "uuid NOT NULL", "event_id": "uuid NOT NULL",
    "event_timestamp": "timestamptz NOT NULL", "event_name": "text NOT NULL", "user_id": "text",
    "user_login_state": "text NOT NULL", "is_first_visit": "boolean NOT NULL", "starts_session": "boolean NOT NULL",
    "product_id": "text", "product_name": "text", "product_category": "text NOT NULL",
    "product_brand": "text NOT NULL", "revenue": "numeric NOT NULL", "units": "integer NOT NULL",
    "page_url_path": "text",
}
_SFACT_COLUMNS = """client_id text NOT NULL, session_date date NOT NULL, user_login_state text NOT NULL,
           is_engaged boolean NOT NULL, is_converted boolean NOT NULL, is_first_visit boolean NOT NULL,
           page_view_count integer NOT NULL, duration_seconds numeric NOT NULL, revenue numeric NOT NULL,
           source text, medium text, campaign text, channel_group text"""

# Each apply part reads back only the facts its aggregates use: its columns of etl.delta_facts and, for the products
# part, only the events that the funnel and product tables count (page views are about half of all events).
_PART_FACTS = {
    "activity": ("client_id", "session_id", "event_id", "event_timestamp", "event_name", "user_id",
                 "user_login_state", "is_first_visit", "starts_session", "revenue", "page_url_path"),
    "products": ("session_id", "event_timestamp", "event_name", "user_login_state", "product_id", "product_name",
                 "product_category", "product_brand", "revenue", "units"),
}
_PART_EVENTS = {"products": ("view_item", "add_to_cart", "begin_checkout", "purchase")}
# Temp tables of the apply parts besides the event facts (etl_facts, _create_facts): the users' delta of the
# activity part; the sessions' facts, before and after, and the client returns of the sessions part.
_CREATE_ACTIVITY = [
    "CREATE TEMP TABLE etl_user_delta (h timestamptz NOT NULL, l text NOT NULL, du bigint NOT NULL) ON COMMIT DROP",
]
_CREATE_SESSIONS = [
    f"CREATE TEMP TABLE etl_sfacts (sign smallint NOT NULL, {_SFACT_COLUMNS}) ON COMMIT DROP",
    """CREATE TEMP TABLE etl_cr (sign smallint NOT NULL, activity_date date NOT NULL, user_login_state text NOT NULL,
           previous_date date NOT NULL) ON COMMIT DROP""",
]

# A fact's value, read now: the event's columns, with its session's login state and start.
_FACT_NOW = {
    "client_id": "e.client_id", "session_id": "e.session_id", "event_id": "e.event_id",
    "event_timestamp": "e.event_timestamp", "event_name": "e.event_name", "user_id": "e.user_id",
    "user_login_state": "p.user_login_state", "is_first_visit": "e.is_first_visit",
    "starts_session": "e.event_timestamp = p.session_start", "product_id": "e.product_id",
    "product_name": "e.product_name", "product_category": "coalesce(e.product_category, '(none)')",
    "product_brand": "coalesce(e.product_brand, '(none)')",
    "revenue": "e.revenue",
    "units": "coalesce(e.quantity, 1)", "page_url_path": "e.page_url_path",
}
# A client's facts between two window starts: its events from the start of the hour of ``lo`` (its sessions from
# the start of the day of ``lo``) up to the same start for ``hi`` (NULL: no end). {touch} is a row source
# ``t(client_id, win_start)``; the session's timezone is UTC (sql.SESSION_SETUP).
_EVENT_FACTS = """
SELECT {facts}
FROM {{ranges}}
JOIN dw.events e ON e.client_id = r.client_id AND e.event_timestamp >= date_trunc('hour', r.lo)
                AND (r.hi IS NULL OR e.event_timestamp < date_trunc('hour', r.hi))
JOIN dw.sessions p ON p.session_id = e.session_id
""".format(facts=", ".join(_FACT_NOW[c] for c in _FACT_TYPES))
_SESSION_FACTS = """
SELECT s.client_id, s.session_date, s.user_login_state, s.is_engaged, s.is_converted, s.is_first_visit,
       s.page_view_count, s.duration_seconds, s.revenue, s.source, s.medium, s.campaign, s.channel_group
FROM {ranges}
JOIN dw.sessions s ON s.client_id = r.client_id AND s.session_start >= date_trunc('day', r.lo)
                  AND (r.hi IS NULL OR s.session_start < date_trunc('day', r.hi))
"""
# The part of each touched client's window that etl.delta_* do not hold yet: all of it for a client not pending,
# [w, its pending start) for one whose new window starts earlier (a late event), nothing otherwise.
_NEW_RANGES = """(SELECT t.client_id, t.win_start AS lo, d.win_start AS hi
                    FROM {touch} LEFT JOIN etl.delta_clients d ON d.client_id = t.client_id
                   WHERE d.client_id IS NULL OR t.win_start < d.win_start) r"""
_RECORD_FACTS = [
    "INSERT INTO etl.delta_facts " + _EVENT_FACTS.format(ranges=_NEW_RANGES),
    "INSERT INTO etl.delta_sfacts " + _SESSION_FACTS.format(ranges=_NEW_RANGES),
]
_RECORD_CLIENTS = """INSERT INTO etl.delta_clients AS d (client_id, win_start) SELECT client_id, win_start FROM {touch}
       ON CONFLICT (client_id) DO UPDATE SET win_start = least(d.win_start, excluded.win_start)"""
_RECORD = [*_RECORD_FACTS, _RECORD_CLIENTS]
_ALL_PENDING = "(SELECT client_id, win_start AS lo, NULL::timestamptz AS hi FROM etl.delta_clients) r"
# The 'after' events of every pending client, in bulk: its sessions that can hold them (those starting from the
# hour of w on, and the one before, which may run into it: a client's sessions do not overlap) are read once
# through (client_id, session_start) and hash-joined to the events, which are read per client through
# (client_id, event_timestamp) (OFFSET 0 keeps that subquery a per-client index scan). One probe of the sessions'
# primary key per event cost about as much again.
_PENDING_SESSIONS = [
    """CREATE TEMP TABLE etl_psess ON COMMIT DROP AS
       SELECT s.session_id, s.user_login_state, s.session_start
         FROM etl.delta_clients d
         JOIN dw.sessions s ON s.client_id = d.client_id AND s.session_start >= date_trunc('hour', d.win_start)
       UNION ALL
       SELECT b.session_id, b.user_login_state, b.session_start
         FROM etl.delta_clients d
         CROSS JOIN LATERAL (SELECT s.session_id, s.user_login_state, s.session_start FROM dw.sessions s
                              WHERE s.client_id = d.client_id AND s.session_start < date_trunc('hour', d.win_start)
                              ORDER BY s.session_start DESC LIMIT 1) b""",
    "ANALYZE etl_psess",
]
def _create_facts(part: str) -> str:
    columns = ", ".join(f"{c} {_FACT_TYPES[c]}" for c in _PART_FACTS[part])
    return f"CREATE TEMP TABLE etl_facts (sign smallint NOT NULL, {columns}) ON COMMIT DROP"


def _event_filter(part: str, alias: str) -> str:
    """The condition on ``alias``'s event name for the events ``part`` uses (TRUE: all)."""
    names = _PART_EVENTS.get(part)
    return f"{alias}.event_name IN ({', '.join(repr(n) for n in names)})" if names else "TRUE"


def _gather_events(part: str) -> str:
    """The part's kept facts (-1)."""
    columns = ", ".join(_PART_FACTS[part])
    return f"INSERT INTO etl_facts SELECT -1, {columns} FROM etl.delta_facts f WHERE {_event_filter(part, 'f')}"  # noqa: S608 - constant


def _events_after(part: str) -> str:
    """The part's facts now (+1) of every pending client, in bulk: the client's events are read through
    (client_id, event_timestamp) (OFFSET 0 keeps that subquery a per-client index scan) and hash-joined to the
    sessions that can hold them (_PENDING_SESSIONS)."""
    return f"""INSERT INTO etl_facts
SELECT 1, {', '.join(_FACT_NOW[c] for c in _PART_FACTS[part])}
FROM etl.delta_clients d
CROSS JOIN LATERAL (SELECT * FROM dw.events x
                     WHERE x.client_id = d.client_id AND x.event_timestamp >= date_trunc('hour', d.win_start)
                       AND {_event_filter(part, 'x')}
                    OFFSET 0) e
JOIN etl_psess p ON p.session_id = e.session_id"""  # noqa: S608 - built from the constants above


_GATHER_SESSIONS = [
    "INSERT INTO etl_sfacts SELECT -1, * FROM etl.delta_sfacts",
    "INSERT INTO etl_sfacts SELECT 1, f.* FROM (" + _SESSION_FACTS.format(ranges=_ALL_PENDING) + ") f",  # noqa: S608
]
# dw.agg_daily_client_returns rows ("active" = started a session that day; '(all)' = any login state) from the
# first day of each client's window on, before and after (queries/aggregates.sql).
_AGG = queries.load("aggregates")
_CLIENT_RETURNS = queries.statement("aggregates", "client_returns")
_CLEAR = ["DELETE FROM etl.delta_facts", "DELETE FROM etl.delta_sfacts", "DELETE FROM etl.delta_clients"]


def _touch_rows(name: str) -> str:
    """A ``t(client_id, win_start)`` row source from the parameters ``<name>_clients`` and ``<name>_starts``."""
    return f"unnest(%({name}_clients)s::text[], %({name}_starts)s::timestamptz[]) AS t(client_id, win_start)"




# The apply in three parts, each in its own transaction (apply_pending) on its own tables. The hourly activity runs
# with sorts discouraged: else the planner sorts the facts once for both levels of its aggregation, which costs
# more than a hash aggregate first.
_ACTIVITY = [*_AGG["activity_users"], sql.script(("sort",), _AGG["activity_hourly"]), *_AGG["activity_hourly_clean"],
             *_AGG["activity_transitions"]]
_PRODUCTS = _AGG["products"]
_SESSIONS = [*_AGG["sessions"], *retention.APPLY,  # + the retention cohorts (retention.py)
             *acquisition_daily.APPLY]  # + sessions per day and acquisition (acquisition_daily.py)
_SESSIONS += attribution.APPLY  # + the attribution credits (attribution.py)
_SESSIONS += dims.APPLY  # + the channel/device/segment filters' aggregate (dims.py)
_SESSIONS += acquisition_dims.APPLY  # + acquisition by device and segment (acquisition_dims.py; after dims.APPLY)
_SESSIONS += product_dims.APPLY  # + products by channel, device and segment (product_dims.py; after dims.APPLY)
_SESSIONS += JOURNEYS_APPLY + RETENTION_DIMS_APPLY  # + journeys and cohorts by dimension (sql/dw/0048)
_SESSIONS += ATTRIBUTION_DIMS_APPLY  # + attribution by device and segment (attribution_dims.py; after attribution)
_PARTS = {"activity": _ACTIVITY, "products": _PRODUCTS, "sessions": _SESSIONS}
# The parts that each of the two connections runs, one after the other: about the same work each (the activity
# part costs the database about as much as the other two together; docs/warehouse.md, "Performance").
_LANES = (("activity",), ("products", "sessions"))


# The facts are a few rows of each client, read through the (client_id, event_timestamp) and
# (client_id, session_start) indexes: sql.INDEX_ONLY.
def _planned(cur, off: tuple[str, ...], statements: list[str], params: dict) -> None:
    """Run ``statements`` as ``sql.script`` does, in one round trip: each of the ETL's round trips costs the main
    thread a wait for the GIL, which its parser and planner threads hold most of the time."""
    cur.execute(sql.script(off, statements), params)


def record_script(touch: str) -> str:
    """In a batch, before it writes: make the clients of ``touch`` (a ``t(client_id, win_start)`` row source)
    pending, keeping the facts of their windows as they are now (only the part not kept yet). ``record_planned``
    is the ETL's form; this one serves a caller with its clients in a table (the sessionization's SQL oracle,
    tests/etl/oracle)."""
    return sql.script(sql.INDEX_ONLY, [statement.format(touch=touch) for statement in _RECORD])


def record_planned(touched: list[tuple[str, datetime, str]],
                 new: set[str] | frozenset[str] = frozenset()) -> tuple[str, dict]:
    """``record_script`` for clients given as (client_id, window start, its text) (the direct path's plan), with
    its parameters; empty for no clients. The clients of ``new`` have nothing in the warehouse yet (the batch inserts
    them): no facts to keep, only their windows. The batch runs it with its own statements, in one round trip."""
    if not touched:
        return "", {}
    known = [t for t in touched if t[0] not in new]
    params = _touch_params("all", touched)
    statements = []
    if known:  # before the windows: the facts' ranges read etl.delta_clients as it was
        params.update(_touch_params("known", known))
        statements += [statement.format(touch=_touch_rows("known")) for statement in _RECORD_FACTS]
    statements.append(_RECORD_CLIENTS.format(touch=_touch_rows("all")))
    return sql.script(sql.INDEX_ONLY, statements), params


def _touch_params(name: str, pairs: list[tuple[str, datetime, str]]) -> dict[str, str]:
    return {f"{name}_clients": sql.array(c for c, _, _ in pairs), f"{name}_starts": sql.array(t for _, _, t in pairs)}


# Each part of an apply marks itself in etl.delta_applied in its own transaction; the marks go with the pending
# clients (_finish), so a mark means that part's change of the pending clients is in the aggregates.
_MARK = "INSERT INTO etl.delta_applied (part) VALUES (%s) ON CONFLICT (part) DO NOTHING"


def _facts(cur, part: str) -> None:
    """What ``part`` reads, kept (-1) and now (+1): the pending clients' event facts it uses (etl_facts), or for the
    sessions part their sessions' facts (etl_sfacts) and client returns (etl_cr)."""
    if part == "sessions":
        for statement in _CREATE_SESSIONS:
            cur.execute(statement)
        _planned(cur, sql.INDEX_ONLY, _GATHER_SESSIONS, {})
        cur.execute("ANALYZE etl_sfacts")
        cur.execute(_CLIENT_RETURNS, {"horizon": HORIZON_DAYS})
        return
    cur.execute(_create_facts(part))
    if part == "activity":
        for statement in _CREATE_ACTIVITY:
            cur.execute(statement)
    _planned(cur, sql.INDEX_ONLY, [_gather_events(part), *_PENDING_SESSIONS], {})
    # per-client index scans of dw.events (the LATERAL), but a hash join to etl_psess
    _planned(cur, ("seqscan",), [_events_after(part)], {})
    cur.execute("ANALYZE etl_facts")


class ApplyError(Exception):
    """The aggregates' apply failed with an error that is not transient (``quarantine.is_transient``): nothing the
    ETL foresaw, since the warehouse's bounds refuse at load time what the aggregates could not index. The run is
    recorded ``failed`` with this message, which names the part and the aggregate table, and the invocation fails
    (alarm ``etl-errors``); the pending change stays pending (docs/warehouse.md, "Faults": what the operator does).
    """

    def __init__(self, part: str, table: str | None, error: BaseException) -> None:
        self.part, self.table, self.error = part, table, error
        where = f"writing {table}" if table else "reading the pending facts"
        super().__init__(f"aggregates' apply, part '{part}', failed {where}: "
                         f"{quarantine.error_class(error)}: {quarantine.error_message(error)}")


_TARGET = re.compile(r"\b(?:INSERT INTO|DELETE FROM|UPDATE)\s+(dw\.\w+)")


def _apply_part(conn, part: str) -> None:
    """One part of the apply in one transaction on ``conn``, unless its mark says it is already in. An error that is
    not transient is raised as ``ApplyError``, naming the aggregate table its statement writes."""
    statement = None
    try:
        with conn.cursor() as cur:
            cur.execute(_MARK, (part,))
            if cur.rowcount:
                _facts(cur, part)
                for statement in _PARTS[part]:
                    cur.execute(statement)
        faults.checkpoint("before_aggregates_commit")
        conn.commit()
    except Exception as exc:
        conn.rollback()
        if quarantine.is_transient(exc):
            raise
        target = _TARGET.search(statement) if statement else None
        raise ApplyError(part, target.group(1) if target else None, exc) from exc
    except BaseException:
        conn.rollback()
        raise


def _finish(conn) -> None:
    """Forget the pending clients and the parts' marks, in one transaction."""
    with transaction(conn), conn.cursor() as cur:
        for statement in _CLEAR:
            cur.execute(statement)
        cur.execute("DELETE FROM etl.delta_applied")
        faults.checkpoint("before_aggregates_clear")


def _lane(conn, parts: list[str]) -> None:
    for part in parts:
        _apply_part(conn, part)


def apply_pending(conn, parallel: bool = True) -> int:
    """Add to every aggregate the change the pending clients' facts went through (now minus as kept), and forget
    them. Returns the client count.

    Three parts, on their own tables: activity (hourly activity, users, page transitions), products (funnel,
    products) and sessions (daily sessions, client returns). Each reads what it needs and commits on its own; with
    ``parallel`` (and when the sibling connection opens) the two lanes of ``_LANES`` run at the same time, on
    ``conn`` and on a sibling. Nothing else writes meanwhile (the run waits, and holds the ETL lock), so every part
    reads the same facts. A part commits with its mark; the pending clients and the marks are forgotten together
    after all three. A failure or a kill in between leaves the clients pending with the marks of the parts already
    in: the next apply runs only the others (``finish_partial`` does it before a run's batches record anything new),
    so each change is applied exactly once.
    """
    with transaction(conn), conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM etl.delta_clients")
        clients = cur.fetchone()[0]
        cur.execute("SELECT part FROM etl.delta_applied")
        applied = {r[0] for r in cur.fetchall()}
        todo = [part for part in _PARTS if part not in applied]
    if clients:
        lanes = [[part for part in lane if part not in applied] for lane in _LANES]
        # sibling_connection looked up at call time: the tests replace it
        with two_connections(conn, parallel and all(lanes), lambda c: sibling_connection(c)) as other:
            if other is None:
                _lane(conn, todo)
            else:
                side_by_side(lambda: _lane(conn, lanes[0]), lambda: _lane(other, lanes[1]))
    if clients or len(todo) < len(_PARTS):
        _finish(conn)
    return clients


def finish_partial(conn) -> None:
    """Complete an apply that a failure or a kill cut between its parts' commits, before any batch records more
    pending clients (the marks are for the clients pending then)."""
    with transaction(conn), conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM etl.delta_applied")
        partial = cur.fetchone()[0] > 0
    if partial:
        apply_pending(conn)
