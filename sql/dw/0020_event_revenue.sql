-- Each event's revenue (issue 22), written by the ETL from its one rule (clickstream_etl/rules.py, revenue: a
-- purchase's discount price, else its price, else 0, times its quantity, else 1; any other event 0). The
-- aggregates and the rebuild sum this column instead of computing the rule again in SQL.
--
-- The events loaded before this migration get the same value once, here.
ALTER TABLE dw.events ADD COLUMN revenue numeric NOT NULL DEFAULT 0;

UPDATE dw.events
   SET revenue = coalesce(product_discount_price, product_price, 0) * coalesce(quantity, 1)
 WHERE event_name = 'purchase';
