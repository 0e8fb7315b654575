"""Incremental aggregates: the run adds to every aggregate table the change its batches made, for the clients they
touched only, so the cost follows the run's traffic, not what the day already holds.

A batch changes only its touched clients, and for each of them only from a point in time on (its *window start*
``w``): the events it adds, the sessions it rewrites (a continued session, or the SQL path's re-sessionized
window) and the events of those sessions all lie at or after ``w``, and every session of the client that starts
at or after ``w`` is rewritten. (A session never straddles ``w``: sessions of one client do not overlap.)

Each batch, before it writes, keeps the *facts* of its clients' windows as they are -- their events from the start
of the hour of ``w`` on, with their session's login state, and their sessions from the start of the day of ``w`` on
-- in ``etl.delta_facts`` / ``etl.delta_sfacts``, and the client with its window in ``etl.delta_clients``
(``record_script``, ``record_given``; in the batch's transaction). A client already pending keeps its first facts;
only a window that now starts earlier (a late event) adds the older part. After the batches, ``apply_pending``
reads the same windows again and adds ``f(now) - f(kept)`` to each aggregate, in three parts on two connections,
each part committing with its mark in ``etl.delta_applied``, then forgets the pending clients and the marks in one
transaction: a kill before a part's commit leaves that part to the next run, and one after leaves nothing more to
do than to forget (exactly once either way).

Events and sessions no batch changed appear alike in both and cancel; the hour (day) start makes the distinct
clients of an hour (of a day) see all of the client's events of that hour (sessions of that day). The two counts
that are not per client -- distinct users of an hour, the product name (a max) -- go through the member-count
tables of sql/dw/0006. Rows whose counts all reach zero are deleted. The result equals a recompute from
``dw.events`` / ``dw.sessions`` (``load.refresh_aggregates``, the tests' oracle).
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from . import faults, quarantine, sql
from .connections import sibling_connection
from .extra_aggregates import HORIZON_DAYS

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
           page_view_count integer NOT NULL, duration_seconds numeric NOT NULL, revenue numeric NOT NULL"""

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
    "revenue": """CASE WHEN e.event_name = 'purchase'
                       THEN coalesce(e.product_discount_price, e.product_price, 0) * coalesce(e.quantity, 1)
                       ELSE 0 END""",
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
       s.page_view_count, s.duration_seconds, s.revenue
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


def _only(part: str, alias: str) -> str:
    """The condition on ``alias``'s event name for the events ``part`` uses (TRUE: all)."""
    names = _PART_EVENTS.get(part)
    return f"{alias}.event_name IN ({', '.join(repr(n) for n in names)})" if names else "TRUE"


def _gather_events(part: str) -> str:
    """The part's kept facts (-1)."""
    columns = ", ".join(_PART_FACTS[part])
    return f"INSERT INTO etl_facts SELECT -1, {columns} FROM etl.delta_facts f WHERE {_only(part, 'f')}"  # noqa: S608 - constant


def _events_after(part: str) -> str:
    """The part's facts now (+1) of every pending client, in bulk: the client's events are read through
    (client_id, event_timestamp) (OFFSET 0 keeps that subquery a per-client index scan) and hash-joined to the
    sessions that can hold them (_PENDING_SESSIONS)."""
    return f"""INSERT INTO etl_facts
SELECT 1, {', '.join(_FACT_NOW[c] for c in _PART_FACTS[part])}
FROM etl.delta_clients d
CROSS JOIN LATERAL (SELECT * FROM dw.events x
                     WHERE x.client_id = d.client_id AND x.event_timestamp >= date_trunc('hour', d.win_start)
                       AND {_only(part, 'x')}
                    OFFSET 0) e
JOIN etl_psess p ON p.session_id = e.session_id"""  # noqa: S608 - built from the constants above


_GATHER_SESSIONS = [
    "INSERT INTO etl_sfacts SELECT -1, * FROM etl.delta_sfacts",
    "INSERT INTO etl_sfacts SELECT 1, f.* FROM (" + _SESSION_FACTS.format(ranges=_ALL_PENDING) + ") f",  # noqa: S608
]
# dw.agg_daily_client_returns rows (extra_aggregates: "active" = started a session that day; '(all)' = any login
# state) from the first day of each client's window on, before and after, for the clients whose active days
# changed. A client's active days before that day did not change: its latest one per login state is read now.
_CLIENT_RETURNS = """
INSERT INTO etl_cr
WITH c AS (
    SELECT client_id, win_start::date AS d0 FROM etl.delta_clients
), act AS (
    SELECT DISTINCT sign, client_id, session_date AS d, user_login_state AS l FROM etl_sfacts
), changed AS (
    SELECT DISTINCT client_id FROM act GROUP BY client_id, d, l HAVING count(DISTINCT sign) = 1
), prior AS (
    SELECT c.client_id, p.l, p.d
      FROM c JOIN changed USING (client_id)
      CROSS JOIN LATERAL (
          SELECT s.user_login_state AS l, max(s.session_date) AS d FROM dw.sessions s
           WHERE s.client_id = c.client_id
             AND s.session_start >= (c.d0 - %(horizon)s)::timestamp AT TIME ZONE 'UTC'
             AND s.session_start < c.d0::timestamp AT TIME ZONE 'UTC'
           GROUP BY 1) p
), keyed AS (
    SELECT sign, client_id, d, l FROM act JOIN changed USING (client_id)
    UNION
    SELECT sign, client_id, d, '(all)' FROM act JOIN changed USING (client_id)
    UNION
    SELECT g.sign, p.client_id, p.d, p.l FROM prior p CROSS JOIN (VALUES (-1), (1)) g(sign)
    UNION
    SELECT g.sign, p.client_id, max(p.d), '(all)' FROM prior p CROSS JOIN (VALUES (-1), (1)) g(sign) GROUP BY 1, 2
), prev AS (
    SELECT sign, client_id, d, l, lag(d) OVER (PARTITION BY sign, client_id, l ORDER BY d) AS p FROM keyed
)
SELECT sign, d, l, CASE WHEN p IS NULL OR p <= d - %(horizon)s THEN '-infinity'::date ELSE p END
  FROM prev JOIN c USING (client_id) WHERE d >= c.d0
"""
_CLEAR = ["DELETE FROM etl.delta_facts", "DELETE FROM etl.delta_sfacts", "DELETE FROM etl.delta_clients"]


def _given(name: str) -> str:
    """A ``t(client_id, win_start)`` row source from the parameters ``<name>_clients`` and ``<name>_starts``."""
    return f"unnest(%({name}_clients)s::text[], %({name}_starts)s::timestamptz[]) AS t(client_id, win_start)"


TOUCH_SQL_PATH = "etl_tc t"  # sql.TOUCHED_CLIENTS (client_id, win_start)


# Hourly activity. Events are first summed per (hour, login state, sign, client, session), about one row per
# session and hour, so the distinct counts after it sort a tenth of the rows; a session has one login state, so
# its rows count the sessions. Run with sorts discouraged (in _ACTIVITY): else the planner sorts the facts once
# for both levels, which took 1.4 s per 1M facts against 0.9 s with a hash aggregate first.
_HOURLY = """WITH p AS (
           SELECT date_trunc('hour', event_timestamp) AS h, user_login_state AS l, sign, client_id, session_id,
                  min((event_timestamp AT TIME ZONE 'UTC')::date) AS dte, count(*) AS events,
                  count(*) FILTER (WHERE event_name IN ('page_view', 'screen_view')) AS page_views,
                  count(*) FILTER (WHERE event_name = 'view_item') AS view_items,
                  count(*) FILTER (WHERE event_name = 'add_to_cart') AS add_to_carts,
                  count(*) FILTER (WHERE event_name = 'begin_checkout') AS begin_checkouts,
                  count(*) FILTER (WHERE event_name = 'purchase') AS purchases,
                  sum(revenue) AS revenue,
                  count(*) FILTER (WHERE starts_session) AS started,
                  count(*) FILTER (WHERE is_first_visit) AS first_visits
             FROM etl_facts GROUP BY 1, 2, 3, 4, 5
       ), d AS (
           SELECT h, min(dte) AS dte, l, sum(sign * events) AS events, sum(sign * page_views) AS page_views,
                  sum(sign * view_items) AS view_items, sum(sign * add_to_carts) AS add_to_carts,
                  sum(sign * begin_checkouts) AS begin_checkouts, sum(sign * purchases) AS purchases,
                  sum(sign * revenue) AS revenue,
                  count(DISTINCT client_id) FILTER (WHERE sign > 0)
                    - count(DISTINCT client_id) FILTER (WHERE sign < 0) AS clients,
                  sum(sign) AS sessions,
                  sum(sign * started) AS started, sum(sign * first_visits) AS first_visits
             FROM p GROUP BY h, l
       )
       INSERT INTO dw.agg_hourly_activity AS a
       SELECT d.h, d.dte, d.l, d.events, d.page_views, d.view_items, d.add_to_carts, d.begin_checkouts, d.purchases,
              d.revenue, d.clients, coalesce(u.du, 0), d.sessions, d.started, d.first_visits
         FROM d LEFT JOIN etl_user_delta u ON u.h = d.h AND u.l = d.l
       ON CONFLICT (activity_hour, user_login_state) DO UPDATE SET
         events = a.events + excluded.events, page_views = a.page_views + excluded.page_views,
         view_items = a.view_items + excluded.view_items, add_to_carts = a.add_to_carts + excluded.add_to_carts,
         begin_checkouts = a.begin_checkouts + excluded.begin_checkouts,
         purchases = a.purchases + excluded.purchases, revenue = a.revenue + excluded.revenue,
         active_clients = a.active_clients + excluded.active_clients,
         active_users = a.active_users + excluded.active_users,
         active_sessions = a.active_sessions + excluded.active_sessions,
         sessions_started = a.sessions_started + excluded.sessions_started,
         first_visits = a.first_visits + excluded.first_visits"""
# Funnel: distinct sessions per step, counted apart before and after (a session is in both when it continues);
# each session's steps are made distinct first.
_FUNNEL = """INSERT INTO dw.agg_daily_funnel AS a
       WITH f AS (
         SELECT DISTINCT sign, (event_timestamp AT TIME ZONE 'UTC')::date AS dte, user_login_state, product_category,
                product_brand, event_name, session_id
           FROM etl_facts WHERE event_name IN ('view_item', 'add_to_cart', 'begin_checkout', 'purchase')
       )
       SELECT dte,
              CASE WHEN grouping(product_category) = 1 THEN '(all)' ELSE product_category END,
              CASE WHEN grouping(product_brand) = 1 THEN '(all)' ELSE product_brand END,
              user_login_state,
              count(DISTINCT session_id) FILTER (WHERE sign > 0 AND event_name = 'view_item')
                - count(DISTINCT session_id) FILTER (WHERE sign < 0 AND event_name = 'view_item'),
              count(DISTINCT session_id) FILTER (WHERE sign > 0 AND event_name = 'add_to_cart')
                - count(DISTINCT session_id) FILTER (WHERE sign < 0 AND event_name = 'add_to_cart'),
              count(DISTINCT session_id) FILTER (WHERE sign > 0 AND event_name = 'begin_checkout')
                - count(DISTINCT session_id) FILTER (WHERE sign < 0 AND event_name = 'begin_checkout'),
              count(DISTINCT session_id) FILTER (WHERE sign > 0 AND event_name = 'purchase')
                - count(DISTINCT session_id) FILTER (WHERE sign < 0 AND event_name = 'purchase')
         FROM f
        GROUP BY GROUPING SETS ((dte, user_login_state, product_category, product_brand),
                                (dte, user_login_state, product_category),
                                (dte, user_login_state))
       ON CONFLICT (activity_date, product_category, product_brand, user_login_state) DO UPDATE SET
         view_item_sessions = a.view_item_sessions + excluded.view_item_sessions,
         add_to_cart_sessions = a.add_to_cart_sessions + excluded.add_to_cart_sessions,
         begin_checkout_sessions = a.begin_checkout_sessions + excluded.begin_checkout_sessions,
         purchase_sessions = a.purchase_sessions + excluded.purchase_sessions"""
# Products (product_name filled in below): per session first, which makes the viewing sessions a plain count. The
# keys it touched go to etl_product_keys (one row per key: the upsert's RETURNING), for the clean-up below.
_PRODUCT = """WITH up AS (
       INSERT INTO dw.agg_daily_product AS a
       WITH p AS (
         SELECT (event_timestamp AT TIME ZONE 'UTC')::date AS dte, product_id, product_category, product_brand,
                user_login_state, sign, session_id,
                count(*) FILTER (WHERE event_name = 'view_item') AS views,
                count(*) FILTER (WHERE event_name = 'add_to_cart') AS add_to_carts,
                count(*) FILTER (WHERE event_name = 'purchase') AS purchases,
                coalesce(sum(units) FILTER (WHERE event_name = 'purchase'), 0) AS units,
                sum(revenue) AS revenue
           FROM etl_facts
          WHERE product_id IS NOT NULL AND event_name IN ('view_item', 'add_to_cart', 'purchase')
          GROUP BY 1, 2, 3, 4, 5, 6, 7
       )
       SELECT dte, product_id, product_category, product_brand, user_login_state, NULL,
              sum(sign * views), sum(sign * add_to_carts), sum(sign * purchases), sum(sign * units),
              sum(sign * revenue), coalesce(sum(sign) FILTER (WHERE views > 0), 0)
         FROM p
        GROUP BY 1, 2, 3, 4, 5
       ON CONFLICT (activity_date, product_id, product_category, product_brand, user_login_state) DO UPDATE SET
         views = a.views + excluded.views, add_to_carts = a.add_to_carts + excluded.add_to_carts,
         purchases = a.purchases + excluded.purchases, units = a.units + excluded.units,
         revenue = a.revenue + excluded.revenue, viewing_sessions = a.viewing_sessions + excluded.viewing_sessions
       RETURNING a.activity_date, a.product_id, a.product_category, a.product_brand, a.user_login_state
       )
       INSERT INTO etl_product_keys SELECT * FROM up"""

# The apply in three parts, each in its own transaction (apply_pending) on its own tables.
_ACTIVITY = [
    # Distinct users of an hour: member counts, then +1 for a member that appears, -1 for one that goes.
    """WITH d AS (
           SELECT date_trunc('hour', event_timestamp) AS h, user_login_state AS l, user_id AS u, sum(sign) AS n
             FROM etl_facts WHERE user_id IS NOT NULL GROUP BY 1, 2, 3 HAVING sum(sign) <> 0
       ), up AS (
           INSERT INTO dw.agg_user_hours AS m (activity_hour, user_login_state, user_id, events)
           SELECT h, l, u, n FROM d
           ON CONFLICT (activity_hour, user_login_state, user_id) DO UPDATE SET events = m.events + excluded.events
           RETURNING m.activity_hour, m.user_login_state, m.user_id, m.events
       )
       INSERT INTO etl_user_delta
       SELECT up.activity_hour, up.user_login_state,
              sum(CASE WHEN up.events = d.n AND up.events > 0 THEN 1 WHEN up.events = 0 THEN -1 ELSE 0 END)
         FROM up JOIN d ON d.h = up.activity_hour AND d.l = up.user_login_state AND d.u = up.user_id
        GROUP BY 1, 2""",
    """DELETE FROM dw.agg_user_hours m
        USING (SELECT DISTINCT date_trunc('hour', event_timestamp) AS h, user_login_state AS l, user_id AS u
                 FROM etl_facts WHERE user_id IS NOT NULL) d
        WHERE m.activity_hour = d.h AND m.user_login_state = d.l AND m.user_id = d.u AND m.events = 0""",
    sql.script(("sort",), [_HOURLY]),
    """DELETE FROM dw.agg_hourly_activity a
        USING (SELECT DISTINCT date_trunc('hour', event_timestamp) AS h, user_login_state AS l FROM etl_facts) d
        WHERE a.activity_hour = d.h AND a.user_login_state = d.l AND a.events = 0""",
    # Page transitions between consecutive page views of a session (a session is wholly before or after w, so
    # the partial ones at the start of the window are alike in both captures and cancel).
    """INSERT INTO dw.agg_daily_page_transitions AS a
       WITH pv AS (
         SELECT sign, session_id, user_login_state, event_timestamp, page_url_path,
                lag(page_url_path) OVER w AS prev_page, lead(page_url_path) OVER w AS next_page
           FROM etl_facts
          WHERE event_name IN ('page_view', 'screen_view') AND page_url_path IS NOT NULL
         WINDOW w AS (PARTITION BY sign, session_id ORDER BY event_timestamp, event_id)
       ), steps AS (
         SELECT sign, user_login_state, event_timestamp, coalesce(prev_page, '(entrance)') AS from_page,
                page_url_path AS to_page
           FROM pv
         UNION ALL
         SELECT sign, user_login_state, event_timestamp, page_url_path, '(exit)' FROM pv WHERE next_page IS NULL
       )
       SELECT (event_timestamp AT TIME ZONE 'UTC')::date, user_login_state, from_page, to_page, sum(sign)
         FROM steps GROUP BY 1, 2, 3, 4 HAVING sum(sign) <> 0
       ON CONFLICT (activity_date, user_login_state, from_page, to_page) DO UPDATE SET
         transitions = a.transitions + excluded.transitions""",
    """DELETE FROM dw.agg_daily_page_transitions
        WHERE activity_date IN (SELECT DISTINCT (event_timestamp AT TIME ZONE 'UTC')::date FROM etl_facts
                                 WHERE event_name IN ('page_view', 'screen_view'))
          AND transitions = 0""",
]
_PRODUCTS = [
    _FUNNEL,
    """DELETE FROM dw.agg_daily_funnel
        WHERE activity_date IN (SELECT DISTINCT (event_timestamp AT TIME ZONE 'UTC')::date FROM etl_facts)
          AND view_item_sessions = 0 AND add_to_cart_sessions = 0 AND begin_checkout_sessions = 0
          AND purchase_sessions = 0""",
    """CREATE TEMP TABLE etl_product_keys (activity_date date NOT NULL, product_id text NOT NULL,
           product_category text NOT NULL, product_brand text NOT NULL, user_login_state text NOT NULL)
           ON COMMIT DROP""",
    _PRODUCT,
    """INSERT INTO dw.agg_product_names AS m
       SELECT (event_timestamp AT TIME ZONE 'UTC')::date, product_id, product_category, product_brand,
              user_login_state, product_name, sum(sign)
         FROM etl_facts
        WHERE product_id IS NOT NULL AND product_name IS NOT NULL
          AND event_name IN ('view_item', 'add_to_cart', 'purchase')
        GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(sign) <> 0
       ON CONFLICT (activity_date, product_id, product_category, product_brand, user_login_state, product_name)
       DO UPDATE SET events = m.events + excluded.events""",
    """DELETE FROM dw.agg_product_names m USING etl_product_keys k
        WHERE (m.activity_date, m.product_id, m.product_category, m.product_brand, m.user_login_state)
            = (k.activity_date, k.product_id, k.product_category, k.product_brand, k.user_login_state)
          AND m.events = 0""",
    """DELETE FROM dw.agg_daily_product a USING etl_product_keys k
        WHERE (a.activity_date, a.product_id, a.product_category, a.product_brand, a.user_login_state)
            = (k.activity_date, k.product_id, k.product_category, k.product_brand, k.user_login_state)
          AND a.views = 0 AND a.add_to_carts = 0 AND a.purchases = 0""",
    """UPDATE dw.agg_daily_product a SET product_name = n.product_name
         FROM (SELECT k.*, (SELECT max(m.product_name) FROM dw.agg_product_names m
                             WHERE (m.activity_date, m.product_id, m.product_category, m.product_brand,
                                    m.user_login_state)
                                 = (k.activity_date, k.product_id, k.product_category, k.product_brand,
                                    k.user_login_state)) AS product_name
                 FROM etl_product_keys k) n
        WHERE (a.activity_date, a.product_id, a.product_category, a.product_brand, a.user_login_state)
            = (n.activity_date, n.product_id, n.product_category, n.product_brand, n.user_login_state)
          AND a.product_name IS DISTINCT FROM n.product_name""",
]
_SESSIONS = [
    # Sessions per day of start.
    """INSERT INTO dw.agg_daily_sessions AS a
       SELECT session_date, user_login_state, sum(sign),
              coalesce(sum(sign) FILTER (WHERE is_engaged), 0), coalesce(sum(sign) FILTER (WHERE is_converted), 0),
              coalesce(sum(sign) FILTER (WHERE is_first_visit), 0),
              count(DISTINCT client_id) FILTER (WHERE sign > 0) - count(DISTINCT client_id) FILTER (WHERE sign < 0),
              sum(sign * page_view_count), sum(sign * duration_seconds), sum(sign * revenue)
         FROM etl_sfacts GROUP BY 1, 2
       ON CONFLICT (activity_date, user_login_state) DO UPDATE SET
         sessions = a.sessions + excluded.sessions, engaged_sessions = a.engaged_sessions + excluded.engaged_sessions,
         converted_sessions = a.converted_sessions + excluded.converted_sessions,
         first_visit_sessions = a.first_visit_sessions + excluded.first_visit_sessions,
         clients = a.clients + excluded.clients, page_views = a.page_views + excluded.page_views,
         total_duration_seconds = a.total_duration_seconds + excluded.total_duration_seconds,
         revenue = a.revenue + excluded.revenue""",
    """DELETE FROM dw.agg_daily_sessions
        WHERE activity_date IN (SELECT DISTINCT session_date FROM etl_sfacts) AND sessions = 0""",
    """INSERT INTO dw.agg_daily_client_returns AS a (activity_date, user_login_state, previous_date, clients)
       SELECT activity_date, user_login_state, previous_date, sum(sign) FROM etl_cr
        GROUP BY 1, 2, 3 HAVING sum(sign) <> 0
       ON CONFLICT (user_login_state, activity_date, previous_date) DO UPDATE SET
         clients = a.clients + excluded.clients""",
    """DELETE FROM dw.agg_daily_client_returns a USING (SELECT DISTINCT activity_date, user_login_state FROM etl_cr) k
        WHERE a.user_login_state = k.user_login_state AND a.activity_date = k.activity_date AND a.clients = 0""",
]
_PARTS = {"activity": _ACTIVITY, "products": _PRODUCTS, "sessions": _SESSIONS}
# The parts that each of the two connections runs, one after the other: about the same work each (1M events: the
# activity part ≈ 3.7 s of the database's time, products ≈ 3.3 s and sessions ≈ 0.9 s).
_LANES = (("activity",), ("products", "sessions"))


# The facts are a few rows of each client, read through the (client_id, event_timestamp) and
# (client_id, session_start) indexes: sql.INDEX_ONLY.
def _planned(cur, off: tuple[str, ...], statements: list[str], params: dict) -> None:
    """Run ``statements`` as ``sql.script`` does, in one round trip: each of the ETL's round trips costs the main
    thread a wait for the GIL, which its parser and planner threads hold most of the time."""
    cur.execute(sql.script(off, statements), params)


def record_script(touch: str) -> str:
    """In a batch, before it writes: make the clients of ``touch`` (a ``t(client_id, win_start)`` row source)
    pending, keeping the facts of their windows as they are now (only the part not kept yet). The SQL path runs
    this script with its own statements, in one round trip."""
    return sql.script(sql.INDEX_ONLY, [statement.format(touch=touch) for statement in _RECORD])


def record_given(touched: list[tuple[str, datetime, str]],
                 new: set[str] | frozenset[str] = frozenset()) -> tuple[str, dict]:
    """``record_script`` for clients given as (client_id, window start, its text) (the direct path's plan), with
    its parameters; empty for no clients. The clients of ``new`` have nothing in the warehouse yet (the batch inserts
    them): no facts to keep, only their windows. The batch runs it with its own statements, in one round trip."""
    if not touched:
        return "", {}
    known = [t for t in touched if t[0] not in new]
    params = _pairs("all", touched)
    statements = []
    if known:  # before the windows: the facts' ranges read etl.delta_clients as it was
        params.update(_pairs("known", known))
        statements += [statement.format(touch=_given("known")) for statement in _RECORD_FACTS]
    statements.append(_RECORD_CLIENTS.format(touch=_given("all")))
    return sql.script(sql.INDEX_ONLY, statements), params


def _pairs(name: str, pairs: list[tuple[str, datetime, str]]) -> dict[str, str]:
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
    try:
        with conn.cursor() as cur:
            for statement in _CLEAR:
                cur.execute(statement)
            cur.execute("DELETE FROM etl.delta_applied")
        faults.checkpoint("before_aggregates_clear")
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


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
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM etl.delta_clients")
            clients = cur.fetchone()[0]
            cur.execute("SELECT part FROM etl.delta_applied")
            applied = {r[0] for r in cur.fetchall()}
            todo = [part for part in _PARTS if part not in applied]
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    if clients:
        lanes = [[part for part in lane if part not in applied] for lane in _LANES]
        other = sibling_connection(conn) if parallel and all(lanes) else None
        if other is None:
            _lane(conn, todo)
        else:
            try:
                with ThreadPoolExecutor(max_workers=1) as pool:
                    beside = pool.submit(_lane, other, lanes[1])
                    try:
                        _lane(conn, lanes[0])
                    finally:
                        error = beside.exception()  # waits; this lane's own error comes first
                    if error is not None:
                        raise error
            finally:
                other.close()
    if clients or len(todo) < len(_PARTS):
        _finish(conn)
    return clients


def finish_partial(conn) -> None:
    """Complete an apply that a failure or a kill cut between its parts' commits, before any batch records more
    pending clients (the marks are for the clients pending then)."""
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM etl.delta_applied")
        partial = cur.fetchone()[0] > 0
    conn.commit()
    if partial:
        apply_pending(conn)
