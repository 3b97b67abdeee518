-- 017: `batch_times` (007: the embedded runtime's arrival time per group commit) under
-- retention like the other time-keyed tables (issue 16, docs/storage.md): partitioned by UTC
-- day of arrival (`at`, epoch seconds), with a DEFAULT partition so an insert never fails.
-- Retention drops a day once it is past `retention.batch_time_days` and every shard's
-- checkpoint covers its batches (the replay after a restart reads the arrival times of the
-- batches after the checkpoints only).
ALTER TABLE batch_times RENAME TO batch_times_old;
ALTER TABLE batch_times_old RENAME CONSTRAINT batch_times_pkey TO batch_times_old_pkey;
CREATE TABLE batch_times (
    batch  bigint NOT NULL,
    at     double precision NOT NULL,  -- epoch seconds, the runtime's clock at the commit
    PRIMARY KEY (batch, at)
) PARTITION BY RANGE (at);
CREATE TABLE batch_times_default PARTITION OF batch_times DEFAULT;
INSERT INTO batch_times SELECT batch, at FROM batch_times_old;
DROP TABLE batch_times_old;
