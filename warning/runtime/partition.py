"""One partition of the readings topic, as a pure state machine: records in, effects out.

A worker holds one :class:`PartitionState` per partition it owns. ``apply`` takes the next
record (by offset), turns it into an input of the one step every runtime takes
(:mod:`warning.step`), and returns what it causes: readings and message ids to store, alert
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
from collections.abc import Mapping, Sequence
from typing import cast

from ..labels import Labels
from ..model import Severity
from ..pipeline import Pipeline
from ..policy.silences import Silence
from ..site import PointDef
from ..step import Batch, Command, DeadLetter, Effects, Message, PointsChange, SilenceChange, Step, SystemFinding, Tick
from . import records

__all__ = ["Effects", "PartitionState", "RECENT_RECORDS"]

RECENT_RECORDS = 4096  #: record ids remembered per partition against producer retries


class PartitionState:
    """A partition's step (its pipeline) and its place in the log."""

    def __init__(
        self,
        partition: int,
        pipeline: Pipeline,
        *,
        epoch: int,
        written: int,
        processed: int,
        dead_letter_severity: Severity = Severity.ORANGE,
        ledger_version: int = 0,
    ):
        self.partition = partition  #: partition number in the readings topic
        self.pipeline = pipeline  #: holds only this partition's enterprises
        self.step = Step(pipeline, dead_letter_severity=dead_letter_severity)
        self.epoch = epoch  #: fencing epoch this owner claimed
        self.written = written  #: last offset whose effects are stored
        self.processed = processed  #: last offset applied in memory
        self.ledger_version = ledger_version  #: the ledger version the pipeline's point set is
        self._recent: deque[str] = deque(maxlen=RECENT_RECORDS)  #: ids of the last records applied
        self._recent_set: set[str] = set()

    def snapshot(self) -> bytes:
        return pickle.dumps((self.step.snapshot(), list(self._recent)), protocol=pickle.HIGHEST_PROTOCOL)

    def restore(self, data: bytes) -> None:
        pipe, recent = pickle.loads(data)
        self.step.restore(pipe)
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

    def apply(
        self,
        offset: int,
        value: records.Batch | dict,
        known: dict[str, int],
        out: Effects,
        silences: Sequence[Silence] | None = None,
        ledger: tuple[int, Mapping[int, PointDef], Labels | None] | None = None,
    ) -> None:
        """Apply the record at ``offset``; ``known``: stored message id -> its batch (for this
        record's enterprise); ``silences``: the silences now in force, for a silences record;
        ``ledger``: (the committed ledger's version, this partition's points in it, its labels), for a
        ledger record. Records at or before ``processed`` are ignored (redelivered)."""
        if offset <= self.processed:
            return
        self.processed = offset
        replay = offset <= self.written
        if isinstance(value, records.Batch):
            if self._repeat(value.id):
                return
            # plain (point, t, value) tuples: they unpack like Reading (see records.decode)
            messages = cast("list[Message]", value.messages)
            self.step.apply(
                Batch(messages, value.now, value.enterprise, records.batch_code(self.partition, offset), known),
                out,
                replay=replay,
            )
            return
        kind, now = value["k"], float(value["now"])
        if kind == records.TICK:
            self.step.apply(Tick(now), out, replay=replay)
        elif kind == records.COMMAND:
            if self._repeat(value["id"]):
                return
            self.step.apply(
                Command(
                    value["id"],
                    value["a"],
                    value["aid"],
                    value["actor"],
                    value["note"],
                    now,
                    value["att"],
                    value.get("v"),
                ),
                out,
                replay=replay,
            )
        elif kind == records.DEAD_LETTER:
            self.step.apply(DeadLetter(value["row"], now), out, replay=replay)
        elif kind == records.OPS:
            self.step.apply(SystemFinding.from_json(value["f"]), out, replay=replay)
        elif kind == records.SILENCES and silences is not None:
            self.step.apply(SilenceChange(silences, now), out, replay=replay)
        elif kind == records.LEDGER and ledger is not None:
            # A replayed one is older than the ledger the pipeline was rebuilt with (the claim
            # reads the committed ledger), and a version this partition has is a repeat.
            version, points, labels = ledger
            if replay or value["v"] <= self.ledger_version:
                return
            self.step.apply(PointsChange(f"ledger-{self.partition}-{offset}", points, now, value["actor"], labels), out)
            self.ledger_version = version

    def committed(self) -> None:
        """The effects returned so far are stored: ``written`` moves up to ``processed``."""
        self.written = max(self.written, self.processed)
        self.step.committed()
