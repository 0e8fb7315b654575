-- The aggregates' apply (clickstream_etl.deltas.apply_pending) runs in two parts on two connections, each part in
-- its own transaction on its own aggregate tables. A part commits together with its row here; the rows are deleted
-- together with the pending clients (etl.delta_*) once both parts are in. A run killed between the commits leaves
-- the clients pending with the marks of the parts already applied, and the next run applies only the others before
-- its batches record anything, so each change reaches the aggregates exactly once.

CREATE TABLE etl.delta_applied (
    part        text PRIMARY KEY CHECK (part IN ('activity', 'products')),
    applied_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
