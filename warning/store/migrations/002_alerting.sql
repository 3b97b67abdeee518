-- 002: duty-officer grade alerting (docs/alerting.md): the full lifecycle on alerts, event
-- data (feedback attachments, escalation tiers), silences, and per-(channel, event)
-- notification records that make every notification once-only across replays.

ALTER TABLE alerts
    ADD COLUMN holder          text,
    ADD COLUMN tier            smallint NOT NULL DEFAULT 0,
    ADD COLUMN escalations     smallint NOT NULL DEFAULT 0,
    ADD COLUMN handled_by      text,
    ADD COLUMN handled_at      timestamptz,
    ADD COLUMN feedback_count  integer NOT NULL DEFAULT 0,
    ADD COLUMN flapping        boolean NOT NULL DEFAULT false;

ALTER TABLE alert_events ADD COLUMN data jsonb;

-- Which events each channel has been told about (singly or inside a group message).
CREATE TABLE notified (
    channel   text NOT NULL,
    event_id  text NOT NULL,
    outbox_id bigint NOT NULL,
    PRIMARY KEY (channel, event_id)
);

ALTER TABLE outbox
    ADD COLUMN items         integer NOT NULL DEFAULT 1,    -- events covered (a group covers many)
    ADD COLUMN lease_owner   text,                          -- process that leased the row last
    ADD COLUMN dead_alerted  boolean NOT NULL DEFAULT false; -- a failed row has raised its dead-letter alert
CREATE INDEX outbox_alert ON outbox (alert_id);
CREATE INDEX outbox_created ON outbox (created_at);

CREATE TABLE silences (
    id          text PRIMARY KEY,
    matchers    jsonb NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    cron        text,
    duration    double precision,
    author      text NOT NULL,
    reason      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_by  text,
    deleted_at  timestamptz
);
