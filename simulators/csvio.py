"""The telemetry CSV: what ``warning export`` writes and ``warning replay`` reads.

One reading a row, the columns of the ``readings_v`` view::

    enterprise,device,point,ts,value
    E001,DC1,dp,2026-06-01T00:00:00.000+00:00,1103.2

``ts`` is ISO-8601 in UTC with milliseconds (what the ingest API accepts, and what
PostgreSQL's ``timestamptz`` keeps); ``value`` is a float (flags are 0/1, as stored).
Rows are in time order. Epoch-millisecond ``ts`` values are read too, so a hand-made file
can be simpler, and so is a time without a zone: read in the site's zone (``warning.times``;
``warning replay --timezone``, default Asia/Shanghai).

``warning simulate --csv`` writes the same format, so a simulated scenario can be replayed
like a recording.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import NamedTuple, TextIO

from warning.times import DEFAULT_TIMEZONE, parse_iso

HEADER = ("enterprise", "device", "point", "ts", "value")


class Row(NamedTuple):
    enterprise: str
    device: str
    point: str
    ts_ms: int
    value: float


def iso_ms(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000.0, UTC).isoformat(timespec="milliseconds")


def parse_ts(text: str, zone_name: str = DEFAULT_TIMEZONE) -> int:
    """ISO-8601 (a time without a zone is read in ``zone_name``), or epoch milliseconds -> epoch milliseconds."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)  # exact, not through a float
    return round(parse_iso(text, zone_name=zone_name) * 1000)


def write_rows(fh: TextIO, rows: Iterable[Row], *, header: bool = True) -> int:
    """Write ``rows`` (and the header line first, unless ``header=False``); returns the count."""
    w = csv.writer(fh, lineterminator="\n")
    if header:
        w.writerow(HEADER)
    n = 0
    for r in rows:
        w.writerow((r.enterprise, r.device, r.point, iso_ms(r.ts_ms), repr(float(r.value))))
        n += 1
    return n


def read_rows(fh: TextIO, zone_name: str = DEFAULT_TIMEZONE) -> Iterator[Row]:
    """Rows of a telemetry CSV; raises ValueError naming the line of a bad row."""
    reader = csv.reader(fh)
    head = next(reader, None)
    if head is None:
        return
    if tuple(h.strip() for h in head) != HEADER:
        raise ValueError(f"line 1: expected header {','.join(HEADER)}, got {','.join(head)}")
    for line, rec in enumerate(reader, start=2):
        if not rec:
            continue
        if len(rec) != len(HEADER):
            raise ValueError(f"line {line}: expected {len(HEADER)} columns, got {len(rec)}")
        try:
            yield Row(rec[0], rec[1], rec[2], parse_ts(rec[3], zone_name), float(rec[4]))
        except ValueError as exc:
            raise ValueError(f"line {line}: {exc}") from None


def rows_of_batches(batches: Iterable[tuple[str, list[dict]]]) -> Iterator[Row]:
    """Flatten stepper batches (``(enterprise, [{device, ts, values}])``) into rows, points
    sorted by name: with a site's enterprises and devices in id order (generated sites
    are), the rows come in the export's order (ts, enterprise, device, point)."""
    for eid, body in batches:
        for msg in body:
            values = msg["values"]
            for point in sorted(values):
                yield Row(eid, msg["device"], point, int(msg["ts"]), float(values[point]))
