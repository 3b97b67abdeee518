"""Read the site's configuration files (point kinds, site, policies) into a :class:`~warning.site.Site`.

The nouns live in :mod:`warning.site` (pure); this module is the loader: it opens files and
reads ``WARNING_CONFIG_DIR``, both only when called, never at import. :func:`parse_site` checks
a parsed TOML table once at start-up, so that a typo fails the start, not the first reading.
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from collections.abc import Collection
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from detectors.chain import build, merge

from .basemap import Basemap, parse_basemap
from .i18n import LOCALES, normalise
from .labels import Labels
from .model import PointRef, Severity
from .platforms.settings import parse_platforms
from .policy.policies import PolicyError, parse_policy
from .site import (
    CHANNEL_TYPES,
    DEFAULT_TIMEZONE,
    ROLES,
    Channel,
    Collectors,
    Dust,
    Enterprise,
    PointDef,
    Retention,
    Site,
    Street,
    User,
)

log = logging.getLogger(__name__)

# Re-exported so that callers of the loader need one import; new code takes them from warning.site.
__all__ = [
    "CHANNEL_TYPES",
    "ROLES",
    "Channel",
    "ConfigError",
    "Enterprise",
    "PointDef",
    "Site",
    "User",
    "config_dir",
    "load_kinds",
    "load_site",
    "parse_site",
]


class ConfigError(ValueError):
    pass


def config_dir() -> Path:
    """The repository's config/ (point kinds, the demo site); WARNING_CONFIG_DIR moves it (e.g. in a container)."""
    return Path(os.environ.get("WARNING_CONFIG_DIR") or Path(__file__).resolve().parent.parent / "config")


def load_kinds(path: Path | None = None) -> dict[str, dict]:
    path = path or config_dir() / "kinds.toml"
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
    return parse_site(raw, kinds if kinds is not None else load_kinds(), source=str(path), base=path.parent)


def load_basemap(name: str, base: Path | None, source: str) -> Basemap | None:
    """``[site] map``: a GeoJSON file, relative to the site file's folder. A missing file (a
    site file copied without its map) only loses the map's outline: a warning, not a refusal
    to monitor. A file that is there but wrong is refused, so that someone fixes it."""
    path = (base or Path(".")) / name
    if not path.exists():
        log.warning("%s: map %s not found: the risk map is drawn without its outline and streets", source, path)
        return None
    try:
        if path.stat().st_size > 5_000_000:  # the page draws it all; a surveyed map wants simplifying first
            raise ConfigError(f"{source}: map {path}: larger than 5 MB")
        with open(path, "rb") as fh:
            return parse_basemap(json.load(fh), str(path))
    except (OSError, ValueError) as exc:  # BasemapError and JSON errors are ValueErrors
        raise ConfigError(f"{source}: map: {exc}") from None


def parse_site(raw: dict, kinds: dict[str, dict], source: str = "site", base: Path | None = None) -> Site:
    site = raw.get("site", {})
    streets = _streets(raw, source)
    basemap = load_basemap(site["map"], base, source) if site.get("map") else None
    enterprises: dict[str, Enterprise] = {}
    points: list[PointDef] = []
    checked: dict[tuple[str, str], tuple[dict, ...]] = {}  #: (kind, overrides) -> its checked specs
    for e in raw.get("enterprises", []):
        eid = _req(e, "id", source)
        if eid in enterprises:
            raise ConfigError(f"{source}: enterprise {eid!r} defined twice")
        devices = []
        for d in e.get("devices", []):
            did = _req(d, "id", f"{source}: enterprise {eid}")
            devices.append(did)
            overrides = d.get("overrides", {})
            codes = d.get("codes", {})  # point name -> platform point code (issue 18)
            for pname in d.get("points", []):
                kind_name = d.get("kinds", {}).get(pname, pname)
                kind = kinds.get(kind_name)
                if kind is None:
                    raise ConfigError(f"{source}: {eid}/{did}/{pname}: unknown point kind {kind_name!r}")
                # Points of one kind without overrides share their specs, checked once: a ledger
                # of 160,000 points has a handful of distinct chains (building each is the cost).
                key = (kind_name, repr(overrides.get(pname))) if pname in overrides else (kind_name, "")
                specs = checked.get(key)
                if specs is None:
                    specs = tuple(merge(kind.get("detectors", []), overrides.get(pname)))
                    for spec in specs:  # fail at start-up, not on the first reading
                        try:
                            gate = spec.get("when_running")  # read by the pipeline, not the detector
                            if gate is not None and not (isinstance(gate, (int, float)) and gate >= 0):
                                raise ValueError(f"when_running must be seconds >= 0, not {gate!r}")
                            build({k: v for k, v in spec.items() if k != "when_running"})
                        except ValueError as exc:
                            raise ConfigError(f"{source}: {eid}/{did}/{pname}: {exc}") from None
                    checked[key] = specs
                code = codes.get(pname)
                if code is not None and not (isinstance(code, str) and code):
                    raise ConfigError(f"{source}: {eid}/{did}/{pname}: a point code must be a non-empty string")
                points.append(
                    PointDef(
                        PointRef(eid, did, pname),
                        kind_name,
                        kind.get("unit", ""),
                        kind.get("title", pname),
                        specs,
                        code,
                        kind.get("precision"),
                    )
                )
        enterprises[eid] = _enterprise(e, eid, tuple(devices), streets, source)
        street_id = enterprises[eid].street
        if basemap is not None and street_id and streets[street_id].name not in basemap.streets():
            raise ConfigError(f"{source}: enterprise {eid}: street {streets[street_id].name!r} is not on the map")
    users = parse_users(raw.get("users", []), enterprises, streets, source)
    channel_list: list[Channel] = []
    for c in raw.get("channels", []):
        ch = Channel(
            _req(c, "id", source),
            _req(c, "type", source),
            c.get("min_severity", "blue"),
            {k: v for k, v in c.items() if k not in ("id", "type", "min_severity")},
        )
        if ch.type not in CHANNEL_TYPES:
            raise ConfigError(f"{source}: channel {ch.id!r}: type must be one of {CHANNEL_TYPES}")
        try:
            Severity.parse(ch.min_severity)
        except ValueError as exc:
            raise ConfigError(f"{source}: channel {ch.id!r}: {exc}") from None
        if ch.type not in ("log", "email") and not ("url" in ch.options or "url_env" in ch.options):
            raise ConfigError(f"{source}: channel {ch.id!r} needs url or url_env")
        if ch.type == "upstream" and ch.options.get("format", "json") not in ("json", "national", "provincial"):
            raise ConfigError(f"{source}: channel {ch.id!r}: format must be json, national or provincial")
        if (
            ch.type == "upstream"
            and ch.options.get("format", "json") != "json"
            and not (isinstance(ch.options.get("gateway"), str) and isinstance(ch.options.get("key_env"), str))
        ):
            raise ConfigError(f"{source}: channel {ch.id!r}: a platform format needs gateway and key_env (and iv_env)")
        if ch.type == "upstream":
            for opt in ("risk", "realtime"):
                if not isinstance(ch.options.get(opt, False), bool):
                    raise ConfigError(f"{source}: channel {ch.id!r}: {opt} must be true or false")
            for opt in ("realtime_interval", "realtime_batch", "realtime_backlog"):
                v = ch.options.get(opt, 1)
                if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                    raise ConfigError(f"{source}: channel {ch.id!r}: {opt} must be a positive number")
        if ch.type == "email" and not ("host" in ch.options or "host_env" in ch.options):
            raise ConfigError(f"{source}: channel {ch.id!r} needs host or host_env (the SMTP server)")
        channel_list.append(ch)
    channels = tuple(channel_list)
    tz = site.get("timezone", DEFAULT_TIMEZONE)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ConfigError(f"{source}: site.timezone {tz!r} is not an IANA time zone (e.g. Asia/Shanghai)") from None
    try:  # rosters and maintenance windows are wall-clock times in the site's zone
        policy = parse_policy(raw.get("policy"), {c.id for c in channels}, zone_name=tz)
    except PolicyError as exc:
        raise ConfigError(f"{source}: policy: {exc}") from None
    try:
        platforms = parse_platforms(raw, enterprises, points)
    except ValueError as exc:
        raise ConfigError(f"{source}: platforms: {exc}") from None
    try:
        retention = Retention.from_dict(raw.get("retention"))
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return Site(
        site.get("name", "site"),
        float(site.get("offline_after", 300)),
        enterprises,
        tuple(points),
        users,
        channels,
        policy,
        tz,
        streets=streets,
        basemap=basemap,
        platforms=platforms,
        retention=retention,
    )


def parse_users(
    raw_users: list[dict], enterprises: Collection[str], streets: dict[str, Street], source: str = "site"
) -> dict[str, User]:
    """The ``[[users]]`` table; ``enterprises``: the ids an enterprise user may name. The live
    ledger rebuilds only this when users change (``warning.live``)."""
    users = {}
    for u in raw_users:
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
        user_streets = tuple(_street_of(s, streets, f"{source}: user {name!r}") for s in u.get("streets", []))
        if user_streets and role not in ("officer", "viewer"):
            raise ConfigError(f"{source}: user {name!r}: only officers and viewers are scoped to streets")
        users[name] = User(
            name, role, u.get("password"), u.get("api_token_sha256"), ent, normalise(loc), streets=user_streets
        )
    return users


def _streets(raw: dict, source: str) -> dict[str, Street]:
    """The ``[[streets]]`` table (id, name); without one, the streets the enterprises name
    (a street's id is then its name, as a site file with a map but no table writes them)."""
    out: dict[str, Street] = {}
    for s in raw.get("streets", []):
        sid = _req(s, "id", f"{source}: streets")
        if sid in out:
            raise ConfigError(f"{source}: street {sid!r} defined twice")
        out[sid] = Street(sid, s.get("name", sid))
    if "streets" not in raw:
        for e in raw.get("enterprises", []):
            name = e.get("street")
            if isinstance(name, str) and name:
                out.setdefault(name, Street(name, name))
    return out


def _street_of(value, streets: dict[str, Street], where: str) -> str:
    """A street named by its id or its name -> its id."""
    if isinstance(value, str):
        if value in streets:
            return value
        for s in streets.values():
            if s.name == value:
                return s.id
    raise ConfigError(f"{where}: unknown street {value!r} (streets: {', '.join(streets) or 'none'})")


def _enterprise(e: dict, eid: str, devices: tuple[str, ...], streets: dict[str, Street], source: str) -> Enterprise:
    """An enterprise and its ledger fields (all optional; :mod:`warning.ledger.check` checks
    them field by field for the admin API and the import)."""
    where = f"{source}: enterprise {eid}"
    loc = e.get("location")
    street = e.get("street") or None
    col = e.get("collectors") or {}
    try:
        dusts = tuple(Dust(str(d["kind"]), str(d.get("explosion_class", ""))) for d in e.get("dusts", []))
        count, wet, workers = col.get("count", 0), col.get("wet", False), e.get("dust_workers", 0)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{where}: ledger fields: {exc}") from None
    # the risk model weighs these (docs/risk.md): a wrong type is refused, not coerced ("false" is not false)
    for name, v in (("collectors.count", count), ("dust_workers", workers)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ConfigError(f"{where}: {name} must be a whole number ≥ 0, not {v!r}")
    if not isinstance(wet, bool):
        raise ConfigError(f"{where}: collectors.wet must be true (wet) or false (dry), not {wet!r}")
    collectors = Collectors(count, wet, str(col.get("type", "")))
    return Enterprise(
        eid,
        e.get("name", eid),
        tuple(e.get("token_sha256", [])),
        tuple(loc) if loc else None,
        e.get("dust", ""),
        devices,
        credit_code=e.get("credit_code") or None,
        address=e.get("address", ""),
        street=_street_of(street, streets, where) if street is not None else None,
        industry=e.get("industry", ""),
        dusts=dusts,
        dust_workers=workers,
        collectors=collectors,
        contact_name=e.get("contact_name", ""),
        contact_phone=e.get("contact_phone", ""),
        risk_grade=e.get("risk_grade", ""),
        code=_code(e.get("code"), where),
    )


def _req(table: dict, key: str, where: str):
    if key not in table:
        raise ConfigError(f"{where}: missing {key!r}")
    return table[key]


def _code(value, where: str) -> str | None:
    """A platform code (enterprise ``code``): optional, a non-empty string when given."""
    if value is not None and not (isinstance(value, str) and value):
        raise ConfigError(f"{where}: code must be a non-empty string")
    return value


def public_labels(site: Site) -> Labels:
    """The site's labels for notifications and the live feed, with the public address from
    ``WARNING_PUBLIC_URL`` (read here, when a runtime or server starts, never at import)."""
    return Labels.of(site, os.environ.get("WARNING_PUBLIC_URL"))
