"""The one time parser (warning.times): one rule for a time without a zone, used everywhere."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from simulators.csvio import read_rows
from simulators.scenarios import ScenarioError, epoch
from tests.conftest import OFFICER_TOKEN, site_dict
from warning import report, times
from warning.cli.export import parse_time as export_time
from warning.cli.score import parse_time as score_time
from warning.config import ConfigError, parse_site
from warning.ingest import IngestError, parse
from warning.server import Server, Settings

CST = timezone(timedelta(hours=8))
EIGHT = datetime(2026, 11, 30, 8, 0, tzinfo=CST).timestamp()


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-30T08:00",
        "2026-11-30 08:00:00",
        " 2026-11-30T08:00:00.000 ",
        "2026-11-30T00:00:00Z",
        "2026-11-30T08:00:00+08:00",
        "2026-11-29T19:00-05:00",
    ],
)
def test_one_rule_naive_is_the_site_zone_and_a_zone_is_kept(text):
    assert times.parse_time(text) == EIGHT


def test_naive_time_follows_the_zone_given():
    assert times.parse_time("2026-11-30T00:00", zone_name="UTC") == EIGHT
    assert times.parse_time("2026-11-30T08:00", zone_name="UTC") == EIGHT + 8 * 3600
    # Daylight saving follows the zone's own rules (Europe/Berlin is +02:00 in July).
    assert (
        times.parse_time("2026-07-01T02:00", zone_name="Europe/Berlin") == datetime(2026, 7, 1, tzinfo=UTC).timestamp()
    )


def test_numbers_are_epoch_seconds_or_milliseconds():
    assert times.parse_time(str(EIGHT)) == EIGHT
    assert times.parse_time(str(int(EIGHT * 1000)), unit="ms") == EIGHT
    for bad in ("nan", "inf", "-inf", "1e300"):
        with pytest.raises(times.TimeError):
            times.parse_time(bad)


def test_refusals_say_what_would_do():
    with pytest.raises(times.TimeError, match="ISO-8601"):
        times.parse_time("tomorrow")
    with pytest.raises(times.NoZone, match="time zone"):
        times.parse_iso("2026-11-30T08:00", zone_name=None)
    assert times.parse_iso("2026-11-30T08:00+08:00", zone_name=None) == EIGHT
    with pytest.raises(times.TimeError, match="IANA"):
        times.parse_time("2026-11-30T08:00", zone_name="Mars/Olympus")


def test_every_home_uses_the_one_rule():
    assert report.parse_time("2026-11-30T08:00") == EIGHT
    assert report.parse_time("2026-11-30T00:00", "UTC") == EIGHT
    assert export_time("2026-11-30T08:00").timestamp() == EIGHT
    assert score_time("2026-11-30 08:00:00") == EIGHT
    assert epoch("2026-11-30T08:00") == EIGHT
    assert epoch(datetime(2026, 11, 30, 8, 0)) == EIGHT  # a TOML local date-time
    assert epoch(datetime(2026, 11, 30, 0, 0), "UTC") == EIGHT
    with pytest.raises(ScenarioError):
        epoch("soon")
    rows = list(
        read_rows(
            io.StringIO(
                f"enterprise,device,point,ts,value\nE1,DC1,dp,2026-11-30T08:00:00,1\nE1,DC1,dp,{int(EIGHT * 1000)},2\n"
            )
        )
    )
    assert [r.ts_ms for r in rows] == [int(EIGHT * 1000)] * 2


def test_telemetry_alone_needs_the_zone_written():
    devices = {"DC1": {"dp": 1}}
    with pytest.raises(IngestError) as info:
        parse(b'[{"device":"DC1","ts":"2026-11-30T08:00:00","values":{"dp":1}}]', devices, EIGHT)
    assert "needs a time zone" in str(info.value.body)
    ok = parse(b'[{"device":"DC1","ts":"2026-11-30T08:00:00+08:00","values":{"dp":1}}]', devices, EIGHT)
    assert [r.t for _, rs in ok.messages for r in rs] == [EIGHT]


def test_site_timezone_is_checked_at_start(kinds):
    raw = site_dict()
    assert parse_site(raw, kinds).timezone == "Asia/Shanghai"
    raw["site"]["timezone"] = "Europe/Berlin"
    assert parse_site(raw, kinds).timezone == "Europe/Berlin"
    raw["site"]["timezone"] = "Nowhere/Land"
    with pytest.raises(ConfigError, match="timezone"):
        parse_site(raw, kinds)


async def test_report_api_reads_a_naive_time_in_the_site_zone(kinds, machine_db):
    raw = site_dict()
    raw["site"]["timezone"] = "UTC"  # not the default, so the site's own zone must reach the API
    srv = Server(parse_site(raw, kinds), Settings(port=0, database=machine_db))
    await srv.start()
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{srv.port}", headers={"Authorization": f"Bearer {OFFICER_TOKEN}"}
        ) as c:
            r = await c.get("/api/v1/report", params={"from": "2026-11-30T00:00", "to": "2026-11-30T08:00"})
            assert r.status_code == 200, r.text
            assert (r.json()["from"], r.json()["to"]) == (EIGHT, EIGHT + 8 * 3600)
            zoned = await c.get("/api/v1/report", params={"from": "2026-11-30T08:00+08:00", "to": str(EIGHT + 60)})
            assert zoned.json()["from"] == EIGHT
    finally:
        await srv.stop()
