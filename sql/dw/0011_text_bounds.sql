-- Byte bounds on the text the load writes that ends up in a btree index key (issue 19). These are THE limits:
-- the event contract's maxLength values are derived from them (docs/event-contract.md, "Limits"), and
-- tests/ingest/test_limits.py checks, from a migrated warehouse's catalog, that every text column feeding an index
-- key has one, that the contract's longest value fits under it, and that every index row built from them stays
-- under PostgreSQL's btree limit (2704 bytes).
--
-- Why in the warehouse: a raw object written to the bucket by other means than the ingest is not held to the
-- contract. Without a bound, a long page path or product id loaded into dw.events (which has no index on it) and
-- then failed the aggregates' apply (agg_daily_page_transitions_pkey, agg_daily_product_pkey, ...) of that run and
-- of every later one. With it, such a line fails at load time, in its batch, where the ETL's fault isolation finds
-- it and rejects it with reason 'value_too_large' (clickstream_etl.runner: a check constraint named
-- <column>_max_bytes names the column).
--
-- The bounds (bytes of UTF-8; the contract's characters x 4 bytes, 1 for the ASCII-only URL path):
--   client_id 512 (contract 128 characters): dw.events, dw.clients, dw.sessions, etl.delta_clients key on it;
--     each table carries the bound, so the first write of a batch (its pending clients) already refuses it.
--   user_id 512 (128): dw.agg_user_hours (hour, login state, user id).
--   page_url_path 1024 (1024 ASCII): two of them key dw.agg_daily_page_transitions and its from-page index.
--   product_id 256 (64 characters, or an integer's 16 digits), product_category 512 (128), product_brand 512
--     (128), product_name 1024 (256): together the key of dw.agg_product_names, 2304 bytes with the day and the
--     login state under 2704; dw.agg_daily_product and dw.agg_daily_funnel key on subsets.
-- The aggregates and etl.delta_facts take these values from dw.events (deltas.py, the refresh), so the bounds on
-- dw.events hold for them too; the aggregates add only short constants ('(none)', '(all)', '(entrance)', '(exit)').
--
-- NOT VALID: the constraints hold for every row written from now on (inserts and updates), and adding them does
-- not read dw.events (a scan of the whole table under a lock that stops the ETL). Rows loaded before that break
-- a bound are not checked here; docs/warehouse.md ("Faults") says how to find them.
DO $$
DECLARE
    bound record;
    tab text;
BEGIN
    FOR bound IN
        SELECT * FROM (VALUES
            ('client_id', 512, ARRAY['dw.events', 'dw.clients', 'dw.sessions', 'etl.delta_clients']),
            ('user_id', 512, ARRAY['dw.events']),
            ('page_url_path', 1024, ARRAY['dw.events']),
            ('product_id', 256, ARRAY['dw.events']),
            ('product_category', 512, ARRAY['dw.events']),
            ('product_brand', 512, ARRAY['dw.events']),
            ('product_name', 1024, ARRAY['dw.events'])
        ) AS b (col, max_bytes, tables)
    LOOP
        FOREACH tab IN ARRAY bound.tables LOOP
            EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I CHECK (octet_length(%I) <= %s) NOT VALID',
                           tab, bound.col || '_max_bytes', bound.col, bound.max_bytes);
        END LOOP;
    END LOOP;
END
$$;
