"""The dashboard in a real browser (Debian's headless Chromium, driven by Playwright):
it loads without console errors, shows an alert pushed through the API without a
reload, and an officer signs for it by clicking, which a second browser sees."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import orjson
import pytest
from playwright.async_api import async_playwright

from tests.conftest import PASSWORDS, TOKENS
from warning.server import Server, Settings

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run",
               "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]


@pytest.fixture
async def server(site, machine_db):
    srv = Server(site, Settings(port=0, database=machine_db))
    await srv.start()
    yield srv
    await srv.stop()


async def logged_in_page(browser, base, user):
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(base + "/login")
    await page.fill("#username", user)
    await page.fill("#password", PASSWORDS[user])
    await page.click("button[type=submit]")
    await page.wait_for_url(base + "/")
    return page, errors


async def test_live_alert_and_ack_across_two_browsers(server):
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium must be installed (.ci/run installs it)"
    base = f"http://127.0.0.1:{server.port}"
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=LAUNCH_ARGS)
        officer, errors = await logged_in_page(browser, base, "duty")
        watcher, _ = await logged_in_page(browser, base, "watcher")
        await officer.wait_for_selector("#conn-dot.live")
        assert await officer.locator("#alert-rows tr[data-alert-id]").count() == 0

        now = time.time()
        body = orjson.dumps([{"device": "DC2", "ts": int(now * 1000), "values": {"vent_open": True}}])
        async with httpx.AsyncClient() as c:
            r = await c.post(base + "/api/v1/telemetry", content=body,
                             headers={"Authorization": f"Bearer {TOKENS['E1']}", "Content-Type": "application/json"})
        assert r.status_code == 202
        row = officer.locator("#alert-rows tr.sev-red")
        await row.wait_for(timeout=2000)  # without a reload
        assert await officer.locator("#count-red").inner_text() == "1"
        await watcher.locator("#alert-rows tr.sev-red").wait_for(timeout=2000)
        assert await watcher.locator(".ack-btn").count() == 0  # viewers cannot sign for alerts
        await officer.screenshot(path=str(ARTIFACTS / "dashboard-alert.png"))

        await row.locator(".ack-btn").click()
        await officer.fill("#ack-note", "vent checked, dust cloud outside")
        await officer.click("#ack-submit")
        await officer.locator("#alert-rows tr.state-acknowledged").wait_for(timeout=2000)
        await watcher.locator("#alert-rows tr.state-acknowledged").wait_for(timeout=2000)
        text = await watcher.locator("#alert-rows tr.state-acknowledged").inner_text()
        assert "duty" in text
        await officer.set_viewport_size({"width": 390, "height": 844})
        await officer.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"))
        assert errors == []
        await browser.close()
