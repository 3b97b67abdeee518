"""Pure routing and alerting policy: escalation, rosters, silences, cron, message formats.

No I/O, no clock, no environment: time comes in as ``now``; the shells (``warning.notify``
for delivery, ``warning.store`` for persistence) move the results.
"""
