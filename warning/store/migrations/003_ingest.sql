-- 003: ingest hardening. Tokens managed at run time (`warning token ...`), beside the site
-- file's digests; and a dead-letter table for messages that could not be accepted.

CREATE TABLE tokens (
    digest      text PRIMARY KEY,            -- hex SHA-256 of the token; the token itself is never stored
    enterprise  text NOT NULL,
    label       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz                  -- set: the token (even one from the site file) is refused
);

CREATE TABLE dead_letters (
    id           bigserial PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now(),
    source       text NOT NULL,              -- e.g. 'mqtt'
    topic        text NOT NULL,
    payload      bytea NOT NULL,             -- the first 64 KiB
    reason       text NOT NULL
);
CREATE INDEX dead_letters_received ON dead_letters (received_at);
