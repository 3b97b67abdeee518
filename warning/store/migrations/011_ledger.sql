-- 011: the enterprise ledger (台账, issue 14). Each record is kept as the site file's table
-- would write it (a JSON document checked by warning.ledger.check), with the columns that
-- queries and constraints need beside it. Retiring sets retired_at; nothing is deleted, so
-- readings and alerts keep their meaning. Every change writes one ledger_audit row (who,
-- when, before, after) in the same transaction; ledger_meta.version counts committed
-- changes, so a process can tell that its copy is stale.
CREATE TABLE IF NOT EXISTS ledger_streets (
    id          text PRIMARY KEY,
    doc         jsonb NOT NULL,
    retired_at  timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS ledger_enterprises (
    id          text PRIMARY KEY,
    credit_code text,
    street      text,
    doc         jsonb NOT NULL,
    retired_at  timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- One live enterprise per credit code (a retired one may share it with its successor).
CREATE UNIQUE INDEX IF NOT EXISTS ledger_enterprises_credit ON ledger_enterprises (credit_code)
    WHERE credit_code IS NOT NULL AND retired_at IS NULL;
CREATE INDEX IF NOT EXISTS ledger_enterprises_street ON ledger_enterprises (street) WHERE retired_at IS NULL;

CREATE TABLE IF NOT EXISTS ledger_users (
    name        text PRIMARY KEY,
    doc         jsonb NOT NULL,
    retired_at  timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS ledger_audit (
    id      bigserial PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL,
    action  text NOT NULL,      -- create | update | retire | seed | import
    kind    text NOT NULL,      -- street | enterprise | user
    object  text NOT NULL,
    before  jsonb,
    after   jsonb
);
CREATE INDEX IF NOT EXISTS ledger_audit_object ON ledger_audit (kind, object, id);

CREATE TABLE IF NOT EXISTS ledger_meta (
    key     text PRIMARY KEY,   -- version | site_file_digest
    value   jsonb NOT NULL
);
