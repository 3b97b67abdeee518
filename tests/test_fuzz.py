"""The HTTP fuzzer (bench/fuzz_http.py) at CI size, plus a hypothesis property of the pure
validator: whatever the document, it either raises IngestError or returns finite readings of
this enterprise's points."""

from __future__ import annotations

import math
import os

import asyncpg
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.fuzz_http import Fuzzer, fuzz
from tests.conftest import TOKENS
from warning.ingest import IngestError, validate
from warning.server import Server, Settings

REQUESTS = int(os.environ.get("WARNING_FUZZ_REQUESTS", "2000"))
DEVICES = {"DC1": {"dp": 1, "vent_open": 2}}
NOW = 1_800_000_000.0

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30)
items = st.fixed_dictionaries(
    {"device": st.sampled_from(["DC1", "DC2", "", "ＤＣ１"]) | json_values,
     "ts": st.integers() | st.floats() | st.sampled_from(["2027-01-15T08:00:00+08:00", "x"]) | json_values,
     "values": st.dictionaries(st.sampled_from(["dp", "vent_open", "nope"]), json_values, max_size=3) | json_values},
    optional={"id": st.text(max_size=3) | json_values, "extra": json_values})


@settings(max_examples=1500, deadline=None)
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
