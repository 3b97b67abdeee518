-- 012: years of data on one machine (issue 16, docs/storage.md).
--
-- `readings` stays the write-friendly form for recent data (COPY per group commit). Sealed
-- periods are packed: one row per point and hour in `readings_packed` (warning.store.codec:
-- timestamps delta-of-delta, values decimal-delta or XOR, deflated), and summarised in
-- `rollups` (the hour's min/max/sum/count/last plus its 60 minutes, packed the same way).
-- Packing moves rows in one transaction (DELETE ... RETURNING raw, upsert packed and
-- rollup), so every reading is in exactly one of the two forms at any time.
--
-- Packed readings, rollups, message ids and dead letters live in time partitions created
-- ahead (warning.store.partitions_time); retention drops whole partitions.

CREATE TABLE readings_packed (
    point_id  integer NOT NULL,
    t0        bigint  NOT NULL,   -- period start, epoch ms (hour)
    n         integer NOT NULL,   -- readings in the block
    max_batch bigint  NOT NULL,   -- newest batch packed in (the replay never needs it: see packing.py)
    blob      bytea   NOT NULL,   -- codec "tf": timestamps, values
    PRIMARY KEY (point_id, t0)
) PARTITION BY RANGE (t0);
ALTER TABLE readings_packed ALTER COLUMN blob SET STORAGE EXTERNAL;  -- already deflated

CREATE TABLE rollups (
    point_id  integer NOT NULL,
    t0        bigint  NOT NULL,   -- hour start, epoch ms
    n         integer NOT NULL,
    lo        double precision NOT NULL,
    hi        double precision NOT NULL,
    total     double precision NOT NULL,
    last      double precision NOT NULL,  -- value of the greatest (ts, value)
    last_ts   bigint  NOT NULL,
    minutes   bytea   NOT NULL,   -- codec "iiffff t": minute index, n, lo, hi, total, last, last_ts
    PRIMARY KEY (point_id, t0)
) PARTITION BY RANGE (t0);
ALTER TABLE rollups ALTER COLUMN minutes SET STORAGE EXTERNAL;

-- Message ids by day of arrival: the de-duplication horizon is the days kept.
ALTER TABLE messages RENAME TO messages_old;
ALTER TABLE messages_old RENAME CONSTRAINT messages_pkey TO messages_old_pkey;
CREATE TABLE messages (
    enterprise  text   NOT NULL,
    msg_id      text   NOT NULL,
    batch       bigint NOT NULL,
    day         date   NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')::date,
    PRIMARY KEY (enterprise, msg_id, day)
) PARTITION BY RANGE (day);
CREATE TABLE messages_default PARTITION OF messages DEFAULT;
INSERT INTO messages (enterprise, msg_id, batch) SELECT enterprise, msg_id, batch FROM messages_old;
DROP TABLE messages_old;

-- Dead letters by month received.
ALTER TABLE dead_letters RENAME TO dead_letters_old;
ALTER INDEX dead_letters_received RENAME TO dead_letters_old_received;
ALTER TABLE dead_letters_old RENAME CONSTRAINT dead_letters_pkey TO dead_letters_old_pkey;
CREATE TABLE dead_letters (
    id           bigint NOT NULL DEFAULT nextval('dead_letters_id_seq'),
    received_at  timestamptz NOT NULL DEFAULT now(),
    source       text NOT NULL,
    topic        text NOT NULL,
    payload      bytea NOT NULL,
    reason       text NOT NULL,
    PRIMARY KEY (id, received_at)
) PARTITION BY RANGE (received_at);
ALTER SEQUENCE dead_letters_id_seq OWNED BY dead_letters.id;
CREATE INDEX dead_letters_received ON dead_letters (received_at);
CREATE TABLE dead_letters_default PARTITION OF dead_letters DEFAULT;
INSERT INTO dead_letters SELECT * FROM dead_letters_old;
DROP TABLE dead_letters_old;

-- Which maintenance ran last (packing, retention), for `warning store sizes` and /readyz.
CREATE TABLE store_runs (
    job      text PRIMARY KEY,
    ran_at   timestamptz NOT NULL,
    summary  text NOT NULL
);
