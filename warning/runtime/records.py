"""The records on the distributed runtime's topics, and where they go. Pure.

``readings`` topic (keyed by enterprise): everything the pipeline consumes, in order per
partition, so that replaying a partition from any offset rebuilds exactly the state its
previous owner had:

* ``b`` a batch: one telemetry request's messages, as accepted by an ingest gateway;
* ``c`` an officer's command (acknowledge, handle, feedback, resolve) for one alert;
* ``t`` a timer tick (silence timers, escalation), written by the partition's owner, so that
  timer-raised alerts replay at the same moments;
* ``d`` a dead letter from a notifier (becomes a ``_system`` alert);
* ``s`` "silences changed": the owner re-reads them from the store;
* ``l`` "the ledger is at version v" (issue 14): written into every partition by each gateway
  that takes a new ledger version, before it accepts telemetry for the points that version
  adds; the owner brings its partition's point set to the committed ledger (read from the
  store, which has v or later) and applies it through the step's ``PointsChange``, in order
  with the records around it. Several gateways announcing one version are one change;
* ``o`` an operations finding (:class:`~warning.step.SystemFinding`: a stalled partition, a
  refused input), written into the ``_system`` enterprise's partition by any worker, so the
  alert lives in one partition's pipeline: it escalates, survives a takeover and can be
  signed for.

Batches and commands carry an id, so that a record a producer retry wrote twice is
applied once. Every record carries ``now``, the time its writer saw: the pipeline runs on that, never on
the consuming worker's clock.

``alert-events`` topic (keyed by enterprise): alert events as JSON (``AlertEvent.to_json``),
and ``{"reply": command id, ...}`` answers to commands. At least once: consumers drop
repeats by event id.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import orjson

from ..model import SYSTEM as SYSTEM  # the enterprise of system alerts; it has a partition like any other
from ..model import Reading
from ..step import SystemFinding

BATCH, COMMAND, TICK, DEAD_LETTER, SILENCES, OPS, LEDGER = "b", "c", "t", "d", "s", "o", "l"


def partition_of(enterprise: str, partitions: int) -> int:
    """The partition of an enterprise: crc32, so gateways and workers agree without asking."""
    return zlib.crc32(enterprise.encode()) % partitions


def batch_code(partition: int, offset: int) -> int:
    """The ``readings.batch`` number of a record: negative, so it never meets the embedded
    runtime's sequence, and unique per (partition, offset below 2**40, a trillion records),
    so a replay knows what it wrote."""
    return -((partition << 40) + offset + 1)


def encode_batch(
    record_id: str, enterprise: str, messages: list[tuple[str | None, list[Reading]]], now: float
) -> bytes:
    return orjson.dumps(
        {
            "k": BATCH,
            "id": record_id,
            "e": enterprise,
            "now": now,
            "m": [[mid, [[r[0], r[1], r[2]] for r in rs]] for mid, rs in messages],
        }
    )


def encode_command(
    command_id: str,
    action: str,
    alert_id: str,
    actor: str,
    note: str | None,
    attachments: list[dict] | None,
    now: float,
    verdict: str | None = None,
) -> bytes:
    """A command record; ``v`` (feedback's verdict) is left out when there is none, and a
    record without it (written before it existed) reads as no verdict."""
    doc = {
        "k": COMMAND,
        "id": command_id,
        "a": action,
        "aid": alert_id,
        "actor": actor,
        "note": note,
        "att": attachments,
        "now": now,
    }
    if verdict is not None:
        doc["v"] = verdict
    return orjson.dumps(doc)


def encode_tick(now: float) -> bytes:
    return orjson.dumps({"k": TICK, "now": now})


def encode_dead_letter(row: dict, now: float) -> bytes:
    return orjson.dumps({"k": DEAD_LETTER, "row": row, "now": now})


def encode_silences(now: float) -> bytes:
    return orjson.dumps({"k": SILENCES, "now": now})


def encode_ledger(version: int, actor: str, now: float) -> bytes:
    """The ledger is at ``version`` (changed by ``actor``): owners take it in order."""
    return orjson.dumps({"k": LEDGER, "v": version, "actor": actor, "now": now})


def encode_ops(finding: dict, now: float) -> bytes:
    """An operations finding (``SystemFinding.to_json()``) for the ``_system`` partition."""
    return orjson.dumps({"k": OPS, "f": finding, "now": now})


#: the fields each non-batch record must have: a record that lacks one is skipped, not applied
_FIELDS = {
    COMMAND: {"id", "a", "aid", "actor", "note", "att", "now"},
    TICK: {"now"},
    DEAD_LETTER: {"row", "now"},
    SILENCES: {"now"},
    OPS: {"f", "now"},
    LEDGER: {"v", "actor", "now"},
}


@dataclass(frozen=True, slots=True)
class Batch:
    id: str  #: the gateway's record id: a producer retry that wrote it twice is dropped by it
    enterprise: str
    messages: list[tuple[str | None, list[tuple[int, float, float]]]]  #: (message id, (point, t, value)...)
    now: float


def decode(value: bytes) -> dict | Batch:
    """A record's value: a :class:`Batch`, or the dict of any other kind (``k`` says which).
    Raises ValueError on a record no gateway wrote."""
    try:
        d = orjson.loads(value)
        if d["k"] == BATCH:
            # Plain (point, t, value) tuples: they unpack like Reading and cost a third less to
            # build; gateways wrote these records from validated requests.
            return Batch(
                d["id"],
                d["e"],
                [(mid, [(int(p), float(t), float(v)) for p, t, v in rs]) for mid, rs in d["m"]],
                float(d["now"]),
            )
        need = _FIELDS.get(d["k"])
        if need is not None:
            missing = need - d.keys()
            if missing or not isinstance(d["now"], (int, float)):
                raise ValueError(f"record {d['k']!r} lacks {sorted(missing) or ['a numeric now']}")
            if d["k"] == DEAD_LETTER and not isinstance(d["row"], dict):
                raise ValueError("dead letter without its outbox row")
            if d["k"] == OPS:
                SystemFinding.from_json(d["f"])  # raises on a finding no worker wrote
            if d["k"] == LEDGER and not (isinstance(d["v"], int) and isinstance(d["actor"], str)):
                raise ValueError("ledger record without a whole version and an actor")
            return d
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a readings record: {exc}") from exc
    raise ValueError(f"unknown record kind {d.get('k')!r}")
