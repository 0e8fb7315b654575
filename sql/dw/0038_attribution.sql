-- Attribution (issue 25): purchases and revenue credited to acquisition channels, kept by the ETL
-- (docs/warehouse.md, "Attribution"). Per day of the purchase (UTC), model, and the credited session's
-- channel group, source, medium and campaign (dw.sessions, migration 0031): the purchases and revenue credited.
-- Models: 'first_touch' (the client's first session within the lookback window before the purchase),
-- 'last_non_direct' (its latest session before the purchase that is not direct, or the purchase's own session when
-- all are direct), 'linear' (each session in the window an equal share). The credit of one purchase sums to 1 in
-- each model, so sum(purchases) per model and day is that day's purchase count; revenue likewise.
-- The Acquisition dashboard reads this table; how the ETL keeps it is the ETL's (later migrations may add its
-- working tables).
CREATE TABLE dw.agg_daily_attribution (
    activity_date date    NOT NULL,
    model         text    NOT NULL CHECK (model IN ('first_touch', 'last_non_direct', 'linear')),
    channel_group text    NOT NULL CONSTRAINT channel_group_max_bytes CHECK (octet_length(channel_group) <= 64),
    source        text    NOT NULL CONSTRAINT source_max_bytes CHECK (octet_length(source) <= 400),
    medium        text    NOT NULL CONSTRAINT medium_max_bytes CHECK (octet_length(medium) <= 400),
    campaign      text    NOT NULL CONSTRAINT campaign_max_bytes CHECK (octet_length(campaign) <= 400),
    purchases     numeric NOT NULL,
    revenue       numeric NOT NULL,
    PRIMARY KEY (activity_date, model, channel_group, source, medium, campaign)
);
