-- A session's acquisition and device (issue 25), from its first event: source, medium and campaign from the landing
-- page's UTM parameters and the referrer, the GA4 default channel group (clickstream_etl/acquisition.py), and the
-- device category and browser of that event. NULL for sessions written before this migration until a run
-- sessionizes them again (docs/warehouse.md, "Acquisition").
ALTER TABLE dw.sessions
    ADD COLUMN source text,
    ADD COLUMN medium text,
    ADD COLUMN campaign text,
    ADD COLUMN channel_group text,
    ADD COLUMN device_category text,
    ADD COLUMN browser text;
