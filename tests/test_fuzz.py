"""The HTTP fuzzers (bench/fuzz_http.py) at CI size: telemetry alone, then every endpoint with
poison, header floods, slow clients and a good neighbour, and a planted unvalidated field that
the suite must catch; plus a hypothesis property of the pure
validator: whatever the document, it either raises IngestError or returns finite readings of
this enterprise's points."""

from __future__ import annotations

import asyncio
import math
import os

import asyncpg
import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.fuzz_http import EndpointFuzzer, Fuzzer, fuzz, fuzz_all, problems, state
from tests.conftest import OFFICER_TOKEN, PASSWORDS, TOKENS, site_dict, wait_for
from tests.test_alert_flow import overheat
from warning.config import parse_site
from warning.ingest import IngestError, validate
from warning.server import Server, Settings
from warning.web.limits import EdgeLimits

REQUESTS = int(os.environ.get("WARNING_FUZZ_REQUESTS", "2000"))
DEVICES = {"DC1": {"dp": 1, "vent_open": 2}}
NOW = 1_800_000_000.0

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)
items = st.fixed_dictionaries(
    {
        "device": st.sampled_from(["DC1", "DC2", "", "ＤＣ１"]) | json_values,
        "ts": st.integers() | st.floats() | st.sampled_from(["2027-01-15T08:00:00+08:00", "x"]) | json_values,
        "values": st.dictionaries(st.sampled_from(["dp", "vent_open", "nope"]), json_values, max_size=3) | json_values,
    },
    optional={"id": st.text(max_size=3) | json_values, "extra": json_values},
)


@settings(max_examples=1000, deadline=None)
@given(st.lists(items, max_size=5) | items | json_values)
def test_validator_never_fails_unexpectedly(doc):
    try:
        parsed = validate(doc, DEVICES, NOW)
    except IngestError as exc:
        assert exc.status in (400, 403) and exc.body["error"]
        return
    for _, readings in parsed.messages:
        for r in readings:
            assert r.point_id in (1, 2) and math.isfinite(r.value) and math.isfinite(r.t)


async def test_fuzzed_requests_get_no_5xx_and_change_nothing_when_rejected(site, machine_db):
    srv = Server(site, Settings(port=0, database=machine_db, rate=1e9, burst=1e9))
    await srv.start()
    try:
        fz = Fuzzer(int(os.environ.get("WARNING_FUZZ_SEED", "1")), TOKENS["E1"], TOKENS["E2"], ["DC1", "DC2"])
        stats = await fuzz(f"http://127.0.0.1:{srv.port}", fz, REQUESTS)
        conn = await asyncpg.connect(machine_db)
        stored = await conn.fetchval("SELECT count(*) FROM readings")
        await conn.close()
    finally:
        await srv.stop()
    assert stats["requests"] == REQUESTS
    assert stats["server_errors"] == []
    assert stats["bad_bodies"] == 0
    codes = stats["by_status"]
    assert codes.get(202, 0) > 0 and codes.get(400, 0) > 0 and codes.get(401, 0) > 0 and codes.get(403, 0) > 0
    assert codes.get(413, 0) > 0 and codes.get(415, 0) > 0
    assert stored == stats["accepted_readings"]  # exactly what the 202s counted: rejections changed nothing


LIMITS = EdgeLimits(head_timeout=1.0, body_timeout=3.0, idle_timeout=2)
ALL_REQUESTS = int(os.environ.get("WARNING_FUZZ_ALL_REQUESTS", "3000"))


async def run_all(kinds, dsn: str, n: int, seed: int = 2) -> tuple[dict, list[str]]:
    raw = site_dict()
    raw["policy"] = {"noise": {"group_interval": 0}}
    srv = Server(
        parse_site(raw, kinds), Settings(port=0, database=dsn, rate=1e9, burst=1e9, limits=LIMITS, share_requests=64)
    )
    await srv.start()
    try:
        await overheat(srv.port)
        ids = await wait_for(lambda: [a.id for a in srv.runtime.open_alerts()])
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{srv.port}") as c:
            await c.post("/login", data={"username": "duty", "password": PASSWORDS["duty"]})
            session = (c.cookies["warning_session"], (await c.get("/api/v1/me")).json()["csrf"])
        fz = EndpointFuzzer(seed, TOKENS["E1"], TOKENS["E2"], OFFICER_TOKEN, ids, ["DC1", "DC2"], session)
        conn = await asyncpg.connect(dsn)
        try:
            before = await state(conn)
            stats = await fuzz_all(
                f"http://127.0.0.1:{srv.port}",
                fz,
                n,
                good_token=TOKENS["E2"],
                good_device="DC1",
                attacks=8,
                head_timeout=LIMITS.head_timeout,
            )
            await asyncio.sleep(0.3)
            after = await state(conn)
        finally:
            await conn.close()
    finally:
        await srv.stop()
    return stats, problems(stats, before, after)


async def test_every_endpoint_fuzzed_with_poison_floods_and_a_good_neighbour(kinds, machine_db):
    stats, found = await run_all(kinds, machine_db, ALL_REQUESTS)
    assert found == [], "\n".join(found)
    assert stats["requests"] == ALL_REQUESTS and stats["good"].get(202, 0) > 10
    kinds_seen = {k.split("-")[0] for k in stats["by_kind"]}
    assert {"telemetry", "alerts", "silences", "login", "read"} <= kinds_seen
    assert stats["actions_ok"] > 0 and stats["created_silences"] > 0 and stats["accepted_readings"] > 0


async def test_the_fuzz_suite_catches_a_planted_unvalidated_field(kinds, machine_db, monkeypatch):
    """With the message-id check taken out of the validator, the same suite must fail."""
    import warning.ingest

    real = warning.ingest.text_problem
    monkeypatch.setattr(
        warning.ingest,
        "text_problem",
        lambda value, max_len: None if max_len == warning.ingest.MAX_ID_LEN else real(value, max_len),
    )
    _, found = await run_all(kinds, machine_db, 400)
    assert any("not refused at the edge" in p for p in found), found
