-- Aggregates the dashboards read, recomputed by the ETL for every touched UTC day (etl.dirty_days).
-- Documented in docs/warehouse.md. Every key column is NOT NULL: missing category/brand is '(none)'.

-- Activity per UTC hour and (session-level) login state.
CREATE TABLE dw.agg_hourly_activity (
    activity_hour     timestamptz NOT NULL,
    activity_date     date NOT NULL,
    user_login_state  text NOT NULL,
    events            bigint NOT NULL,
    page_views        bigint NOT NULL,
    view_items        bigint NOT NULL,
    add_to_carts      bigint NOT NULL,
    begin_checkouts   bigint NOT NULL,
    purchases         bigint NOT NULL,
    revenue           numeric(16, 2) NOT NULL,
    active_clients    bigint NOT NULL,
    active_users      bigint NOT NULL,
    active_sessions   bigint NOT NULL,
    sessions_started  bigint NOT NULL,
    first_visits      bigint NOT NULL,
    PRIMARY KEY (activity_hour, user_login_state)
);
CREATE INDEX agg_hourly_activity_date_idx ON dw.agg_hourly_activity (activity_date);

-- Sessions per UTC day (of session start) and login state.
CREATE TABLE dw.agg_daily_sessions (
    activity_date        date NOT NULL,
    user_login_state     text NOT NULL,
    sessions             bigint NOT NULL,
    engaged_sessions     bigint NOT NULL,
    converted_sessions   bigint NOT NULL,
    first_visit_sessions bigint NOT NULL,
    clients              bigint NOT NULL,
    page_views           bigint NOT NULL,
    total_duration_seconds numeric(16, 3) NOT NULL,
    revenue              numeric(16, 2) NOT NULL,
    PRIMARY KEY (activity_date, user_login_state)
);

-- Open funnel view_item -> add_to_cart -> begin_checkout -> purchase: sessions with at least one event of
-- each step that day, per product category/brand of the step event and the session's login state.
-- Rows with '(all)' count each session once across categories and/or brands (GROUPING SETS).
CREATE TABLE dw.agg_daily_funnel (
    activity_date            date NOT NULL,
    product_category         text NOT NULL,
    product_brand            text NOT NULL,
    user_login_state         text NOT NULL,
    view_item_sessions       bigint NOT NULL,
    add_to_cart_sessions     bigint NOT NULL,
    begin_checkout_sessions  bigint NOT NULL,
    purchase_sessions        bigint NOT NULL,
    PRIMARY KEY (activity_date, product_category, product_brand, user_login_state)
);
CREATE INDEX agg_daily_funnel_cat_brand_idx ON dw.agg_daily_funnel (product_category, product_brand, activity_date);

-- Per product and day: views, add-to-carts, purchases, units, revenue.
CREATE TABLE dw.agg_daily_product (
    activity_date      date NOT NULL,
    product_id         text NOT NULL,
    product_category   text NOT NULL,
    product_brand      text NOT NULL,
    user_login_state   text NOT NULL,
    product_name       text,
    views              bigint NOT NULL,
    add_to_carts       bigint NOT NULL,
    purchases          bigint NOT NULL,
    units              bigint NOT NULL,
    revenue            numeric(16, 2) NOT NULL,
    viewing_sessions   bigint NOT NULL,
    PRIMARY KEY (activity_date, product_id, product_category, product_brand, user_login_state)
);
CREATE INDEX agg_daily_product_cat_brand_idx ON dw.agg_daily_product (product_category, product_brand, activity_date);

-- Page-to-page transitions between consecutive page views of a session (journeys / Sankey).
-- from_page '(entrance)' = landing page, to_page '(exit)' = last page of the session.
CREATE TABLE dw.agg_daily_page_transitions (
    activity_date      date NOT NULL,
    user_login_state   text NOT NULL,
    from_page          text NOT NULL,
    to_page            text NOT NULL,
    transitions        bigint NOT NULL,
    PRIMARY KEY (activity_date, user_login_state, from_page, to_page)
);
