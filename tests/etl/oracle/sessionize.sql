-- The test oracle of the ETL's sessionization (tests/etl/oracle/__init__.py): one batch's rows, set-based in SQL --
-- the new events, the clients, the sessions of every touched client re-made from the start of its earliest
-- session the new events can touch. The session rules' SQL forms ({placeholders}) are the oracle's own
-- (oracle.SQL), checked against clickstream_etl/rules.py by tests/etl/test_rules.py. Blocks named *_table are the
-- queries of the batch's temp tables (sql.batch_table).

-- name: new_events_table
-- (etl_new) valid rows not yet in the warehouse; the first occurrence (object key order, then line) wins
SELECT DISTINCT ON (n.event_id) n.*
FROM etl_norm n
WHERE n.problem IS NULL
  AND NOT EXISTS (SELECT 1 FROM dw.events e WHERE e.event_id = n.event_id)
ORDER BY n.event_id, n.file_idx, n.line_no;

-- name: client_first_table  (etl_cmin) the first new event of each touched client, and its last event time
SELECT DISTINCT ON (client_id) client_id, event_id, event_timestamp,
       max(event_timestamp) OVER (PARTITION BY client_id) AS last_ts
FROM etl_new ORDER BY client_id, {first_event_order};

-- name: old_first_table  (etl_oldfirst) first events that stop being first (a late, earlier event)
SELECT c.client_id, c.first_event_id
FROM dw.clients c JOIN etl_cmin m USING (client_id)
WHERE (m.event_timestamp, m.event_id) < (c.first_seen_at, c.first_event_id);

-- name: upsert_clients
INSERT INTO dw.clients AS c (client_id, first_event_id, first_seen_at, last_seen_at)
SELECT client_id, event_id, event_timestamp, last_ts FROM etl_cmin
ON CONFLICT (client_id) DO UPDATE SET
  first_event_id = CASE WHEN (excluded.first_seen_at, excluded.first_event_id)
                              < (c.first_seen_at, c.first_event_id)
                        THEN excluded.first_event_id ELSE c.first_event_id END,
  first_seen_at = least(c.first_seen_at, excluded.first_seen_at),
  last_seen_at = greatest(c.last_seen_at, excluded.last_seen_at);

-- name: first_events_table  (etl_first) each touched client's first event
SELECT c.client_id, c.first_event_id FROM dw.clients c JOIN etl_cmin USING (client_id);

-- name: clear_old_first
UPDATE dw.events e SET is_first_visit = false
FROM etl_oldfirst o WHERE e.event_id = o.first_event_id AND e.is_first_visit;

-- name: touched_clients_table
-- (etl_tc) each touched client with the start of its window: its earliest session the new events continue, else
-- its first new event
SELECT m.client_id,
       least(m.min_ts, (SELECT min(s.session_start) FROM dw.sessions s
                        WHERE s.client_id = m.client_id AND {continues}))
         AS win_start
FROM (SELECT client_id, min(event_timestamp) AS min_ts FROM etl_new GROUP BY client_id) m;

-- name: sessionize_table  (etl_sess) the window's events, old and new, in sessions
SELECT s.*, {session_id} AS session_id,
       s.event_id IN (SELECT first_event_id FROM etl_first) AS is_first_visit
FROM (
  SELECT b.*, max(CASE WHEN b.brk THEN b.event_timestamp END)
                OVER (PARTITION BY b.client_id ORDER BY b.event_timestamp, b.event_id
                      ROWS UNBOUNDED PRECEDING) AS session_start
  FROM (
    SELECT w.*, coalesce({new_session}, true) AS brk
    FROM (
          SELECT e.event_id, e.client_id, e.event_timestamp, e.event_name, e.user_id, e.user_login_state,
                 e.page_url_path, e.product_price, e.product_discount_price, e.quantity,
                 e.page_referrer, e.device_category, e.browser,
                 e.session_id AS old_session_id, false AS is_new
          FROM etl_tc t JOIN dw.events e ON e.client_id = t.client_id AND e.event_timestamp >= t.win_start
          UNION ALL
          SELECT event_id, client_id, event_timestamp, event_name, user_id, user_login_state,
                 page_url_path, product_price, product_discount_price, quantity,
                 page_referrer, device_category, browser, NULL::uuid, true
          FROM etl_new
    ) w
  ) b
) s;

-- name: update_old_events  the window's loaded events: their session and first visit as re-made
UPDATE dw.events e SET session_id = s.session_id, is_first_visit = s.is_first_visit
FROM etl_sess s
WHERE NOT s.is_new AND e.event_id = s.event_id
  AND (e.session_id <> s.session_id OR e.is_first_visit <> s.is_first_visit);

-- name: replace_sessions  the window's sessions, deleted and written again
DELETE FROM dw.sessions s USING etl_tc t
WHERE s.client_id = t.client_id AND s.session_start >= t.win_start;

INSERT INTO dw.sessions (session_id, client_id, user_id, user_login_state, session_start, session_end,
    session_date, duration_seconds, event_count, page_view_count, landing_page, exit_page, is_engaged,
    is_converted, is_first_visit, purchase_count, revenue)
SELECT session_id, client_id, user_id, user_login_state, session_start, session_end,
       (session_start AT TIME ZONE 'UTC')::date, duration_seconds, event_count, page_view_count,
       landing_page, exit_page, {engaged}, {converted}, is_first_visit, purchase_count, revenue
FROM (
  SELECT session_id, client_id,
         (array_agg(user_id ORDER BY event_timestamp DESC, event_id DESC)
            FILTER (WHERE user_id IS NOT NULL))[1] AS user_id,
         {session_login} AS user_login_state,
         min(event_timestamp) AS session_start, max(event_timestamp) AS session_end,
         extract(epoch FROM max(event_timestamp) - min(event_timestamp))::numeric(12, 3)
           AS duration_seconds,
         count(*) AS event_count,
         count(*) FILTER (WHERE {page_view}) AS page_view_count,
         (array_agg(page_url_path ORDER BY event_timestamp, event_id)
            FILTER (WHERE {page_view} AND page_url_path IS NOT NULL))[1] AS landing_page,
         (array_agg(page_url_path ORDER BY event_timestamp DESC, event_id DESC)
            FILTER (WHERE {page_view} AND page_url_path IS NOT NULL))[1] AS exit_page,
         bool_or(is_first_visit) AS is_first_visit,
         count(*) FILTER (WHERE event_name = {purchase}) AS purchase_count,
         coalesce(sum({revenue}) FILTER (WHERE event_name = {purchase}), 0) AS revenue
  FROM etl_sess GROUP BY session_id, client_id
) a;

-- name: landing_events  each new session's first event (by time, then event id): what its acquisition and device
-- come from (the test's Python fills in the acquisition with clickstream_etl.acquisition from these)
SELECT DISTINCT ON (session_id) session_id::text, page_url_path, page_referrer, device_category, browser
FROM etl_sess ORDER BY session_id, event_timestamp, event_id;
