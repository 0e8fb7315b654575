"""Synthesize a large warehouse in SQL (events + sessions), then build the real aggregates with the ETL's own
refresh (``clickstream_etl.rebuild.rebuild_dirty_days``), for the dashboard query benchmark.

Going through the full ETL for 10M events would take most of the benchmark's time; the dashboards only read
what the ETL writes, so the events and sessions are generated set-based (deterministic hashes, no random())
with realistic shapes: ~10 events per session, a funnel of view_item -> add_to_cart -> begin_checkout ->
purchase, Zipf-like product popularity, 8 categories x 24 brands, two login states.
"""

from __future__ import annotations

import datetime as dt

CATEGORIES = ["laptops", "desktops", "monitors", "keyboards", "mice", "storage", "networking", "components"]
BRANDS = ["Lenovo", "Dell", "HP", "Apple", "Asus", "Acer", "MSI", "Samsung", "LG", "BenQ", "Logitech", "Razer",
          "Corsair", "Kingston", "Crucial", "WD", "Seagate", "TP-Link", "Netgear", "Ubiquiti", "Intel", "AMD",
          "Nvidia", "Gigabyte"]

# u(x): a deterministic pseudo-random number in [0, 1) from an integer.
_U = "(((hashint8(({x})::bigint) & 2147483647) %% 1000000)::float8 / 1000000.0)"


def u(expr: str) -> str:
    return _U.format(x=expr)


SESSIONS_CTE = f"""
WITH s AS (
  SELECT k,
         md5('session-' || k)::uuid AS session_id,
         'client-' || (1 + floor({u('k * 11')} * %(clients)s)::int) AS client_id,
         %(end)s::timestamptz - make_interval(secs => {u('k * 13')} * %(days)s * 86400) AS start_ts,
         {u('k * 17')} < 0.65 AS viewer,
         4 + floor({u('k * 31')} * 13)::int AS n,
         floor(%(products)s * power({u('k * 41')}, 2.5))::int AS p0,
         CASE WHEN {u('k * 47')} < 0.35 THEN 'logged_in' ELSE 'logged_out' END AS login,
         {u('k * 19')} AS r_atc, {u('k * 23')} AS r_chk, {u('k * 29')} AS r_pur, {u('k * 43')} AS r_land
    FROM generate_series(1, %(sessions)s) AS k
   ORDER BY start_ts  -- the sessions (a tenth of the rows) sorted, not the events: see INSERT_EVENTS
), s2 AS (
  SELECT *, CASE WHEN viewer AND r_atc < 0.35 THEN 1 ELSE 0 END
            + CASE WHEN viewer AND r_atc < 0.35 AND r_chk < 0.55 THEN 1 ELSE 0 END
            + CASE WHEN viewer AND r_atc < 0.35 AND r_chk < 0.55 AND r_pur < 0.7 THEN 1 ELSE 0 END AS tail
    FROM s
), ev AS (
  SELECT s2.*, i,
         CASE WHEN i > n - tail THEN (ARRAY['add_to_cart', 'begin_checkout', 'purchase'])[i - (n - tail)]
              WHEN viewer AND i %% 2 = 0 THEN 'view_item'
              ELSE 'page_view' END AS event_name,
         CASE WHEN i > n - tail OR i = 2 THEN p0
              ELSE floor(%(products)s * power({u('k * 1009 + i')}, 2.5))::int END AS p
    FROM s2 CROSS JOIN LATERAL generate_series(1, s2.n) AS i
)
"""  # noqa: S608 (constant SQL fragments; values are bound)

INSERT_EVENTS = SESSIONS_CTE + """
INSERT INTO dw.events (event_id, event_timestamp, event_name, user_id, user_login_state, identity_source, client_id,
                       session_id, client_session_id, is_first_visit, page_url_path, product_id, product_name,
                       product_category, product_brand, product_price, product_discount_price, product_url_path,
                       quantity, order_id, received_at, request_id, source_file, source_line, revenue)
SELECT md5('event-' || k || '-' || i)::uuid,
       start_ts + make_interval(secs => (i - 1) * 40),
       event_name,
       CASE WHEN login = 'logged_in' THEN 'user-' || client_id END,
       login,
       CASE WHEN login = 'logged_in' THEN 'cognito' END,
       client_id, session_id, 's-' || k, i = 1 AND k %% 3 = 0,
       CASE WHEN event_name <> 'page_view' THEN NULL
            WHEN i = 1 THEN (ARRAY['/', '/', '/search', '/deals', '/category/' || (%(categories)s::text[])[1 + p0 %% 8],
                                   '/products/p-' || p0])[1 + floor(r_land * 6)::int]
            WHEN i %% 4 = 1 THEN '/category/' || (%(categories)s::text[])[1 + p %% 8]
            ELSE '/products/p-' || p END,
       CASE WHEN event_name <> 'page_view' THEN 'p-' || p END,
       CASE WHEN event_name <> 'page_view' THEN 'Product ' || p END,
       CASE WHEN event_name <> 'page_view' THEN (%(categories)s::text[])[1 + p %% 8] END,
       CASE WHEN event_name <> 'page_view' THEN (%(brands)s::text[])[1 + (p / 8) %% 24] END,
       CASE WHEN event_name <> 'page_view' THEN 20 + (p * 37) %% 1980 END,
       CASE WHEN event_name <> 'page_view' AND p %% 3 = 0 THEN 0.9 * (20 + (p * 37) %% 1980) END,
       CASE WHEN event_name <> 'page_view' THEN '/products/p-' || p END,
       CASE WHEN event_name IN ('add_to_cart', 'purchase') THEN 1 END,
       CASE WHEN event_name = 'purchase' THEN 'o-' || k END,
       start_ts + make_interval(secs => (i - 1) * 40 + 2),
       'req-' || k,
       -- the raw object it came from: as Firehose writes them, one per shard and receipt interval (an hour, 4
       -- shards), so that an object's events lie together in the table, as the ETL's loads leave them
       's3://bench/events/' || to_char(start_ts + make_interval(secs => (i - 1) * 40 + 2), 'YYYY/MM/DD/HH24')
         || '/' || (k %% 4) || '.json', i,
       -- the revenue the ETL stores (clickstream_etl.rules.revenue): discount price, else price, times quantity 1
       CASE WHEN event_name = 'purchase'
            THEN round(CASE WHEN p %% 3 = 0 THEN 0.9 * (20 + (p * 37) %% 1980) ELSE 20 + (p * 37) %% 1980 END, 2)
            ELSE 0 END
  FROM ev
 -- In time order as the ETL loads them (so the BRIN index works), to within a session's length (at most 10
 -- minutes): the sessions come sorted by their start, so this is an incremental sort of each session's events,
 -- not a sort of all the (wide) event rows, which spilled several GB to disk at 10M events.
 ORDER BY start_ts, i
"""

# Each session from its events, in session-start order, as the ETL writes them (it loads in time order), not in
# hash order; with its acquisition, a deterministic mix of GA4 channel groups (sources, mediums and campaigns of the
# shapes clickstream_etl.acquisition gives them), and a device category (the channel/device/segment filters'
# aggregates, sql/dw/0041), 4 devices with uneven shares, each from a hash of the session id. Set in the insert: an
# UPDATE of every session afterwards rewrote the table and its indexes (about 3 minutes of the 10M build).
INSERT_SESSIONS = f"""
INSERT INTO dw.sessions (session_id, client_id, user_id, user_login_state, session_start, session_end, session_date,
                         duration_seconds, event_count, page_view_count, landing_page, exit_page, is_engaged,
                         is_converted, is_first_visit, purchase_count, revenue, source, medium, campaign, channel_group,
                         device_category)
SELECT g.*, a.source, a.medium, a.campaign, a.channel_group,
       (ARRAY['desktop', 'desktop', 'desktop', 'desktop', 'desktop', 'mobile', 'mobile', 'mobile', 'mobile', 'tablet',
              'other'])[1 + (hashtext('d' || g.session_id::text) & 1023) %% 11]
  FROM (SELECT session_id, min(client_id), max(user_id), min(user_login_state), min(event_timestamp) AS session_start,
               max(event_timestamp), (min(event_timestamp) AT TIME ZONE 'UTC')::date,
               extract(epoch FROM max(event_timestamp) - min(event_timestamp))::numeric(12, 3),
               count(*), count(*) FILTER (WHERE event_name = 'page_view'),
               (array_agg(page_url_path ORDER BY event_timestamp) FILTER (WHERE event_name = 'page_view'))[1],
               (array_agg(page_url_path ORDER BY event_timestamp DESC) FILTER (WHERE event_name = 'page_view'))[1],
               true, bool_or(event_name = 'purchase'), bool_or(is_first_visit),
               count(*) FILTER (WHERE event_name = 'purchase'),
               coalesce(sum(coalesce(product_discount_price, product_price)) FILTER (WHERE event_name = 'purchase'), 0)
          FROM dw.events GROUP BY session_id) g
 CROSS JOIN LATERAL (SELECT {u('hashtext(g.session_id::text)')} AS r,
                            (1 + floor({u('hashtext(g.session_id::text)::bigint * 7')} * 12))::int AS c) k
 CROSS JOIN LATERAL (SELECT * FROM (VALUES
      (k.r < 0.30, '(direct)', '(none)', '(direct)', 'Direct'),
      (k.r >= 0.30 AND k.r < 0.50, 'google', 'organic', '(organic)', 'Organic Search'),
      (k.r >= 0.50 AND k.r < 0.55, 'bing', 'organic', '(organic)', 'Organic Search'),
      (k.r >= 0.55 AND k.r < 0.67, 'google', 'cpc', 'search-' || k.c, 'Paid Search'),
      (k.r >= 0.67 AND k.r < 0.75, 'l.facebook.com', 'referral', '(referral)', 'Organic Social'),
      (k.r >= 0.75 AND k.r < 0.80, 'facebook', 'paid_social', 'social-' || k.c, 'Paid Social'),
      (k.r >= 0.80 AND k.r < 0.88, 'newsletter', 'email', 'weekly-' || (k.c * 3), 'Email'),
      (k.r >= 0.88 AND k.r < 0.95, 'blog' || k.c || '.example.org', 'referral', '(referral)', 'Referral'),
      (k.r >= 0.95, 'gdn', 'display', 'display-' || k.c, 'Display')) v(hit, source, medium, campaign, channel_group)
     WHERE hit) a
 ORDER BY g.session_start
"""  # noqa: S608 (constant SQL fragments)

# Each client's first and last event from its sessions (a tenth of the rows), and its first event through
# events_client_ts_idx: a GROUP BY of every event sorted all 10M of them (3.5 minutes of the 10M build).
INSERT_CLIENTS = """
INSERT INTO dw.clients (client_id, first_event_id, first_seen_at, last_seen_at)
SELECT c.client_id, e.event_id, c.first_seen_at, c.last_seen_at
  FROM (SELECT client_id, min(session_start) AS first_seen_at, max(session_end) AS last_seen_at FROM dw.sessions
         GROUP BY client_id) c
 CROSS JOIN LATERAL (SELECT x.event_id FROM dw.events x WHERE x.client_id = c.client_id
                        AND x.event_timestamp = c.first_seen_at ORDER BY x.event_id LIMIT 1) e
"""

INSERT_RUNS = """
INSERT INTO etl.runs (started_at, finished_at, status, trigger, files_seen, files_loaded, lines_read, events_loaded,
                      duplicates, rejects, rejects_by_reason, days_refreshed)
SELECT %(end)s::timestamptz - make_interval(mins => 30 * g), %(end)s::timestamptz - make_interval(mins => 30 * g - 2),
       CASE WHEN g %% 97 = 0 THEN 'failed' ELSE 'succeeded' END, 'schedule', 40, 40, 400, 390, 4, 6,
       jsonb_build_object('malformed_json', 3, 'stale_event', 2, 'missing_field', 1), 1
  FROM generate_series(1, %(runs)s) AS g
"""


def synthesize(conn, events: int, days: int = 30, end: dt.datetime | None = None, products: int = 600,
               clients: int | None = None, aggregates: bool = True) -> dict[str, int]:
    """Fill an empty migrated DW with about `events` events over `days` days ending at `end`; build aggregates
    (not with `aggregates=False`: raw events and sessions only, for bench/lake)."""
    from clickstream_etl import segments
    from clickstream_etl.rebuild import rebuild_dirty_days

    end = end or dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    sessions = max(1, events // 10)
    params = {"sessions": sessions, "days": days, "end": end, "products": products,
              "clients": clients or max(1, sessions // 3), "categories": CATEGORIES, "brands": BRANDS,
              "runs": days * 48}
    with conn.cursor() as cur:
        # Load like the ETL does (rows in time order, so the BRIN index works) but build dw.events' indexes
        # after the load (a sort instead of 10M random B-tree inserts); the definitions are the migration's own.
        cur.execute("""SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
                       WHERE conrelid = 'dw.events'::regclass AND contype = 'p'""")
        pk = cur.fetchone()
        cur.execute("""SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'dw' AND tablename = 'events'
                       AND indexname <> %s""", (pk[0],))
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute(f'DROP INDEX dw."{name}"')
        cur.execute(f'ALTER TABLE dw.events DROP CONSTRAINT "{pk[0]}"')
        cur.execute("SET maintenance_work_mem = '512MB'")
        cur.execute("SET work_mem = '256MB'")
        cur.execute("SET jit = off")  # JIT compiling these big generated expressions costs far more than it saves
        cur.execute(INSERT_EVENTS, params)
        cur.execute(f'ALTER TABLE dw.events ADD CONSTRAINT "{pk[0]}" {pk[1]}')
        for _, definition in indexes:
            cur.execute(definition)
        cur.execute(INSERT_SESSIONS, params)
        cur.execute(INSERT_CLIENTS)
        cur.execute(INSERT_RUNS, params)
        cur.execute("""INSERT INTO etl.dirty_days SELECT DISTINCT (event_timestamp AT TIME ZONE 'UTC')::date
                       FROM dw.events ON CONFLICT DO NOTHING""")
    conn.commit()
    if aggregates:
        rebuild_dirty_days(conn)  # also dw.agg_daily_client_returns, the retention and the attribution
        segments.compute(conn, end.date() - dt.timedelta(days=1), segments.Thresholds())  # the ETL's daily step
    conn.commit()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
        cur.execute("SELECT count(*) FROM dw.events")
        n_events = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM dw.sessions")
        n_sessions = cur.fetchone()[0]
    conn.autocommit = False
    return {"events": n_events, "sessions": n_sessions}
