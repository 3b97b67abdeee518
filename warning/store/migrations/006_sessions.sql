-- 006: server-side sessions. The cookie holds a random token; only its SHA-256 is kept
-- here (the id), so a read of this table gives no usable cookie. Logout, a password
-- change and an administrator's "end sessions" set ended_at; the request path looks a
-- session up by its primary key, so the check is one index probe.
CREATE TABLE IF NOT EXISTS sessions (
    id          text PRIMARY KEY,          -- hex SHA-256 of the cookie's token
    user_name   text NOT NULL,
    fingerprint text NOT NULL,             -- digest of the user's role, enterprise and password hash at login
    csrf        text NOT NULL,
    address     text NOT NULL DEFAULT '',  -- the client address at login (after trusted proxies)
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    ended_at    timestamptz,
    ended_why   text
);

-- Ending every session of a user (password change, administrator).
CREATE INDEX IF NOT EXISTS sessions_user_live ON sessions (user_name) WHERE ended_at IS NULL;
-- Purging old rows.
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires_at);
