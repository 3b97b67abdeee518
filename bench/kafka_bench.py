"""Distributed runtime benchmark: readings/s through the broker, one worker vs two, in one run.

    python bench/kafka_bench.py [--readings 600000] [--workers 1,2] [--database DSN] [--http-seconds 15]

A tansu broker (the Kafka-protocol test broker) is started here. For each worker count, on
a fresh topic prefix and a fresh database: the readings topic is filled first with records
of 100 readings (200 enterprises x 4 bag filters x 7 points, normal values, as an ingest
gateway writes them, encoded beforehand) is written once every partition is owned by the
``warning worker`` processes, and we time the interval from the first stored reading to the
last. Each reading is decoded, run through
its detectors, COPYed into PostgreSQL with the partition's offset, in one transaction per
chunk. Workers, broker, PostgreSQL and this script share the machine's 2 cores.

Then, end to end (``--http-seconds``, 0 to skip): an ingest gateway (``warning run --role
ingest``) and two workers; 16 HTTP clients post 100-reading requests for that long. Reported:
readings/s answered 202 by the gateway (on the broker), and readings/s from the first 202 to
the last reading stored by the workers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import NORMAL_VALUES  # noqa: E402
from simulators.site import generate_site  # noqa: E402
from warning.config import load_site  # noqa: E402
from warning.model import Reading  # noqa: E402
from warning.runtime import records  # noqa: E402
from warning.runtime.kafka import KafkaSettings, ensure_topics, producer  # noqa: E402
from warning.runtime.tansu import Tansu  # noqa: E402
from warning.store.db import connect_pool  # noqa: E402
from warning.store.registry import sync_points  # noqa: E402


def cpu_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as fh:
        vals = [int(x) for x in fh.readline().split()[1:]]
    idle = vals[3] + vals[4]
    return sum(vals) - idle, sum(vals)


async def prepare(kafka: KafkaSettings, site, dsn: str, total: int, per_record: int = 100) -> list[tuple]:
    """``total`` readings as encoded records ``(partition, key, value)``, built before the clock
    starts so that writing them costs the workers as little CPU as possible."""
    pool = await connect_pool(dsn)
    async with pool.acquire() as conn:
        points = await sync_points(conn, site)
    await pool.close()
    by_ent: dict[str, list[tuple[int, str]]] = {}
    for pid, p in points.items():
        by_ent.setdefault(p.ref.enterprise, []).append((pid, p.ref.point))
    ents = sorted(by_ent)
    t0 = time.time() - total / 1000.0  # 1 kHz of simulated time, ending now
    out, sent, step = [], 0, 0
    while sent < total:
        for ent in ents:
            pts = by_ent[ent]
            rs = []
            for j in range(per_record):
                pid, name = pts[(step * per_record + j) % len(pts)]
                rs.append(
                    Reading(pid, round(t0 + (sent + j) / 1000.0, 3), NORMAL_VALUES.get(name, 0.0) + (j % 5) * 0.1)
                )
            value = records.encode_batch(uuid.uuid4().hex, ent, [(None, rs)], t0 + sent / 1000.0)
            out.append((records.partition_of(ent, kafka.partitions), ent.encode(), value))
            sent += per_record
            if sent >= total:
                break
        step += 1
    return out


async def send_all(kafka: KafkaSettings, items: list[tuple]) -> None:
    prod = producer(kafka, linger_ms=20)
    await prod.start()
    try:
        futs = []
        for k, key, value in items:
            futs.append(await prod.send(kafka.readings_topic, value, key=key, partition=k))
            if len(futs) >= 2000:
                await asyncio.gather(*futs)
                futs = []
        await asyncio.gather(*futs)
    finally:
        await prod.stop()


async def fresh_db(admin_dsn: str, name: str) -> str:
    conn = await asyncpg.connect(admin_dsn)
    await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await conn.execute(f"CREATE DATABASE {name}")
    await conn.close()
    return admin_dsn.rsplit("/", 1)[0] + "/" + name


async def phase(
    bootstrap: str, admin_dsn: str, site_path: Path, site, workers: int, total: int, partitions: int, work: Path
) -> dict:
    prefix = f"kb{workers}x{uuid.uuid4().hex[:6]}"
    dsn = await fresh_db(admin_dsn, f"warning_kbench_{workers}")
    kafka = KafkaSettings(bootstrap=bootstrap, prefix=prefix, partitions=partitions, idempotent=False)
    await ensure_topics(kafka)
    env = dict(
        os.environ,
        WARNING_KAFKA=bootstrap,
        WARNING_KAFKA_PREFIX=prefix,
        WARNING_KAFKA_PARTITIONS=str(partitions),
        WARNING_KAFKA_IDEMPOTENT="0",
    )
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "warning.cli",
                "worker",
                "--site",
                str(site_path),
                "--database",
                dsn,
                "--port",
                "0",
                "--name",
                f"bench-{i}",
                "--log-level",
                "WARNING",
            ],
            cwd=ROOT,
            env=env,
            stdout=open(work / f"worker{workers}-{i}.log", "wb"),
            stderr=subprocess.STDOUT,
        )
        for i in range(workers)
    ]
    # Every worker in the group and every partition claimed before the readings arrive, so the
    # figure is processing, not a rebalance.
    conn = await asyncpg.connect(dsn)
    deadline = time.monotonic() + 120
    while True:
        try:
            rows = await conn.fetch("SELECT DISTINCT owner FROM partition_state WHERE topic = $1", kafka.readings_topic)
            n_parts = await conn.fetchval("SELECT count(*) FROM partition_state WHERE topic = $1", kafka.readings_topic)
        except asyncpg.UndefinedTableError:
            rows, n_parts = [], 0
        if len(rows) == workers and n_parts == partitions:
            break
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise RuntimeError(f"workers did not share the partitions; see {work}")
        await asyncio.sleep(0.5)
    await conn.close()
    items = await prepare(kafka, site, dsn, total)
    n_records = len(items)
    await asyncio.sleep(3)  # the group settles (a late second rebalance would show up here)
    t = time.perf_counter()
    filling = asyncio.create_task(send_all(kafka, items))
    conn = await asyncpg.connect(dsn)
    first = last = fill_s = None
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"a worker exited; see {work}")
            try:
                n = await conn.fetchval("SELECT count(*) FROM readings")
            except asyncpg.UndefinedTableError:
                continue
            now = time.perf_counter()
            if n and first is None:
                first = (now, n)
                cpu0 = cpu_busy()
            if filling.done() and fill_s is None:
                filling.result()
                fill_s = now - t
            if n >= total:
                last = now
                cpu1 = cpu_busy()
                break
    finally:
        await conn.close()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(20)
    if last is None:
        raise RuntimeError("not all readings were stored in time")
    secs = last - first[0]
    rate = (total - first[1]) / secs
    busy = (cpu1[0] - cpu0[0]) / max(1, cpu1[1] - cpu0[1])
    return {
        "workers": workers,
        "readings": total,
        "records": n_records,
        "fill_s": fill_s,
        "seconds": secs,
        "rate": rate,
        "cpu": busy,
    }


async def end_to_end(
    bootstrap: str, admin_dsn: str, site_path: Path, tokens: dict, seconds: float, partitions: int, work: Path
) -> dict:
    import tomllib

    from bench.common import free_port, wait_ready
    from bench.ingest_bench import throughput

    prefix = f"kbe{uuid.uuid4().hex[:6]}"
    dsn = await fresh_db(admin_dsn, "warning_kbench_e2e")
    kafka = KafkaSettings(bootstrap=bootstrap, prefix=prefix, partitions=partitions, idempotent=False)
    await ensure_topics(kafka)
    env = dict(
        os.environ,
        WARNING_KAFKA=bootstrap,
        WARNING_KAFKA_PREFIX=prefix,
        WARNING_KAFKA_PARTITIONS=str(partitions),
        WARNING_KAFKA_IDEMPOTENT="0",
    )
    port = free_port()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "warning.cli",
                "run",
                "--site",
                str(site_path),
                "--database",
                dsn,
                "--role",
                "ingest",
                "--port",
                str(port),
                "--rate",
                "1000000",
                "--log-level",
                "WARNING",
            ],
            cwd=ROOT,
            env=env,
            stdout=open(work / "gateway.log", "wb"),
            stderr=subprocess.STDOUT,
        )
    ]
    procs += [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "warning.cli",
                "worker",
                "--site",
                str(site_path),
                "--database",
                dsn,
                "--port",
                "0",
                "--name",
                f"e2e-{i}",
                "--log-level",
                "WARNING",
            ],
            cwd=ROOT,
            env=env,
            stdout=open(work / f"e2e-worker{i}.log", "wb"),
            stderr=subprocess.STDOUT,
        )
        for i in range(2)
    ]
    try:
        url = f"http://127.0.0.1:{port}"
        await wait_ready(url, procs[0])
        await asyncio.sleep(8)  # both workers in the group before the clock starts
        raw = tomllib.loads(site_path.read_text())
        devices = {
            e["id"]: [d["id"] for d in e["devices"] if d.get("type") == "bag_filter"] for e in raw["enterprises"]
        }
        t0 = time.perf_counter()
        accepted, elapsed = await throughput(url, tokens, devices, seconds, 16)
        conn = await asyncpg.connect(dsn)
        try:
            deadline = time.monotonic() + 600
            while await conn.fetchval("SELECT count(*) FROM readings") < accepted:
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise RuntimeError(f"end-to-end run did not store everything; see {work}")
                await asyncio.sleep(0.25)
            drained = time.perf_counter() - t0
            stored = await conn.fetchval("SELECT count(*) FROM readings")
        finally:
            await conn.close()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(20)
    return {"accepted": accepted, "http_s": elapsed, "stored": stored, "drained_s": drained}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--readings", type=int, default=600_000)
    ap.add_argument("--workers", default="1,2", help="worker counts to measure, in one run")
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--http-seconds", type=float, default=15, help="end-to-end phase length (0: skip)")
    ap.add_argument(
        "--database",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="an admin DSN on the server where bench databases are created",
    )
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kafka-bench-"))
    text, tokens = generate_site(200, collectors=4, seed=11)
    site_path = work / "site.toml"
    site_path.write_text(text)
    site = load_site(site_path)
    results = []
    with Tansu(log=work / "tansu.log") as broker:
        for n in [int(x) for x in args.workers.split(",")]:
            r = await phase(broker.bootstrap, args.database, site_path, site, n, args.readings, args.partitions, work)
            results.append(r)
            print(
                f"{n} worker(s): {r['readings']:,} readings in {r['records']:,} records; "
                f"written in {r['fill_s'] or 0:.1f} s; processed in {r['seconds']:.1f} s = {r['rate']:,.0f} "
                f"readings/s; machine CPU {r['cpu']:.0%} busy",
                flush=True,
            )
        if len(results) > 1:
            print(
                f"scaling {results[-1]['workers']} vs {results[0]['workers']} worker(s): "
                f"{results[-1]['rate'] / results[0]['rate']:.2f}x",
                flush=True,
            )
        if args.http_seconds > 0:
            e = await end_to_end(
                broker.bootstrap, args.database, site_path, tokens, args.http_seconds, args.partitions, work
            )
            print(
                f"end to end (HTTP -> ingest gateway -> broker -> 2 workers -> PostgreSQL): "
                f"{e['accepted']:,} readings accepted in {e['http_s']:.1f} s = {e['accepted'] / e['http_s']:,.0f}/s "
                f"at the gateway; all {e['stored']:,} stored after {e['drained_s']:.1f} s = "
                f"{e['stored'] / e['drained_s']:,.0f}/s"
            )
    print(f"logs in {work}")


if __name__ == "__main__":
    asyncio.run(main())
