-- Sums of money and time that no input can overflow (issue 19). Each event's revenue is bounded by the event
-- contract (price <= 1e9 in numeric(14,2), quantity <= 10000: at most 1e13), but a sum over a session, an hour,
-- a day or a product is not: twelve purchases of the largest allowed value in one session overflowed
-- numeric(16,2) (< 1e14) and failed every later ETL run. numeric(38,2) holds 1e36, beyond any count of events.
-- Raising a numeric's precision with the same scale changes only the column's type modifier: no table rewrite.
ALTER TABLE dw.sessions ALTER COLUMN revenue TYPE numeric(38, 2);
ALTER TABLE dw.agg_hourly_activity ALTER COLUMN revenue TYPE numeric(38, 2);
ALTER TABLE dw.agg_daily_sessions ALTER COLUMN revenue TYPE numeric(38, 2);
ALTER TABLE dw.agg_daily_sessions ALTER COLUMN total_duration_seconds TYPE numeric(38, 3);
ALTER TABLE dw.agg_daily_product ALTER COLUMN revenue TYPE numeric(38, 2);
