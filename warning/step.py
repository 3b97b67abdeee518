"""The one step every runtime takes: one typed input in, typed effects out. Pure.

Both runtimes (the embedded one and the distributed worker's partitions) turn what they
receive into one of the inputs below and hand it to :meth:`Step.apply`; they only move the
effects on (store, publish, answer). What the step decides is therefore decided the same
way everywhere:

* **Time is the input's own.** Detection, timers and notification routing all run on the
  input's ``at``: the arrival time of a batch, the time of a tick or of a command. Never a
  clock read here, so a replay of the same inputs routes exactly as the live run did.
* **Message ids are de-duplicated here once** (:func:`admit`): a message whose id is already
  stored, or taken earlier in the same commit, is a repeat; on a replay, a message is
  taken again only if the store says this very batch stored it.
* **Operations alerts** (a stalled partition, a poison input) are :class:`SystemFinding`
  inputs on the ``_system`` enterprise. A step that refuses an input asks for one through
  ``Effects.ops``; the runtime feeds it back to the step that holds ``_system`` (the same
  one in the embedded runtime, the ``_system`` partition's owner in the distributed one), so
  those alerts escalate, are snapshotted and can be signed for like any other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from operator import itemgetter

from .alerts import AlertError, AlertNotFound
from .labels import Labels
from .model import SYSTEM, AlertEvent, Finding, PointRef, Reading, Severity
from .pipeline import Pipeline
from .policy.router import Notification
from .policy.silences import Silence
from .site import PointDef

ACTIONS = ("acknowledge", "handle", "feedback", "resolve")
#: characters PostgreSQL cannot store in text: a command carrying one is refused before it
#: changes anything (the edge refuses them too; this keeps the engine and the store agreeing)
_UNSTORABLE = {chr(0)} | {chr(c) for c in range(0xD800, 0xE000)}

Message = tuple[str | None, Sequence[Reading]]  #: (message id or None, its readings)


# -- inputs ----------------------------------------------------------------------------------
@dataclass(slots=True)  # not frozen: one is built per record on the hot path, and frozen costs 4x to build
class Batch:
    """Committed (or to be judged) readings of one enterprise's request, or of a group commit.

    ``known``: message id -> the batch code that stored it, for the ids the store has;
    ``code``: the batch code these readings are stored under. With ``enterprise`` None the
    messages were de-duplicated already (the embedded writer calls :func:`admit` itself, in
    its transaction) and their ids are ignored here.
    """

    messages: Sequence[Message]
    at: float  #: arrival time: the device silence timers and the routing run on it
    enterprise: str | None = None
    code: int = 0
    known: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Tick:
    at: float


@dataclass(frozen=True, slots=True)
class Command:
    """An officer's action on one alert."""

    id: str  #: answers name it
    action: str  #: one of ACTIONS, or the event kind it produced (re-applying stored actions)
    alert_id: str
    actor: str
    note: str | None
    at: float
    attachments: list[dict] | None = None
    #: feedback's verdict: ``confirmed`` (属实), ``false_alarm`` (误报) or ``maintenance`` (检修)
    verdict: str | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A notification the outbox gave up on (its outbox row): it becomes a ``_system`` alert."""

    row: Mapping
    at: float


@dataclass(frozen=True, slots=True)
class SilenceChange:
    silences: Sequence[Silence]  #: the API's silences now in force
    at: float


@dataclass(frozen=True, slots=True)
class SystemFinding:
    """An operations finding on ``_system/<device>/<point>`` (``severity`` None: it cleared); or,
    with ``enterprise``, a finding of a rule outside the points' detectors about that enterprise
    (an overdue dust-cleaning area, issue 15): its alarm lives with the enterprise's own."""

    device: str
    point: str
    rule: str
    severity: Severity | None
    value: float
    message: str
    at: float
    enterprise: str = SYSTEM

    def to_json(self) -> dict:
        return {
            "enterprise": self.enterprise,
            "device": self.device,
            "point": self.point,
            "rule": self.rule,
            "severity": None if self.severity is None else int(self.severity),
            "value": self.value,
            "message": self.message,
            "at": self.at,
        }

    @classmethod
    def from_json(cls, d: Mapping) -> SystemFinding:
        sev = d["severity"]
        return cls(
            str(d["device"]),
            str(d["point"]),
            str(d["rule"]),
            None if sev is None else Severity(int(sev)),
            float(d["value"]),
            str(d["message"]),
            float(d["at"]),
            str(d.get("enterprise", SYSTEM)),
        )


@dataclass(frozen=True, slots=True)
class PointsChange:
    """The live ledger changed the point set (issue 14): unchanged points keep their state, new
    ones start learning, a retired point's open alerts are closed by ``actor`` with a note."""

    id: str  #: the reply names it
    points: Mapping[int, PointDef]  #: point id -> definition, the whole new set
    at: float
    actor: str
    labels: Labels | None = None  #: the new site's names and titles for notifications (None: unchanged)


Input = Batch | Tick | Command | DeadLetter | SilenceChange | SystemFinding | PointsChange


# -- effects ---------------------------------------------------------------------------------
def reply(
    command: str, alert: dict | None = None, *, error: str | None = None, not_found: bool = False, invalid: bool = False
) -> dict:
    """The answer to a :class:`Command`, as the distributed runtime publishes it: ``ok`` and the
    alert as it now is (None: no longer in memory), or the ``error``; ``not_found``: no such
    open alert; ``invalid``: refused for its content (HTTP 400), not for the alert's state."""
    if error is None:
        return {"reply": command, "ok": True, "alert": alert}
    d = {"reply": command, "ok": False, "error": error, "not_found": not_found}
    if invalid:
        d["invalid"] = True
    return d


@dataclass(frozen=True, slots=True)
class Poison:
    """An input refused for what it carries: kept in ``dead_letters`` with the reason."""

    source: str  #: e.g. "command", "pipeline"
    topic: str  #: where it came from or what it was
    payload: bytes
    reason: str


@dataclass
class Effects:
    """What inputs caused, to be stored and published together (accumulates over inputs)."""

    rows: list[tuple[int, int, int, float]] = field(default_factory=list)  #: (batch, point, ts_ms, value) to store
    ids: list[tuple[str, str, int]] = field(default_factory=list)  #: (enterprise, message id, batch) accepted
    duplicates: int = 0  #: messages dropped as repeats
    readings: int = 0  #: readings judged
    events: list[AlertEvent] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)  #: for the outbox
    replies: list[dict] = field(default_factory=list)  #: see :func:`reply`
    dead_letters: list[int] = field(default_factory=list)  #: outbox ids now raised as alerts
    poison: list[Poison] = field(default_factory=list)
    ops: list[SystemFinding] = field(default_factory=list)  #: for the step holding ``_system``


def admit(
    enterprise: str,
    messages: Sequence[Message],
    known: Mapping[str, int] | Set[str],
    taken: set[tuple[str, str]],
    *,
    replay_code: int | None = None,
) -> tuple[list[Reading], list[str], int]:
    """The message-id rule, once for every runtime: ``(readings taken, new ids, repeats)``.

    Live: a message whose id is ``known`` (stored before) or in ``taken`` (earlier in the same
    commit) is a repeat; a new id is added to ``taken``. Replay (``replay_code``: the batch
    being re-applied): a message is taken only if the store says this batch stored it."""
    readings: list[Reading] = []
    new: list[str] = []
    dups = 0
    for mid, rs in messages:
        if mid is not None:
            if replay_code is not None:
                if not isinstance(known, Mapping) or known.get(mid) != replay_code:  # a repeat the first time too
                    continue
            else:
                key = (enterprise, mid)
                if mid in known or key in taken:
                    dups += 1
                    continue
                taken.add(key)
                new.append(mid)
        readings.extend(rs)
    return readings, new, dups


Key = tuple[int, int]  #: (point id, epoch ms): what "the same reading" means for a keyed request


def reading_keys(messages: Sequence[Message]) -> list[Key]:
    return [(r[0], round(r[1] * 1000.0)) for _, rs in messages for r in rs]


def keyed_as_ids(messages: Sequence[Message]) -> list[Message]:
    """A keyed request's readings as one message each with the id ``pk:<point id>:<ms>``, for a
    runtime that judges repeats by message id only (the distributed worker)."""
    return [(f"pk:{r[0]}:{round(r[1] * 1000.0)}", [r]) for _, rs in messages for r in rs]


def admit_keyed(messages: Sequence[Message], stored: Set[Key], taken: set[Key]) -> tuple[list[Reading], int]:
    """The (point, time) rule of a keyed request: ``(readings taken, repeats)``. A reading whose
    (point, ms) is ``stored`` already, or ``taken`` earlier in the same commit, is a repeat; a
    taken one is added to ``taken``."""
    keys = reading_keys(messages)
    fresh = set(keys)
    if len(fresh) == len(keys) and fresh.isdisjoint(stored) and fresh.isdisjoint(taken):  # the usual case
        taken |= fresh
        return [r for _, rs in messages for r in rs], 0
    readings: list[Reading] = []
    dups = 0
    for _, rs in messages:
        for r in rs:
            key = (r[0], round(r[1] * 1000.0))
            if key in stored or key in taken:
                dups += 1
                continue
            taken.add(key)
            readings.append(r)
    return readings, dups


class Step:
    """The pipeline and everything an input does to it."""

    def __init__(self, pipeline: Pipeline, *, dead_letter_severity: Severity = Severity.ORANGE):
        self.pipeline = pipeline
        self.dead_letter_severity = dead_letter_severity
        self._taken: set[tuple[str, str]] = set()  #: message ids taken since the last commit

    # -- the step ------------------------------------------------------------------------------
    def apply(self, item: Input, out: Effects | None = None, *, replay: bool = False) -> Effects:
        """Apply one input. ``replay``: its effects are stored already (re-applied to rebuild
        memory): routing still runs, to rebuild the group windows, but nothing is returned."""
        out = Effects() if out is None else out
        p = self.pipeline
        if isinstance(item, Batch):
            if item.enterprise is None:
                readings = [r for _, rs in item.messages for r in rs]
                readings.sort(key=_order)
            else:
                readings, new, dups = admit(
                    item.enterprise, item.messages, item.known, self._taken, replay_code=item.code if replay else None
                )
                if not replay:
                    out.duplicates += dups
                    out.ids.extend((item.enterprise, mid, item.code) for mid in new)
                if not readings:
                    return out
                readings.sort(key=_order)
                if not replay:
                    out.rows.extend((item.code, pid, round(t * 1000.0), v) for pid, t, v in readings)
            out.readings += len(readings)
            self._route(p.process(readings, item.at), item.at, replay, out)
        elif isinstance(item, Tick):
            events = p.tick(item.at)
            extra = p.router.tick(item.at)
            self._route(events, item.at, replay, out)
            if not replay:
                out.notifications.extend(extra)
        elif isinstance(item, Command):
            self._command(item, replay, out)
        elif isinstance(item, DeadLetter):
            row = item.row
            finding = Finding(
                "dead_letter",
                self.dead_letter_severity,
                item.at,
                float(row["attempts"]),
                f"notification {row['event_id']} undeliverable on {row['channel']}: {row['last_error']}",
            )
            self._route(p.engine.observe(PointRef(SYSTEM, "outbox", row["channel"]), finding), item.at, replay, out)
            if not replay:
                out.dead_letters.append(int(row["id"]))
        elif isinstance(item, SilenceChange):
            p.router.set_silences(item.silences)
        elif isinstance(item, SystemFinding):
            finding = Finding(item.rule, item.severity, item.at, item.value, item.message)
            ref = PointRef(item.enterprise, item.device, item.point)
            self._route(p.engine.observe(ref, finding), item.at, replay, out)
        elif isinstance(item, PointsChange):
            if item.labels is not None:
                p.router.labels = item.labels
            self._route(p.reconfigure(item.points, item.at, item.actor), item.at, replay, out)
            out.replies.append(reply(item.id))
        else:  # pragma: no cover - the union above is closed
            raise TypeError(f"not a step input: {type(item).__name__}")
        return out

    def committed(self) -> None:
        """The effects returned so far are stored: forget this commit's message ids."""
        self._taken.clear()

    def _command(self, c: Command, replay: bool, out: Effects) -> None:
        bad = _unstorable(c)
        if bad:
            if not replay:
                why = f"refused: {bad} contains a character the store cannot keep (U+0000 or a lone surrogate)"
                out.replies.append(reply(c.id, error=why, invalid=True))
                out.poison.append(Poison("command", f"{c.action} {c.alert_id}"[:200], _command_bytes(c), why))
                out.ops.append(
                    SystemFinding(
                        "pipeline",
                        "commands",
                        "poison",
                        Severity.ORANGE,
                        1.0,
                        f"an officer's {c.action} was refused: {why}",
                        c.at,
                    )
                )
            return
        try:
            events = self._action(c)
        except AlertError as exc:
            if not replay:
                answer = reply(c.id, error=str(exc), not_found=isinstance(exc, AlertNotFound))
                answer |= {"msgid": exc.msgid, "params": exc.params}  # said in the caller's language
                out.replies.append(answer)
            return
        self._route(events, c.at, replay, out)
        if not replay:
            current = self.pipeline.engine.get(c.alert_id)
            alert = events[-1].alert.to_json() if events else (current.to_json() if current else None)
            out.replies.append(reply(c.id, alert))

    def _action(self, c: Command) -> list[AlertEvent]:
        """One officer action, by command name or by the event kind it produced (re-application)."""
        p, kind = self.pipeline, c.action
        if kind in ("acknowledge", "acknowledged"):
            return p.acknowledge(c.alert_id, c.actor, c.note, c.at)
        if kind in ("handle", "handling"):
            return p.handle(c.alert_id, c.actor, c.note, c.at)
        if kind == "feedback":
            return p.feedback(c.alert_id, c.actor, c.note, c.at, c.attachments, c.verdict)
        if kind in ("resolve", "resolved"):
            return p.resolve(c.alert_id, c.actor, c.note, c.at)
        raise AlertError(f"unknown action {kind!r}")

    def _route(self, events: list[AlertEvent], at: float, replay: bool, out: Effects) -> None:
        # A replayed input's events and notifications are stored already; routing them again
        # rebuilds the router's group windows as they were, and its output is dropped.
        if not events:
            return
        routed = self.pipeline.router.route(events, at)
        if not replay:
            out.events.extend(events)
            out.notifications.extend(routed)

    # -- what a runtime may read ---------------------------------------------------------------
    def open_alerts(self):
        return self.pipeline.engine.open_alerts()

    def alert(self, aid: str):
        return self.pipeline.engine.get(aid)

    def config_silences(self) -> tuple[Silence, ...]:
        return self.pipeline.router.config_silences

    def suppressed(self) -> dict[str, int]:
        return dict(self.pipeline.router.suppressed)

    def snapshot(self, shard: int | None = None) -> bytes:
        return self.pipeline.snapshot(shard)

    def restore(self, data: bytes) -> tuple[int | None, int]:
        """(the snapshot's shard, the shard count it was taken with)."""
        return self.pipeline.restore(data)


_order = itemgetter(1, 0)  #: time, then point: the order the pipeline wants a batch in


def _unstorable(c: Command) -> str | None:
    """The first field of a command holding a character the store refuses, or None."""
    for name, value in (("actor", c.actor), ("note", c.note), ("attachments", c.attachments), ("verdict", c.verdict)):
        if any(not _UNSTORABLE.isdisjoint(text) for text in _texts(value)):
            return name
    return None


def _texts(value):
    """Every string inside a JSON-like value (keys too)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _texts(k)
            yield from _texts(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _texts(v)


def _command_bytes(c: Command) -> bytes:
    d = {
        "id": c.id,
        "action": c.action,
        "alert": c.alert_id,
        "actor": c.actor,
        "note": c.note,
        "attachments": c.attachments,
        "verdict": c.verdict,
        "at": c.at,
    }
    return repr(d).encode("utf-8", "backslashreplace")
