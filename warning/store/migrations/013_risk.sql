-- 013: risk warnings (风险预警) and hazard reports (一码发现) as items of one loop, every
-- step of it, the photos behind replies and reports, and dust-cleaning check-ins (issue 15).
CREATE TABLE IF NOT EXISTS risk_items (
    id             text PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN ('warning', 'report')),
    enterprise     text NOT NULL,
    street         text,
    level          text NOT NULL,              -- blue..red, or 'report'
    peak           text NOT NULL,
    state          text NOT NULL CHECK (state IN ('open', 'signed', 'replied', 'returned', 'closed')),
    opened_at      timestamptz NOT NULL,
    waiting_since  timestamptz NOT NULL,
    tier           integer NOT NULL DEFAULT -1,
    condition_over boolean NOT NULL DEFAULT false,
    score          double precision,
    factors        jsonb NOT NULL DEFAULT '[]',  -- the explanation: every term with its share
    updated_at     timestamptz NOT NULL,
    closed_at      timestamptz
);
CREATE INDEX IF NOT EXISTS risk_items_open ON risk_items (enterprise) WHERE state <> 'closed';
CREATE INDEX IF NOT EXISTS risk_items_opened ON risk_items (opened_at);

-- One row per step (opened, sign, reply, return, close, escalate, level, cleared): who, when, note.
CREATE TABLE IF NOT EXISTS risk_steps (
    id       text PRIMARY KEY,                 -- the loop event's stable id: a replay adds nothing
    item_id  text NOT NULL REFERENCES risk_items (id),
    seq      integer NOT NULL,
    action   text NOT NULL,
    at       timestamptz NOT NULL,
    actor    text,
    note     text,
    data     jsonb,
    UNIQUE (item_id, seq)
);

-- Photos are files under the data folder; this row says what they are (type, size, digest)
-- and whose they are. The path is internal and never part of an answer.
CREATE TABLE IF NOT EXISTS risk_photos (
    id          text PRIMARY KEY,
    enterprise  text NOT NULL,
    item_id     text,
    mime        text NOT NULL,
    size        integer NOT NULL,
    sha256      text NOT NULL,
    path        text NOT NULL,
    uploaded_by text NOT NULL,
    uploaded_at timestamptz NOT NULL DEFAULT now()
);

-- A hazard report's reporter: internal (the street may call back), never public.
CREATE TABLE IF NOT EXISTS risk_reporters (
    item_id  text PRIMARY KEY REFERENCES risk_items (id),
    text     text NOT NULL,
    contact  text,
    address  text NOT NULL
);

-- Dust cleaning (粉尘清扫打卡): areas with their interval, and check-ins.
CREATE TABLE IF NOT EXISTS cleaning_areas (
    enterprise text NOT NULL,
    area       text NOT NULL,
    interval_s double precision NOT NULL CHECK (interval_s > 0),
    PRIMARY KEY (enterprise, area)
);
CREATE TABLE IF NOT EXISTS cleaning_checkins (
    id         bigserial PRIMARY KEY,
    enterprise text NOT NULL,
    area       text NOT NULL,
    at         timestamptz NOT NULL,
    who        text NOT NULL,
    photo_id   text REFERENCES risk_photos (id),
    FOREIGN KEY (enterprise, area) REFERENCES cleaning_areas (enterprise, area)
);
CREATE INDEX IF NOT EXISTS cleaning_checkins_last ON cleaning_checkins (enterprise, area, at DESC);
