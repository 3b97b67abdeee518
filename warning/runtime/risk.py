"""The risk service: the pure risk model and loop (warning.risk) wired into the running server.

The hook is the dashboard hub: the service is one of its ``listeners`` and gets the alert
events the runtime already publishes, so neither the runtime nor the alert engine changes
(one list and two lines in ``Hub.publish``). The listener only appends to a bounded
buffer; when the service falls that far behind it drops the buffer and re-reads the open
alerts from the store, as a WebSocket client resyncs.

Timers: one task ticks the model and the loop every ``tick`` seconds (1 s by default), so
an enterprise silent past its limit escalates within about a second of it (the target is
5 s). Every loop event is written to the store (steps keyed by stable ids) and pushed
through the site's channels via the outbox, shaped like an alert event so every
channel's format works as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import NamedTuple, TypeVar

import asyncpg

from ..alerts import AlertError, AlertNotFound
from ..i18n import Text, translate
from ..model import Severity
from ..policy.router import UPSTREAM, Notification
from ..risk.cleaning import DEVICE as CLEANING_DEVICE
from ..risk.cleaning import RULE as CLEANING_RULE
from ..risk.cleaning import overdue
from ..risk.config import LEVELS, RiskConfig
from ..risk.loop import Loop, LoopError, LoopEvent, LoopPart, State, follow, unclosed
from ..risk.model import AlarmChange, ModelPart, RiskModel, WarningEvent, WarningKind
from ..risk.standing import problems, standings
from ..risk.undo import hold, put_back
from ..site import Site
from ..step import SystemFinding
from ..store import notifications as notify_store
from ..store import risk as risk_store
from ..times import local
from ..web.hub import Hub
from .api import Runtime

log = logging.getLogger(__name__)

TIER_ZH = {"street": "街镇", "district": "区应急局值班", "bureau": "局领导"}
LEVEL_ZH = {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色", "report": "隐患举报"}
MAX_INBOX = 100_000  #: alert events buffered between the hub and the service before it resyncs instead
MAX_TRIES = 8  #: decisions taken again on a fresh picture of their items before giving up (a busy item)
CLOSED_KEPT = 10_000  #: ids of closed items remembered so that no event reopens one
T = TypeVar("T")
ACTION_ZH = {"opened": "发布", "escalate": "超时升级", "return": "退回", "level": "等级变化", "renewed": "再次预警"}
Scope = tuple[frozenset[str], frozenset[str]]  #: the enterprises and the item ids one decision may touch


class _Whole(NamedTuple):
    """A mark of everything a decision can change (a tick's: it walks every enterprise)."""

    model: bytes
    loop: bytes
    item_of: dict[str, str]


class _Part(NamedTuple):
    """A mark of a :data:`Scope`: its enterprises' model state, their items and the named
    ones, their ``item_of`` entries. A decision for them changes nothing else of those three."""

    enterprises: frozenset[str]
    model: ModelPart
    loop: LoopPart
    item_of: tuple[tuple[str, ...], dict[str, str]]


class RiskService:
    def __init__(
        self,
        site: Site,
        pool: asyncpg.Pool,
        hub: Hub,
        config: RiskConfig,
        *,
        tick: float = 1.0,
        clock: Callable[[], float] = time.time,
        runtime: Runtime | None = None,
    ) -> None:
        self.site = site
        self.pool = pool
        self.hub = hub
        self.config = config
        self.tick_every = tick
        self.clock = clock
        # the ledger's fields the model weighs, checked: a bad value stops the start with its name
        self.standing = standings(site.enterprises.values(), config)
        self.model = RiskModel(config, self.standing)
        self.loop = Loop(config)
        self.kinds = {(p.ref.enterprise, p.ref.device, p.ref.point): p.kind for p in site.points}
        self.item_of: dict[str, str] = {}  #: enterprise -> its open warning item (one at a time)
        self.lock = asyncio.Lock()  #: one writer: the model, the loop and their rows move together
        self.tasks: list[asyncio.Task] = []
        self.inbox: list[dict] = []  #: events from the hub not yet read (bounded by MAX_INBOX)
        self.overflow = False  #: the inbox overflowed: resync from the store
        self.wake = asyncio.Event()
        self.last_cleaning = 0.0
        self.runtime = runtime  #: raises the overdue-cleaning alarms (None: the model's term only)
        self.cleaning_raised: set[tuple[str, str]] | None = None  #: (enterprise, area) with an open alarm
        self.closed: dict[str, None] = {}  #: items closed (here or on another gateway), oldest first

    def use_site(self, site: Site) -> None:
        """The ledger changed (warning.live): new streets, kinds and standing risk from now on.
        The ledger's own checks refuse bad values before this; one that still reaches here
        keeps that enterprise's previous standing and is logged with its fields named."""
        fresh = {}
        for ent in site.enterprises.values():
            bad = problems(ent, self.config)
            if bad:
                log.error("risk: enterprise %s keeps its previous standing risk: %s", ent.id, "; ".join(bad))
                if ent.id in self.standing:
                    fresh[ent.id] = self.standing[ent.id]
            else:
                fresh.update(standings([ent], self.config))
        self.site = site
        self.kinds = {(p.ref.enterprise, p.ref.device, p.ref.point): p.kind for p in site.points}
        self.standing = fresh
        self.model.standing = fresh

    # -- life ----------------------------------------------------------------------------------
    async def start(self) -> None:
        async with self.pool.acquire() as conn:
            self.loop.items = await risk_store.open_items(conn)
        self.item_of = {i.enterprise: i.id for i in self.loop.items.values() if i.kind == "warning"}
        await self._resync()
        self.tasks = [asyncio.create_task(self._feed()), asyncio.create_task(self._timer())]

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        for t in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if self._listen in self.hub.listeners:
            self.hub.listeners.remove(self._listen)

    def _listen(self, events: list[dict]) -> None:
        """The hub's call on every publish: buffer and wake the feed; never blocks."""
        if len(self.inbox) + len(events) > MAX_INBOX:
            self.inbox.clear()
            self.overflow = True
        else:
            self.inbox.extend(events)
        self.wake.set()

    async def _resync(self) -> None:
        """Listen afresh and rebuild the model's alarms from the store's open alerts."""
        if self._listen not in self.hub.listeners:
            self.hub.listeners.append(self._listen)
        self.inbox.clear()
        self.overflow = False
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT id, enterprise, device, point, rule, severity, opened_at FROM alerts "
                "WHERE state <> 'resolved' AND condition_active"
            )
        self.model = RiskModel(self.config, self.standing)
        now = self.clock()
        for r in rows:
            self.model.observe(
                AlarmChange(
                    r["opened_at"].timestamp(),
                    r["id"],
                    r["enterprise"],
                    r["device"],
                    r["point"],
                    r["rule"],
                    int(r["severity"]),
                    self.kinds.get((r["enterprise"], r["device"], r["point"]), ""),
                )
            )
        await self._handle(self.model.tick(now), now)

    async def _feed(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            if self.overflow:
                async with self.lock:
                    await self._resync()
                continue
            batch, self.inbox = self.inbox, []
            changes = [self._change(ev) for ev in batch]
            async with self.lock:
                try:
                    await self._batch(changes)
                except (OSError, asyncpg.PostgresError, risk_store.StaleItems) as exc:
                    # the store is away: the batch's decisions are undone (_guarded rewinds before
                    # it raises); rebuild from the store's open alerts once it answers again (the
                    # alerts themselves are the runtime's)
                    log.warning("risk feed: store unavailable (%s); resyncing", exc)
                    await asyncio.sleep(1.0)
                    with contextlib.suppress(OSError, asyncpg.PostgresError):
                        await self._resync()

    async def _batch(self, changes: list[AlarmChange | None]) -> None:
        """One batch of the feed, decided (under ``self.lock``) and undone if it did not commit.
        It decides for the enterprises its changes name and no other: the model steps those
        (observe), the loop follows their warnings into their items, and a written step sets the
        context of its item's enterprise, so the mark holds those enterprises alone."""
        names = frozenset(ch.enterprise for ch in changes if ch is not None)
        scope: Scope = (names, frozenset())
        await self._guarded(functools.partial(self._observe, changes), scope=lambda: scope)

    async def _observe(self, changes: list[AlarmChange | None]) -> None:
        out: list[WarningEvent] = []
        for ch in changes:
            if ch is not None:
                out += self.model.observe(ch)
        await self._handle(out, self.clock())

    def _change(self, ev: dict) -> AlarmChange | None:
        kind = ev.get("kind")
        if kind not in ("raised", "updated", "cleared", "resolved"):
            return None  # officers' steps do not change the risk
        a = ev.get("alert")
        if not isinstance(a, dict) or a.get("enterprise") not in self.site.enterprises:
            return None  # not an alert event, or the _system partition's (the watchdog): no enterprise's risk
        try:  # the hub carries what publishers give it: an event not shaped like an alert's is skipped
            # cleared: the condition is over; the alarm stays open for a person to sign, but is no longer live risk
            level = 0 if kind in ("resolved", "cleared") else int(Severity.parse(a["severity"]))
            return AlarmChange(
                float(ev["at"]),
                a["id"],
                a["enterprise"],
                a["device"],
                a["point"],
                a["rule"],
                level,
                self.kinds.get((a["enterprise"], a["device"], a["point"]), ""),
                kind == "raised",
            )
        except (KeyError, TypeError, ValueError):
            log.warning("risk feed: skipped an event that is not an alert event: %.200r", ev)
            return None

    async def _timer(self) -> None:
        while True:
            await asyncio.sleep(self.tick_every)
            try:
                await self.tick()
            except (OSError, asyncpg.PostgresError, risk_store.StaleItems) as exc:  # store away, item busy: next tick
                log.warning("risk tick failed: %s", exc)

    def _mark(self, scope: Scope | None = None) -> _Whole | _Part:
        """What :meth:`_rewind` puts back: the model, the loop and ``item_of``, whole (``scope``
        None: a tick) or for the decision's scope only. A whole mark costs the district's size
        (10 ms at 2,000 open alarms in bench/risk_mark_bench.py, and the event loop waits); a
        scoped one costs the few enterprises a feed batch or an officer's step decides for.
        ``closed`` is not marked: it only grows by closes the store committed or reports, which
        no undo takes back."""
        if scope is None:
            return _Whole(self.model.snapshot(), self.loop.snapshot(), dict(self.item_of))
        names, ids = scope
        return _Part(
            names, self.model.snapshot_part(names), self.loop.snapshot_part(names, ids), hold(self.item_of, names)
        )

    def _rewind(self, mark: _Whole | _Part) -> None:
        """Undo the decisions of a step whose rows did not commit: the next tick takes them again
        (same due times, same ids), so a store outage delays a step and loses none."""
        if isinstance(mark, _Whole):
            self.model.restore(mark.model)
            self.loop.restore(mark.loop)
            self.item_of = mark.item_of
            return
        self.model.restore_part(mark.model)
        self.loop.restore_part(mark.loop)
        order, held = mark.item_of
        self.item_of = put_back(self.item_of, order, held, mark.enterprises)

    async def tick(self) -> None:
        now = self.clock()
        async with self.lock:
            await self._sync()
            await self._guarded(lambda: self._tick(now))

    async def _tick(self, now: float) -> None:
        """The timers' step; :meth:`_guarded` undoes it whole when it did not commit."""
        if now - self.last_cleaning >= 60.0:
            await self._cleaning(now)
            self.last_cleaning = now
        await self._handle(self.model.tick(now), now)
        events = self.loop.tick(now)  # an item signed elsewhere was read again: no escalation
        if events:
            await self._write(events)

    # -- the shared record ---------------------------------------------------------------------
    # Every gateway runs this service; the store is the loop's record. A step is decided on the
    # items in memory and written guarded (warning.store.risk.record: its step takes the next
    # seq of the item or nothing is written). When another gateway moved an item first, the
    # whole decision is undone, the items are read again and it is taken once more: a timer
    # whose item was signed meanwhile then finds nothing due, a second sign is a no-op, a
    # review of a reply returned elsewhere is refused (409). Between steps each tick reads
    # which items moved (one query), so every gateway's timers and model context follow the
    # others' steps within a tick; the guard, not that read, is what keeps one step per seq.
    async def _guarded(
        self,
        decide: Callable[[], Awaitable[T]],
        refused: str | None = None,
        scope: Callable[[], Scope] | None = None,
    ) -> T:
        """Run ``decide`` (under ``self.lock``); if its rows did not commit, undo its decisions
        (model, loop, items); if they were stale, read the items named and decide again.
        ``refused``: an item a person acts on: a refusal (LoopError) on a picture of it that the
        store has moved past is also taken again on the fresh one (signed on another gateway:
        the reply here is allowed). ``scope``: what this decision can touch, asked before each
        try (a re-read can bring the item an officer acts on); None: mark everything. Every
        way out by an exception has undone the try it ends (the re-reads between tries stay:
        they are the store's picture, and ``closed`` has taken their closes already)."""
        for _ in range(MAX_TRIES):
            mark = self._mark(None if scope is None else scope())
            try:
                return await decide()
            except risk_store.StaleItems as exc:
                self._rewind(mark)
                await self._refresh(exc.ids)
            except LoopError:
                self._rewind(mark)
                if refused is None or not await self._moved([refused]):
                    raise
            except BaseException:
                self._rewind(mark)
                raise
        raise risk_store.StaleItems(set())  # moved on every try: the caller's error path (retry later)

    async def _moved(self, ids: list[str] | None = None) -> list[str]:
        """Read again the items another gateway moved (``ids``: only these); returns their ids."""
        held = {i: len(it.steps) for i, it in self.loop.items.items()}
        async with self.pool.acquire() as conn:
            stale = await risk_store.moved(conn, held)
        if ids is not None:
            stale = [i for i in stale if i in ids]
        if stale:
            await self._refresh(set(stale))
        return stale

    async def _sync(self) -> None:
        """Before the timers run: follow the steps other gateways took (a failure waits for the next tick)."""
        try:
            await self._moved()
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("risk: could not read the other gateways' steps: %s", exc)

    async def _refresh(self, ids: set[str]) -> None:
        """Take these items as the store has them: a closed (or unknown) one leaves the loop."""
        async with self.pool.acquire() as conn:
            got = await risk_store.items(conn, list(ids))
        for iid in ids:
            it = got.get(iid)
            if it is None or it.state is State.CLOSED:
                self.loop.items.pop(iid, None)
                for e in [e for e, i in self.item_of.items() if i == iid]:
                    del self.item_of[e]
                if it is not None:
                    self._closed(iid)
                continue
            self.loop.items[iid] = it
            held = self.item_of.get(it.enterprise)
            if it.kind == "warning" and (held is None or held not in self.loop.items):
                self.item_of[it.enterprise] = iid

    def _closed(self, iid: str) -> None:
        self.closed[iid] = None
        while len(self.closed) > CLOSED_KEPT:
            del self.closed[next(iter(self.closed))]

    def _not_reopening(self, events: list[LoopEvent]) -> list[LoopEvent]:
        """Drop the events of an item already closed (a safety net: ``follow`` names the new
        item of a warning that outlived its closed one by the rise's event id). Opening a closed
        id again would take the closed record's first seq (stale forever). The item leaves the
        loop again."""
        gone = {ev.item.id for ev in events if ev.item.id in self.closed}
        if not gone:
            return events
        for iid in gone:
            self.loop.items.pop(iid, None)
            for e in [e for e, i in self.item_of.items() if i == iid]:
                del self.item_of[e]
        log.info("risk: not reopening closed items %s", sorted(gone))
        return [ev for ev in events if ev.item.id not in gone]

    async def _cleaning(self, now: float) -> None:
        async with self.pool.acquire() as conn:
            areas = await risk_store.areas(conn, None)
        late = overdue(areas, now)
        out: list[WarningEvent] = []
        for eid in set(late) | {e for e, s in self.model.ents.items() if s.overdue_areas}:
            out += self.model.set_context(eid, now, overdue_areas=len(late.get(eid, ())))
        await self._handle(out, now)
        await self._cleaning_alarms(areas, late, now)

    async def _cleaning_alarms(self, areas: list[dict], late: dict[str, list[str]], now: float) -> None:
        """An overdue area is an alarm of its own (besides the model's context term): raised
        through the runtime on ``<enterprise>/cleaning/<area>``, so it escalates, notifies and is
        signed for like any other; a cleaning recorded clears and lifts it, by who checked in."""
        if self.runtime is None or self.config.cleaning_alarm is None:
            return
        if self.cleaning_raised is None:  # after a start: the open ones in the store
            async with self.pool.acquire() as conn:
                rows = await conn.fetch(
                    "SELECT enterprise, point FROM alerts WHERE device = $1 AND rule = $2 AND state <> 'resolved'",
                    CLEANING_DEVICE,
                    CLEANING_RULE,
                )
            self.cleaning_raised = {(r["enterprise"], r["point"]) for r in rows}
        by_key = {(a["enterprise"], a["area"]): a for a in areas}
        now_late = {(e, area) for e, names in late.items() for area in names if e in self.site.enterprises}
        sev = Severity.parse(self.config.cleaning_alarm)
        for e, area in sorted(now_late - self.cleaning_raised):
            a = by_key[(e, area)]
            since = (a["last_at"] or now - a["interval_s"]) + a["interval_s"]
            text = translate(
                "dust cleaning overdue: area {area}, due every {hours} h, last cleaned {last}",
                None,
                area=area,
                hours=f"{a['interval_s'] / 3600:g}",
                last=local(a["last_at"], self.site.timezone) if a["last_at"] else translate("never", None),
            )
            await self.runtime.finding(
                SystemFinding(CLEANING_DEVICE, area, CLEANING_RULE, sev, round((now - since) / 3600, 2), text, now, e)
            )
            self.cleaning_raised.add((e, area))
        for e, area in sorted(self.cleaning_raised - now_late):
            gone = by_key.get((e, area))  # None: the area was removed
            who = (gone or {}).get("last_who") or "system"
            note = translate("dust cleaning recorded by {who}", None, who=who)
            await self.runtime.finding(SystemFinding(CLEANING_DEVICE, area, CLEANING_RULE, None, 0.0, note, now, e))
            async with self.pool.acquire() as conn:
                aid = await conn.fetchval(
                    "SELECT id FROM alerts WHERE enterprise = $1 AND device = $2 AND point = $3 AND rule = $4 "
                    "AND state <> 'resolved'",
                    e,
                    CLEANING_DEVICE,
                    area,
                    CLEANING_RULE,
                )
            if aid is not None:
                with contextlib.suppress(AlertNotFound, AlertError):  # a person lifted it meanwhile
                    await self.runtime.act("resolve", aid, who, note)
            self.cleaning_raised.discard((e, area))

    # -- model -> loop -------------------------------------------------------------------------
    async def _handle(self, events: list[WarningEvent], now: float) -> None:
        loop_events: list[LoopEvent] = []
        explain: dict[str, tuple[float, list[dict]]] = {}
        for we in events:
            w = we.warning
            ent = self.site.enterprises.get(w.enterprise)
            street = (ent.street or None) if ent is not None else None
            out, item = follow(self.loop, self.item_of, we, street, self.closed)  # one warning per enterprise at a time
            loop_events += out
            if item is not None and we.kind is not WarningKind.CLEARED:
                explain[item] = (w.score, [f.to_json() for f in w.factors])
        if loop_events:
            await self._write(loop_events, explain)

    async def _write(self, events: list[LoopEvent], explain: dict | None = None) -> None:
        events = self._not_reopening(events)
        if not events:
            return
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                await risk_store.record(conn, events, explain)
                await notify_store.enqueue(conn, [n for ev in events for n in self._pushes(ev)])
        for ev in events:
            if ev.item.state.value == "closed" and self.item_of.get(ev.item.enterprise) == ev.item.id:
                del self.item_of[ev.item.enterprise]
            if ev.item.state.value == "closed":
                self._closed(ev.item.id)
        late = unclosed(self.loop)
        more: list[WarningEvent] = []
        for e in {ev.item.enterprise for ev in events}:
            more += self.model.set_context(e, events[-1].at, unclosed=late.get(e, 0))
        if more:  # the context moved a level (or opened one): the loop hears of it too
            await self._handle(more, events[-1].at)

    def _pushes(self, ev: LoopEvent) -> list:
        return self._people(ev) + self._upstream(ev)

    def _upstream(self, ev: LoopEvent) -> list[Notification]:
        """The platform above (``upstream`` channels with ``risk = true``) hears every step of a
        risk warning, one message each, by the step's stable id (warning/platforms/push.py)."""
        it = ev.item
        if it.kind != "warning" or it.level not in LEVELS:
            return []
        chans = [
            ch
            for ch in self.site.channels
            if ch.type == UPSTREAM
            and ch.options.get("risk") is True
            and LEVELS.index(it.level) + 1 >= int(Severity.parse(ch.min_severity))
            and (not ch.options.get("enterprises") or it.enterprise in ch.options["enterprises"])
        ]
        if not chans:
            return []
        step = it.steps[-1] if it.steps and it.steps[-1].action == ev.action else None
        ent = self.site.enterprises.get(it.enterprise)
        name = ent.name if ent is not None else it.enterprise
        payload = {
            "id": ev.id,
            "kind": f"risk:{ev.action}",
            "at": ev.at,
            "warning": {
                "item": it.id,
                "action": ev.action,
                "enterprise": it.enterprise,
                "street": it.street,
                "level": it.level,
                "state": it.state.value,
                "message": f"{name}: {LEVEL_ZH[it.level]}风险预警",
                "actor": step.actor if step else None,
                "note": step.note if step else None,
                "data": ev.data,
            },
        }
        kind = f"upstream:risk:{ev.action}"
        return [Notification(ev.id, ch.id, it.id, kind, ((ev.id, it.id),), payload) for ch in chans]

    def _people(self, ev: LoopEvent) -> list[tuple[str, str, dict]]:
        """一码推送: the enterprise's responsible person and the tiers hear of openings, rises,
        escalations and returns, on every channel the level reaches."""
        if ev.action not in ACTION_ZH:
            return []
        if ev.action == "level":  # a rise is pushed, a fall is not
            was, now = (ev.data or {}).get("from"), ev.item.level
            if was not in LEVELS or now not in LEVELS or LEVELS.index(now) <= LEVELS.index(was):
                return []
        it = ev.item
        level = it.level if it.level in LEVELS else "yellow"  # a report pushes as yellow
        ent = self.site.enterprises.get(it.enterprise)
        name = ent.name if ent is not None else it.enterprise
        what = LEVEL_ZH[it.level] + ("风险预警" if it.kind == "warning" else "")
        message = f"{name}: {what} {ACTION_ZH[ev.action]}"
        payload: dict = {
            "id": ev.id,
            "kind": "escalated" if ev.action == "escalate" else "raised",
            "at": ev.at,
            "risk": {"item": it.id, "kind": it.kind, "action": ev.action},
            "alert": {
                "id": it.id,
                "enterprise": it.enterprise,
                "device": what,
                "point": "",
                "rule": "risk",
                "severity": level,
                "message": message,
                "holder": None,
            },
        }
        if ev.action == "escalate" and ev.data:
            payload["tier"] = {
                "name": TIER_ZH.get(ev.data["tier_name"], ev.data["tier_name"]),
                "id": ev.data["tier_name"],
                "street": it.street,
            }
        sev = LEVELS.index(level) + 1
        # opt-in per channel (``risk = true`` in its [[channels]] entry): the alert channels'
        # receivers and counts stay as they were unless a site asks for warnings there too
        return [
            (f"{ev.id}-{ch.id}", ch.id, payload)
            for ch in self.site.channels
            if ch.type != UPSTREAM and ch.options.get("risk") is True and sev >= int(Severity.parse(ch.min_severity))
        ]

    # -- people --------------------------------------------------------------------------------
    async def act(self, item_id: str, action: str, actor: str, **kw) -> list[LoopEvent]:
        """sign / reply / review on an open item; raises LoopError (409) when it cannot be taken."""
        async with self.lock:
            now = self.clock()
            # refused or not stored: nothing happened (undone); taken on a stale picture: again
            return await self._guarded(
                lambda: self._act(item_id, action, actor, now, kw),
                refused=item_id,
                scope=lambda: self._item_scope(item_id),
            )

    def _item_scope(self, item_id: str) -> Scope:
        """An officer's step on an item decides for the item and its enterprise: the step
        replaces the item (or closes it), and its write sets that enterprise's context, which
        can move its warning and so its warning item."""
        it = self.loop.items.get(item_id)
        return frozenset(() if it is None else (it.enterprise,)), frozenset((item_id,))

    async def _act(self, item_id: str, action: str, actor: str, now: float, kw: dict) -> list[LoopEvent]:
        if action == "sign":
            events = self.loop.sign(item_id, actor, now, kw.get("note"))
        elif action == "reply":
            events = self.loop.reply(
                item_id,
                actor,
                now,
                cause=kw["cause"],
                measures=kw["measures"],
                verdict=kw["verdict"],
                photos=kw.get("photos"),
            )
        elif action == "review":
            events = self.loop.review(item_id, actor, now, close=kw["close"], note=kw.get("note"))
        else:
            raise LoopError(Text.of("unknown action {action}", action=repr(action)))
        if events:
            await self._write(events)
        return events

    async def report(
        self, item_id: str, enterprise: str, text: str, contact: str | None, address: str, photo: dict | None
    ) -> None:
        """A hazard report (一码发现) becomes an item of the loop, the enterprise's street's."""
        ent = self.site.enterprises[enterprise]
        async with self.lock:
            now = self.clock()
            mark = self._mark((frozenset(), frozenset((item_id,))))  # the opening adds this item alone
            try:
                events = self.loop.open(
                    item_id,
                    "report",
                    enterprise,
                    ent.street or None,
                    "report",
                    now,
                    note=text,
                    data={"photo": photo} if photo else None,
                )
                async with self.pool.acquire() as conn:
                    async with conn.transaction():
                        await risk_store.record(conn, events)
                        await risk_store.add_reporter(conn, item_id, text, contact, address)
                        await notify_store.enqueue(conn, [n for ev in events for n in self._pushes(ev)])
            except BaseException:
                # not stored: the item must not stay in memory, where its timers would write steps
                # for a row the store has not got (refused, and every tick's writes with them)
                self._rewind(mark)
                raise
