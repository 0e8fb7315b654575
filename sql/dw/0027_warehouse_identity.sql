-- This warehouse's identity (docs/lake.md, "Whose lake"): a random id made once, when the warehouse is made. The
-- lake export records it in every Iceberg commit (clickstream.warehouse-id) beside its outbox position, and
-- refuses a lake whose commits name another warehouse: a new warehouse's outbox starts at row 1 again, so
-- exporting after another warehouse's position would skip its events. A warehouse restored from its backups keeps
-- its id (the row is restored with it).
CREATE TABLE etl.warehouse_identity (
    only_row      boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    warehouse_id  uuid NOT NULL DEFAULT gen_random_uuid(),
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
INSERT INTO etl.warehouse_identity DEFAULT VALUES;
