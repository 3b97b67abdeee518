-- 001: the first schema. Times of readings are epoch milliseconds (bigint): cheaper to COPY
-- than timestamptz; the readings_v view shows them as timestamps.

CREATE TABLE points (
    id          serial PRIMARY KEY,
    enterprise  text NOT NULL,
    device      text NOT NULL,
    point       text NOT NULL,
    kind        text NOT NULL,
    UNIQUE (enterprise, device, point)
);

CREATE SEQUENCE reading_batch_seq;

-- Append-only. `batch` numbers group commits in order: the pipeline checkpoint names the
-- last batch it covers, and start-up replays the batches after it.
CREATE TABLE readings (
    batch     bigint           NOT NULL,
    point_id  integer          NOT NULL,
    ts_ms     bigint           NOT NULL,
    value     double precision NOT NULL
);
CREATE INDEX readings_batch_brin ON readings USING brin (batch);
CREATE INDEX readings_ts_brin ON readings USING brin (ts_ms);

CREATE VIEW readings_v AS
    SELECT p.enterprise, p.device, p.point, to_timestamp(r.ts_ms / 1000.0) AS ts, r.value, r.batch
    FROM readings r JOIN points p ON p.id = r.point_id;

-- Message ids seen, so a repeated message is ignored (kept for a retention window).
CREATE TABLE messages (
    enterprise  text   NOT NULL,
    msg_id      text   NOT NULL,
    batch       bigint NOT NULL,
    PRIMARY KEY (enterprise, msg_id)
);

CREATE TABLE alerts (
    id               text PRIMARY KEY,
    enterprise       text NOT NULL,
    device           text NOT NULL,
    point            text NOT NULL,
    rule             text NOT NULL,
    severity         smallint NOT NULL,
    state            text NOT NULL,
    message          text NOT NULL,
    value            double precision,
    opened_at        timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    acknowledged_by  text,
    acknowledged_at  timestamptz,
    ack_note         text,
    resolved_at      timestamptz,
    resolved_by      text,
    resolve_note     text,
    condition_active boolean NOT NULL
);
CREATE INDEX alerts_state ON alerts (state) WHERE state <> 'resolved';
CREATE INDEX alerts_opened ON alerts (opened_at);

-- Every change of every alert, with who, when and the note. Ids are stable, so
-- replayed events are dropped by the primary key.
CREATE TABLE alert_events (
    id           text PRIMARY KEY,
    alert_id     text NOT NULL REFERENCES alerts (id),
    kind         text NOT NULL,
    at           timestamptz NOT NULL,
    severity     smallint NOT NULL,
    state        text NOT NULL,
    actor        text,
    note         text,
    message      text NOT NULL,
    value        double precision,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_events_alert ON alert_events (alert_id, at);

-- Durable outbox for the duty-officer channel: one row per (event, channel).
CREATE TABLE outbox (
    id               bigserial PRIMARY KEY,
    event_id         text NOT NULL,
    channel          text NOT NULL,
    alert_id         text NOT NULL,
    kind             text NOT NULL,
    payload          jsonb NOT NULL,
    state            text NOT NULL DEFAULT 'pending',   -- pending | sent | failed | cancelled
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    UNIQUE (event_id, channel)
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';

CREATE TABLE checkpoints (
    name      text PRIMARY KEY,
    batch     bigint NOT NULL,
    state     bytea NOT NULL,
    saved_at  timestamptz NOT NULL DEFAULT now()
);
