"""Read-only JSON the dashboard pages need, scoped by enterprise: ``/api/v1/dash/...``.

* ``site``: enterprises (name, location, street, dust); with ``enterprise=`` (or ``devices=1``)
  also their devices and points with limits.
* ``alerts`` and ``alerts/{id}``: as ``/api/v1/alerts`` but an enterprise user only ever
  gets their own enterprise's (another's alert answers 404, not 403: no existence leak).
* ``trend``: alerts raised per time bucket and severity over the shift.
* ``series``: readings of points over a time range, bucketed to at most ``max`` values
  per point (min, mean, max per bucket) so a year of 10 s data stays a small answer. The
  source follows the bucket: raw readings when a bucket is under a minute, the 1-minute
  rollups under an hour, the 1-hour rollups beyond (``resolution`` in the answer); all
  through ``warning.store.history``, which reads raw and packed hours alike.

Every handler filters by the caller's scope (``warning.web.scope``): an ``enterprise=``
outside it answers 404 like an unknown one.
"""

from __future__ import annotations

import numpy as np
from starlette.requests import Request
from starlette.responses import Response

from ..i18n import word
from ..model import Severity
from ..store import alerts as alert_store
from ..store import history, stats
from ..store.packing import HOUR_MS, MINUTE_MS
from .alerts_api import alert_listing, alert_with_events
from .lang import request_locale
from .responses import json_error, json_response
from .scope import Scope, principal_of, scope_of

MAX_SERIES_SPAN_S = 2 * 366 * 86400  #: zoom out to two years
MAX_BUCKETS = 2000


def limits_of(point_def) -> list[dict]:
    """Fixed limits from a point's threshold detectors, for drawing lines on charts."""
    out = []
    for spec in point_def.detectors:
        if spec.get("type") != "threshold":
            continue
        for value, sev in spec.get("levels", []):
            out.append(
                {
                    "rule": spec.get("id", "threshold"),
                    "value": float(value),
                    "severity": sev,
                    "direction": spec.get("direction", "high"),
                }
            )
    return out


def site_json(site, scope: Scope, devices: bool = True, locale: str = "zh-CN") -> dict:
    """``title`` and ``dust`` are ids; ``label`` and ``dust_title`` are what a person reads in ``locale``."""
    ents = []
    by_device: dict[tuple[str, str], list] = {}
    for p in site.points:
        by_device.setdefault((p.ref.enterprise, p.ref.device), []).append(
            {
                "point": p.ref.point,
                "kind": p.kind,
                "unit": p.unit,
                "title": p.title,
                "label": word("point", p.title, locale),
                "limits": limits_of(p),
            }
        )
    for e in site.enterprises.values():
        if not scope.sees(e.id):
            continue
        ents.append(
            {
                "id": e.id,
                "name": e.name,
                "location": list(e.location) if e.location else None,
                "dust": e.dust,
                "dust_title": word("dust", e.dust, locale) if e.dust else "",
                # the map matches streets by name; the street's id is what users are scoped by
                "street": site.streets[e.street].name if e.street in site.streets else "",
                "street_id": e.street,
                "devices": [{"id": d, "points": by_device.get((e.id, d), [])} for d in e.devices]
                if devices
                else len(e.devices),
            }
        )
    streets = {e["street_id"] for e in ents if e["street_id"]}  # only the caller's streets
    return {
        "name": site.name,
        "enterprises": ents,
        "streets": [{"id": s.id, "name": s.name} for s in site.streets.values() if s.id in streets or scope.all],
    }


def _float(params, key: str, default: float) -> float:
    raw = params.get(key)
    if raw is None or raw == "":
        return default
    value = float(raw)  # ValueError -> 400 by the caller
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(key)
    return value


async def series_buckets(conn, pids: list[int], lo_ms: int, hi_ms: int, bucket_ms: int) -> tuple[dict[int, list], str]:
    """Per point ``[[t, mean, min, max], ...]`` in buckets of ``bucket_ms`` (t: the bucket's
    first reading, or its first rollup's start), and which source answered."""
    if bucket_ms < MINUTE_MS:
        raw = await history.raw(conn, pids, lo_ms, hi_ms)
        parts = {p: stats.of_readings(t // bucket_ms, t, v) for p, (t, v) in raw.items()}
        firsts = {p: t for p, (t, _) in raw.items()}
        resolution = "raw"
    else:
        step = MINUTE_MS if bucket_ms < HOUR_MS else HOUR_MS
        got = await history.summary(conn, pids, lo_ms, hi_ms, step)
        parts = {p: s._replace(bucket=s.bucket // bucket_ms) for p, s in got.items()}
        firsts = {p: s.bucket for p, s in got.items()}
        resolution = "1m" if step == MINUTE_MS else "1h"
    out: dict[int, list] = {}
    for p, s in parts.items():
        if s.bucket.size == 0:
            out[p] = []
            continue
        starts = np.flatnonzero(np.concatenate(([True], s.bucket[1:] != s.bucket[:-1])))
        r = stats.reduce(s)
        t = firsts[p][starts] / 1000.0
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = r.total / r.n
        out[p] = [
            [a, b, c, d] for a, b, c, d in zip(t.tolist(), _finite(mean), _finite(r.lo), _finite(r.hi), strict=True)
        ]
    return out, resolution


def _finite(a: np.ndarray) -> list:
    """JSON has no NaN or infinity: those become null."""
    return [v if v == v and v not in (float("inf"), float("-inf")) else None for v in a.tolist()]


def routes(state):
    cached: dict = {}

    def point_index() -> dict:
        """(enterprise, device, point) -> index: once per site (the live ledger replaces it), not per request."""
        if cached.get("site") is not state.site:
            cached.update(site=state.site, index=state.site.point_index())
        return cached["index"]

    def scoped(request: Request) -> Scope | Response:
        """The caller's scope, narrowed to the ``enterprise`` parameter if one is given (or a 404)."""
        wanted = request.query_params.get("enterprise") or None
        narrowed = scope_of(request).narrow(wanted, state.site.enterprises)
        return narrowed if narrowed is not None else json_error(404, f"no enterprise {wanted!r}")

    async def site_info(request: Request) -> Response:
        sc = scoped(request)
        if isinstance(sc, Response):
            return sc
        # Devices and points (with limits) only for one enterprise or when asked: the whole
        # district's is megabytes, and the big screen needs only names and places.
        devices = sc.only() is not None or request.query_params.get("devices") == "1"
        site = state.site
        return json_response(site_json(site, sc, devices, request_locale(request, site, principal_of(request))))

    async def list_alerts(request: Request) -> Response:
        sc = scoped(request)
        site = state.site
        return (
            sc
            if isinstance(sc, Response)
            else await alert_listing(
                state.pool,
                request,
                sc,
                default_limit=200,
                site=site,
                locale=request_locale(request, site, principal_of(request)),
            )
        )

    async def get_alert(request: Request) -> Response:
        aid = request.path_params["id"]
        site = state.site
        alert = await alert_with_events(
            state.pool, aid, scope_of(request), site, request_locale(request, site, principal_of(request))
        )
        if alert is None:
            return json_error(404, f"no alert with id {aid!r}")
        idx = point_index().get((alert["enterprise"], alert["device"], alert["point"]))
        alert["point_info"] = None
        if idx is not None:
            pd = site.points[idx]
            alert["point_info"] = {"unit": pd.unit, "title": pd.title, "kind": pd.kind, "limits": limits_of(pd)}
        ent = site.enterprises.get(alert["enterprise"])
        if ent is not None:  # the page names the enterprise (the listing may carry it already)
            alert.setdefault("enterprise_name", ent.name)
        return json_response(alert)

    async def trend(request: Request) -> Response:
        sc = scoped(request)
        if isinstance(sc, Response):
            return sc
        try:
            hours = min(max(_float(request.query_params, "hours", 12.0), 0.25), 24.0 * 7)
            bucket = int(min(max(_float(request.query_params, "bucket", 1800.0), 60.0), 86400.0))
        except ValueError:
            return json_error(400, "hours and bucket must be numbers")
        now = state.runtime.clock()
        start = (now - hours * 3600) // bucket * bucket
        args: list = [alert_store.ts(start), bucket]
        sql = (
            "SELECT floor(extract(epoch FROM e.at) / $2) * $2 AS b, e.severity, count(*) AS n "
            "FROM alert_events e {join} WHERE e.kind = 'raised' AND e.at >= $1 {where} GROUP BY 1, 2"
        )
        if not sc.all:
            args.append(sc.sql_filter())
            sql = sql.format(join="JOIN alerts a ON a.id = e.alert_id", where="AND a.enterprise = ANY($3::text[])")
        else:
            sql = sql.format(join="", where="")
        async with state.pool.acquire() as conn:
            rows = await conn.fetch(sql, *args)
        buckets: dict[float, dict] = {}
        for r in rows:
            b = buckets.setdefault(float(r["b"]), {s.label: 0 for s in Severity})
            b[Severity(r["severity"]).label] += r["n"]
        return json_response(
            {
                "start": start,
                "bucket": bucket,
                "now": now,
                "buckets": [{"t": t, **c} for t, c in sorted(buckets.items())],
            }
        )

    async def series(request: Request) -> Response:
        sc = scoped(request)
        if isinstance(sc, Response):
            return sc
        ent = sc.only()
        if ent is None:
            return json_error(400, "enterprise is required")
        q = request.query_params
        now = state.runtime.clock()
        try:
            t_to = _float(q, "to", now)
            t_from = _float(q, "from", t_to - 600)
            max_n = int(min(max(_float(q, "max", 120), 2), MAX_BUCKETS))
        except ValueError:
            return json_error(400, "from, to and max must be numbers (epoch seconds)")
        if not t_from < t_to or t_to - t_from > MAX_SERIES_SPAN_S:
            return json_error(400, "need from < to, at most 31 days apart")
        device, point = q.get("device"), q.get("point")
        ids = {}
        for dev, pts in state.runtime.devices.get(ent, {}).items():
            if device and dev != device:
                continue
            for name, pid in pts.items():
                if not point or name == point:
                    ids[pid] = f"{dev}/{name}"
        if not ids:
            return json_error(404, "no such device or point")
        bucket_ms = max(1, int((t_to - t_from) * 1000 / max_n))
        async with state.pool.acquire() as conn:
            found, resolution = await series_buckets(
                conn, list(ids), int(t_from * 1000), int(t_to * 1000) + 1, bucket_ms
            )
        out = {ids[pid]: rows for pid, rows in found.items()}
        return json_response(
            {
                "enterprise": ent,
                "from": t_from,
                "to": t_to,
                "bucket": bucket_ms / 1000.0,
                "resolution": resolution,
                "series": out,
            }
        )

    return [
        ("/api/v1/dash/site", site_info, ["GET"]),
        ("/api/v1/dash/alerts", list_alerts, ["GET"]),
        ("/api/v1/dash/alerts/{id}", get_alert, ["GET"]),
        ("/api/v1/dash/trend", trend, ["GET"]),
        ("/api/v1/dash/series", series, ["GET"]),
    ]
