"""Risk warnings (风险预警): the enterprise-level layer above point alarms (issue 15).

Pure: :mod:`.config` reads the model's weights from a TOML text, :mod:`.model` turns alarm
events and time into warning events (one warning per enterprise at a time), :mod:`.loop`
follows each warning or hazard report through sign-for, reply, review and escalation.
No clock, no I/O: times come in as data, state snapshots to bytes.
"""
