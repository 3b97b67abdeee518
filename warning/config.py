"""Load and validate the site's configuration: kinds, enterprises, devices, points, users, channels.

The result is an immutable :class:`Site`. Point ids are dense integers in file order;
the store maps them to its own stable ids (see ``store.registry``).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from detectors.chain import build, merge

from .i18n import LOCALES, normalise
from .model import PointRef, Severity
from .times import zone

# The repository's config/ (point kinds, the demo site); WARNING_CONFIG_DIR moves it (e.g. in a container).
CONFIG_DIR = Path(os.environ.get("WARNING_CONFIG_DIR") or Path(__file__).resolve().parent.parent / "config")
ROLES = ("officer", "viewer", "admin", "enterprise")  #: enterprise users see one enterprise only
CHANNEL_TYPES = ("log", "webhook", "wecom", "dingtalk", "feishu", "email", "sms")  # see docs/alerting.md


class ConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class PointDef:
    ref: PointRef
    kind: str
    unit: str
    title: str
    detectors: tuple[dict, ...]  #: detector specs after overrides
    precision: int | None = None  #: decimals shown in messages (kind's ``precision``; None: by unit)


@dataclass(frozen=True, slots=True)
class Enterprise:
    id: str
    name: str
    token_digests: tuple[str, ...]
    location: tuple[float, float] | None = None
    dust: str = ""
    devices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str
    password: str | None  #: scrypt hash, see ``warning.security``
    api_token_digest: str | None = None
    enterprise: str | None = None  #: the one enterprise an ``enterprise`` user may see
    locale: str | None = None  #: the language this user reads (zh-CN, en); None: Accept-Language, then zh-CN


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    type: str
    min_severity: str = "blue"
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Site:
    name: str
    offline_after: float  #: seconds without data before a device is reported offline
    enterprises: dict[str, Enterprise]
    points: tuple[PointDef, ...]
    users: dict[str, User]
    channels: tuple[Channel, ...]
    policy: object = None  #: warning.notify.policies.Policy: escalation, rosters, noise control
    timezone: str = "Asia/Shanghai"  #: the zone times without one are read in, and pages and reports show

    def alert_policy(self):
        from .notify.policies import Policy
        return self.policy if self.policy is not None else Policy()

    def point_index(self) -> dict[tuple[str, str, str], int]:
        """(enterprise, device, point) -> index into ``points``."""
        return {(p.ref.enterprise, p.ref.device, p.ref.point): i for i, p in enumerate(self.points)}

    def devices(self) -> list[tuple[str, str]]:
        return [(e.id, d) for e in self.enterprises.values() for d in e.devices]


def load_kinds(path: Path | None = None) -> dict[str, dict]:
    path = path or CONFIG_DIR / "kinds.toml"
    with open(path, "rb") as fh:
        return tomllib.load(fh)["kinds"]


def load_site(path: str | Path, kinds: dict[str, dict] | None = None) -> Site:
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    beside = path.parent / "policies.toml"  # alerting policy may live in its own file (docs/alerting.md)
    if "policy" not in raw and beside.exists():
        try:
            with open(beside, "rb") as fh:
                raw["policy"] = tomllib.load(fh).get("policy", {})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{beside}: {exc}") from None
    return parse_site(raw, kinds if kinds is not None else load_kinds(), source=str(path))


def parse_site(raw: dict, kinds: dict[str, dict], source: str = "site") -> Site:
    site = raw.get("site", {})
    enterprises: dict[str, Enterprise] = {}
    points: list[PointDef] = []
    for e in raw.get("enterprises", []):
        eid = _req(e, "id", source)
        if eid in enterprises:
            raise ConfigError(f"{source}: enterprise {eid!r} defined twice")
        devices = []
        for d in e.get("devices", []):
            did = _req(d, "id", f"{source}: enterprise {eid}")
            devices.append(did)
            overrides = d.get("overrides", {})
            for pname in d.get("points", []):
                kind_name = d.get("kinds", {}).get(pname, pname)
                kind = kinds.get(kind_name)
                if kind is None:
                    raise ConfigError(f"{source}: {eid}/{did}/{pname}: unknown point kind {kind_name!r}")
                specs = tuple(merge(kind.get("detectors", []), overrides.get(pname)))
                for spec in specs:  # fail at start-up, not on the first reading
                    try:
                        gate = spec.get("when_running")  # read by the pipeline, not the detector
                        if gate is not None and not (isinstance(gate, (int, float)) and gate >= 0):
                            raise ValueError(f"when_running must be seconds >= 0, not {gate!r}")
                        build({k: v for k, v in spec.items() if k != "when_running"})
                    except ValueError as exc:
                        raise ConfigError(f"{source}: {eid}/{did}/{pname}: {exc}") from None
                points.append(PointDef(PointRef(eid, did, pname), kind_name, kind.get("unit", ""),
                                       kind.get("title", pname), specs, kind.get("precision")))
        loc = e.get("location")
        enterprises[eid] = Enterprise(eid, e.get("name", eid), tuple(e.get("token_sha256", [])),
                                      tuple(loc) if loc else None, e.get("dust", ""), tuple(devices))
    users = {}
    for u in raw.get("users", []):
        name = _req(u, "name", source)
        role = u.get("role", "viewer")
        if role not in ROLES:
            raise ConfigError(f"{source}: user {name!r}: role must be one of {ROLES}")
        ent = u.get("enterprise")
        if (role == "enterprise") != (ent is not None) or (ent is not None and ent not in enterprises):
            raise ConfigError(f"{source}: user {name!r}: an enterprise user needs one known enterprise, others none")
        loc = u.get("locale")
        if loc is not None and normalise(loc) is None:
            raise ConfigError(f"{source}: user {name!r}: locale must be one of {LOCALES}")
        users[name] = User(name, role, u.get("password"), u.get("api_token_sha256"), ent, normalise(loc))
    channels = []
    for c in raw.get("channels", []):
        ch = Channel(_req(c, "id", source), _req(c, "type", source), c.get("min_severity", "blue"),
                     {k: v for k, v in c.items() if k not in ("id", "type", "min_severity")})
        if ch.type not in CHANNEL_TYPES:
            raise ConfigError(f"{source}: channel {ch.id!r}: type must be one of {CHANNEL_TYPES}")
        try:
            Severity.parse(ch.min_severity)
        except ValueError as exc:
            raise ConfigError(f"{source}: channel {ch.id!r}: {exc}") from None
        if ch.type not in ("log", "email") and not ("url" in ch.options or "url_env" in ch.options):
            raise ConfigError(f"{source}: channel {ch.id!r} needs url or url_env")
        if ch.type == "email" and not ("host" in ch.options or "host_env" in ch.options):
            raise ConfigError(f"{source}: channel {ch.id!r} needs host or host_env (the SMTP server)")
        channels.append(ch)
    channels = tuple(channels)
    from .notify.policies import PolicyError, parse_policy
    try:
        policy = parse_policy(raw.get("policy"), {c.id for c in channels})
    except PolicyError as exc:
        raise ConfigError(f"{source}: policy: {exc}") from None
    tz = str(site.get("timezone", "Asia/Shanghai"))
    try:
        zone(tz)
    except ValueError as exc:
        raise ConfigError(f"{source}: site.timezone: {exc}") from None
    return Site(site.get("name", "site"), float(site.get("offline_after", 300)), enterprises, tuple(points), users,
                channels, policy, tz)


def _req(table: dict, key: str, where: str):
    if key not in table:
        raise ConfigError(f"{where}: missing {key!r}")
    return table[key]
