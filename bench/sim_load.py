"""Load generator benchmark: can ``warning simulate --load N`` offer N readings/s from one
process, and what does the server accept?

    python bench/sim_load.py [--rate 60000] [--seconds 20] [--database DSN]

Starts ``warning run`` as its own process (embedded PostgreSQL, or ``--database``) on a
generated site of 100 enterprises x 3 bag filters (+ wet collectors; 8 points a bag
filter), with ``--rate 100000`` per token so the server does not throttle, then runs the
real ``warning simulate --load N`` command as a second process and prints its report
(offered and accepted readings/s). Both processes and PostgreSQL share this machine's two
cores, so the accepted rate is the whole system's, load generator included.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import free_port, run_command, wait_ready  # noqa: E402
from simulators.site import credentials_toml, generate_site  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=float, default=60_000)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--enterprises", type=int, default=100)
    ap.add_argument("--database", help="PostgreSQL DSN (default: the embedded server)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="warning-simload-"))
    text, tokens = generate_site(args.enterprises, 3, seed=21)
    (work / "site.toml").write_text(text)
    (work / "credentials.toml").write_text(credentials_toml(tokens, seed=21))
    points = sum(len(d["points"]) for e in tomllib.loads(text)["enterprises"] for d in e["devices"])
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = run_command(work / "site.toml", port)
    cmd += ["--database", args.database] if args.database else ["--data-dir", str(work / "data")]
    env = {**os.environ, "XDG_RUNTIME_DIR": str(work)}
    server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=open(work / "server.log", "wb"), stderr=subprocess.STDOUT)
    try:
        asyncio.run(wait_ready(url))
        t0 = time.perf_counter()
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "warning.cli",
                "simulate",
                "--load",
                str(args.rate),
                "--duration",
                str(args.seconds),
                "--site",
                str(work / "site.toml"),
                "--credentials",
                str(work / "credentials.toml"),
                "--url",
                url,
                "--log-level",
                "WARNING",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=args.seconds + 120,
        )
        wall = time.perf_counter() - t0
        report = json.loads(out.stdout[out.stdout.index("{") :])
        print(
            f"site: {args.enterprises} enterprises, {points} points; asked {args.rate:,.0f} readings/s "
            f"for {args.seconds:g} s"
        )
        print(
            f"offered {report['offered']:,} readings = {report['offered_per_s']:,} readings/s from one process; "
            f"accepted {report['accepted']:,} = {report['accepted_per_s']:,} readings/s; throttled "
            f"{report['throttled']}, unavailable {report['unavailable']}, rejected {report['rejected']}, "
            f"failed {report['failed']} ({wall:.1f} s with start-up)"
        )
    finally:
        server.terminate()
        server.wait(60)


if __name__ == "__main__":
    main()
