"""From proposed edits to the ledger's changes: the pure core of the admin API and the import.

:func:`plan` takes the live ledger (:class:`Records`) and a batch of :class:`Proposal`\\ s
(one API request, or every row of an imported file) and returns either the changes to
apply or every error (row, record, field, message), never a part of both: a batch with any
error changes nothing. :meth:`Records.to_raw` gives the ledger as the site file's tables, which
``warning.live`` builds into the running :class:`~warning.site.Site` with the site file's
own parser, so both ways of declaring a site mean the same.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..i18n import Text
from ..site import Site, Street
from .check import FieldError, check_enterprise, check_street, check_user

RECORD_KINDS = ("street", "enterprise", "user")
_KEY = {"street": "id", "enterprise": "id", "user": "name"}


@dataclass(frozen=True)
class Records:
    """The live (not retired) ledger: id -> record, per kind."""

    streets: dict[str, dict] = field(default_factory=dict)
    enterprises: dict[str, dict] = field(default_factory=dict)
    users: dict[str, dict] = field(default_factory=dict)

    def table(self, kind: str) -> dict[str, dict]:
        return {"street": self.streets, "enterprise": self.enterprises, "user": self.users}[kind]

    def street_map(self) -> dict[str, Street]:
        return {sid: Street(sid, d.get("name", sid)) for sid, d in self.streets.items()}

    def to_raw(self) -> dict:
        """The ledger as the site file's tables."""
        return {
            "streets": list(self.streets.values()),
            "enterprises": list(self.enterprises.values()),
            "users": list(self.users.values()),
        }


@dataclass(frozen=True)
class Proposal:
    kind: str  #: street | enterprise | user
    mode: str  #: create (must be new) | update (must exist) | upsert | retire
    id: str
    doc: Mapping | None = None  #: the whole record for create/update/upsert
    row: int | None = None  #: the row of an imported file (1: the first below the header)


@dataclass(frozen=True)
class Change:
    kind: str
    id: str
    action: str  #: create | update | retire
    before: dict | None
    after: dict | None

    def to_json(self) -> dict:
        return {"kind": self.kind, "id": self.id, "action": self.action, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class RecordError:
    kind: str
    id: str
    field: str
    message: Text  #: rendered in the reader's locale by :meth:`to_json`
    row: int | None = None

    def to_json(self, locale: str | None = None) -> dict:
        out: dict = {"kind": self.kind, "id": self.id, "field": self.field, "message": self.message.render(locale)}
        if self.row is not None:
            out["row"] = self.row
        return out


def plan(
    current: Records, proposals: Sequence[Proposal], kinds: Mapping[str, dict]
) -> tuple[list[Change], list[RecordError]]:
    """The changes ``proposals`` make to ``current``, or the errors that refuse them all."""
    errors: list[RecordError] = []
    after = {k: dict(current.table(k)) for k in RECORD_KINDS}
    changes: dict[tuple[str, str], Change] = {}
    seen: dict[tuple[str, str], int | None] = {}
    # Streets first, then enterprises, then users: each may name what the ones before add.
    for kind in RECORD_KINDS:
        streets = {sid: Street(sid, d.get("name", sid)) for sid, d in after["street"].items()}
        for p in (p for p in proposals if p.kind == kind):

            def err(fld: str, msg: Text, p: Proposal = p) -> None:
                errors.append(RecordError(p.kind, p.id, fld, msg, p.row))

            key = (kind, p.id)
            if key in seen:
                row = seen[key]
                where = Text.of("row {row}", row=row) if row is not None else Text.of("this request")
                err(_KEY[kind], Text.of("id {id} given twice (also {where})", id=p.id, where=where))
                continue
            seen[key] = p.row
            table = after[kind]
            before = current.table(kind).get(p.id)
            if p.mode == "retire":
                if before is None:
                    err(_KEY[kind], Text.of("no live record {id}", id=p.id))
                    continue
                del table[p.id]
                changes[key] = Change(kind, p.id, "retire", before, None)
                continue
            if p.mode == "create" and before is not None:
                err(_KEY[kind], Text.of("{id} exists already", id=p.id))
                continue
            if p.mode == "update" and before is None:
                err(_KEY[kind], Text.of("no live record {id}", id=p.id))
                continue
            doc = dict(p.doc or {})
            doc.setdefault(_KEY[kind], p.id)
            fields: list[FieldError]
            if kind == "street":
                rec, fields = check_street(doc)
            elif kind == "enterprise":
                rec, fields = check_enterprise(doc, streets=streets, kinds=kinds)
                if before is not None and "token_sha256" in before and "token_sha256" not in rec:
                    rec["token_sha256"] = before["token_sha256"]  # tokens are issued, not edited
            else:
                rec, fields = check_user(doc, enterprises=after["enterprise"], streets=streets)
                if before is not None and "password" in before and "password" not in rec:
                    rec["password"] = before["password"]  # kept unless a new one is set
            if rec.get(_KEY[kind]) != p.id and not any(f.field == _KEY[kind] for f in fields):
                fields.append(FieldError(_KEY[kind], Text.of("the record's id is not {id}", id=p.id)))
            for f in fields:
                err(f.field, f.message)
            if fields:
                continue
            table[p.id] = rec
            if rec != before:
                changes[key] = Change(kind, p.id, "create" if before is None else "update", before, rec)
    errors += _references(after, proposals)
    if errors:
        return [], errors
    return list(changes.values()), []


def _references(after: dict[str, dict[str, dict]], proposals: Sequence[Proposal]) -> list[RecordError]:
    """What the ledger as a whole must hold after the batch: unique credit codes, no
    enterprise in a retired street, no enterprise user of a retired enterprise."""
    errors: list[RecordError] = []
    row_of = {(p.kind, p.id): p.row for p in proposals}
    by_code: dict[str, str] = {}
    for eid, e in sorted(after["enterprise"].items()):
        code = e.get("credit_code")
        if code:
            other = by_code.setdefault(code, eid)
            if other != eid:
                errors.append(
                    RecordError(
                        "enterprise",
                        eid,
                        "credit_code",
                        Text.of("same credit code as {other}", other=other),
                        row_of.get(("enterprise", eid)),
                    )
                )
        street = e.get("street")
        if street and street not in after["street"]:
            errors.append(
                RecordError(
                    "enterprise",
                    eid,
                    "street",
                    Text.of("street {street} is retired", street=street),
                    row_of.get(("enterprise", eid)),
                )
            )
    for name, u in after["user"].items():
        if u.get("enterprise") and u["enterprise"] not in after["enterprise"]:
            errors.append(
                RecordError(
                    "user",
                    name,
                    "enterprise",
                    Text.of(
                        "enterprise {enterprise} is retired: retire or move this user first", enterprise=u["enterprise"]
                    ),
                    row_of.get(("user", name)),
                )
            )
        for s in u.get("streets", []):
            if s not in after["street"]:
                errors.append(
                    RecordError(
                        "user",
                        name,
                        "streets",
                        Text.of("street {street} is retired", street=s),
                        row_of.get(("user", name)),
                    )
                )
    return errors


def apply(current: Records, changes: Sequence[Change]) -> Records:
    tables = {k: dict(current.table(k)) for k in RECORD_KINDS}
    for c in changes:
        if c.after is None:
            tables[c.kind].pop(c.id, None)
        else:
            tables[c.kind][c.id] = c.after
    return Records(tables["street"], tables["enterprise"], tables["user"])


def diff(before: Records, after: Records) -> list[Change]:
    """The changes that turn ``before`` into ``after`` (a process that reloaded the ledger
    another process changed: what it must rebuild)."""
    out = []
    for kind in RECORD_KINDS:
        old, new = before.table(kind), after.table(kind)
        for rid, doc in new.items():
            prev = old.get(rid)
            if prev != doc:
                out.append(Change(kind, rid, "create" if prev is None else "update", prev, doc))
        out += [Change(kind, rid, "retire", doc, None) for rid, doc in old.items() if rid not in new]
    return out


def records_of_site(site: Site, kinds: Mapping[str, dict]) -> Records:
    """The ledger records a site file declares (to seed the ledger from it)."""
    streets = {s.id: {"id": s.id, "name": s.name} for s in site.streets.values()}
    by_device: dict[tuple[str, str], list] = {}
    for p in site.points:
        by_device.setdefault((p.ref.enterprise, p.ref.device), []).append(p)
    enterprises = {}
    for e in site.enterprises.values():
        doc: dict = {"id": e.id, "name": e.name}
        for key in (
            "credit_code",
            "address",
            "street",
            "industry",
            "dust",
            "contact_name",
            "contact_phone",
            "risk_grade",
            "code",
        ):
            v = getattr(e, key)
            if v:
                doc[key] = v
        if e.dust_workers:
            doc["dust_workers"] = e.dust_workers
        if e.dusts:
            doc["dusts"] = [
                {"kind": d.kind, **({"explosion_class": d.explosion_class} if d.explosion_class else {})}
                for d in e.dusts
            ]
        if e.collectors.count or e.collectors.type or e.collectors.wet:
            doc["collectors"] = dataclasses.asdict(e.collectors)
        if e.location:
            doc["location"] = list(e.location)
        if e.token_digests:
            doc["token_sha256"] = list(e.token_digests)
        devices = []
        for did in e.devices:
            pts = by_device.get((e.id, did), [])
            dev: dict = {"id": did, "points": [p.ref.point for p in pts]}
            k = {p.ref.point: p.kind for p in pts if p.kind != p.ref.point}
            codes = {p.ref.point: p.code for p in pts if p.code}
            overrides = {
                p.ref.point: o for p in pts if (o := _overrides(kinds[p.kind].get("detectors", []), p.detectors))
            }
            for key, val in (("kinds", k), ("codes", codes), ("overrides", overrides)):
                if val:
                    dev[key] = val
            devices.append(dev)
        doc["devices"] = devices
        enterprises[e.id] = doc
    users = {}
    for u in site.users.values():
        udoc: dict = {"name": u.name, "role": u.role}
        for key, v in (
            ("password", u.password),
            ("api_token_sha256", u.api_token_digest),
            ("enterprise", u.enterprise),
        ):
            if v:
                udoc[key] = v
        if u.streets:
            udoc["streets"] = list(u.streets)
        users[u.name] = udoc
    return Records(streets, enterprises, users)


def _overrides(defaults: list[dict], specs: tuple[dict, ...]) -> dict:
    """The overrides that turn a kind's default detectors into ``specs`` (merge's inverse)."""
    out = {}
    for d, s in zip(defaults, specs, strict=False):
        diff = {k: v for k, v in s.items() if d.get(k) != v}
        if diff:
            out[d.get("id", d["type"])] = diff
    return out
