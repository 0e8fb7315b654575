-- Attribution under the device and segment filters (issue 25 items 2, 4 and 6; clickstream_etl/attribution_dims.py,
-- queries/attribution_dims.sql; docs/warehouse.md, "Attribution by device and segment").
-- dw.agg_daily_attribution's credit (migration 0038) with two more keys, those of the credited (touch) session: its
-- device category ('(unknown)' without one) and its segment (its client's as of the end of the day before the
-- session's day: the rule of dw.agg_hourly_dims, migration 0041). Per UTC day of the purchase, model, and the touch
-- session's channel group, source, medium and campaign: the purchases and revenue credited. Summed over device and
-- segment, the rows are dw.agg_daily_attribution's exactly. The unfiltered dashboard keeps reading
-- dw.agg_daily_attribution.
CREATE TABLE dw.agg_daily_attribution_dims (
    activity_date   date    NOT NULL,
    model           text    NOT NULL CHECK (model IN ('first_touch', 'last_non_direct', 'linear')),
    channel_group   text    NOT NULL CONSTRAINT channel_group_max_bytes CHECK (octet_length(channel_group) <= 64),
    source          text    NOT NULL CONSTRAINT source_max_bytes CHECK (octet_length(source) <= 400),
    medium          text    NOT NULL CONSTRAINT medium_max_bytes CHECK (octet_length(medium) <= 400),
    campaign        text    NOT NULL CONSTRAINT campaign_max_bytes CHECK (octet_length(campaign) <= 400),
    device_category text    NOT NULL CONSTRAINT device_category_max_bytes CHECK (octet_length(device_category) <= 64),
    segment         text    NOT NULL CHECK (segment IN ('new', 'active', 'loyal', 'at_risk', 'lost')),
    purchases       numeric NOT NULL,
    revenue         numeric NOT NULL,
    PRIMARY KEY (activity_date, model, channel_group, source, medium, campaign, device_category, segment)
);

-- Each client's credits under those keys, per purchase time (the purchases of one client at one instant summed):
-- the incremental apply recomputes a pending client's rows from its window start on (from the credits the
-- attribution step has just made), adds the difference to the aggregate and replaces them. Dashboards do not read
-- it.
CREATE TABLE dw.agg_attribution_dims_members (
    client_id       text        NOT NULL CONSTRAINT client_id_max_bytes CHECK (octet_length(client_id) <= 512),
    purchase_at     timestamptz NOT NULL,
    model           text        NOT NULL CHECK (model IN ('first_touch', 'last_non_direct', 'linear')),
    channel_group   text        NOT NULL CONSTRAINT channel_group_max_bytes CHECK (octet_length(channel_group) <= 64),
    source          text        NOT NULL CONSTRAINT source_max_bytes CHECK (octet_length(source) <= 400),
    medium          text        NOT NULL CONSTRAINT medium_max_bytes CHECK (octet_length(medium) <= 400),
    campaign        text        NOT NULL CONSTRAINT campaign_max_bytes CHECK (octet_length(campaign) <= 400),
    device_category text        NOT NULL
        CONSTRAINT device_category_max_bytes CHECK (octet_length(device_category) <= 64),
    segment         text        NOT NULL CHECK (segment IN ('new', 'active', 'loyal', 'at_risk', 'lost')),
    activity_date   date        NOT NULL,
    purchases       numeric     NOT NULL,
    revenue         numeric     NOT NULL,
    PRIMARY KEY (client_id, purchase_at, model, channel_group, source, medium, campaign, device_category, segment)
);

CREATE INDEX agg_attribution_dims_members_date_idx ON dw.agg_attribution_dims_members (activity_date);

-- A warehouse that already holds credits: the day of its first purchase is marked dirty, so the next run's
-- recompute (clickstream_etl.rebuild.rebuild_dirty_days), which rebuilds these tables from the first dirty day on,
-- fills them.
INSERT INTO etl.dirty_days (activity_date)
SELECT min(activity_date) FROM dw.agg_attribution_members HAVING min(activity_date) IS NOT NULL
ON CONFLICT DO NOTHING;
