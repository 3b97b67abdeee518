"""Checks of ledger records, field by field.

Each check returns the record normalised (strings stripped, codes upper-cased, a street
named by its name resolved to its id) and the list of :class:`FieldError`; a caller applies
a record only when that list is empty. Messages are catalogue texts (:class:`~warning.i18n.Text`),
rendered in the reader's locale when the answer is built (:meth:`FieldError.to_json`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from ..i18n import Text
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
    message: Text

    def to_json(self, locale: str | None = None) -> dict:
        return {"field": self.field, "message": self.message.render(locale)}


class Checker:
    """Collects the errors of one record."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def refuse(self, field: str, message: Text) -> None:
        self.errors.append(FieldError(field, message))

    def text(self, value, field: str, max_len: int, *, required: bool = False) -> str:
        """A stripped text, through :func:`warning.textcheck.problem` (no NUL, no C0 controls
        but tab/newline/CR, no lone surrogates, at most ``max_len`` characters)."""
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.refuse(field, Text.of("must be text, not {type}", type=type(value).__name__))
            return ""
        value = value.strip()
        why = problem(value, max_len)  # the edge's one text rule (warning.textcheck)
        if why is not None:
            self.refuse(field, why)  # the edge's one text rule (warning.textcheck)
        elif required and not value:
            self.refuse(field, Text.of("required"))
        return value

    def ident(self, value, field: str, pattern: re.Pattern = ID_RE) -> str:
        v = self.text(value, field, 64, required=True)
        if pattern is NAME_ID_RE and v and not pattern.fullmatch(v):
            self.refuse(field, Text.of("an id is letters (any script), digits, _ . -"))
        elif pattern is ID_RE and v and not pattern.fullmatch(v):
            self.refuse(field, Text.of("an id is letters, digits, _ . - starting with a letter or digit"))
        return v

    def count(self, value, field: str, maximum: int = MAX_PEOPLE) -> int:
        if value is None or value == "":
            return 0
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
            self.refuse(field, Text.of("must be a whole number from 0 to {maximum}", maximum=maximum))
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
        c.refuse("role", Text.of("role must be one of {roles}", roles=", ".join(ROLES)))
    out["role"] = role
    ent = doc.get("enterprise") or None
    if role == "enterprise":
        if ent not in enterprises:
            c.refuse("enterprise", Text.of("an enterprise user needs a known enterprise"))
        out["enterprise"] = ent
    elif ent is not None:
        c.refuse("enterprise", Text.of("only an enterprise user has an enterprise"))
    raw_streets = doc.get("streets") or []
    if not isinstance(raw_streets, list):
        c.refuse("streets", Text.of("must be a list of street ids"))
        raw_streets = []
    ids = []
    for i, s in enumerate(raw_streets):
        sid = resolve_street(s, streets) if isinstance(s, str) else None
        if sid is None:
            c.refuse(f"streets[{i}]", Text.of("unknown street {street}", street=repr(s)))
        else:
            ids.append(sid)
    if ids and role not in ("officer", "viewer"):
        c.refuse("streets", Text.of("only officers and viewers are scoped to streets"))
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
            c.refuse("contact_phone", Text.of("not a phone number"))
        out["contact_phone"] = phone
    street = c.text(doc.get("street"), "street", 100)
    if street:
        sid = resolve_street(street, streets)
        if sid is None:
            c.refuse("street", Text.of("unknown street {street}", street=repr(street)))
        out["street"] = sid or street
    given = c.text(doc.get("risk_grade"), "risk_grade", 20)
    grade = next((k for k, label in RISK_GRADES.items() if given in (k, label)), None) if given else ""
    if grade is None:
        c.refuse("risk_grade", Text.of("risk grade must be red, orange, yellow or blue"))
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
            c.refuse("location", Text.of("location must be [longitude, latitude]"))
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
        c.refuse("dusts", Text.of("must be a list"))
        return {}
    out = []
    for i, d in enumerate(raw):
        if not isinstance(d, Mapping):
            c.refuse(f"dusts[{i}]", Text.of("must be a table of kind and explosion_class"))
            continue
        kind = c.text(d.get("kind"), f"dusts[{i}].kind", 50, required=True)
        cls = c.text(d.get("explosion_class"), f"dusts[{i}].explosion_class", 10)
        if cls not in EXPLOSION_CLASSES:
            c.refuse(
                f"dusts[{i}].explosion_class",
                Text.of("explosion class must be one of {classes}", classes=", ".join(EXPLOSION_CLASSES[1:])),
            )
        out.append({"kind": kind, "explosion_class": cls} if cls else {"kind": kind})
    return {"dusts": out}


def _collectors(c: Checker, raw) -> dict:
    if not raw:
        return {}
    if not isinstance(raw, Mapping):
        c.refuse("collectors", Text.of("must be a table of count, wet and type"))
        return {}
    count = c.count(raw.get("count"), "collectors.count", 10_000)
    wet = raw.get("wet", False)
    if not isinstance(wet, bool):
        c.refuse("collectors.wet", Text.of("must be true (wet) or false (dry)"))
        wet = False
    kind = c.text(raw.get("type"), "collectors.type", 100)
    return {"collectors": {"count": count, "wet": wet, "type": kind}}


def _devices(c: Checker, raw, kinds: Collection[str]) -> list[dict]:
    if not isinstance(raw, list):
        c.refuse("devices", Text.of("must be a list"))
        return []
    if len(raw) > MAX_DEVICES:
        c.refuse("devices", Text.of("at most {n} devices", n=MAX_DEVICES))
        return []
    out, seen = [], set()
    for i, d in enumerate(raw):
        where = f"devices[{i}]"
        if not isinstance(d, Mapping):
            c.refuse(where, Text.of("must be a table"))
            continue
        did = c.ident(d.get("id"), f"{where}.id")
        if did in seen:
            c.refuse(f"{where}.id", Text.of("device id {id} twice", id=did))
        seen.add(did)
        dev: dict = {"id": did}
        dtype = c.text(d.get("type"), f"{where}.type", 50)
        if dtype:
            dev["type"] = dtype
        pts = d.get("points") or []
        if not isinstance(pts, list) or len(pts) > MAX_POINTS:
            c.refuse(f"{where}.points", Text.of("must list at most {n} points", n=MAX_POINTS))
            pts = []
        dev_kinds = d.get("kinds") or {}
        codes = d.get("codes") or {}
        if not isinstance(dev_kinds, Mapping) or not isinstance(codes, Mapping):
            c.refuse(where, Text.of("kinds and codes must be tables"))
            dev_kinds, codes = {}, {}
        names: list[str] = []
        for j, p in enumerate(pts):
            pname = c.ident(p, f"{where}.points[{j}]")
            if pname in names:
                c.refuse(f"{where}.points[{j}]", Text.of("point {point} twice", point=pname))
            names.append(pname)
            kind = dev_kinds.get(pname, pname)
            if kind not in kinds:
                c.refuse(f"{where}.points[{j}]", Text.of("unknown point kind {kind}", kind=repr(kind)))
        dev["points"] = names
        kept_kinds = {p: k for p, k in dev_kinds.items() if p in names and k != p}
        if kept_kinds:
            dev["kinds"] = kept_kinds
        kept_codes = {}
        for p, code in codes.items():
            if p not in names:
                c.refuse(f"{where}.codes.{p}", Text.of("no point {point}", point=p))
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
