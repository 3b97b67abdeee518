"""One partition of the readings topic, as a pure state machine: records in, effects out.

A worker holds one :class:`PartitionState` per partition it owns. ``apply`` takes the next
record (by offset) and returns what it causes: readings and message ids to store, alert
events, outbox notifications and command replies. The worker stores them in one transaction
with the new ``written`` offset; this module never touches I/O or a clock.

Offsets, per partition:

* ``processed``: the last record applied to the pipeline in memory;
* ``written``: the last record whose effects are in the store. Records up to it that are
  applied again (after restoring an older snapshot) rebuild state only: their effects are
  not returned a second time, and message-id decisions are read back from the store instead
  of being taken anew;
* the snapshot's offset, kept by the store beside the snapshot.
"""

from __future__ import annotations

import pickle
from collections import deque
from dataclasses import dataclass, field
from operator import itemgetter

from ..alerts import AlertError, AlertNotFound
from ..model import AlertEvent, Reading, Severity
from ..pipeline import Pipeline
from . import records
from .actions import apply_action, dead_letter

RECENT_RECORDS = 4096  #: record ids remembered per partition against producer retries


@dataclass
class Effects:
    """What applying records caused, to be stored and published together."""

    rows: list[tuple[int, int, int, float]] = field(default_factory=list)  #: (batch, point, ts_ms, value)
    ids: list[tuple[str, str, int]] = field(default_factory=list)  #: (enterprise, message id, batch)
    events: list[AlertEvent] = field(default_factory=list)
    notifications: list = field(default_factory=list)  #: router output for the outbox
    replies: list[dict] = field(default_factory=list)  #: answers to commands
    dead_letters: list[int] = field(default_factory=list)  #: outbox ids now raised as alerts
    silences_changed: bool = False  #: the worker must re-read the silences before going on
    poison: list[tuple[int, int, bytes, str]] = field(default_factory=list)  #: (partition, offset, value, why) skipped


class PartitionState:
    """A partition's pipeline and its place in the log."""

    def __init__(self, partition: int, pipeline: Pipeline, *, epoch: int, written: int, processed: int,
                 dead_letter_severity: Severity = Severity.ORANGE):
        self.partition = partition  #: partition number in the readings topic
        self.pipeline = pipeline  #: holds only this partition's enterprises
        self.epoch = epoch  #: fencing epoch this owner claimed
        self.written = written  #: last offset whose effects are stored
        self.processed = processed  #: last offset applied in memory
        self.dead_letter_severity = dead_letter_severity
        self._in_chunk: set[tuple[str, str]] = set()  #: message ids taken since the last commit
        self._recent: deque[str] = deque(maxlen=RECENT_RECORDS)  #: ids of the last records applied
        self._recent_set: set[str] = set()

    def snapshot(self) -> bytes:
        return pickle.dumps((self.pipeline.snapshot(), list(self._recent)), protocol=pickle.HIGHEST_PROTOCOL)

    def restore(self, data: bytes) -> None:
        pipe, recent = pickle.loads(data)
        self.pipeline.restore(pipe)
        self._recent.extend(recent)
        self._recent_set = set(self._recent)

    def _repeat(self, record_id: str) -> bool:
        """True for a record id seen lately (a producer retry); else remembers it."""
        if record_id in self._recent_set:
            return True
        if len(self._recent) == self._recent.maxlen:
            self._recent_set.discard(self._recent[0])
        self._recent.append(record_id)
        self._recent_set.add(record_id)
        return False

    def message_ids(self, value: records.Batch | dict) -> list[str]:
        """Ids the store must be asked about before ``apply`` (empty for other records)."""
        if isinstance(value, records.Batch):
            return [mid for mid, _ in value.messages if mid is not None]
        return []

    def apply(self, offset: int, value: records.Batch | dict, known: dict[str, int], out: Effects) -> None:
        """Apply the record at ``offset``; ``known``: stored message id -> its batch (for this
        record's enterprise). Records at or before ``processed`` are ignored (redelivered)."""
        if offset <= self.processed:
            return
        self.processed = offset
        replay = offset <= self.written
        p = self.pipeline
        if isinstance(value, records.Batch):
            if self._repeat(value.id):
                return
            code = records.batch_code(self.partition, offset)
            readings: list[Reading] = []
            for mid, rs in value.messages:
                if mid is not None:
                    if replay:
                        if known.get(mid) != code:  # it was a repeat the first time too
                            continue
                    else:
                        key = (value.enterprise, mid)
                        if mid in known or key in self._in_chunk:
                            continue
                        self._in_chunk.add(key)
                        out.ids.append((value.enterprise, mid, code))
                readings.extend(rs)
            if not readings:
                return
            readings.sort(key=_ORDER)
            if not replay:
                out.rows.extend((code, pid, round(t * 1000.0), v) for pid, t, v in readings)
            events = p.process(readings, value.now)
            self._route(events, value.now, replay, out)
            return
        kind, now = value["k"], float(value["now"])
        if kind == records.TICK:
            events = p.tick(now)
            extra = p.router.tick(now)
            self._route(events, now, replay, out)
            if not replay:
                out.notifications.extend(extra)
        elif kind == records.COMMAND:
            if self._repeat(value["id"]):
                return
            try:
                events = apply_action(p, value["a"], value["aid"], value["actor"], value["note"], now, value["att"])
            except AlertError as exc:
                if not replay:
                    out.replies.append({"reply": value["id"], "ok": False, "error": str(exc),
                                        "not_found": isinstance(exc, AlertNotFound),
                                        "msgid": exc.msgid, "params": exc.params})  # said in the caller's language
                return
            self._route(events, now, replay, out)
            if not replay:
                current = p.engine.get(value["aid"])
                alert = events[-1].alert.to_json() if events else (current.to_json() if current else None)
                out.replies.append({"reply": value["id"], "ok": True, "alert": alert})
        elif kind == records.DEAD_LETTER:
            self._route(dead_letter(p, self.dead_letter_severity, value["row"], now), now, replay, out)
            if not replay:
                out.dead_letters.append(value["row"]["id"])
        elif kind == records.SILENCES:
            out.silences_changed = True

    def committed(self) -> None:
        """The effects returned so far are stored: ``written`` moves up to ``processed``."""
        self.written = max(self.written, self.processed)
        self._in_chunk.clear()

    def _route(self, events: list[AlertEvent], now: float, replay: bool, out: Effects) -> None:
        # A replayed record's events and notifications are stored already; routing them again
        # rebuilds the router's group windows as they were, and its output is dropped.
        if not events:
            return
        if replay:
            self.pipeline.router.route(events, now)
            return
        out.events.extend(events)
        out.notifications.extend(self.pipeline.router.route(events, now))


_ORDER = itemgetter(1, 0)  #: time, then point: the order the pipeline wants a batch in
