"""What the risk service's undo mark costs a feed decision, before and after, side by side.

    python bench/risk_mark_bench.py --before DIR [--database DSN] [--enterprises 200]
                                    [--alarms 2000] [--reps 300]

The risk service (warning/runtime/risk.py) takes an undo mark before every decision, on the
server's one event loop. This builds a district of ``--enterprises`` enterprises with
``--alarms`` open alarms (each enterprise with a warning and its item) on a fresh database,
then times what ``RiskService._feed`` does for one batch under its lock: the mark(s) and the
decision. It runs twice, in two child processes: the code at ``--before`` (say, main) and this
tree; each child imports only its own tree (PYTHONPATH) and says which.

Batches: "1 event": one alert update at its level (no step to write: the common case);
"10 events / 5 ent": ten updates over five enterprises; "rise (writes)": a new red alarm in
an enterprise, so its warning rises and the level step is written (one transaction).
Wall time includes the store's round trips (the event loop serves others meanwhile); CPU time
(process_time) is what the event loop is blocked for. "mark" alone: the feed's mark (main: the
whole model and loop; after: the batch's enterprises), and the tick's whole mark.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_800_000_000.0
POINTS = ["dp", "hopper_temp", "air_speed", "spark", "vent_open", "airlock_fault", "running"]


def site_raw(n: int) -> dict:
    from warning.security import token_digest

    return {
        "site": {"name": "risk mark bench", "offline_after": 300},
        "enterprises": [
            {
                "id": f"E{i:03d}",
                "name": f"企业 {i}",
                "street": f"S{i % 8}",
                "token_sha256": [token_digest(f"bench-token-{i:03d}-" + "x" * 20)],
                "devices": [{"id": f"DC{d}", "type": "bag_filter", "points": POINTS} for d in (1, 2)],
            }
            for i in range(n)
        ],
        "users": [],
        "channels": [{"id": "log", "type": "log", "risk": True}],
    }


def q(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


async def child(args: argparse.Namespace) -> dict:
    import asyncpg

    import warning
    from warning.config import load_kinds, parse_site
    from warning.risk.config import default
    from warning.risk.model import AlarmChange
    from warning.runtime.risk import RiskService
    from warning.store.db import migrate
    from warning.web.hub import Hub

    name = f"risk_mark_bench_{os.getpid()}"
    admin = await asyncpg.connect(args.database)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = args.database.rsplit("/", 1)[0] + "/" + name
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        site = parse_site(site_raw(args.enterprises), load_kinds())
        svc = RiskService(site, pool, Hub(), default(), tick=3600, clock=lambda: T0)
        await svc.start()
        ents = sorted(site.enterprises)
        per = max(1, args.alarms // len(ents))
        slots = [(f"DC{d}", p, r) for r in ("threshold", "rate") for d in (1, 2) for p in POINTS if p != "spark"]
        alarms: dict[str, list[AlarmChange]] = {}
        for e in ents:  # one orange and yellows: every enterprise has a warning and its item
            alarms[e] = [
                AlarmChange(T0, f"{e}-a{j}", e, dev, p, rule, 3 if j == 0 else 2, svc.kinds.get((e, dev, p), ""), True)
                for j, (dev, p, rule) in enumerate(slots[:per])
            ]
            async with svc.lock:
                await svc._guarded(functools.partial(svc._observe, alarms[e]))

        new = hasattr(svc, "_batch")

        async def decide(changes: list) -> None:  # what _feed does with one batch, under the lock
            async with svc.lock:
                if new:
                    await svc._batch(changes)
                else:
                    svc._mark()  # main: the feed's own mark, then _guarded's
                    await svc._guarded(functools.partial(svc._observe, changes))

        def same(e: str, j: int) -> AlarmChange:
            a = alarms[e][j % len(alarms[e])]
            return AlarmChange(T0, a.alert, e, a.device, a.point, a.rule, a.level, a.kind, False)

        out: dict = {
            "code": str(Path(warning.__file__).resolve().parent.parent),
            "enterprises": len(svc.model.ents),
            "open_alarms": sum(len(x.alarms) for x in svc.model.ents.values()),
            "loop_items": len(svc.loop.items),
            "model_snapshot_kb": round(len(svc.model.snapshot()) / 1024),
            "loop_snapshot_kb": round(len(svc.loop.snapshot()) / 1024),
        }
        batches = {
            "1 event": [[same(ents[r % len(ents)], r)] for r in range(args.reps)],
            "10 events / 5 ent": [
                [same(ents[(r * 5 + i) % len(ents)], r + i) for i in range(5) for _ in range(2)]
                for r in range(args.reps)
            ],
            "rise (writes)": [
                [
                    AlarmChange(
                        T0,
                        f"{e}-spark",
                        e,
                        "DC1",
                        "spark",
                        "threshold",
                        4,
                        svc.kinds.get((e, "DC1", "spark"), ""),
                        True,
                    )
                ]
                for e in ents[: min(args.reps, len(ents))]
            ],
        }
        for label, runs in batches.items():
            wall, cpu = [], []
            for changes in runs:
                w, c = time.perf_counter(), time.process_time()
                await decide(changes)
                cpu.append((time.process_time() - c) * 1000)
                wall.append((time.perf_counter() - w) * 1000)
            out[label] = {
                "wall_ms": [q(wall, 0.5), q(wall, 0.95)],
                "cpu_ms": [q(cpu, 0.5), q(cpu, 0.95)],
                "n": len(runs),
            }
        marks = {"feed mark": [], "tick mark (whole)": []}
        for r in range(args.reps):
            e = ents[r % len(ents)]
            t = time.perf_counter()
            svc._mark((frozenset((e,)), frozenset())) if new else svc._mark()
            marks["feed mark"].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            svc._mark()
            marks["tick mark (whole)"].append((time.perf_counter() - t) * 1000)
        for label, xs in marks.items():
            out[label] = {"wall_ms": [q(xs, 0.5), q(xs, 0.95)], "n": len(xs)}
        await svc.stop()
        return out
    finally:
        await pool.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--database", default="postgresql://postgres@127.0.0.1:5432/postgres", help="server to create a database on"
    )
    ap.add_argument(
        "--before",
        required=True,
        help="a checkout of the tree to compare with, e.g. made by `git worktree add ../before REV`",
    )
    ap.add_argument("--enterprises", type=int, default=200)
    ap.add_argument("--alarms", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=300)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(child(args))))
        return
    res = {}
    for label, tree in (("before", Path(args.before).resolve()), ("after", ROOT)):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--database", args.database]
        cmd += ["--enterprises", str(args.enterprises), "--alarms", str(args.alarms), "--reps", str(args.reps)]
        env = {**os.environ, "PYTHONPATH": str(tree)}
        done = subprocess.run(cmd, env=env, cwd=tree, check=True, capture_output=True, text=True)
        res[label] = json.loads(done.stdout.strip().splitlines()[-1])
    b, a = res["before"], res["after"]
    print(f"before: {b['code']}   after: {a['code']}")
    print(
        f"district: {a['enterprises']} enterprises, {a['open_alarms']} open alarms, {a['loop_items']} loop items; "
        f"whole snapshot: model {a['model_snapshot_kb']} KB, loop {a['loop_snapshot_kb']} KB"
    )
    print(f"{'':22} {'before: median / p95':>26} {'after: median / p95':>26}")
    for label in ("1 event", "10 events / 5 ent", "rise (writes)", "feed mark", "tick mark (whole)"):
        for kind in ("wall_ms", "cpu_ms"):
            if kind not in a[label]:
                continue
            row = [f"{x[label][kind][0]:8.3f} / {x[label][kind][1]:8.3f} ms" for x in (b, a)]
            print(f"{label + ' ' + kind[:-3]:22} {row[0]:>26} {row[1]:>26}   (n={a[label]['n']})")


if __name__ == "__main__":
    main()
