"""Simulators: healthy physics stay in range, each fault bends its signal the way
the design's fault physics say (docs/simulators.md), runs reproduce, the demo site and schedule are complete, and
the pusher talks real HTTP to a loopback server."""

from __future__ import annotations

import asyncio
import json
import tomllib

import pytest
from aiohttp import web

from simulators.faults import (
    AirflowLoss,
    AirlockJam,
    BagBlinding,
    BagBreak,
    Offline,
    Overheat,
    Ramp,
    SparkBurst,
    Spike,
    Stuck,
    VentOpen,
)
from simulators.plant import BagFilter, WetCollector, production_on
from simulators.push import SitePusher, iter_batches
from simulators.scenario import DEMO_BACKFILL, demo_faults
from simulators.site import BAG_POINTS, WET_POINTS, _inside, _streets, demo_user_secrets, generate_site, write_demo
from warning.security import token_digest, verify_password

T0 = 1_717_200_000.0  # a fixed epoch: tests never read the clock for sim time
HOUR = 3600


def series(model, n: int = HOUR, step: float = 1.0, faults=(), t0: float = T0) -> list[tuple[float, dict | None]]:
    out = []
    for k in range(n):
        t = t0 + k * step
        values = model.sample(t)
        for fault in faults:
            values = fault.apply(t, values) if values is not None else None
        out.append((t, values))
    return out


def column(rows, point):
    return [v[point] for _, v in rows]


# ---------------------------------------------------------------- healthy physics


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_bag_filter_stays_in_normal_range_for_an_hour(seed):
    rows = series(BagFilter(seed, clean_interval=90 + 100 * seed))
    dp, temp, air = column(rows, "dp"), column(rows, "hopper_temp"), column(rows, "air_speed")
    assert 600 <= min(dp) and max(dp) <= 1600
    assert max(temp) < 50 and min(temp) > 15
    assert 17 <= min(air) and max(air) <= 23
    for point in ("airlock_fault", "spark", "vent_open"):
        assert set(column(rows, point)) == {0.0}
    assert set(column(rows, "running")) == {1.0}


def test_dp_is_a_cleaning_sawtooth():
    interval = 120.0
    dp = column(series(BagFilter(5, clean_interval=interval, noise=2.0)), "dp")
    drops = [a - b for a, b in zip(dp, dp[1:]) if a - b > 60]
    assert abs(len(drops) - HOUR / interval) <= 1  # one pulse per cleaning interval
    assert all(80 <= d <= 320 for d in drops)  # 100-300 Pa, give or take the noise
    rises = [b - a for a, b in zip(dp, dp[1:]) if b - a > 0]
    assert len(rises) > HOUR * 0.6  # and it climbs back between pulses
    assert abs(sum(dp) / len(dp) - 1100) < 30


def test_any_step_works_and_repeated_times_do_not_break():
    model = BagFilter(1)
    rows = series(model, n=500, step=7.3)
    assert 600 <= min(column(rows, "dp")) and max(column(rows, "air_speed")) <= 23
    again = model.sample(rows[-1][0])  # same time twice
    assert again["dp"] > 600
    assert model.sample(rows[0][0])["dp"] > 600  # an earlier time is a zero step


def test_inerting_adds_o2():
    o2 = column(series(BagFilter(1, inerting=True), n=1800), "o2")
    assert 4.5 < min(o2) and max(o2) < 6.5
    assert "o2" not in BagFilter(1).sample(T0)


def test_wet_collector_ranges():
    rows = series(WetCollector(4))
    assert 60 <= min(column(rows, "water_level")) and max(column(rows, "water_level")) <= 80
    assert 10 <= min(column(rows, "water_flow")) and max(column(rows, "water_flow")) <= 20
    assert 0 <= min(column(rows, "h2")) and max(column(rows, "h2")) <= 2


def test_production_schedule_stops_at_night_and_weekends():
    monday_9 = 1_704_070_800  # 2024-01-01 09:00 China time, a Monday
    assert production_on(monday_9)
    assert not production_on(monday_9 - 2 * HOUR)  # 07:00
    assert not production_on(monday_9 + 12 * HOUR)  # 21:00
    assert not production_on(monday_9 + 5 * 86400)  # Saturday 09:00
    model = BagFilter(2, schedule=production_on)
    rows = series(model, n=6 * 360, step=10.0, t0=monday_9 + 9 * HOUR)  # 18:00 → 24:00
    evening = rows[-1][1]
    run_down = rows[(2 * HOUR + 10 * 60) // 10][1]  # 20:10, ten minutes after the stop
    assert run_down["air_speed"] < 0.5 and run_down["dp"] <= 60
    assert evening["running"] == 0.0 and evening["air_speed"] < 0.5 and evening["dp"] <= 60
    assert evening["hopper_temp"] < rows[0][1]["hopper_temp"] - 5  # cooled towards ambient
    day = series(BagFilter(2, schedule=production_on), n=60, t0=monday_9 + HOUR)
    assert all(v["running"] == 1.0 and v["air_speed"] > 17 for _, v in day)


# ---------------------------------------------------------------- reproducibility


def test_same_seed_same_series_other_seed_other_series():
    a, b, c = (series(BagFilter(s), n=600) for s in (7, 7, 8))
    assert a == b
    assert column(a, "dp") != column(c, "dp")
    wa, wb = series(WetCollector(3), n=300), series(WetCollector(3), n=300)
    assert wa == wb


def test_iter_batches_reproduces_even_with_stateful_faults():
    site = tomllib.loads(generate_site(3, 2, seed=4)[0])
    faults = [Stuck(enterprise="E001", device="DC1", start=T0 + 5, point="dp")]
    one = list(iter_batches(site, faults, T0, T0 + 30))
    two = list(iter_batches(site, faults, T0, T0 + 30))
    assert one == two
    assert list(iter_batches(site, faults, T0, T0 + 30, seed=1)) != one


# ---------------------------------------------------------------- faults


def with_and_without(fault, n=600, seed=11, model=BagFilter, **params):
    clean = series(model(seed, **params), n=n)
    faulty = series(model(seed, **params), n=n, faults=[fault])
    return clean, faulty


def test_overheat_crosses_55_then_70_at_the_labelled_time():
    fault = Overheat(enterprise="E1", device="DC1", start=T0 + 60, rate=25.0, duration=200, cool=60)
    clean, faulty = with_and_without(fault, n=900)
    assert clean[:60] == faulty[:60]
    temp = column(faulty, "hopper_temp")
    t55 = next(t for t, v in faulty if v["hopper_temp"] >= 55)
    t70 = next(t for t, v in faulty if v["hopper_temp"] >= 70)
    label = fault.label()
    assert label["severity"] == "red" and label["type"] == "overheat" and label["points"] == ["hopper_temp"]
    assert T0 + 60 < t55 < t70
    assert abs(t70 - label["hazard_time"]) <= 1.0
    assert t70 - (T0 + 60) <= 100  # 70 °C within 100 s at 25 °C/min
    assert max(temp) > 100 and temp[-1] < 50  # then extinguished and cooled


def test_slow_overheat_that_ends_early_deserves_less():
    fault = Overheat(enterprise="E1", device="DC1", start=T0, rate=10.0, duration=200)  # 30 → 63 °C
    assert fault.deserved() == "yellow" and fault.hazard_time() is None
    assert Overheat(enterprise="E1", device="DC1", start=T0, rate=1.0, duration=60).deserved() == "blue"


def test_vent_opening_drops_dp_to_zero_and_trips_the_fan():
    fault = VentOpen(enterprise="E1", device="DC1", start=T0 + 100, duration=60)
    clean, faulty = with_and_without(fault)
    during = [v for t, v in faulty if T0 + 100 <= t < T0 + 160]
    assert len(during) == 60
    assert all(v["dp"] < 5 and v["air_speed"] < 0.5 and v["running"] == 0 and v["vent_open"] == 1 for v in during)
    assert faulty[170] == clean[170] and faulty[50] == clean[50]
    assert fault.label()["severity"] == "red" and fault.label()["hazard_time"] == T0 + 100


def test_spike_hits_one_sample_by_three_to_ten_times():
    fault = Spike(enterprise="E1", device="DC1", start=T0 + 300, point="air_speed", factor=5.0)
    clean, faulty = with_and_without(fault)
    diffs = [i for i, (a, b) in enumerate(zip(clean, faulty)) if a != b]
    assert diffs == [300]
    ratio = faulty[300][1]["air_speed"] / clean[300][1]["air_speed"]
    assert 3 <= ratio <= 10
    assert fault.label()["severity"] == "blue"


def test_stuck_freezes_the_value():
    fault = Stuck(enterprise="E1", device="DC1", start=T0 + 100, duration=200, point="hopper_temp")
    _, faulty = with_and_without(fault)
    frozen = {v["hopper_temp"] for t, v in faulty if T0 + 100 <= t < T0 + 300}
    assert len(frozen) == 1
    assert len({v["hopper_temp"] for _, v in faulty[300:400]}) > 10


def test_offline_sends_nothing():
    fault = Offline(enterprise="E001", device="DC2", start=T0 + 10, duration=30)
    _, faulty = with_and_without(fault, n=60)
    missing = [t - T0 for t, v in faulty if v is None]
    assert missing == list(range(10, 40))
    site = tomllib.loads(generate_site(2, 3, seed=2)[0])
    batches = iter_batches(site, [fault], T0, T0 + 60)
    seen = [(b["device"], b["ts"]) for eid, body in batches for b in body if eid == "E001"]
    dc2 = [ts for dev, ts in seen if dev == "DC2"]
    assert len(dc2) == 30 and not any(T0 * 1000 + 10_000 <= ts < T0 * 1000 + 40_000 for ts in dc2)
    assert fault.label()["severity"] == "yellow"


def test_airflow_loss_falls_below_the_minimum_within_a_minute():
    fault = AirflowLoss(enterprise="E1", device="DC1", start=T0 + 100, to=0.6, ramp=60, duration=200)
    clean, faulty = with_and_without(fault)
    t16 = next(t for t, v in faulty if v["air_speed"] < 16)
    assert T0 + 100 < t16 <= T0 + 160
    assert abs(t16 - fault.hazard_time()) < 10  # label assumes a nominal 20 m/s
    assert max(v["air_speed"] for t, v in faulty if T0 + 160 <= t < T0 + 300) < 14
    assert faulty[-1] == clean[-1]  # recovered after end + ramp
    assert fault.label()["severity"] == "orange"


def test_bag_blinding_raises_and_bag_break_lowers_dp():
    blind = BagBlinding(enterprise="E1", device="DC1", start=T0, rise=0.4, ramp=600)
    clean, faulty = with_and_without(blind, n=1200, clean_interval=100)
    ratio = sum(column(faulty[-300:], "dp")) / sum(column(clean[-300:], "dp"))
    assert ratio > 1.35 and ratio < 1.45
    assert sum(column(faulty[-300:], "air_speed")) < sum(column(clean[-300:], "air_speed"))
    brk = BagBreak(enterprise="E1", device="DC1", start=T0 + 200, drop=0.25)
    clean, faulty = with_and_without(brk, clean_interval=100)
    ratio = sum(column(faulty[200:], "dp")) / sum(column(clean[200:], "dp"))
    assert abs(ratio - 0.75) < 0.01 and faulty[:200] == clean[:200]
    assert blind.deserved() == brk.deserved() == "yellow"


def test_sparks_airlock_and_ramp():
    spark = SparkBurst(enterprise="E1", device="DC1", start=T0 + 20, duration=5, count=3)
    jam = AirlockJam(enterprise="E1", device="DC1", start=T0 + 40, duration=10)
    _, faulty = with_and_without(spark, n=100)
    assert [t - T0 for t, v in faulty if v["spark"] > 0] == [20, 21, 22, 23, 24]
    _, faulty = with_and_without(jam, n=100)
    assert [t - T0 for t, v in faulty if v["airlock_fault"] == 1] == list(range(40, 50))
    low = Ramp(enterprise="E1", device="WC1", start=T0 + 10, point="water_level", to=20, over=60, duration=100)
    _, faulty = with_and_without(low, n=300, model=WetCollector)
    assert min(column(faulty, "water_level")) == pytest.approx(20, abs=0.01)
    assert column(faulty, "water_level")[-1] >= 60


def test_apply_is_pure_and_ignores_missing_points():
    values = BagFilter(1).sample(T0)
    before = dict(values)
    for fault in (
        VentOpen(enterprise="E", device="D", start=T0),
        Overheat(enterprise="E", device="D", start=T0 - 600, rate=20),
        Spike(enterprise="E", device="D", start=T0, point="dp"),
    ):
        assert fault.apply(T0, values) != values
        assert values == before
    wet = WetCollector(1).sample(T0)
    assert VentOpen(enterprise="E", device="D", start=T0).apply(T0, wet)["running"] == 0
    assert "dp" not in BagBreak(enterprise="E", device="D", start=T0).apply(T0, wet)


# ---------------------------------------------------------------- site and demo


def test_generated_site_is_complete_and_reads_back():
    text, tokens = generate_site(20, 3, seed=1)
    site = tomllib.loads(text)
    assert site["site"]["offline_after"] == 60 and "map" not in site["site"]  # only write_demo puts the map beside it
    ents = site["enterprises"]
    streets = _streets()
    assert {e["street"] for e in ents} == set(streets) and len(streets) == 10  # every street of Putuo has one
    assert len(ents) >= 20 and len({e["id"] for e in ents}) == len(ents) and len({e["name"] for e in ents}) == len(ents)
    assert {e["dust"] for e in ents} >= {"wood", "metal", "grain", "plastic", "aluminium"}
    for ent in ents:
        assert ent["name"].startswith("上海") and ent["name"].endswith("有限公司")
        lon, lat = ent["location"]
        assert _inside(lon, lat, streets[ent["street"]])  # in Putuo, inside its own street
        assert ent["token_sha256"] == [token_digest(tokens[ent["id"]])]
        bags = [d for d in ent["devices"] if d["type"] == "bag_filter"]
        assert [d["id"] for d in bags] == ["DC1", "DC2", "DC3"]
        for dev in bags:
            assert set(BAG_POINTS) <= set(dev["points"])
            assert {"hopper_temp", "dp", "airlock_fault", "running"} <= set(dev["points"])  # mandatory
            assert 750 <= dev["overrides"]["dp"]["baseline"]["baseline"] <= 1500
        for dev in ent["devices"]:
            if dev["type"] == "wet_collector":
                assert ent["dust"] in ("aluminium", "magnesium") and dev["points"] == WET_POINTS
    assert any(d["type"] == "wet_collector" for e in ents for d in e["devices"])
    users = {u["name"]: u for u in site["users"]}
    secrets = demo_user_secrets(1)
    assert users["officer"]["role"] == "officer" and users["viewer"]["role"] == "viewer"
    assert verify_password("officer-demo", users["officer"]["password"])
    assert verify_password("viewer-demo", users["viewer"]["password"])
    assert not verify_password("viewer-demo", users["officer"]["password"])
    assert users["officer"]["api_token_sha256"] == token_digest(secrets["officer"]["api_token"])
    assert site["channels"] == [{"id": "duty-log", "type": "log", "min_severity": "blue"}]
    assert generate_site(20, 3, seed=1) == (text, tokens)  # reproducible byte for byte
    assert generate_site(20, 3, seed=2)[1] != tokens


def test_write_demo_writes_both_files(tmp_path):
    site_path, cred_path = write_demo(tmp_path / "demo")
    site = tomllib.loads(site_path.read_text(encoding="utf-8"))
    creds = tomllib.loads(cred_path.read_text(encoding="utf-8"))
    assert "DEMO ONLY" in cred_path.read_text(encoding="utf-8")
    assert set(creds["tokens"]) == {e["id"] for e in site["enterprises"]}
    assert creds["users"]["officer"]["password"] == "officer-demo"
    for ent in site["enterprises"]:
        assert ent["token_sha256"] == [token_digest(creds["tokens"][ent["id"]])]


def test_demo_schedule_shows_every_colour_within_two_minutes():
    site = tomllib.loads(generate_site()[0])
    start = T0 + DEMO_BACKFILL
    faults = demo_faults(site["enterprises"], start)
    early = [f for f in faults if start <= f.start < start + 120]
    assert {f.deserved() for f in early} == {"blue", "yellow", "orange", "red"}
    assert len({f.enterprise for f in early}) >= 6
    assert all(f.end is not None for f in faults)  # everything clears, alerts resolve
    assert len([f for f in faults if f.start > start + 600]) > 100  # recurring activity for a day
    device_ids = {(e["id"], d["id"]) for e in site["enterprises"] for d in e["devices"]}
    assert all((f.enterprise, f.device) in device_ids for f in faults)

    # and the signals really do it, on the demo timeline with its back-fill
    seen: dict[tuple[str, str], list[tuple[float, dict]]] = {}
    for eid, body in iter_batches(site, faults, start - DEMO_BACKFILL, start + 120):
        for msg in body:
            seen.setdefault((eid, msg["device"]), []).append((msg["ts"] / 1000, msg["values"]))
    labels = {f.kind: f.label() for f in early}
    hot = [(t, v["hopper_temp"]) for t, v in seen[(labels["overheat"]["enterprise"], "DC1")]]
    assert max(temp for _, temp in hot) >= 70 and labels["overheat"]["hazard_time"] < start + 120
    vent = seen[(labels["vent_open"]["enterprise"], "DC1")]
    assert any(v["vent_open"] == 1 and v["dp"] == 0 for _, v in vent)
    spark = seen[(labels["spark_burst"]["enterprise"], "DC2")]
    assert any(v["spark"] > 0 for _, v in spark)
    air = [v["air_speed"] for t, v in seen[(labels["spike"]["enterprise"], "DC1")]]
    assert len(air) > 120 + DEMO_BACKFILL - 60 and max(air) > 3 * sorted(air)[len(air) // 2]
    off = [t for t, _ in seen[(labels["offline"]["enterprise"], labels["offline"]["device"])]]
    assert max(off) < start + 10  # silent from +10 s: yellow at +70 s


def test_demo_schedule_adapts_to_a_small_site():
    site = tomllib.loads(generate_site(3, 1, seed=3)[0])
    faults = demo_faults(site["enterprises"], T0, horizon=3600)
    ids = {(e["id"], d["id"]) for e in site["enterprises"] for d in e["devices"]}
    assert faults and all((f.enterprise, f.device) in ids for f in faults)
    assert {f.deserved() for f in faults if f.start < T0 + 120} == {"blue", "yellow", "orange", "red"}


# ---------------------------------------------------------------- pusher over real HTTP


async def test_site_pusher_posts_batches_and_honours_retry_after():
    text, tokens = generate_site(3, 2, seed=9)
    site = tomllib.loads(text)
    by_digest = {token_digest(tok): eid for eid, tok in tokens.items()}
    received: list[tuple[str, list]] = []
    throttled: list[str] = []

    async def telemetry(request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        eid = by_digest.get(token_digest(auth.removeprefix("Bearer ")))
        if not auth.startswith("Bearer ") or eid is None:
            return web.json_response({"error": "unauthorised"}, status=401)
        if eid == "E002" and len(throttled) < 2:  # throttle E002's first two tries
            throttled.append(eid)
            return web.Response(status=429 if len(throttled) == 1 else 503, headers={"Retry-After": "0"})
        body = json.loads(await request.text())
        received.append((eid, body))
        return web.json_response({"accepted": len(body), "rejected": 0})

    app = web.Application()
    app.router.add_post("/api/v1/telemetry", telemetry)
    runner = web.AppRunner(app)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = tcp._server.sockets[0].getsockname()[1]
    try:
        faults = [Offline(enterprise="E003", device="DC1", start=T0 + 2, duration=10)]
        creds = {k: v for k, v in tokens.items() if k != "E001"} | {"E001": "wrong-token"}
        pusher = SitePusher(site, {"tokens": creds}, f"http://127.0.0.1:{port}/", faults, backfill=4.0, concurrency=2)
        # real time, but every step is back-filled history (t < start): goes out at once
        stats = await asyncio.wait_for(pusher.run(start=T0 + 4.0, steps=4), timeout=20)
    finally:
        await runner.cleanup()

    assert stats["steps"] == 4 and stats["retries"] == 2 and stats["failed"] == 0
    assert stats["rejected"] == 4 * 2  # E001's wrong token: 401 for each of its 4 batches of 2 devices
    assert "401" in pusher.last_error
    assert stats["accepted"] == 4 * 2 + 2 * 2 + 2 * 1  # E002; E003 with DC1 offline from T0+2
    assert sorted({eid for eid, _ in received}) == ["E002", "E003"]
    for eid, body in received:
        for msg in body:
            assert set(msg) == {"device", "ts", "values", "id"}
            assert isinstance(msg["ts"], int) and msg["id"] == f"{eid}/{msg['device']}/{msg['ts']}"
            assert set(msg["values"]) == set(BAG_POINTS)
    e2 = [msg["ts"] for eid, body in received if eid == "E002" for msg in body if msg["device"] == "DC1"]
    assert e2 == [int(T0 * 1000) + k * 1000 for k in range(4)]  # in order, on the grid


async def test_site_pusher_stops_on_event():
    site = tomllib.loads(generate_site(1, 1, seed=9)[0])
    pusher = SitePusher(site, {}, "http://127.0.0.1:9", speed=1.0)  # no tokens: nothing is sent
    stop = asyncio.Event()
    task = asyncio.create_task(pusher.run(stop))
    await asyncio.sleep(0.3)
    stop.set()
    stats = await asyncio.wait_for(task, timeout=3)
    assert stats["steps"] in (1, 2) and stats["skipped"] == stats["steps"] and stats["requests"] == 0
