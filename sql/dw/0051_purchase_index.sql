-- The purchases of a client from a point in time on (issue 25; clickstream_etl/attribution.py, queries/attribution.sql,
-- 'pending'): the attribution's incremental apply reads the pending clients' purchases from their window start on.
-- Through events_client_ts_idx it read every event of the client in that window (a late event's window is the
-- client's whole day or more) to keep the few purchases; this partial index holds the purchases only (a few per
-- cent of the events, so its upkeep at load is small), with what the apply reads from them.
CREATE INDEX events_purchase_client_ts_idx ON dw.events (client_id, event_timestamp)
    INCLUDE (event_id, session_id, revenue)
    WHERE event_name = 'purchase';
