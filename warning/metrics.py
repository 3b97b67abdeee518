"""Prometheus metrics, in a registry of their own per runtime (tests run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.readings_accepted = Counter("warning_readings_accepted", "Readings accepted (202)", registry=r)
        self.readings_rejected = Counter(
            "warning_readings_rejected", "Requests rejected, by reason", ["reason"], registry=r
        )
        self.readings_processed = Counter("warning_readings_processed", "Readings through the detectors", registry=r)
        self.duplicates = Counter("warning_messages_duplicate", "Messages ignored as repeats", registry=r)
        self.queue_depth = Gauge("warning_queue_depth", "Readings waiting, by queue", ["queue"], registry=r)
        self.pipeline_lag = Gauge(
            "warning_pipeline_lag_seconds", "Arrival-to-processed delay of the last batch", registry=r
        )
        self.batch_seconds = Histogram(
            "warning_commit_seconds",
            "Group commit duration",
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.alerts = Counter(
            "warning_alert_events", "Alert events, by kind and severity", ["kind", "severity"], registry=r
        )
        self.alerts_open = Gauge("warning_alerts_open", "Open alerts by severity", ["severity"], registry=r)
        self.notifications = Counter(
            "warning_notifications", "Notification attempts by channel and outcome", ["channel", "outcome"], registry=r
        )
        self.mqtt_messages = Counter(
            "warning_mqtt_messages", "MQTT messages by outcome (accepted, dead_letter)", ["outcome"], registry=r
        )
        self.ws_clients = Gauge("warning_ws_clients", "Connected dashboard clients", registry=r)
        self.ws_dropped = Counter("warning_ws_dropped", "Dashboard clients dropped for being slow", registry=r)
        # the distributed runtime
        self.owned_partitions = Gauge("warning_partitions_owned", "Readings partitions this worker owns", registry=r)
        self.stalled_partitions = Gauge(
            "warning_partitions_stalled", "Owned partitions whose ticks have not been applied in time", registry=r
        )
        self.records_refetched = Counter(
            "warning_records_refetched",
            "Worker: records faust did not deliver, read back from the log before the ones after them",
            registry=r,
        )
        self.fenced = Counter(
            "warning_partitions_fenced",
            "Worker: writes refused, or partitions given up, because another worker claimed the partition since (a newer epoch)",
            registry=r,
        )
        self.chunk_seconds = Histogram(
            "warning_chunk_seconds",
            "Worker: apply + store one chunk",
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
