-- Curated events, clients and server-side sessions. Documented in docs/warehouse.md.

-- One row per accepted event. event_id is the primary key, so a duplicate can never land twice.
-- Not partitioned: a primary key on a partitioned table must contain the partition key, which would let the
-- same event_id exist twice with different timestamps. Time-range scans use the BRIN index (rows arrive
-- roughly in time order) and the (client_id, event_timestamp) index serves sessionization.
CREATE TABLE dw.events (
    event_id               uuid PRIMARY KEY,
    event_timestamp        timestamptz NOT NULL,   -- client time, normalized to UTC
    event_name             text NOT NULL,
    user_id                text,
    user_login_state       text NOT NULL CHECK (user_login_state IN ('logged_in', 'logged_out')),
    identity_source        text,
    client_id              text NOT NULL,
    session_id             uuid NOT NULL,          -- server-side session (dw.sessions)
    client_session_id      text,                   -- the session id the browser sent, kept for reference
    is_first_visit         boolean NOT NULL DEFAULT false,
    page_url_path          text,
    page_referrer          text,
    page_title             text,
    product_id             text,
    product_name           text,
    product_category       text,
    product_brand          text,
    product_price          numeric(14, 2),
    product_discount_price numeric(14, 2),
    product_url_path       text,
    quantity               integer,
    order_id               text,
    search_term            text,
    received_at            timestamptz NOT NULL,   -- server receive time (ingest)
    request_id             text,
    source_file            text NOT NULL,          -- s3://bucket/key of the raw object
    source_line            integer NOT NULL
);
CREATE INDEX events_event_timestamp_brin ON dw.events USING brin (event_timestamp)
    WITH (pages_per_range = 32, autosummarize = on);
CREATE INDEX events_client_ts_idx ON dw.events (client_id, event_timestamp);

-- One row per browser (client_id): when it was first seen, for is_first_visit.
CREATE TABLE dw.clients (
    client_id        text PRIMARY KEY,
    first_event_id   uuid NOT NULL,
    first_seen_at    timestamptz NOT NULL,
    last_seen_at     timestamptz NOT NULL
);

-- Server-side sessions: a client's events with no gap longer than the inactivity timeout (default 30 min).
CREATE TABLE dw.sessions (
    session_id        uuid PRIMARY KEY,           -- md5(client_id || first event_id) as uuid: stable across runs
    client_id         text NOT NULL,
    user_id           text,                       -- last non-empty user_id seen in the session
    user_login_state  text NOT NULL CHECK (user_login_state IN ('logged_in', 'logged_out')),
    session_start     timestamptz NOT NULL,
    session_end       timestamptz NOT NULL,
    session_date      date NOT NULL,              -- UTC date of session_start
    duration_seconds  numeric(12, 3) NOT NULL,
    event_count       integer NOT NULL,
    page_view_count   integer NOT NULL,
    landing_page      text,
    exit_page         text,
    is_engaged        boolean NOT NULL,
    is_converted      boolean NOT NULL,
    is_first_visit    boolean NOT NULL,
    purchase_count    integer NOT NULL,
    revenue           numeric(16, 2) NOT NULL
);
CREATE INDEX sessions_client_start_idx ON dw.sessions (client_id, session_start);
CREATE INDEX sessions_date_idx ON dw.sessions (session_date, user_login_state);
