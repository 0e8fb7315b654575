-- The anomaly checks read the manifest and the ETL's rejects per hour received, which is the hour in the raw
-- object's key (events/YYYY/MM/DD/HH/...): `object_key LIKE 'events/2026/12/07/10/%'` through these indexes
-- (text_pattern_ops: a prefix match whatever the database's collation).
CREATE INDEX files_key_pattern_idx ON etl.files (bucket, object_key text_pattern_ops);
CREATE INDEX rejects_source_pattern_idx ON etl.rejects (source_file text_pattern_ops, reason);
