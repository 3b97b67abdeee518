-- The distributed runtime: where each partition of the readings topic stands.
-- One row per (topic, partition). A worker that takes a partition bumps its epoch; every
-- later write of the partition's effects names the epoch it holds, so a worker that lost
-- the partition (and does not know yet) can no longer write anything.
CREATE TABLE partition_state (
    topic       text    NOT NULL,
    partition   integer NOT NULL,
    epoch       bigint  NOT NULL DEFAULT 0,
    owner       text,
    written     bigint  NOT NULL DEFAULT -1,  -- last offset whose readings and events are stored
    snap_offset bigint  NOT NULL DEFAULT -1,  -- last offset the snapshot covers
    state       bytea,                        -- the partition's pipeline snapshot
    saved_at    timestamptz,
    PRIMARY KEY (topic, partition)
);
