-- 004: what the dashboard reads. Point series for sparklines and alert charts read one
-- point's readings over a time range: a B-tree on (point_id, ts_ms) makes that an index
-- range scan instead of a scan of every reading in the window (the BRIN on ts_ms alone
-- only narrows by time). It costs some ingest speed: see docs/dashboard.md.
CREATE INDEX IF NOT EXISTS readings_point_ts ON readings (point_id, ts_ms);

-- An enterprise's alert history, newest first.
CREATE INDEX IF NOT EXISTS alerts_enterprise_opened ON alerts (enterprise, opened_at DESC);

-- The shift trend: alerts raised per time bucket.
CREATE INDEX IF NOT EXISTS alert_events_raised_at ON alert_events (at) WHERE kind = 'raised';
