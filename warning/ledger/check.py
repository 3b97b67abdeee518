"""Checks of ledger records, field by field.

Each check returns the record normalised (strings stripped, codes upper-cased, a street
named by its name resolved to its id) and the list of :class:`FieldError`; a caller applies
a record only when that list is empty. Messages are zh-CN first, English second.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from ..site import ROLES, Street
from ..textcheck import problem
from . import credit

ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
NAME_ID_RE = re.compile(r"\w[\w.\-]{0,63}")  #: street ids and user names may be Chinese (a street named by its name)
PHONE_RE = re.compile(r"\+?[0-9][0-9 \-]{4,22}[0-9]")
#: explosion classes: St1-St3 by Kst (GB/T 16425), IIIA-IIIC by dust group (GB 12476)
EXPLOSION_CLASSES = ("", "St1", "St2", "St3", "IIIA", "IIIB", "IIIC")
#: static risk grades (风险等级), highest first: 重大 / 较大 / 一般 / 低
RISK_GRADES = {"": "", "red": "重大风险", "orange": "较大风险", "yellow": "一般风险", "blue": "低风险"}
MAX_DEVICES = 200
MAX_POINTS = 64  #: per device
MAX_PEOPLE = 1_000_000


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str  #: e.g. ``credit_code``, ``devices[1].points[3]``
    message: str

    def to_json(self) -> dict:
        return {"field": self.field, "message": self.message}


class Checker:
    """Collects the errors of one record."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def refuse(self, field: str, message: str) -> None:
        self.errors.append(FieldError(field, message))

    def text(self, value, field: str, max_len: int, *, required: bool = False) -> str:
        """A stripped text, through :func:`warning.textcheck.problem` (no NUL, no C0 controls
        but tab/newline/CR, no lone surrogates, at most ``max_len`` characters)."""
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.refuse(field, f"应为文本 / must be text, not {type(value).__name__}")
            return ""
        value = value.strip()
        why = problem(value, max_len)  # the edge's one text rule (warning.textcheck)
        if why is not None:
            self.refuse(field, str(why))  # zh-CN: the ledger's own refusals are not catalogued yet
        elif required and not value:
            self.refuse(field, "必填 / required")
        return value

    def ident(self, value, field: str, pattern: re.Pattern = ID_RE) -> str:
        v = self.text(value, field, 64, required=True)
        if pattern is NAME_ID_RE and v and not pattern.fullmatch(v):
            self.refuse(field, "编号只能含文字、数字、_ . - / an id is letters (any script), digits, _ . -")
        elif pattern is ID_RE and v and not pattern.fullmatch(v):
            self.refuse(
                field,
                "编号只能含字母、数字、_ . -，以字母或数字开头 / an id is letters, digits, _ . - "
                "starting with a letter or digit",
            )
        return v

    def count(self, value, field: str, maximum: int = MAX_PEOPLE) -> int:
        if value is None or value == "":
            return 0
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
            self.refuse(field, f"应为 0 到 {maximum} 的整数 / must be a whole number from 0 to {maximum}")
            return 0
        return value


def resolve_street(value: str, streets: Mapping[str, Street]) -> str | None:
    """A street named by its id or by its name -> its id (None: unknown)."""
    if value in streets:
        return value
    return next((s.id for s in streets.values() if s.name == value), None)


def check_street(doc: Mapping) -> tuple[dict, list[FieldError]]:
    c = Checker()
    out = {"id": c.ident(doc.get("id"), "id", NAME_ID_RE), "name": c.text(doc.get("name"), "name", 100, required=True)}
    return out, c.errors


def check_user(
    doc: Mapping, *, enterprises: Collection[str], streets: Mapping[str, Street]
) -> tuple[dict, list[FieldError]]:
    """A user record (``password`` is a hash, set by the API from a password given to it)."""
    c = Checker()
    out: dict = {"name": c.ident(doc.get("name"), "name", NAME_ID_RE)}
    role = doc.get("role", "viewer")
    if role not in ROLES:
        c.refuse("role", f"角色应为 {'、'.join(ROLES)} 之一 / role must be one of {', '.join(ROLES)}")
    out["role"] = role
    ent = doc.get("enterprise") or None
    if role == "enterprise":
        if ent not in enterprises:
            c.refuse("enterprise", "企业用户需要一个已登记的企业 / an enterprise user needs a known enterprise")
        out["enterprise"] = ent
    elif ent is not None:
        c.refuse("enterprise", "只有企业用户属于企业 / only an enterprise user has an enterprise")
    raw_streets = doc.get("streets") or []
    if not isinstance(raw_streets, list):
        c.refuse("streets", "应为街镇编号列表 / must be a list of street ids")
        raw_streets = []
    ids = []
    for i, s in enumerate(raw_streets):
        sid = resolve_street(s, streets) if isinstance(s, str) else None
        if sid is None:
            c.refuse(f"streets[{i}]", f"未知街镇 {s!r} / unknown street {s!r}")
        else:
            ids.append(sid)
    if ids and role not in ("officer", "viewer"):
        c.refuse("streets", "只有监管员和查看者可按街镇限定 / only officers and viewers are scoped to streets")
    if ids:
        out["streets"] = ids
    for key in ("password", "api_token_sha256"):
        if doc.get(key):
            out[key] = c.text(doc.get(key), key, 300)
    return out, c.errors


def check_enterprise(
    doc: Mapping, *, streets: Mapping[str, Street], kinds: Collection[str]
) -> tuple[dict, list[FieldError]]:
    """An enterprise record (the site file's ``[[enterprises]]`` table with the ledger's fields)."""
    c = Checker()
    out: dict = {"id": c.ident(doc.get("id"), "id"), "name": c.text(doc.get("name"), "name", 200, required=True)}
    code = c.text(doc.get("credit_code"), "credit_code", 18 + 10).upper()
    if code:
        why = credit.problem(code)
        if why:
            c.refuse("credit_code", why)
        out["credit_code"] = code
    for key, limit in (("address", 300), ("industry", 100), ("dust", 100), ("contact_name", 50), ("code", 64)):
        v = c.text(doc.get(key), key, limit)
        if v:
            out[key] = v
    phone = c.text(doc.get("contact_phone"), "contact_phone", 30)
    if phone:
        if not PHONE_RE.fullmatch(phone):
            c.refuse("contact_phone", "电话号码格式不对 / not a phone number")
        out["contact_phone"] = phone
    street = c.text(doc.get("street"), "street", 100)
    if street:
        sid = resolve_street(street, streets)
        if sid is None:
            c.refuse("street", f"未知街镇 {street!r} / unknown street {street!r}")
        out["street"] = sid or street
    given = c.text(doc.get("risk_grade"), "risk_grade", 20)
    grade = next((k for k, label in RISK_GRADES.items() if given in (k, label)), None) if given else ""
    if grade is None:
        c.refuse(
            "risk_grade",
            "风险等级应为 red/orange/yellow/blue（重大/较大/一般/低风险）"
            " / risk grade must be red, orange, yellow or blue",
        )
    elif grade:
        out["risk_grade"] = grade
    workers = c.count(doc.get("dust_workers"), "dust_workers")
    if workers:
        out["dust_workers"] = workers
    out.update(_dusts(c, doc.get("dusts")))
    out.update(_collectors(c, doc.get("collectors")))
    loc = doc.get("location")
    if loc is not None and loc != []:
        if (
            not isinstance(loc, (list, tuple))
            or len(loc) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in loc)
            or not (-180 <= loc[0] <= 180 and -90 <= loc[1] <= 90)
        ):
            c.refuse("location", "位置应为 [经度, 纬度] / location must be [longitude, latitude]")
        else:
            out["location"] = [float(loc[0]), float(loc[1])]
    if doc.get("token_sha256"):
        out["token_sha256"] = list(doc["token_sha256"])
    out["devices"] = _devices(c, doc.get("devices") or [], kinds)
    return out, c.errors


def _dusts(c: Checker, raw) -> dict:
    if not raw:
        return {}
    if not isinstance(raw, list):
        c.refuse("dusts", "应为列表 / must be a list")
        return {}
    out = []
    for i, d in enumerate(raw):
        if not isinstance(d, Mapping):
            c.refuse(f"dusts[{i}]", "应为 {kind, explosion_class} / must be {kind, explosion_class}")
            continue
        kind = c.text(d.get("kind"), f"dusts[{i}].kind", 50, required=True)
        cls = c.text(d.get("explosion_class"), f"dusts[{i}].explosion_class", 10)
        if cls not in EXPLOSION_CLASSES:
            c.refuse(
                f"dusts[{i}].explosion_class",
                f"爆炸等级应为 {'/'.join(EXPLOSION_CLASSES[1:])} 之一 / "
                f"explosion class must be one of {', '.join(EXPLOSION_CLASSES[1:])}",
            )
        out.append({"kind": kind, "explosion_class": cls} if cls else {"kind": kind})
    return {"dusts": out}


def _collectors(c: Checker, raw) -> dict:
    if not raw:
        return {}
    if not isinstance(raw, Mapping):
        c.refuse("collectors", "应为 {count, wet, type} / must be {count, wet, type}")
        return {}
    count = c.count(raw.get("count"), "collectors.count", 10_000)
    wet = raw.get("wet", False)
    if not isinstance(wet, bool):
        c.refuse("collectors.wet", "应为 true（湿式）或 false（干式） / must be true (wet) or false (dry)")
        wet = False
    kind = c.text(raw.get("type"), "collectors.type", 100)
    return {"collectors": {"count": count, "wet": wet, "type": kind}}


def _devices(c: Checker, raw, kinds: Collection[str]) -> list[dict]:
    if not isinstance(raw, list):
        c.refuse("devices", "应为列表 / must be a list")
        return []
    if len(raw) > MAX_DEVICES:
        c.refuse("devices", f"最多 {MAX_DEVICES} 台设备 / at most {MAX_DEVICES} devices")
        return []
    out, seen = [], set()
    for i, d in enumerate(raw):
        where = f"devices[{i}]"
        if not isinstance(d, Mapping):
            c.refuse(where, "应为表 / must be a table")
            continue
        did = c.ident(d.get("id"), f"{where}.id")
        if did in seen:
            c.refuse(f"{where}.id", f"设备编号 {did} 重复 / device id {did} twice")
        seen.add(did)
        dev: dict = {"id": did}
        dtype = c.text(d.get("type"), f"{where}.type", 50)
        if dtype:
            dev["type"] = dtype
        pts = d.get("points") or []
        if not isinstance(pts, list) or len(pts) > MAX_POINTS:
            c.refuse(f"{where}.points", f"应为至多 {MAX_POINTS} 个测点的列表 / must list at most {MAX_POINTS} points")
            pts = []
        dev_kinds = d.get("kinds") or {}
        codes = d.get("codes") or {}
        if not isinstance(dev_kinds, Mapping) or not isinstance(codes, Mapping):
            c.refuse(where, "kinds 和 codes 应为表 / kinds and codes must be tables")
            dev_kinds, codes = {}, {}
        names: list[str] = []
        for j, p in enumerate(pts):
            pname = c.ident(p, f"{where}.points[{j}]")
            if pname in names:
                c.refuse(f"{where}.points[{j}]", f"测点 {pname} 重复 / point {pname} twice")
            names.append(pname)
            kind = dev_kinds.get(pname, pname)
            if kind not in kinds:
                c.refuse(f"{where}.points[{j}]", f"未知测点类型 {kind!r} / unknown point kind {kind!r}")
        dev["points"] = names
        kept_kinds = {p: k for p, k in dev_kinds.items() if p in names and k != p}
        if kept_kinds:
            dev["kinds"] = kept_kinds
        kept_codes = {}
        for p, code in codes.items():
            if p not in names:
                c.refuse(f"{where}.codes.{p}", f"没有测点 {p} / no point {p}")
                continue
            v = c.text(code, f"{where}.codes.{p}", 64)
            if v:
                kept_codes[p] = v
        if kept_codes:
            dev["codes"] = kept_codes
        if d.get("overrides"):
            dev["overrides"] = d["overrides"]  # checked by parse_site when the site is built
        out.append(dev)
    return out
