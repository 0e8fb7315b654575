-- The device of each event's request (issue 25): the category (desktop, mobile, tablet, bot, other), browser family
-- and OS family the ingest derives from the request's User-Agent (clickstream_ingest/device.py) and writes under its
-- own keys of the stored line. One entry each in clickstream_etl/columns.py. NULL for events stored before the
-- ingest derived them. The raw User-Agent and the IP address are not loaded (docs/warehouse.md, "Privacy").
ALTER TABLE dw.events
    ADD COLUMN device_category text,
    ADD COLUMN browser text,
    ADD COLUMN operating_system text;
