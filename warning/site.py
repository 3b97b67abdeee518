"""The site's nouns: enterprises, devices, points, users, channels and the alerting policy.

Pure data, no I/O: :mod:`warning.config` reads the TOML files and the environment into these.
Point ids are dense integers in file order; the store maps them to its own stable ids (see
``store.registry``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .basemap import Basemap
from .model import PointRef
from .platforms.settings import Platforms
from .policy.policies import Policy

ROLES = ("officer", "viewer", "admin", "enterprise")  #: enterprise users see one enterprise only
CHANNEL_TYPES = ("log", "webhook", "wecom", "dingtalk", "feishu", "email", "sms", "upstream")  # see docs/alerting.md
DEFAULT_TIMEZONE = "Asia/Shanghai"  #: how a time written without a zone is read (warning.times)


@dataclass(frozen=True, slots=True)
class PointDef:
    ref: PointRef
    kind: str
    unit: str
    title: str
    detectors: tuple[dict, ...]  #: detector specs after overrides
    code: str | None = None  #: the platforms' point code (provincial ``tnm``), from the device's ``codes``
    precision: int | None = None  #: decimals shown in messages (kind's ``precision``; None: by unit)


@dataclass(frozen=True, slots=True)
class Street:
    """A street or town (街镇): the tier between the district and its enterprises."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Dust:
    """A combustible dust an enterprise works with, and its explosion class (e.g. St1, St2, St3)."""

    kind: str
    explosion_class: str = ""


@dataclass(frozen=True, slots=True)
class Collectors:
    """An enterprise's dust-removal systems: how many, dry or wet, of which type (e.g. 布袋除尘)."""

    count: int = 0
    wet: bool = False
    type: str = ""


@dataclass(frozen=True, slots=True)
class Enterprise:
    id: str
    name: str
    token_digests: tuple[str, ...]
    location: tuple[float, float] | None = None
    dust: str = ""
    devices: tuple[str, ...] = ()
    # The ledger (台账, issue 14): every field optional so a site file may declare only the above.
    credit_code: str | None = None  #: 统一社会信用代码, check digit verified (warning.ledger.credit)
    address: str = ""
    street: str | None = None  #: a Street id of Site.streets (with a map, the street's name is one of its streets)
    industry: str = ""
    dusts: tuple[Dust, ...] = ()
    dust_workers: int = 0  #: people working with dust
    collectors: Collectors = Collectors()
    contact_name: str = ""  #: the responsible person
    contact_phone: str = ""
    risk_grade: str = ""  #: the static risk grade (warning.ledger.RISK_GRADES)
    code: str | None = None  #: the platforms' enterprise code (provincial ``qybm``)


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str
    password: str | None  #: scrypt hash, see ``warning.security``
    api_token_digest: str | None = None
    enterprise: str | None = None  #: the one enterprise an ``enterprise`` user may see
    locale: str | None = None  #: the language this user reads (zh-CN, en); None: Accept-Language, then zh-CN
    streets: tuple[str, ...] = ()  #: an officer's or viewer's streets (Street ids): empty means the district


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    type: str
    min_severity: str = "blue"
    options: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Retention:
    """How long each kind of stored data is kept (``[retention]`` in the site file; see
    warning.store.retention, which drops whole time partitions)."""

    raw_days: int | None = 365  #: packed readings (None: for ever)
    rollup_days: int | None = None
    message_days: int = 7  #: de-duplication horizon
    dead_letter_days: int | None = 90
    batch_time_days: int = 7  #: arrival times of group commits (and never before every checkpoint covers them)

    def keep_days(self, table: str) -> int | None:
        return {
            "readings_packed": self.raw_days,
            "rollups": self.rollup_days,
            "messages": self.message_days,
            "dead_letters": self.dead_letter_days,
            "batch_times": self.batch_time_days,
        }[table]

    @classmethod
    def from_dict(cls, raw: dict | None) -> Retention:
        """From a site file's ``[retention]`` table (``raw_days``, ``rollup_days``,
        ``message_days``, ``dead_letter_days``, ``batch_time_days``; 0 or absent rollups: for ever)."""
        raw = dict(raw or {})
        unknown = set(raw) - {"raw_days", "rollup_days", "message_days", "dead_letter_days", "batch_time_days"}
        if unknown:
            raise ValueError(f"retention: unknown keys {sorted(unknown)}")

        def days(key: str, default: int | None) -> int | None:
            v = raw.get(key, default)
            if v is None or v == 0:
                return None
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"retention.{key} must be a whole number of days >= 1 (0: for ever)")
            return v

        msg = days("message_days", 7)
        if msg is None:
            raise ValueError("retention.message_days must be >= 1")
        arrivals = days("batch_time_days", 7)
        if arrivals is None:
            raise ValueError("retention.batch_time_days must be >= 1")
        return cls(days("raw_days", 365), days("rollup_days", None), msg, days("dead_letter_days", 90), arrivals)


@dataclass(frozen=True)
class Site:
    name: str
    offline_after: float  #: seconds without data before a device is reported offline
    enterprises: dict[str, Enterprise]
    points: tuple[PointDef, ...]
    users: dict[str, User]
    channels: tuple[Channel, ...]
    policy: Policy = field(default_factory=Policy)  #: escalation, rosters, noise control
    timezone: str = DEFAULT_TIMEZONE  #: IANA name; a time written without a zone is read here
    streets: dict[str, Street] = field(default_factory=dict)  #: street id -> street (街镇)
    basemap: Basemap | None = None  #: the risk map's outline and streets (``[site] map``), see warning.basemap
    platforms: Platforms | None = None  #: the platforms' inbound formats, gateways and point codes
    retention: Retention = field(default_factory=Retention)  #: ``[retention]``: how long stored data is kept

    def in_streets(self, streets: tuple[str, ...] | frozenset[str]) -> frozenset[str]:
        """The ids of the enterprises that belong to any of ``streets``."""
        wanted = set(streets)
        return frozenset(e.id for e in self.enterprises.values() if e.street in wanted)

    def alert_policy(self) -> Policy:
        """The policy, its rosters and windows read in the site's ``timezone`` (one zone per site:
        a Site built with another zone than its policy's gets the site's)."""
        if self.policy.timezone == self.timezone:
            return self.policy
        return replace(self.policy, timezone=self.timezone)

    def point_index(self) -> dict[tuple[str, str, str], int]:
        """(enterprise, device, point) -> index into ``points``."""
        return {(p.ref.enterprise, p.ref.device, p.ref.point): i for i, p in enumerate(self.points)}

    def devices(self) -> list[tuple[str, str]]:
        return [(e.id, d) for e in self.enterprises.values() for d in e.devices]
