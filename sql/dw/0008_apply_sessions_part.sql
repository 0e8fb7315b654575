-- The aggregates' apply (clickstream_etl.deltas.apply_pending) gets a third part, 'sessions': daily sessions and
-- client returns, which read only the sessions' facts, move out of the 'activity' part so that the two connections
-- of an apply finish together ('activity' on one; 'products', then 'sessions', on the other).
ALTER TABLE etl.delta_applied DROP CONSTRAINT delta_applied_part_check;
ALTER TABLE etl.delta_applied ADD CONSTRAINT delta_applied_part_check
    CHECK (part IN ('activity', 'products', 'sessions'));
-- An apply cut by the previous version after its 'activity' part had committed: that part held the sessions' tables
-- too, so their change is in. Mark it, so that the next run does not apply it twice.
INSERT INTO etl.delta_applied (part)
SELECT 'sessions' WHERE EXISTS (SELECT 1 FROM etl.delta_applied WHERE part = 'activity')
ON CONFLICT (part) DO NOTHING;
