"""Dashboard benchmark: first load, reading pushed -> screen updated under load, and 200
live WebSocket clients with slow ones dropped and resynchronised.

    python bench/dashboard_bench.py [--database DSN] [--rate 10000] [--seconds 30] [--clients 200]
                                    [--baseline /work/main] [--profile server.prof] [--samples run.json]
    python bench/dashboard_bench.py --pool run1.json run2.json ...   # several runs' probes together

With ``--baseline DIR`` the same phases run first against a server started from another
checkout (``DIR``, e.g. the main branch), then against this tree, and a table puts the two
side by side: one run, one machine, one load. ``--profile FILE`` runs this tree's server
under cProfile and writes its profile to FILE (figures under cProfile are slower: profile
runs are for finding where the time goes, not for the table).

The server runs as its own process (``warning run``) on a generated site (200 enterprises
x 6 bag filters, simulators/site.py). Three phases:

1. first load: Chromium (Debian's, via Playwright) logs in and opens the big screen; we
   sum the bytes of every response the page loads (HTML, CSS, JS, site JSON, trend).
   There is no chart library: the charts are our own SVG code, counted in the total.
2. latency: ``--clients`` WebSocket clients (aiohttp, in a process of their own) read the
   feed, as the big screens of a district would; a separate process pushes ``--rate``
   readings/s of normal values; every 0.25 s a probe pushes ``vent_open = true`` on a
   device without an alert (the cores that the server, PostgreSQL and each measuring part
   used meanwhile are reported too). A MutationObserver in the page stamps (``Date.now()``)
   when the probe's row enters the live list; latency = that stamp - the time just before
   the probe's POST. It covers HTTP, group commit, detectors, alert store, hub, WebSocket,
   JSON parse and the DOM update. Up to 400 probes (two devices of each enterprise;
   ``--seconds 100`` sends them all); each p99 comes with its distribution-free 95 %
   interval, which fewer than 368 probes cannot bound from above. "Row painted" goes one
   step further: the observer marks the new row's cells for Element Timing, and the
   browser reports when they were first painted (so a page that puts the row in early but
   paints it late gains nothing there).
   The feed clients stamp when the probe's event reached each of them: "to the last of the
   clients" is the fan-out's latency.
3. fan-out: ``--clients`` WebSocket clients (aiohttp) read the feed; 10 more "slow" ones
   complete the handshake on a raw socket with a 4 KiB receive buffer and then never
   read. Four bursts of ~400 alert events follow, on the devices no probe used (the server
   runs with a ring of 1,000 events instead of 5,000, so that ~1,600 events overrun it). We
   sample the server's RSS, then report whether every reading client got every event, how
   many slow ones were dropped (the ``warning_ws_dropped_total`` metric: none so far, as the
   kernel's socket buffers hold what the bursts send them; see docs/dashboard.md), and
   whether a reconnecting client gets a snapshot with every open alert (resync).

Everything shares this machine's 2 cores (server, PostgreSQL, browser, load generator):
figures are for the whole system on one box, and noisy when others run tests.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ingest_bench import paced, pct  # noqa: E402

from bench.common import free_port, quantile_interval, run_command, wait_ready  # noqa: E402
from simulators.site import credentials_toml, generate_site  # noqa: E402

RING = 1000  #: the hub's ring for this run (default 5,000): small, so four bursts overrun it

LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]


def cpu_seconds(name: str) -> float:
    """User + system CPU seconds of every process whose executable's name ends with ``name``."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            # Chromium and PostgreSQL rewrite their children's command lines into one string
            # ("postgres: checkpointer"): the program is the first word, less a colon
            exe = (proc / "cmdline").read_bytes().split(b"\0")[0].split(b" ")[0].rstrip(b":")
        except OSError:  # gone meanwhile
            continue
        if exe.endswith(name.encode()):
            total += pid_cpu_seconds(int(proc.name))
    return total


def pid_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0.0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class CpuShares:
    """Cores each part of the bench used between :meth:`start` and :meth:`stop`: the
    server, PostgreSQL, and the measuring side (load generator, feed clients, Chromium, this
    process), which shares the machine's two cores with the server."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids

    def _now(self) -> dict[str, float]:
        out = {name: pid_cpu_seconds(pid) for name, pid in self.pids.items()}
        out["PostgreSQL"] = cpu_seconds("postgres")
        out["Chromium"] = cpu_seconds("chromium")
        return out

    def start(self) -> None:
        self.t0, self.at0 = time.perf_counter(), self._now()

    def stop(self) -> dict[str, float]:
        dt, at1 = time.perf_counter() - self.t0, self._now()
        return {name: (at1[name] - self.at0[name]) / dt for name in at1}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def load_process(url: str, tokens: dict, devices: dict, rate: float, seconds: float, out) -> None:
    """Background load in its own process (its own core share, not the browser's loop)."""

    async def run() -> int:
        accepted = 0
        async with aiohttp.ClientSession() as s:

            async def post(eid, body):
                nonlocal accepted
                async with s.post(
                    url + "/api/v1/telemetry",
                    data=body,
                    headers={"Authorization": f"Bearer {tokens[eid]}", "Content-Type": "application/json"},
                ) as r:
                    if r.status == 202:
                        accepted += (await r.json())["accepted"]

            await paced(post, devices, rate, seconds, tick=0.05)
        return accepted

    t0 = time.perf_counter()
    n = asyncio.run(run())
    out.put((n, time.perf_counter() - t0))


def feed_process(ws_url: str, cookie: str, n: int, out, stop) -> None:
    """``n`` WebSocket clients reading the feed in their own process. For every probe (by
    enterprise/device), how many clients got its first ``raised`` event and when the last of
    them did (ms, epoch); and how many events the first client got per second, to see bursts."""

    async def run() -> tuple[dict, dict]:
        firsts: list[dict[str, float]] = [{} for _ in range(n)]
        per_second: dict[int, int] = {}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
            socks = [await s.ws_connect(ws_url, headers={"Cookie": cookie}, max_msg_size=0) for _ in range(n)]
            for ws in socks:
                await ws.receive()  # snapshot

            async def reader(i, ws):
                mine = firsts[i]
                while True:
                    msg = await ws.receive()
                    if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                        return
                    now = time.time() * 1000
                    d = orjson.loads(msg.data)
                    if d.get("type") != "event":
                        continue
                    if i == 0:
                        per_second[int(now // 1000)] = per_second.get(int(now // 1000), 0) + 1
                    if d["event"]["kind"] == "raised":  # the probe's own alert: the first raised on its device
                        a = d["event"]["alert"]
                        mine.setdefault(f"{a['enterprise']}/{a['device']}", now)

            readers = [asyncio.create_task(reader(i, ws)) for i, ws in enumerate(socks)]
            out.put("ready")
            while not stop.is_set():
                await asyncio.sleep(0.1)
            for ws in socks:
                await ws.close()
            await asyncio.gather(*readers, return_exceptions=True)
        keys = set().union(*firsts)
        got = {k: (sum(k in f for f in firsts), max(f[k] for f in firsts if k in f)) for k in keys}
        return got, per_second

    out.put(asyncio.run(run()))


async def post(s, url, token, body) -> None:
    async with s.post(
        url + "/api/v1/telemetry",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    ) as r:
        if r.status != 202:
            raise RuntimeError(f"HTTP {r.status}: {await r.text()}")


async def login_page(browser, url, password):
    page = await browser.new_page(viewport={"width": 1920, "height": 1080})
    await page.goto(url + "/login")
    await page.fill("#username", "officer")
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    await page.wait_for_url(url + "/")
    return page


async def first_load(browser, url, password) -> tuple[int, dict]:
    page = await browser.new_page(viewport={"width": 1920, "height": 1080})
    sizes: dict[str, int] = {}

    async def record(resp):
        try:
            sizes[resp.url.replace(url, "")] = len(await resp.body())
        except Exception:  # redirects have no body
            pass

    await page.goto(url + "/login")
    await page.fill("#username", "officer")
    await page.fill("#password", password)
    page.on("response", lambda r: asyncio.ensure_future(record(r)))
    await page.click("button[type=submit]")
    await page.wait_for_url(url + "/")
    await page.wait_for_selector("#conn-dot.live")
    await page.wait_for_selector("#map svg")
    await page.wait_for_timeout(1000)
    await page.close()
    return sum(sizes.values()), sizes


async def latency(browser, url, password, tokens, devices, probes, seconds, rate, clients, cookie, server_pid) -> dict:
    ctx = multiprocessing.get_context("spawn")
    feed_out, feed_stop = ctx.Queue(), ctx.Event()
    feeds = ctx.Process(
        target=feed_process, args=(url.replace("http", "ws") + "/ws", cookie, clients, feed_out, feed_stop)
    )
    feeds.start()
    if feed_out.get(timeout=120) != "ready":
        raise RuntimeError("feed clients did not connect")
    page = await login_page(browser, url, password)
    await page.wait_for_selector("#conn-dot.live")
    await page.evaluate("""() => {
        window.__seen = {};
        window.__painted = {};
        // Element Timing: the browser reports when a cell of the new row was first painted
        // (its renderTime), whether the page put the row in from a WebSocket message or from
        // an animation frame.
        new PerformanceObserver((list) => {
            for (const e of list.getEntries()) {
                if (e.renderTime && !(e.identifier in window.__painted)) {
                    window.__painted[e.identifier] = performance.timeOrigin + e.renderTime;
                }
            }
        }).observe({type: 'element', buffered: true});
        new MutationObserver((muts) => {
            const now = Date.now();
            for (const m of muts) for (const n of m.addedNodes) {
                if (n.nodeName !== 'TR' || !n.dataset.alertId) continue;
                const key = n.dataset.enterprise + '/' + n.dataset.device; // codes, whatever the language
                if (key in window.__seen) continue;
                window.__seen[key] = now;
                for (const td of n.children) td.setAttribute('elementtiming', key);
            }
        }).observe(document.getElementById('alert-rows'), {childList: true});
    }""")
    # A WebSocket client in this process stamps when each probe's event leaves the server,
    # to split the latency into server (HTTP .. hub) and browser (socket .. DOM) parts.
    ws_seen: dict[str, float] = {}
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in await page.context.cookies())
    ws_session = aiohttp.ClientSession()
    feed = await ws_session.ws_connect(url.replace("http", "ws") + "/ws", headers={"Cookie": cookie})

    async def watch():
        async for msg in feed:
            d = orjson.loads(msg.data)
            if d.get("type") == "event" and d["event"]["kind"] == "raised":
                a = d["event"]["alert"]
                ws_seen.setdefault(f"{a['enterprise']}/{a['device']}", time.time() * 1000)

    watcher = asyncio.create_task(watch())
    out = multiprocessing.get_context("spawn").Queue()
    proc = multiprocessing.get_context("spawn").Process(
        target=load_process, args=(url, tokens, devices, rate, seconds + 3, out)
    )
    proc.start()
    await asyncio.sleep(3)  # let the load settle
    sent: dict[str, float] = {}
    shares = CpuShares(
        {"server": server_pid, "load generator": proc.pid or 0, "feed clients": feeds.pid or 0, "bench": os.getpid()}
    )
    shares.start()
    async with aiohttp.ClientSession() as s:
        end = time.perf_counter() + seconds
        tasks = []
        for eid, dev in probes:
            if time.perf_counter() > end:
                break
            body = orjson.dumps([{"device": dev, "ts": int(time.time() * 1000), "values": {"vent_open": True}}])
            sent[f"{eid}/{dev}"] = time.time() * 1000
            tasks.append(asyncio.ensure_future(post(s, url, tokens[eid], body)))
            await asyncio.sleep(0.25)
        await asyncio.gather(*tasks)
    cpu = shares.stop()
    await asyncio.sleep(3)
    seen = await page.evaluate("window.__seen")
    painted = await page.evaluate("window.__painted")
    await page.close()
    watcher.cancel()
    await feed.close()
    await ws_session.close()
    feed_stop.set()
    fed, per_second = feed_out.get(timeout=60)
    feeds.join(30)
    accepted, elapsed = out.get(timeout=60)
    proc.join(30)
    return {
        "screen": [seen[k] - t for k, t in sent.items() if k in seen],
        "painted": [painted[k] - t for k, t in sent.items() if k in painted],
        "server": [ws_seen[k] - t for k, t in sent.items() if k in ws_seen],
        "last_client": [fed[k][1] - t for k, t in sent.items() if k in fed],
        "all_clients": sum(1 for k in sent if k in fed and fed[k][0] == clients),
        "accepted": accepted,
        "elapsed": elapsed,
        "sent": len(sent),
        "events_per_s": [per_second[k] for k in sorted(per_second)],
        "missing": [k for k in sent if k not in seen],
        "browser_share": cpu["Chromium"],
        "cpu": cpu,
    }


def slow_client(port: int, cookie: str) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nCookie: {cookie}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert b" 101 " in head.split(b"\r\n")[0], head
    return s


async def metric(s, url, name) -> float:
    async with s.get(url + "/metrics") as r:
        for line in (await r.text()).splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.split()[-1])
    return 0.0


async def fanout(url, port, cookie, pid, tokens, devices, n_clients, used) -> dict:
    counts = [0] * n_clients
    last = [0.0] * n_clients
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
        socks = [
            await s.ws_connect(url.replace("http", "ws") + "/ws", headers={"Cookie": cookie}) for _ in range(n_clients)
        ]
        for ws in socks:
            await ws.receive()  # snapshot

        async def reader(i, ws):
            while True:  # until we close the socket at the end
                msg = await ws.receive()
                if msg.type != aiohttp.WSMsgType.TEXT and msg.type != aiohttp.WSMsgType.BINARY:
                    return
                if orjson.loads(msg.data).get("type") == "event":
                    counts[i] += 1
                    last[i] = time.perf_counter()

        readers = [asyncio.create_task(reader(i, ws)) for i, ws in enumerate(socks)]
        slow = [slow_client(port, cookie) for _ in range(10)]
        dropped0 = await metric(s, url, "warning_ws_dropped_total")
        rss_before = rss_kib(pid)
        peak = rss_before
        sampling = True

        async def sampler():
            nonlocal peak
            while sampling:
                peak = max(peak, rss_kib(pid))
                await asyncio.sleep(0.1)

        samp = asyncio.create_task(sampler())
        t0 = time.perf_counter()
        # Four bursts of ~500 events: vent open, then sparks, on halves of the bag filters not
        # used by the latency probes. Each burst fits the ring (RING); together they overrun it,
        # so a client that reads nothing is dropped while one that reads keeps up.
        free = [(eid, d) for eid in sorted(tokens) for d in devices[eid] if (eid, d) not in used]
        halves = [free[: len(free) // 2], free[len(free) // 2 :]]
        for values in ({"vent_open": True}, {"spark": 3}):
            for half in halves:
                by_ent: dict[str, list] = {}
                for eid, d in half:
                    by_ent.setdefault(eid, []).append({"device": d, "ts": int(time.time() * 1000), "values": values})
                seen_before = max(last)
                await asyncio.gather(*(post(s, url, tokens[e], orjson.dumps(items)) for e, items in by_ent.items()))
                while True:  # until the readers have been quiet for 2 s after this burst's events
                    await asyncio.sleep(0.5)
                    if max(last) > seen_before and time.perf_counter() - max(last) > 2.0:
                        break
                    if time.perf_counter() - t0 > 300:
                        raise RuntimeError("events stopped coming")
        burst_s = max(last) - t0
        dropped = await metric(s, url, "warning_ws_dropped_total") - dropped0
        live_clients = await metric(s, url, "warning_ws_clients")
        sampling = False
        await samp
        rss_after = rss_kib(pid)
        # Resync: a reconnecting client gets a snapshot with every open alert.
        async with s.ws_connect(url.replace("http", "ws") + "/ws", headers={"Cookie": cookie}) as ws:
            snap = orjson.loads((await ws.receive()).data)
        async with s.get(url + "/api/v1/dash/alerts?state=open&limit=10000", headers={"Cookie": cookie}) as r:
            open_now = len(await r.json())
        for ws in socks:
            await ws.close()
        await asyncio.gather(*readers)
        for sk in slow:
            sk.close()
    return {
        "events_min": min(counts),
        "events_max": max(counts),
        "burst_s": burst_s,
        "dropped": dropped,
        "live_clients": live_clients,
        "rss_before": rss_before,
        "rss_peak": peak,
        "rss_after": rss_after,
        "snapshot_alerts": len(snap["alerts"]),
        "open_alerts": open_now,
    }


TARGET_MS = 50.0  #: issue 13's p99 target for a reading to reach the screen


def summary(xs: list[float]) -> str:
    if not xs:
        return "no samples"
    over = sum(x > TARGET_MS for x in xs)
    return (
        f"p50 {statistics.median(xs):.0f} ms, p95 {pct(xs, 95):.0f} ms, p99 {pct(xs, 99):.0f} ms "
        f"(95 % interval {interval(xs)}), max {max(xs):.0f} ms; {over} over {TARGET_MS:.0f} ms"
    )


SAMPLED = ("screen", "painted", "server", "last_client")  #: the per-probe latencies --samples keeps


def pool_runs(files: list[Path]) -> None:
    """Every tree's probes of several runs together: one run's 400 probes bound its p99 only
    loosely (the interval), the runs pooled bound it closer, if nothing else changed between them."""
    pooled: dict[str, dict[str, list[float]]] = {}
    for f in files:
        for name, r in orjson.loads(f.read_bytes()).items():
            for k in SAMPLED:
                pooled.setdefault(name, {}).setdefault(k, []).extend(r[k])
    print(f"{len(files)} runs pooled")
    for name, r in pooled.items():
        for k in SAMPLED:
            print(f"{name:>10s} {k:12s} {len(r[k]):5d} probes: {summary(r[k])}")


def interval(xs: list[float]) -> str:
    """The p99's distribution-free 95 % interval; "to beyond the max" when the samples cannot
    bound it (fewer than 368 of them)."""
    lo, hi = quantile_interval(xs, 0.99)
    return f"{lo:.0f}-{hi:.0f} ms" if hi != float("inf") else f"{lo:.0f} ms to beyond the max"


async def one_tree(tree: Path, args, label: str, profile: str | None) -> dict:
    """Every phase against a server started from ``tree``; prints as it goes, returns the figures."""
    from playwright.async_api import async_playwright

    print(f"=== {label}: server from {tree} ===", flush=True)
    work = Path(tempfile.mkdtemp(prefix="warning-dash-bench-"))
    site_text, tokens = generate_site(200, collectors=6, seed=13)
    (work / "site.toml").write_text(site_text)
    site = tomllib.loads(site_text)
    devices = {e["id"]: [d["id"] for d in e["devices"] if d.get("type") == "bag_filter"] for e in site["enterprises"]}
    password = tomllib.loads(credentials_toml(tokens, seed=13))["users"]["officer"]["password"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = run_command(work / "site.toml", port)
    cmd += ["--database", args.database] if args.database else ["--data-dir", str(work / "data")]
    if profile:
        cmd[1:1] = ["-m", "cProfile", "-o", str(Path(profile).resolve())]
    env = {**os.environ, "XDG_RUNTIME_DIR": str(work), "WARNING_WS_RING": str(RING), "PYTHONPATH": str(tree)}
    server = subprocess.Popen(cmd, cwd=tree, env=env, stdout=open(work / "server.log", "wb"), stderr=subprocess.STDOUT)
    try:
        await wait_ready(url, server)
        async with aiohttp.ClientSession() as s:
            async with s.post(
                url + "/login", data={"username": "officer", "password": password}, allow_redirects=False
            ) as r:
                cookie = r.headers["Set-Cookie"].split(";")[0]

        # probes: the last device of every enterprise, then the one before it (400 for the
        # bench's district; --seconds 100 sends them all: a p99 needs at least 368 samples to
        # be bounded from above, see summary); the rest stay free for the fan-out's bursts
        probes = [(eid, devices[eid][-k]) for k in (1, 2) for eid in sorted(tokens)]
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=shutil.which("chromium"), args=LAUNCH_ARGS)
            total, sizes = await first_load(browser, url, password)
            print(
                f"first load of the big screen: {total / 1024:.1f} KiB in {len(sizes)} responses "
                f"(uncompressed; no chart library: charts are our own SVG code)"
            )
            for k, v in sorted(sizes.items(), key=lambda kv: -kv[1]):
                print(f"  {v / 1024:7.1f} KiB  {k}")
            lat = await latency(
                browser,
                url,
                password,
                tokens,
                devices,
                probes,
                args.seconds,
                args.rate,
                args.clients,
                cookie,
                server.pid,
            )
            await browser.close()
        print(
            f"background load: {lat['accepted']:,} readings accepted in {lat['elapsed']:.1f} s = "
            f"{lat['accepted'] / lat['elapsed']:,.0f} readings/s; {args.clients} feed clients connected"
        )
        print(
            f"reading pushed -> row on screen, {len(lat['screen'])}/{lat['sent']} probes: {summary(lat['screen'])}"
            + (f"; missing: {lat['missing'][:5]}" if lat["missing"] else "")
        )
        print(
            f"reading pushed -> row painted (Element Timing), {len(lat['painted'])}/{lat['sent']} probes: "
            f"{summary(lat['painted'])}"
        )
        print(f"  of which POST -> event sent on /ws (server side): {summary(lat['server'])}")
        print(
            f"reading pushed -> event at the last of {args.clients} feed clients: {summary(lat['last_client'])} "
            f"({lat['all_clients']}/{lat['sent']} probes reached every client)"
        )
        print(f"  events a feed client got, per second of the run: {lat['events_per_s']}")
        print(
            "  CPU while the probes ran, in cores of the machine's 2: "
            + ", ".join(f"{name} {share:.2f}" for name, share in lat["cpu"].items())
        )

        used = set(probes)
        f = await fanout(url, port, cookie, server.pid, tokens, devices, args.clients, used)
        print(
            f"fan-out: {args.clients} reading clients + 10 slow ones; 4 bursts, {f['events_max']} events delivered "
            f"to every reading client in {f['burst_s']:.1f} s (fewest received: {f['events_min']}); "
            f"slow clients dropped: {f['dropped']:.0f}; clients still connected: {f['live_clients']:.0f}"
        )
        print(
            f"server RSS: {f['rss_before'] / 1024:.0f} MiB before the burst, peak {f['rss_peak'] / 1024:.0f} MiB, "
            f"{f['rss_after'] / 1024:.0f} MiB after"
        )
        print(
            f"resync: a reconnecting client's snapshot has {f['snapshot_alerts']} alerts; "
            f"open alerts in the store: {f['open_alerts']}",
            flush=True,
        )
        return {**lat, **f}
    finally:
        server.terminate()
        server.wait(60)
        shutil.rmtree(work, ignore_errors=True)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--database", help="PostgreSQL DSN (default: the embedded server)")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--rate", type=float, default=10_000)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--baseline", type=Path, help="another checkout to measure first, in the same run")
    ap.add_argument("--profile", help="run this tree's server under cProfile, writing the profile here")
    ap.add_argument(
        "--samples", type=Path, help="write every probe's latencies here (JSON), to pool several runs' tails"
    )
    ap.add_argument("--pool", type=Path, nargs="+", help="no run: pool the --samples files of earlier runs and print")
    args = ap.parse_args()
    if args.pool:
        pool_runs(args.pool)
        return

    runs = []
    if args.baseline:
        runs.append(("baseline", await one_tree(args.baseline.resolve(), args, "baseline", None)))
    runs.append(("this tree", await one_tree(ROOT, args, "this tree", args.profile)))
    if args.samples:
        args.samples.write_bytes(orjson.dumps({name: {k: r[k] for k in SAMPLED} for name, r in runs}))
    if len(runs) > 1:
        print(f"\n{'':40s}" + "".join(f"{name:>24s}" for name, _ in runs))
        for title, key in (
            ("reading -> row on screen", "screen"),
            ("reading -> row painted", "painted"),
            ("POST -> event sent (server)", "server"),
            (f"reading -> last of {args.clients} clients", "last_client"),
        ):
            for q in (50, 99):
                print(
                    f"{title + f' p{q} (ms)':40s}"
                    + "".join(f"{pct(r[key], q) if r[key] else float('nan'):24.0f}" for _, r in runs)
                )
            print(f"{'  its p99, 95 % interval':40s}" + "".join(f"{interval(r[key]):>24s}" for _, r in runs))
        print(f"{'probes sent':40s}" + "".join(f"{r['sent']:24d}" for _, r in runs))
        print(f"{'Chromium while probing (cores)':40s}" + "".join(f"{r['browser_share']:24.2f}" for _, r in runs))
        print(f"{'server while probing (cores)':40s}" + "".join(f"{r['cpu']['server']:24.2f}" for _, r in runs))
        print(f"{'burst: events to every client':40s}" + "".join(f"{r['events_max']:24,d}" for _, r in runs))
        print(f"{'  in (s)':40s}" + "".join(f"{r['burst_s']:24.1f}" for _, r in runs))
        print(f"{'slow clients dropped (of 10)':40s}" + "".join(f"{r['dropped']:24.0f}" for _, r in runs))
        print(f"{'server RSS peak (MiB)':40s}" + "".join(f"{r['rss_peak'] / 1024:24.0f}" for _, r in runs))


if __name__ == "__main__":
    asyncio.run(main())
