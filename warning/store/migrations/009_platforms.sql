-- 009: platform adapters (issue 18). The enterprises' own alarms, sent by their gateways in the
-- provincial format's eventsData / videosData, kept beside ours (never raised as ours again).

CREATE TABLE enterprise_alarms (
    id           bigserial PRIMARY KEY,
    enterprise   text NOT NULL,
    gateway      text NOT NULL,
    platform     text NOT NULL,              -- national | provincial
    kind         text NOT NULL,              -- events (sensor alarms) | videos (video alarms)
    code         text NOT NULL,              -- the gateway's point (or camera) code
    point_id     integer,                    -- our point, when the code is one
    ts_ms        bigint NOT NULL,            -- the alarm's time, epoch ms
    value        text,
    status       integer,                    -- provincial scd: 4 above high-high, 0 cleared, ...
    threshold    text,
    content      text,
    received_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (enterprise, kind, code, ts_ms, status)  -- a re-sent alarm is kept once
);
CREATE INDEX enterprise_alarms_recent ON enterprise_alarms (enterprise, ts_ms DESC);
