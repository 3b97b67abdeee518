"""How long one shard's checkpoint snapshot holds the event loop, by shard count.

    python bench/checkpoint_bench.py [--enterprises 200] [--devices 6] [--shards 16,32,64]

The embedded runtime checkpoints its pipeline one shard at a time (``warning.pipeline.SHARDS``
slices by enterprise), between two inputs, on the server's one event loop: the snapshot
(pickling the shard's detector chains, timers and alerts) is a pause for everything the
server does, the dashboard's feed included. This builds the dashboard bench's district
(``--enterprises`` x ``--devices`` bag filters, seven points each, the default chains of
config/kinds.toml), feeds it 30 rounds of normal readings so every chain has state, then
for each shard count times every shard's snapshot three times, and restoring all of them into
a fresh pipeline (what a start-up does). No database, no I/O: the pure core only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import NORMAL_VALUES  # noqa: E402
from detectors.chain import merge  # noqa: E402
from warning import pipeline as pipeline_module  # noqa: E402
from warning.config import load_kinds  # noqa: E402
from warning.model import PointRef, Reading  # noqa: E402
from warning.pipeline import Pipeline  # noqa: E402
from warning.site import PointDef  # noqa: E402
from warning.step import Batch, Step  # noqa: E402

T0 = 1_800_000_000.0


def district(enterprises: int, devices: int) -> dict[int, PointDef]:
    table = load_kinds()
    points: dict[int, PointDef] = {}
    for e in range(enterprises):
        for d in range(1, devices + 1):
            for name in NORMAL_VALUES:
                k = table[name]
                ref = PointRef(f"E{e:03d}", f"DC{d}", name)
                detectors = tuple(merge(k.get("detectors", []), None))
                points[len(points) + 1] = PointDef(ref, name, k.get("unit", ""), k.get("title", name), detectors)
    return points


def warmed(points: dict[int, PointDef]) -> Pipeline:
    pipe = Pipeline(points, 300)
    step = Step(pipe)
    for r in range(30):
        t = T0 + r * 10
        rows = [
            Reading(pid, t, NORMAL_VALUES[p.ref.point] + (r % 7) * (p.ref.point == "dp")) for pid, p in points.items()
        ]
        step.apply(Batch([(None, rows)], t))
    return pipe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--enterprises", type=int, default=200)
    ap.add_argument("--devices", type=int, default=6)
    ap.add_argument("--shards", default="16,32,64", help="shard counts to compare, comma-separated")
    args = ap.parse_args()
    points = district(args.enterprises, args.devices)
    pipe = warmed(points)
    print(f"{len(points):,} points, {len(pipe.chains):,} chains; SHARDS in this tree: {pipeline_module.SHARDS}")
    print(f"{'shards':>6} {'snapshot p50 (ms)':>18} {'max (ms)':>9} {'KiB a shard':>12} {'restore all (ms)':>17}")
    default = pipeline_module.SHARDS
    try:
        for count in (int(x) for x in args.shards.split(",")):
            pipeline_module.SHARDS = count  # read at each call (shard_of, snapshot)
            took, sizes = [], []
            for _ in range(3):
                for shard in range(count):
                    t = time.perf_counter()
                    sizes.append(len(pipe.snapshot(shard)))
                    took.append((time.perf_counter() - t) * 1e3)
            snaps = [pipe.snapshot(shard) for shard in range(count)]
            fresh = Pipeline(points, 300)
            t = time.perf_counter()
            for data in snaps:
                fresh.restore(data)
            restore_ms = (time.perf_counter() - t) * 1e3
            print(
                f"{count:>6} {statistics.median(took):>18.2f} {max(took):>9.2f} "
                f"{statistics.median(sizes) / 1024:>12.0f} {restore_ms:>17.0f}"
            )
    finally:
        pipeline_module.SHARDS = default


if __name__ == "__main__":
    main()
