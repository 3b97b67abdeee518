-- 007: when each group commit of the embedded runtime arrived. The pipeline judges a batch
-- (device silence timers, notification routing) at its arrival time; a replay after a
-- restart must use the same time, so it is kept beside the readings.
CREATE TABLE batch_times (
    batch  bigint PRIMARY KEY,
    at     double precision NOT NULL  -- epoch seconds, the runtime's clock at the commit
);
