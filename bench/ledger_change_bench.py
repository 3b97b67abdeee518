"""One ledger change at 160,000 points (issue 14: each change rebuilt the whole site, 2-3 s).

    python bench/ledger_change_bench.py [--database DSN] [--enterprises 5000] [--devices 4] [--changes 5]

Starts the server in this process on a fresh database whose site file declares the whole
ledger (``--enterprises`` x ``--devices`` x 8 points, as ``bench/ledger_import_bench.py``
builds it), then, as the admin over HTTP, ``--changes`` times: adds a device with one point to
one enterprise (``PUT /api/v1/admin/enterprises/{id}/devices/{device}``), timed from the
request to the answer (the answer comes once the runtime has taken the change). Printed: each
change's time and the median. Side by side, in the same process: the pure cost of building
the site after one change the whole way (``site_from_records``: ``parse_site`` of the whole
ledger, what every change cost before) and the incremental way (``warning.live.site_after``;
absent in older code). Run it with ``--root`` pointing at another checkout to time that code's
changes end to end (the "before" figure).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ap = argparse.ArgumentParser()
ap.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/postgres")
ap.add_argument("--enterprises", type=int, default=5000)
ap.add_argument("--devices", type=int, default=4)
ap.add_argument("--changes", type=int, default=5)
ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent, help="the checkout to time")
ARGS = ap.parse_args()
sys.path.insert(0, str(ARGS.root))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402

from bench.ledger_import_bench import ledger  # noqa: E402
from warning import live  # noqa: E402
from warning.config import load_kinds, parse_site  # noqa: E402
from warning.ledger.plan import Proposal, apply, plan  # noqa: E402
from warning.security import hash_password  # noqa: E402
from warning.server import Server, Settings  # noqa: E402

STREETS = ("桃浦镇", "长征镇", "真如镇街道", "万里街道")


async def main() -> None:
    kinds = load_kinds()
    raw = {
        "site": {"name": "change bench"},
        "streets": [{"id": s, "name": s} for s in STREETS],
        "enterprises": ledger(ARGS.enterprises, ARGS.devices),
        "users": [{"name": "boss", "role": "admin", "password": hash_password("boss-pass-1")}],
    }
    site = parse_site(raw, kinds)
    print(f"code: {live.__file__}; {len(site.points)} points")
    name = f"warning_ledger_change_{int(time.time())}"
    admin = await asyncpg.connect(ARGS.database)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = ARGS.database.rsplit("/", 1)[0] + "/" + name
    t = time.perf_counter()
    srv = Server(site, Settings(port=0, database=dsn))
    await srv.start()
    print(f"server started (seeded {len(site.points)} points) in {time.perf_counter() - t:.1f} s")
    try:
        ledger_ = srv.ledger
        assert ledger_ is not None
        # the pure part, both ways, on the same change
        eid = "B00001"
        doc = dict(ledger_.records.enterprises[eid])
        doc["devices"] = [*doc["devices"], {"id": "PURE", "points": ["dp"]}]
        changes, errors = plan(ledger_.records, [Proposal("enterprise", "update", eid, doc)], kinds)
        assert not errors
        after = apply(ledger_.records, changes)
        t = time.perf_counter()
        live.site_from_records(ledger_.base, after, kinds)
        whole = time.perf_counter() - t
        line = f"building the site after one change: the whole ledger (site_from_records) {whole * 1000:,.0f} ms"
        site_after = getattr(live, "site_after", None)
        if site_after is not None:
            t = time.perf_counter()
            site_after(ledger_.site, after, changes, kinds)
            line += f"; incremental (site_after) {(time.perf_counter() - t) * 1000:,.1f} ms"
        print(line)
        base = f"http://127.0.0.1:{srv.port}"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
            async with s.post(
                f"{base}/login", data={"username": "boss", "password": "boss-pass-1"}, allow_redirects=False
            ) as r:
                assert r.status == 303
            async with s.get(f"{base}/api/v1/me") as r:
                csrf = (await r.json())["csrf"]
            times = []
            for i in range(ARGS.changes):
                t = time.perf_counter()
                async with s.put(
                    f"{base}/api/v1/admin/enterprises/B{i * 7:05d}/devices/NEW{i}",
                    json={"points": ["dp"]},
                    headers={"x-csrf-token": csrf},
                ) as r:
                    body = await r.json()
                    assert r.status == 200, body
                times.append(time.perf_counter() - t)
                assert "NEW%d" % i in srv.runtime.devices[f"B{i * 7:05d}"]
        print(
            f"one device added over HTTP, answered once live: {', '.join(f'{x:.2f}' for x in times)} s; "
            f"median {statistics.median(times):.2f} s"
        )
    finally:
        await srv.stop()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
