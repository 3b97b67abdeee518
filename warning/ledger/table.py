"""The ledger as a table of enterprises, one row each (the import and export format).

Columns (the header cell may be the key, the Chinese label, or both as export writes them,
``企业名称 name``; column order is free, unknown columns are refused):

========================  ==============  =====================================================
key                       label           cell
========================  ==============  =====================================================
id                        企业编号         required; letters, digits, ``_ . -``
name                      企业名称         required
credit_code               统一社会信用代码   18 characters, check character verified
address                   地址
street                    街镇             a street's id or name
industry                  行业
dusts                     粉尘及爆炸等级     ``铝粉:St2; 木粉:St1`` (``;``/``；`` between, ``:``/``：`` inside)
dust_workers              涉粉作业人数       whole number
collectors_count          除尘系统数量       whole number
collectors_wet            干式湿式          ``干式``/``dry`` or ``湿式``/``wet``
collectors_type           除尘器类型
contact_name              负责人
contact_phone             负责人电话
risk_grade                风险等级          red/orange/yellow/blue or 重大风险/较大风险/一般风险/低风险
longitude, latitude       经度, 纬度        decimal degrees
points                    设备与测点         ``DC1: dp=TNM01, hopper_temp; DC2: dp, temp2@hopper_temp``
========================  ==============  =====================================================

In ``points`` a device is ``id: point, point, ...``; a point is ``name``, ``name=code`` (its
platform code) or ``name@kind`` (a kind other than its name). Devices' other settings (type,
detector overrides) are not columns: an import keeps them from the ledger's record.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping

from ..i18n import Text
from .plan import Proposal, RecordError

COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "企业编号"),
    ("name", "企业名称"),
    ("credit_code", "统一社会信用代码"),
    ("address", "地址"),
    ("street", "街镇"),
    ("industry", "行业"),
    ("dusts", "粉尘及爆炸等级"),
    ("dust_workers", "涉粉作业人数"),
    ("collectors_count", "除尘系统数量"),
    ("collectors_wet", "干式湿式"),
    ("collectors_type", "除尘器类型"),
    ("contact_name", "负责人"),
    ("contact_phone", "负责人电话"),
    ("risk_grade", "风险等级"),
    ("longitude", "经度"),
    ("latitude", "纬度"),
    ("points", "设备与测点"),
)
KEYS = tuple(k for k, _ in COLUMNS)
_BY_HEADER = {
    **{k: k for k in KEYS},
    **{label: k for k, label in COLUMNS},
    **{f"{label} {k}": k for k, label in COLUMNS},
}
MAX_ROWS = 20_000
WET = {
    "湿式": True,
    "wet": True,
    "true": True,
    "1": True,
    "干式": False,
    "dry": False,
    "false": False,
    "0": False,
    "": False,
}
_SPLIT = re.compile(r"[;；]")
_PAIR = re.compile(r"[:：]")


def header() -> list[str]:
    return [f"{label} {k}" for k, label in COLUMNS]


class TableError(ValueError):
    """The table as a whole cannot be read (no header, unknown columns, too many rows):
    ``message`` is a catalogue text, rendered in the reader's locale."""

    def __init__(self, message: Text):
        super().__init__(str(message))
        self.message = message


def proposals(rows: Iterable[list], existing: Mapping[str, dict]) -> tuple[list[Proposal], list[RecordError]]:
    """Rows (the first the header) -> one upsert per enterprise, plus the cell errors found
    before the records are checked (those are :func:`~.plan.plan`'s)."""
    it = iter(rows)
    try:
        head = [str(c or "").strip() for c in next(it)]
    except StopIteration:
        raise TableError(Text.of("empty file")) from None
    keys = []
    for h in head:
        k = _BY_HEADER.get(h) or _BY_HEADER.get(h.split(" ")[-1]) if h else None
        if k is None and h:
            raise TableError(
                Text.of("unknown column {column} (columns: {columns})", column=repr(h), columns=", ".join(KEYS))
            )
        keys.append(k)
    if "id" not in keys or "name" not in keys:
        raise TableError(Text.of("the id and name columns are required"))
    out: list[Proposal] = []
    errors: list[RecordError] = []
    for n, row in enumerate(it, start=2):  # row numbers as a spreadsheet shows them
        if n - 1 > MAX_ROWS:
            raise TableError(Text.of("more than {n} rows", n=MAX_ROWS))
        cells = {k: ("" if v is None else str(v).strip()) for k, v in zip(keys, row, strict=False) if k}
        if not any(cells.values()):
            continue  # blank lines are not rows
        rid = cells.get("id", "")
        doc, cell_errors = record_of_row(cells, existing.get(rid))
        errors += [RecordError("enterprise", rid, f, m, n) for f, m in cell_errors]
        out.append(Proposal("enterprise", "upsert", rid, doc, n))
    return out, errors


def record_of_row(cells: Mapping[str, str], before: Mapping | None) -> tuple[dict, list[tuple[str, Text]]]:
    errors: list[tuple[str, Text]] = []
    doc: dict = {
        k: cells[k]
        for k in (
            "id",
            "name",
            "credit_code",
            "address",
            "street",
            "industry",
            "contact_name",
            "contact_phone",
            "risk_grade",
            "dust_workers",
        )
        if cells.get(k)
    }
    if cells.get("dusts"):
        dusts = []
        for part in _SPLIT.split(cells["dusts"]):
            if part.strip():
                kind, cls = _two(part)
                dusts.append({"kind": kind, "explosion_class": cls})
        doc["dusts"] = dusts
    if any(cells.get(k) for k in ("collectors_count", "collectors_wet", "collectors_type")):
        wet = WET.get(cells.get("collectors_wet", "").lower())
        if wet is None:
            errors.append(("collectors_wet", Text.of("must be dry or wet (干式 or 湿式)")))
        doc["collectors"] = {
            "count": cells.get("collectors_count", "") or 0,
            "wet": bool(wet),
            "type": cells.get("collectors_type", ""),
        }
    lon, lat = cells.get("longitude", ""), cells.get("latitude", "")
    if lon or lat:
        try:
            doc["location"] = [float(lon), float(lat)]
        except ValueError:
            errors.append(("longitude" if not _is_float(lon) else "latitude", Text.of("must be decimal degrees")))
    devices, perr = parse_points(cells.get("points", ""))
    errors += [("points", m) for m in perr]
    old = {d["id"]: d for d in (before or {}).get("devices", [])}
    for d in devices:  # what the table has no column for stays as the ledger has it
        prev = old.get(d["id"])
        if prev is None:
            continue
        if prev.get("type"):
            d["type"] = prev["type"]
        kept = {p: o for p, o in (prev.get("overrides") or {}).items() if p in d["points"]}
        if kept:
            d["overrides"] = kept
    doc["devices"] = devices
    return doc, errors


def _two(text: str) -> tuple[str, str]:
    """``a:b`` (or ``a：b``) -> (a, b) stripped; no separator -> (text, "")."""
    parts = _PAIR.split(text, maxsplit=1)
    return parts[0].strip(), (parts[1].strip() if len(parts) > 1 else "")


def _is_float(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def parse_points(cell: str) -> tuple[list[dict], list[Text]]:
    devices: list[dict] = []
    errors: list[Text] = []
    for block in _SPLIT.split(cell):
        if not block.strip():
            continue
        did, rest = _two(block)
        if not did or not rest:
            errors.append(Text.of("write a device as id: point, point (got {block})", block=repr(block.strip())))
            continue
        dev: dict = {"id": did, "points": []}
        kinds, codes = {}, {}
        for spec in (s.strip() for s in re.split(r"[,，]", rest)):
            if not spec:
                continue
            name, _, code = spec.partition("=")
            name, _, kind = name.partition("@")
            name = name.strip()
            dev["points"].append(name)
            if kind.strip():
                kinds[name] = kind.strip()
            if code.strip():
                codes[name] = code.strip()
        if kinds:
            dev["kinds"] = kinds
        if codes:
            dev["codes"] = codes
        devices.append(dev)
    return devices, errors


def row_of_record(doc: Mapping) -> list[str]:
    col = doc.get("collectors") or {}
    loc = doc.get("location") or ["", ""]
    cells = {
        **{
            k: str(doc.get(k, ""))
            for k in (
                "id",
                "name",
                "credit_code",
                "address",
                "street",
                "industry",
                "contact_name",
                "contact_phone",
                "risk_grade",
            )
        },
        "dusts": "; ".join(
            f"{d['kind']}:{d['explosion_class']}" if d.get("explosion_class") else d["kind"]
            for d in doc.get("dusts", [])
        ),
        "dust_workers": str(doc.get("dust_workers", "") or ""),
        "collectors_count": str(col.get("count", "")) if col else "",
        "collectors_wet": ("湿式" if col.get("wet") else "干式") if col else "",
        "collectors_type": str(col.get("type", "")) if col else "",
        "longitude": str(loc[0]),
        "latitude": str(loc[1]),
        "points": "; ".join(
            f"{d['id']}: " + ", ".join(_point(d, p) for p in d.get("points", []))
            for d in doc.get("devices", [])
            if d.get("points")
        ),
    }
    return [cells[k] for k in KEYS]


def _point(dev: Mapping, p: str) -> str:
    kind = (dev.get("kinds") or {}).get(p)
    code = (dev.get("codes") or {}).get(p)
    return p + (f"@{kind}" if kind else "") + (f"={code}" if code else "")


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def write_csv(records: Iterable[Mapping]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header())
    for r in records:
        w.writerow(row_of_record(r))
    return "\ufeff" + buf.getvalue()  # a BOM, so that Excel reads the Chinese as UTF-8
