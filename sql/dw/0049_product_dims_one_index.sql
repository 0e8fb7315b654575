-- dw.agg_daily_product_dims (sql/dw/0047; docs/warehouse.md, "Filters on products, acquisition and users") kept two
-- B-trees over every row: its primary key (activity_date, product_id, product_category, product_brand,
-- user_login_state, channel_group, device_category, segment), which only the ETL's upsert and deletes use, and the
-- dashboards' covering index agg_daily_product_dims_filter_idx on (channel_group, device_category, segment,
-- activity_date) INCLUDE every other column. One index does both: the primary key on the same eight columns with the
-- filter's keys first, and the measures included, so the Products dashboard still reads a filter's rows from the
-- index alone (an index-only range scan of the filter's keys and dates) and the upsert's ON CONFLICT still finds its
-- row by the whole key. At 10M events the two indexes were about two thirds of the table's size (BENCHMARKS.md,
-- "Dashboards").
ALTER TABLE dw.agg_daily_product_dims DROP CONSTRAINT agg_daily_product_dims_pkey;

DROP INDEX dw.agg_daily_product_dims_filter_idx;

ALTER TABLE dw.agg_daily_product_dims ADD CONSTRAINT agg_daily_product_dims_pkey
    PRIMARY KEY (channel_group, device_category, segment, activity_date, product_id, product_category, product_brand,
                 user_login_state)
    INCLUDE (views, add_to_carts, purchases, units, revenue, viewing_sessions);
