"""From alert events to notifications: tiers, silences, inhibition, grouping, throttling. Pure.

``route(events, now)`` and ``tick(now)`` return :class:`Notification` s; the runtime writes
them to the durable outbox in the same transaction as the events. Time comes in as data.

* **Who hears what.** A channel listed in an escalation tier hears an alert when the alert
  reaches that tier (raise: tier 0; each escalation: its tier). A channel in no tier hears
  every raise, escalation and severity rise, as before. ``min_severity`` filters; a channel
  with ``enterprises = [...]`` hears only those; ``to_enterprise = true`` sends to the
  enterprise's own contact (一码推送) and is skipped for enterprises without one. Only the
  lifecycle webhook hears every step: signing-for, handling, feedback, clearing, falls and
  lifting too. Nothing else is sent about a signed-for alert unless its condition, once
  cleared, comes back: that is news again.
* **Red never waits.** A raise, rise or escalation at orange or red goes out at once, whatever
  a group window holds back for blue and yellow (``max_per_minute`` still applies: it is the
  receiver's limit). An escalation's level is its alert's peak (:func:`level_of`).
* **Noise.** A silenced or inhibited alert is not notified (it is still stored and shown).
  Per (enterprise, channel) the first blue or yellow alert goes out at once and opens a group window of
  ``group_interval``; alerts inside the window wait and leave together as one ``group``
  message when it ends, and the next window opens then, so a flood gives at most one
  message per interval per channel. Escalations are grouped the same way, per step, in
  windows of their own (so an alert's escalation is never held behind its own raise). ``max_per_minute`` on a channel throttles it across
  enterprises the same way (held, then sent as one group).
* **Once.** Every notification names the event ids it covers (``items``); the store keeps
  which (channel, event) pairs were notified and drops repeats, so a replay after a crash,
  whatever windows it sees, never notifies an event twice on one channel, and loses none.
  Nothing is sent about an alert once it has been signed for, including held group items.

Sharp edges: windows follow ``now`` (arrival time), not reading time; silences are not in
the snapshot (the runtime reloads them from the store); the throttle's send times are not
either, so a restart allows one burst.
"""

from __future__ import annotations

import hashlib
import pickle
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..labels import Labels
from ..model import AlertEvent, AlertState, EventKind, Severity
from ..site import Channel
from .policies import Policy
from .silences import Silence, muting

LIFECYCLE_TYPES = ("webhook",)
UPSTREAM = "upstream"  #: the platform above: see :meth:`Router.goes_up`
PUSHED = ("raised", "updated", "acknowledged", "handling", "feedback", "cleared", "resolved")  #: event kinds sent up
LIFECYCLE_KINDS = (
    EventKind.ACKNOWLEDGED,
    EventKind.HANDLING,
    EventKind.FEEDBACK,
    EventKind.CLEARED,
    EventKind.RESOLVED,
)
GROUP_SHOWN = 20  #: alerts listed in a group message; the count covers all
URGENT = Severity.ORANGE  #: raises and rises at this level or above never wait in a group window


def level_of(e: AlertEvent) -> Severity:
    """The level an event is news at. An escalation enforces the sign-for deadline of the
    worst level its alert reached (``AlertEngine.tick`` times it by ``Alert.worst``), so it
    is filtered and hurried at that level: a red that fell back to yellow unsigned escalates
    as a red. Every other event, at the alert's current level."""
    return e.alert.worst if e.kind is EventKind.ESCALATED else e.alert.severity


@dataclass(frozen=True, slots=True)
class Notification:
    id: str  #: outbox key: the event id for a single message, a digest of the items for a group
    channel: str
    alert_id: str  #: the (first) alert it is about
    kind: str  #: the event kind, or "group"
    items: tuple[tuple[str, str], ...]  #: (event id, alert id) of each event it covers
    payload: dict


def _digest(*parts) -> str:
    return hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=10).hexdigest()


class Router:
    def __init__(self, policy: Policy, channels: Sequence[Channel], labels: Labels | None = None):
        self.policy = policy
        self.channels = tuple(channels)
        self.labels = labels or Labels()  #: names, titles and the public link put into every payload
        self.tier_of = policy.tier_channels()
        self._targets = {p for i in policy.inhibit for p in i.target_points}
        self._sources = {i.source_point: i.target_points for i in policy.inhibit}
        self.silences: tuple[Silence, ...] = tuple(
            Silence(f"config:{w.id}", w.matchers, 0.0, float("inf"), w.author, w.reason, w.cron.expr, w.duration)
            for w in policy.windows
        )
        self._config_silences = self.silences
        # state (in the snapshot, by enterprise)
        self.alerts: dict[str, tuple[str, Severity, bool]] = {}  #: alert id -> (enterprise, severity, still notifiable)
        self.inhibitors: dict[tuple[str, str], dict[str, str]] = {}  #: (enterprise, device) -> {alert id: point}
        self.windows: dict[tuple[str, str, str], list] = {}  #: (enterprise, channel, tag) -> [start, pending items]
        self.backlog: dict[str, list] = {}  #: channel -> throttled items
        self._sent: dict[str, deque] = {}  #: channel -> send times in the last minute (not snapshotted)
        self.suppressed: dict[str, int] = {"silenced": 0, "inhibited": 0}

    @property
    def config_silences(self) -> tuple[Silence, ...]:
        """The configuration's recurring maintenance windows, as silences."""
        return self._config_silences

    def set_silences(self, silences: Sequence[Silence]) -> None:
        """Replace the API's silences (the configuration's maintenance windows stay)."""
        self.silences = self._config_silences + tuple(silences)

    # -- routing ---------------------------------------------------------------------------------
    def route(self, events: Sequence[AlertEvent], now: float) -> list[Notification]:
        out: list[Notification] = []
        for e in events:  # inhibitors first: a vent and its pressure drop often arrive together
            a = e.alert
            if a.point in self._sources:
                held = self.inhibitors.setdefault((a.enterprise, a.device), {})
                if a.state is AlertState.RESOLVED:
                    held.pop(a.id, None)
                else:
                    held[a.id] = a.point
        for e in events:
            a = e.alert
            before = self.alerts.get(a.id)
            recurred = e.kind is EventKind.UPDATED and bool((e.data or {}).get("recurred"))
            for ch in self.channels:
                if ch.type == UPSTREAM:
                    if self.goes_up(ch, e):
                        out.append(
                            Notification(e.id, ch.id, a.id, f"upstream:{e.kind.value}", ((e.id, a.id),), e.to_json())
                        )
                    continue
                if not self.wants(ch, e, before[1] if before else None):
                    continue
                payload = self._payload(ch, e)
                if payload is None:
                    continue
                item = (e.id, a.id, e.kind.value, payload)
                if e.kind in LIFECYCLE_KINDS or not self.for_people(e, before[1] if before else None):
                    out.append(self._single(ch.id, item))  # the lifecycle webhook hears every step
                    continue
                why = self._muted(e, now)
                if why:
                    self.suppressed[why] += 1
                    continue
                tag = f"step{(e.data or {}).get('step', 0)}" if e.kind is EventKind.ESCALATED else "raise"
                key = (a.enterprise, ch.id, tag)
                if level_of(e) >= URGENT:
                    # Red never waits: orange and red go out at once whatever a group window holds
                    # for lower levels; a window is opened (if none is) so that what follows groups.
                    if self.policy.group_interval > 0:
                        self.windows.setdefault(key, [now, []])
                    out += self._throttled(ch, self._single(ch.id, item), item, now)
                    continue
                out += self._grouped(ch, key, item, now)
            if a.state is AlertState.RESOLVED:
                self.alerts.pop(a.id, None)
            else:
                self.alerts[a.id] = (a.enterprise, a.severity, a.state is AlertState.ACTIVE or recurred)
        return out

    def tick(self, now: float) -> list[Notification]:
        """Close group windows that have ended (sending what they held) and drain throttled backlogs."""
        out: list[Notification] = []
        interval = self.policy.group_interval
        for key, w in list(self.windows.items()):
            if now >= w[0] + interval:
                out += self._flush(key, w, now)
        for ch_id in list(self.backlog):
            ch = next((c for c in self.channels if c.id == ch_id), None)
            if ch is not None and self._room(ch, now):
                items = self._live(self.backlog.pop(ch_id))
                if items:
                    out.append(self._take(ch, self._group(ch_id, "*", items, now), now))
            elif ch is None:
                self.backlog.pop(ch_id)
        return out

    @staticmethod
    def goes_up(ch: Channel, e: AlertEvent) -> bool:
        """An ``upstream`` channel (the platform above) hears every raise, severity change, signing
        for, handling, feedback and lifting of the alerts at its level, one message per event:
        a record for the regulator, so never grouped, silenced, inhibited or cancelled."""
        a = e.alert
        if a.rule == "dead_letter" or e.kind.value not in PUSHED:
            return False
        only = ch.options.get("enterprises")
        if only and a.enterprise not in only:
            return False
        return a.severity >= Severity.parse(ch.min_severity)

    @staticmethod
    def for_people(e: AlertEvent, previous: Severity | None) -> bool:
        """Whether ``e`` is news for the people's channels: a raise, an escalation or a rise of an
        unsigned alert, or the condition coming back (signed for or not: it is the news a new
        alert used to be before alerts stayed open until lifted)."""
        a = e.alert
        if e.kind in LIFECYCLE_KINDS:
            return False
        if e.kind is EventKind.UPDATED:
            if (e.data or {}).get("recurred"):
                return True
            rise = previous is None or a.severity > previous
            return rise and a.state is AlertState.ACTIVE
        return a.state is AlertState.ACTIVE

    def wants(self, ch: Channel, e: AlertEvent, previous: Severity | None) -> bool:
        a = e.alert
        if a.rule == "dead_letter" and a.point == ch.id:
            return False  # never report a dead channel through itself
        only = ch.options.get("enterprises")
        if only and a.enterprise not in only:
            return False
        if not self.for_people(e, previous):
            return ch.type in LIFECYCLE_TYPES
        if level_of(e) < Severity.parse(ch.min_severity):
            return False
        tier = self.tier_of.get(ch.id)
        if e.kind is EventKind.RAISED:
            return tier is None or tier == 0
        if e.kind is EventKind.ESCALATED:
            return tier is None or tier == (e.data or {}).get("tier", a.tier)
        if e.kind is EventKind.UPDATED:
            return tier is None or tier <= a.tier
        return False

    def _payload(self, ch: Channel, e: AlertEvent) -> dict | None:
        p = self.labels.add_to(e.to_json())
        tier = self.tier_of.get(ch.id)
        if tier is not None and self.policy.tiers:
            t = self.policy.tiers[tier]
            p["tier"] = {"index": tier, "name": t.name}
            person = self.policy.on_duty(t.roster, e.at)
            if person:
                p["recipient"] = person
        if ch.options.get("to_enterprise"):
            contact = self.policy.contacts.get(e.alert.enterprise)
            if not contact:
                return None
            p["contact"] = contact
        return p

    def _muted(self, e: AlertEvent, now: float) -> str | None:
        """Why ``e`` must not be notified now, or None. Silences are judged at ``now`` (when the
        message would go), not at the reading's time, which may lag."""
        a = e.alert
        if a.point in self._targets:
            for point in self.inhibitors.get((a.enterprise, a.device), {}).values():
                if a.point in self._sources.get(point, ()):
                    return "inhibited"
        if self.silences and muting(self.silences, a, now, self.policy.timezone) is not None:
            return "silenced"
        return None

    # -- grouping and throttling ----------------------------------------------------------------
    def _grouped(self, ch: Channel, key: tuple, item, now: float) -> list[Notification]:
        """Group by ``key`` = (enterprise, channel, tag): raises and each escalation step have
        their own windows, so one alert's next escalation step is never held behind its raise."""
        interval = self.policy.group_interval
        if interval <= 0:
            return self._throttled(ch, self._single(ch.id, item), item, now)
        out: list[Notification] = []
        w = self.windows.get(key)
        if w is not None and now >= w[0] + interval:
            out += self._flush(key, w, now)
            w = self.windows.get(key)
        if w is None:
            self.windows[key] = [now, []]
            out += self._throttled(ch, self._single(ch.id, item), item, now)
        else:
            w[1].append(item)
        return out

    def _flush(self, key, w, now: float) -> list[Notification]:
        items = self._live(w[1])
        if not items:
            del self.windows[key]
            return []
        self.windows[key] = [now, []]
        ch = next((c for c in self.channels if c.id == key[1]), None)
        if ch is None:
            return []
        n = self._group(ch.id, key[0], items, now)
        return self._throttled(ch, n, None, now, items)

    def _live(self, items: list) -> list:
        """Held items whose alert can still be notified (not signed for, not lifted)."""
        return [it for it in items if self.alerts.get(it[1], (None, None, False))[2]]

    def _throttled(self, ch: Channel, n: Notification, item, now: float, items=None) -> list[Notification]:
        if self._room(ch, now):
            return [self._take(ch, n, now)]
        self.backlog.setdefault(ch.id, []).extend(items if items is not None else [item])
        return []

    def _room(self, ch: Channel, now: float) -> bool:
        limit = ch.options.get("max_per_minute")
        if not limit:
            return True
        sent = self._sent.setdefault(ch.id, deque())
        while sent and sent[0] <= now - 60:
            sent.popleft()
        return len(sent) < int(limit)

    def _take(self, ch: Channel, n: Notification, now: float) -> Notification:
        if ch.options.get("max_per_minute"):
            self._sent.setdefault(ch.id, deque()).append(now)
        return n

    @staticmethod
    def _single(ch_id: str, item) -> Notification:
        eid, aid, kind, payload = item
        return Notification(eid, ch_id, aid, kind, ((eid, aid),), payload)

    def _group(self, ch_id: str, enterprise: str, items: list, now: float) -> Notification:
        ids = tuple(it[0] for it in items)
        pairs = tuple((it[0], it[1]) for it in items)
        shown = [it[3] for it in items[:GROUP_SHOWN]]
        worst = max((p["alert"]["severity"] for p in shown), key=lambda s: Severity.parse(s))
        payload = {
            "id": _digest("group", ch_id, *ids),
            "kind": "group",
            "at": now,
            "enterprise": enterprise,
            "enterprise_name": self.labels.enterprises.get(enterprise, enterprise),
            "timezone": self.labels.timezone,
            "count": len(items),
            "severity": worst,
            "events": shown,
            "event_ids": list(ids),
        }
        return Notification(payload["id"], ch_id, items[0][1], "group", pairs, payload)

    # -- state -----------------------------------------------------------------------------------
    def snapshot(self, mine: Callable[[str], bool] | None = None) -> bytes:
        mine = mine or (lambda e: True)
        state = {
            "alerts": {k: v for k, v in self.alerts.items() if mine(v[0])},
            "inhibitors": {k: v for k, v in self.inhibitors.items() if mine(k[0])},
            "windows": {k: v for k, v in self.windows.items() if mine(k[0])},
            "backlog": {
                c: [it for it in items if mine(it[3]["alert"]["enterprise"])] for c, items in self.backlog.items()
            },
        }
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)

    def restore(self, data: bytes, mine: Callable[[str], bool] | None = None) -> None:
        mine = mine or (lambda e: True)
        s = pickle.loads(data)
        self.alerts = {k: v for k, v in self.alerts.items() if not mine(v[0])} | s["alerts"]
        self.inhibitors = {k: v for k, v in self.inhibitors.items() if not mine(k[0])} | s["inhibitors"]
        self.windows = {k: v for k, v in self.windows.items() if not mine(k[0])} | s["windows"]
        backlog = {
            c: [it for it in items if not mine(it[3]["alert"]["enterprise"])] for c, items in self.backlog.items()
        }
        for c, items in s["backlog"].items():
            backlog.setdefault(c, []).extend(items)
        self.backlog = {c: items for c, items in backlog.items() if items}
