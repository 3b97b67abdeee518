"""The closed loop of a risk warning or a hazard report: a pure state machine.

Practice (docs/risk.md): the platform pushes a warning to the enterprise → the enterprise
signs for it (签收) and replies (回复: cause, measures, verdict 属实/误报/检修, photos) →
a regulator reviews the reply and closes it (审核销号) or returns it (退回) with a note,
and the enterprise replies again. A hazard report (隐患举报, 一码发现) is an item of its own
kind, assigned to the enterprise's street, that runs the same steps.

    open ──sign──► signed ──reply──► replied ──close──► closed
                      ▲                 │
                      └─────return──────┘   (returned: waits for a new reply)

Time limits per level (``sign_within``, ``reply_within``, from the opening, or from the
return for a new reply): past one, the item escalates along the configured tiers (street,
district duty officer, bureau leader), one tier every ``escalate_every`` seconds, until the
awaited step is taken. A report starts one tier up (it is the street's already). Every
step keeps who, when and the note. Timed steps carry their due time, so a replay or a late
tick gives the same event ids.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Container, Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import NamedTuple

from ..i18n import Text
from .config import LEVELS, RiskConfig
from .undo import hold, put_back

VERDICTS = {"true": "属实", "false_alarm": "误报", "maintenance": "检修"}  #: the enterprise's verdict codes
MAX_PHOTOS = 6


class LoopError(Exception):
    """A step that cannot be taken now; ``message`` (a catalogue text, rendered in the reader's
    locale) says why (a 409 for the API)."""

    def __init__(self, message: Text):
        super().__init__(str(message))
        self.message = message


class State(StrEnum):
    OPEN = "open"  #: pushed, nobody signed
    SIGNED = "signed"  #: 签收
    REPLIED = "replied"  #: 回复, waiting for review
    RETURNED = "returned"  #: 退回, waiting for a new reply
    CLOSED = "closed"  #: 审核销号


@dataclass(frozen=True, slots=True)
class Step:
    action: str  #: opened, sign, reply, return, close, escalate, level, renewed, cleared
    at: float
    actor: str | None  #: None: the system
    note: str | None = None
    data: dict | None = None

    def to_json(self) -> dict:
        return {"action": self.action, "at": self.at, "actor": self.actor, "note": self.note, "data": self.data}


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    kind: str  #: "warning" or "report"
    enterprise: str
    street: str | None
    level: str  #: blue..red for a warning; "report" for a report (its limits are the "report" ones)
    state: State
    opened_at: float
    waiting_since: float  #: when the awaited step (sign or reply) became due to start counting
    tier: int = -1  #: the highest tier escalated to (-1: none)
    steps: tuple[Step, ...] = ()
    condition_over: bool = False  #: the model cleared the warning's condition (still to be closed)

    @property
    def awaiting(self) -> str | None:
        """The enterprise's (or for a report, the street's) step it waits for, or None."""
        if self.state is State.OPEN:
            return "sign"
        if self.state in (State.SIGNED, State.RETURNED):
            return "reply"
        return None

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "enterprise": self.enterprise,
            "street": self.street,
            "level": self.level,
            "state": self.state.value,
            "opened_at": self.opened_at,
            "waiting_since": self.waiting_since,
            "awaiting": self.awaiting,
            "tier": self.tier,
            "condition_over": self.condition_over,
            "steps": [s.to_json() for s in self.steps],
        }


@dataclass(frozen=True, slots=True)
class LoopEvent:
    id: str  #: stable
    action: str
    at: float
    item: Item
    data: dict | None = None  #: escalate: {"tier": i, "tier_name": ..., "overdue": "sign"|"reply"}


def _digest(*parts: object) -> str:
    return hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=10).hexdigest()


@dataclass
class Loop:
    config: RiskConfig
    items: dict[str, Item] = field(default_factory=dict)  #: items not yet closed, by id

    # -- opening -------------------------------------------------------------------------------
    def open(
        self,
        item_id: str,
        kind: str,
        enterprise: str,
        street: str | None,
        level: str,
        at: float,
        note: str | None = None,
        data: dict | None = None,
    ) -> list[LoopEvent]:
        if item_id in self.items:
            return []  # replayed
        if kind not in ("warning", "report") or level not in self.config.sign_within:
            raise LoopError(Text.of("unknown item kind or level: {kind}/{level}", kind=kind, level=level))
        item = Item(
            item_id, kind, enterprise, street, level, State.OPEN, at, at, steps=(Step("opened", at, None, note, data),)
        )
        self.items[item_id] = item
        return [self._event("opened", at, item, None)]

    def set_level(self, item_id: str, level: str, at: float) -> list[LoopEvent]:
        """The model moved the warning's level: the limits of the new level apply from now on."""
        item = self.items.get(item_id)
        if item is None or item.level == level:
            return []
        data = {"level": level, "from": item.level}
        item = replace(item, level=level, steps=item.steps + (Step("level", at, None, None, data),))
        self.items[item_id] = item
        return [self._event("level", at, item, data)]

    def renew(self, item_id: str, level: str, at: float) -> list[LoopEvent]:
        """The model issued a new warning while this item is not yet closed (one item per
        enterprise at a time): the item takes it as a step of its own, so the new condition is
        pushed and shown, and it is no longer "condition over". Its level becomes the higher of
        the two: the earlier level was not answered yet, its limits still hold."""
        item = self.items.get(item_id)
        if item is None:
            return []
        rank = {name: i for i, name in enumerate(LEVELS)}
        new = level if rank.get(level, -1) > rank.get(item.level, -1) else item.level
        data = {"level": new, "from": item.level}
        item = replace(
            item, level=new, condition_over=False, steps=item.steps + (Step("renewed", at, None, None, data),)
        )
        self.items[item_id] = item
        return [self._event("renewed", at, item, data)]

    def condition_over(self, item_id: str, at: float) -> list[LoopEvent]:
        item = self.items.get(item_id)
        if item is None or item.condition_over:
            return []
        item = replace(item, condition_over=True, steps=item.steps + (Step("cleared", at, None),))
        self.items[item_id] = item
        return [self._event("cleared", at, item, None)]

    # -- people --------------------------------------------------------------------------------
    def sign(self, item_id: str, actor: str, at: float, note: str | None = None) -> list[LoopEvent]:
        item = self._get(item_id)
        if item.state is not State.OPEN:
            return []  # signing twice is a no-op
        return self._put("sign", replace(item, state=State.SIGNED), at, actor, note, None)

    def reply(
        self,
        item_id: str,
        actor: str,
        at: float,
        *,
        cause: str,
        measures: str,
        verdict: str,
        photos: list[dict] | None = None,
    ) -> list[LoopEvent]:
        item = self._get(item_id)
        if item.state is State.OPEN:
            raise LoopError(Text.of("sign for it first"))
        if item.state not in (State.SIGNED, State.RETURNED):
            raise LoopError(Text.of("a reply is not awaited now (state {state})", state=item.state.value))
        if verdict not in VERDICTS:
            raise LoopError(Text.of("verdict must be one of {verdicts}", verdicts=", ".join(VERDICTS)))
        if not cause.strip() or not measures.strip():
            raise LoopError(Text.of("cause and measures are both required"))
        if photos and len(photos) > MAX_PHOTOS:
            raise LoopError(Text.of("at most {n} photos", n=MAX_PHOTOS))
        data = {
            "cause": cause,
            "measures": measures,
            "verdict": verdict,
            "verdict_zh": VERDICTS[verdict],
            "photos": list(photos or ()),
        }
        return self._put("reply", replace(item, state=State.REPLIED), at, actor, None, data)

    def review(self, item_id: str, actor: str, at: float, *, close: bool, note: str | None) -> list[LoopEvent]:
        """审核: close (销号) or return (退回, a note required) a reply."""
        item = self._get(item_id)
        if item.state is not State.REPLIED:
            raise LoopError(Text.of("only a reply can be reviewed"))
        if close:
            ev = self._put("close", replace(item, state=State.CLOSED), at, actor, note, None)
            del self.items[item_id]
            return ev
        if not (note and note.strip()):
            raise LoopError(Text.of("say why it is returned (a note)"))
        return self._put(
            "return", replace(item, state=State.RETURNED, waiting_since=at, tier=-1), at, actor, note, None
        )

    # -- timers --------------------------------------------------------------------------------
    def due(self, item: Item) -> float | None:
        """When the item's next escalation step falls due, or None (nothing awaited)."""
        what = item.awaiting
        if what is None:
            return None
        c = self.config
        limit = (c.sign_within if what == "sign" else c.reply_within)[item.level]
        first = self._first_tier(item)
        step = item.tier + 1 - first if item.tier >= first else 0
        if first + step >= len(c.tiers):
            return None  # already at the top tier
        return item.waiting_since + limit + step * c.escalate_every[item.level]

    def tick(self, now: float) -> list[LoopEvent]:
        out: list[LoopEvent] = []
        for iid, item in list(self.items.items()):
            while (at := self.due(item)) is not None and at <= now:
                tier = max(item.tier + 1, self._first_tier(item))
                data = {"tier": tier, "tier_name": self.config.tiers[tier], "overdue": item.awaiting}
                item = replace(item, tier=tier, steps=item.steps + (Step("escalate", at, None, None, data),))
                self.items[iid] = item
                out.append(self._event("escalate", at, item, data))
        return out

    def next_due(self) -> float | None:
        """The earliest due time of any item: a runtime sleeps until then."""
        dues = [d for d in (self.due(i) for i in self.items.values()) if d is not None]
        return min(dues, default=None)

    # -- helpers -------------------------------------------------------------------------------
    def _first_tier(self, item: Item) -> int:
        return min(1, len(self.config.tiers) - 1) if item.kind == "report" else 0

    def _get(self, item_id: str) -> Item:
        item = self.items.get(item_id)
        if item is None:
            raise LoopError(Text.of("no open item {id}", id=repr(item_id)))
        return item

    def _put(self, action: str, item: Item, at: float, actor: str, note: str | None, data: dict | None):
        if item.steps and at < item.steps[-1].at:
            at = item.steps[-1].at  # the timeline never runs backwards
        item = replace(item, steps=item.steps + (Step(action, at, actor, note, data),))
        if action == "sign":  # the reply's clock starts at the opening, as the limits are read
            item = replace(item, tier=-1)
        self.items[item.id] = item
        return [self._event(action, at, item, data, actor)]

    @staticmethod
    def _event(action: str, at: float, item: Item, data: dict | None, actor: str | None = None) -> LoopEvent:
        return LoopEvent(
            _digest(item.id, action, round(at * 1000), actor or "", len(item.steps)), action, at, item, data
        )

    def snapshot(self) -> bytes:
        return pickle.dumps(self.items, protocol=pickle.HIGHEST_PROTOCOL)

    def restore(self, data: bytes) -> None:
        self.items = pickle.loads(data)

    def snapshot_part(self, enterprises: Iterable[str], ids: Iterable[str] = ()) -> LoopPart:
        """The items of these enterprises, and these ids whatever their enterprise: what a
        decision for them can change. Every step here (open, set_level, renew, condition_over,
        sign, reply, review) replaces the one item it names or adds it, and an item keeps its
        enterprise; :meth:`tick` walks every item: take :meth:`snapshot` around it. The items
        are held by reference, not copied: an :class:`Item` is frozen and a step replaces it,
        so the one held is the picture as it was."""
        names, named = frozenset(enterprises), frozenset(ids)
        order, held = hold(self.items, self._of(names, named))
        return LoopPart(names, named, order, held)

    def restore_part(self, part: LoopPart) -> None:
        """Those items as they were at :meth:`snapshot_part`: one opened since goes, one
        closed since comes back; the other items are left as they are."""
        now = self._of(part.enterprises, part.ids)
        self.items = put_back(self.items, part.order, part.held, now)

    def _of(self, enterprises: frozenset[str], ids: frozenset[str]) -> list[str]:
        return [i for i, it in self.items.items() if it.enterprise in enterprises or i in ids]


class LoopPart(NamedTuple):
    """Some items of the loop (:meth:`Loop.snapshot_part`)."""

    enterprises: frozenset[str]
    ids: frozenset[str]
    order: tuple[str, ...]  #: every item's id at the mark, in order
    held: dict[str, Item]  #: the items in scope at the mark (frozen: references are copies)


def follow(
    loop: Loop, item_of: dict[str, str], we, street: str | None, closed: Container[str] = frozenset()
) -> tuple[list[LoopEvent], str | None]:
    """One model event (:class:`warning.risk.model.WarningEvent`) into the loop, the rule the
    running service and the scenario evaluation share: one item per enterprise at a time.
    ``item_of`` maps an enterprise to its item not yet closed (updated here on an opening).
    ``closed``: ids of items already closed. The model's warning can outlive its item (a
    regulator closed it while the condition stood); when it rises again it opens a new item
    named by the event's own stable id, so every gateway names it alike and the closed record
    stays closed. Returns the loop events and the item the warning now lives in (None:
    nothing to follow)."""
    w = we.warning
    item = item_of.get(w.enterprise)
    if item is not None and item not in loop.items:
        item = None  # closed meanwhile
    kind = we.kind.value
    if kind in ("issued", "raised", "lowered"):
        level = LEVELS[w.level - 1]
        if item is None:
            iid = we.id if w.id in closed else w.id
            item_of[w.enterprise] = iid
            return loop.open(iid, "warning", w.enterprise, street, level, we.at, data={"score": round(w.score, 2)}), iid
        if kind == "issued" and item != w.id:  # a new warning while the enterprise's item is still open: it joins
            return loop.renew(item, level, we.at), item
        # the item's own warning issued (another gateway opened the item first, or a replay): no renewal
        return loop.set_level(item, level, we.at), item
    if kind == "cleared" and item is not None:
        return loop.condition_over(item, we.at), item
    return [], None


def unclosed(loop: Loop) -> dict[str, int]:
    """Per enterprise: its warning items whose condition is over but which nobody closed yet
    (the model's "not closed" context term)."""
    out: dict[str, int] = {}
    for i in loop.items.values():
        if i.kind == "warning" and i.condition_over:
            out[i.enterprise] = out.get(i.enterprise, 0) + 1
    return out
