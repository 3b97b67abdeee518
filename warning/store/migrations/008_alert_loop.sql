-- 008: every alert followed to the end (issue 13). An alert keeps the worst severity it
-- reached (peak_severity) beside its current one; when its condition cleared (cleared_at,
-- NULL while active: a cleared, unsigned alert stays open); how its message was built
-- (message_data: catalogue id and parameters, so it can be shown in another locale); and
-- the verdict of its latest feedback (属实 confirmed / 误报 false alarm / 检修 maintenance).

ALTER TABLE alerts
    ADD COLUMN peak_severity smallint,
    ADD COLUMN cleared_at    timestamptz,
    ADD COLUMN message_data  jsonb,
    ADD COLUMN verdict       text;

UPDATE alerts SET peak_severity = severity WHERE peak_severity IS NULL;
ALTER TABLE alerts ALTER COLUMN peak_severity SET NOT NULL;

-- The monthly analysis (warning report --monthly) reads alerts by opening time and peak.
CREATE INDEX IF NOT EXISTS alerts_opened_peak ON alerts (opened_at, peak_severity);
