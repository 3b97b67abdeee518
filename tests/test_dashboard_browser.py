"""The dashboard in a real browser (Debian's headless Chromium, driven by Playwright).

* the big screen loads with no console errors, shows an alert pushed through the API
  within 1 s with a pop-up, and an officer's click on the pop-up's own 签收 reaches a
  second browser;
* the wall screen (the demo, Putuo): at 1920x1080 the counts, the map and at least 8 rows
  without scrolling; pop-ups stacked over the map, never over a row or each other;
  ?kiosk=1 hides the chrome and pages through the list; the map has its outline, streets
  and labels that overlap nothing;
* the sound button says "click to enable sound" until audio runs, and again after a reload;
* a cleared, unsigned red stays on the screen (已恢复未签收) until a person signs for it;
* the pages in zh-CN (default) and in English (Accept-Language, the language switch);
* the alert page shows the timeline and its forms act (and show the server's errors);
* an enterprise user sees only its enterprise: pages, the scoped APIs and /ws;
* the page shows that it is stale while the server is down, reconnects after a restart
  on the same port and resynchronises (alerts raised and signed for meanwhile).

Screenshots of each main view (desktop and phone) go to artifacts/ as PNG.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from pathlib import Path

import httpx
import orjson
import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import async_playwright

from tests.conftest import OFFICER_TOKEN, TOKENS, free_port
from tests.test_dashboard_api import DASH_PASSWORDS, dash_site_dict
from warning.config import config_dir, load_site, parse_site
from warning.server import Server, Settings

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
DESKTOP = {"width": 1400, "height": 900}
WALL = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}
DEMO = config_dir() / "demo"
CJK = r"[\u4e00-\u9fff]"


@pytest.fixture(scope="module")
def bsite(kinds):
    return parse_site(dash_site_dict(), kinds)


@pytest.fixture
async def server(bsite, machine_db):
    srv = Server(bsite, Settings(port=0, database=machine_db))
    await srv.start()
    yield srv
    await srv.stop()


@contextlib.asynccontextmanager
async def chromium():
    path = shutil.which("chromium")
    assert path, "Debian's chromium must be installed (.ci/run installs it)"
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=path, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def logged_in_page(browser, base, user, landing="/", viewport=DESKTOP, password=None, locale="zh-CN"):
    context = await browser.new_context(viewport=viewport, locale=locale)  # Accept-Language: the officer's
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(base + "/login")
    await page.fill("#username", user)
    await page.fill("#password", password or DASH_PASSWORDS[user])
    await page.click("button[type=submit]")
    await page.wait_for_url(base + landing)
    return page, errors


async def push(base, enterprise, device, values, token=None, ts=None):
    body = orjson.dumps([{"device": device, "ts": int((ts or time.time()) * 1000), "values": values}])
    async with httpx.AsyncClient() as c:
        r = await c.post(
            base + "/api/v1/telemetry",
            content=body,
            headers={"Authorization": f"Bearer {token or TOKENS[enterprise]}", "Content-Type": "application/json"},
        )
    assert r.status_code == 202, r.text


async def until(page, expr: str, timeout: float = 5.0):
    """Poll a JS expression from here: page.wait_for_function polls with eval, which the CSP
    forbids. A page that is reloading (the language switch) has no document for a moment."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if await page.evaluate(expr):
                return
        except PlaywrightError as exc:
            if "context was destroyed" not in str(exc) and "null" not in str(exc):
                raise
        assert time.monotonic() < deadline, f"timed out waiting for {expr}"
        await asyncio.sleep(0.05)


def overlaps(a, b) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def pairs_overlapping(boxes):
    return [(i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes)) if overlaps(boxes[i], boxes[j])]


BOXES = """sel => [...document.querySelectorAll(sel)].filter(e => {
    const r = e.getBoundingClientRect(), s = getComputedStyle(e);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none' && !e.closest('[hidden]');
}).map(e => { const r = e.getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width, height: r.height,
    id: e.dataset.alertId || e.dataset.enterprise || e.dataset.street || e.textContent}; })"""


async def shoot(page, name, viewport=DESKTOP, full_page=True):
    await page.set_viewport_size(viewport)
    await page.wait_for_timeout(150)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


async def test_live_alert_popup_and_ack_across_two_browsers(server):
    base = f"http://127.0.0.1:{server.port}"
    async with chromium() as browser:
        officer, errors = await logged_in_page(browser, base, "duty")
        watcher, watcher_errors = await logged_in_page(browser, base, "watcher")
        await officer.wait_for_selector("#conn-dot.live")
        await watcher.wait_for_selector("#conn-dot.live")
        assert await officer.locator("#alert-rows tr[data-alert-id]").count() == 0
        await officer.locator("#map .ent-node.sev-none").nth(1).wait_for()  # the map: both enterprises, normal

        await push(base, "E1", "DC2", {"vent_open": True})
        row = officer.locator("#alert-rows tr.sev-red")
        await row.wait_for(timeout=1000)  # within 1 s of the 202, without a reload
        assert await officer.locator("#count-red").inner_text() == "1"
        # the dot takes E1's risk warning colour (issue 15): red, once the risk service judged the alarm
        await officer.locator('#map .ent-node.sev-red[data-enterprise="E1"]').wait_for(timeout=4000)
        await officer.locator('#ent-counts tr[data-enterprise="E1"]').wait_for()
        popup = officer.locator("#popups .popup.sev-red")
        await popup.wait_for(timeout=1000)
        assert "Enterprise one · DC2" in await popup.inner_text()  # named, not only coded
        await watcher.locator("#alert-rows tr.sev-red").wait_for(timeout=1000)
        assert await watcher.locator(".ack-btn").count() == 0  # viewers cannot sign for alerts
        assert await watcher.locator("#popups .popup-ack").is_hidden()  # nor from the pop-up
        await officer.wait_for_timeout(300)
        await shoot(officer, "dashboard-popup", full_page=False)

        # Sort: a second, orange alert goes below the red one; its pop-up stacks under the red's.
        await push(base, "E2", "DC1", {"spark": 2})
        await officer.locator("#alert-rows tr.sev-orange").wait_for(timeout=1000)
        order = await officer.locator("#alert-rows tr").evaluate_all("rs => rs.map(r => r.className.split(' ')[0])")
        assert order == ["sev-red", "sev-orange"]
        await officer.locator("#popups .popup").nth(1).wait_for(timeout=1000)
        stack = await officer.evaluate(BOXES, "#popups .popup")
        assert len(stack) == 2 and pairs_overlapping(stack) == []
        for size in (DESKTOP, PHONE, WALL):  # on every layout: never over a row or another pop-up
            await officer.set_viewport_size(size)
            await officer.wait_for_timeout(300)
            stack = await officer.evaluate(BOXES, "#popups .popup")
            rows = await officer.evaluate(BOXES, "#alert-rows tr")
            assert len(stack) == (1 if size == PHONE else 2) and len(rows) == 2, size  # a phone shows one, "1 more"
            assert pairs_overlapping(stack) == [], size
            assert [(p["id"], r["id"]) for p in stack for r in rows if overlaps(p, r)] == [], size
        await shoot(officer, "dashboard-popup-phone", PHONE, full_page=False)
        await officer.set_viewport_size(DESKTOP)
        await officer.locator("#popups .popup.sev-orange .popup-close").click()
        assert await officer.locator("#popups .popup").count() == 1

        # The pop-up's own 签收: the same dialog and CSRF-protected POST as the table's.
        await popup.locator(".popup-ack").click()
        await officer.fill("#ack-note", "vent checked, dust cloud outside")
        await officer.click("#ack-submit")
        await officer.locator("#alert-rows tr.sev-red.state-acknowledged").wait_for(timeout=2000)
        assert await officer.locator("#popups").is_hidden()  # signed for: its pop-up goes
        acked = watcher.locator("#alert-rows tr.sev-red.state-acknowledged")
        await acked.wait_for(timeout=2000)
        assert "duty" in await acked.inner_text()
        await shoot(officer, "dashboard")

        # and the table's 签收 still works
        await officer.locator("#alert-rows tr.sev-orange .ack-btn").click()
        await officer.click("#ack-submit")
        await watcher.locator("#alert-rows tr.sev-orange.state-acknowledged").wait_for(timeout=2000)
        await shoot(watcher, "dashboard-phone", PHONE, full_page=False)
        assert errors == [] and watcher_errors == []


async def test_sound_button_tells_the_truth(server):
    base = f"http://127.0.0.1:{server.port}"
    async with chromium() as browser:
        page, errors = await logged_in_page(browser, base, "duty")
        mute = page.locator("#mute")
        await page.wait_for_selector("#conn-dot.live")
        # No gesture yet: browsers keep audio locked, and the button says so.
        assert await mute.get_attribute("data-sound") == "locked"
        assert await mute.inner_text() == "点击启用声音"
        await mute.click()  # the gesture: audio starts
        await until(page, "document.getElementById('mute').dataset.sound === 'on'", timeout=3)
        assert await page.evaluate("document.getElementById('mute').textContent") == "声音已开启"
        await page.reload()  # a reload forgets the gesture: ask again
        await page.wait_for_selector("#conn-dot.live")
        assert await mute.get_attribute("data-sound") == "locked"
        await mute.click()
        await until(page, "document.getElementById('mute').dataset.sound === 'on'", timeout=3)
        await mute.click()  # now it mutes; muting is kept for the session
        assert await mute.get_attribute("data-sound") == "muted"
        await page.reload()
        await page.wait_for_selector("#conn-dot.live")
        assert await mute.get_attribute("data-sound") == "muted"
        assert errors == []


async def test_alert_page_timeline_and_forms(server):
    base = f"http://127.0.0.1:{server.port}"
    async with chromium() as browser:
        officer, errors = await logged_in_page(browser, base, "duty")
        await push(base, "E1", "DC1", {"hopper_temp": 35.0})
        await push(base, "E1", "DC2", {"vent_open": True})
        link = officer.locator("#alert-rows tr.sev-red .detail-link")
        await link.wait_for(timeout=2000)
        await link.click()
        await officer.wait_for_url(f"{base}/alert/*")
        await officer.locator('#timeline li[data-kind="raised"]').wait_for()
        await officer.locator("#chart svg path.series").wait_for(state="attached")
        assert await officer.locator("#chart svg line.limit").count() == 1  # the vent's red limit
        await officer.fill("#ack-note", "on my way")
        await officer.click("#f-ack button[type=submit]")
        ack = officer.locator('#timeline li[data-kind="acknowledged"]')
        await ack.wait_for(timeout=2000)
        assert "duty" in await ack.inner_text() and "on my way" in await ack.inner_text()
        assert await officer.locator("#f-ack").is_hidden()

        # Silence and feedback: whatever the server answers is shown (the API may not be deployed).
        await officer.fill("#sil-reason", "maintenance of the vent")
        await officer.click("#f-silence button[type=submit]")
        await until(officer, "!document.getElementById('act-error').hidden || !document.getElementById('msg').hidden")
        await shoot(officer, "alert-detail")
        await shoot(officer, "alert-detail-phone", PHONE)

        await officer.fill("#res-note", "vent closed again, checked on site")
        await officer.click("#f-resolve button[type=submit]")
        await officer.locator('#timeline li[data-kind="resolved"]').wait_for(timeout=2000)
        assert await officer.locator("#f-resolve").is_hidden()
        # The server's 404/405 for an undeployed API is shown, not swallowed; it is not a page error.
        assert [e for e in errors if "status of 40" not in e] == []


async def test_enterprise_user_sees_only_its_enterprise(server):
    base = f"http://127.0.0.1:{server.port}"
    await push(base, "E1", "DC2", {"vent_open": True})
    await push(base, "E2", "DC1", {"vent_open": True})
    async with chromium() as browser:
        page, errors = await logged_in_page(browser, base, "ent1", landing="/e/E1")
        await page.locator("#ent-alerts li[data-alert-id]").wait_for(timeout=2000)
        await page.locator('#devices tr[data-point="DC1/hopper_temp"]').wait_for()
        await page.locator("#qr").evaluate(
            "img => img.complete && img.naturalWidth > 0 || new Promise(r => img.onload = r)"
        )
        assert await page.locator("#ent-alerts li").count() == 1
        assert "E2" not in await page.locator("main").inner_text()
        await shoot(page, "enterprise")
        await shoot(page, "enterprise-phone", PHONE)
        assert errors == []

        # The big screen and the other enterprise's page are not reachable.
        r = await page.goto(base + "/")
        assert page.url == base + "/e/E1" and r.status == 200
        r = await page.goto(base + "/e/E2")
        assert r.status == 404
        await page.goto(base + "/e/E1")
        statuses = await page.evaluate("""async () => {
            const s = async (u) => (await fetch(u)).status;
            return [await s('/api/v1/silences'), await s('/api/v1/dash/alerts?enterprise=E2'),
                    await s('/api/v1/dash/series?enterprise=E2'), await s('/qr/E2.svg'),
                    (await (await fetch('/api/v1/dash/alerts?state=all')).json()).map(a => a.enterprise)];
        }""")
        assert statuses == [403, 404, 404, 404, ["E1"]]  # district-wide silences: not for an enterprise

        # /ws from inside the page: the snapshot and the live events carry E1 only.
        collect = page.evaluate("""() => new Promise((resolve) => {
            const seen = [];
            const ws = new WebSocket(`ws://${location.host}/ws`);
            ws.onmessage = async (e) => {
                const m = JSON.parse(typeof e.data === 'string' ? e.data : await e.data.text());
                if (m.type === 'snapshot') m.alerts.forEach(a => seen.push(a.enterprise));
                if (m.type === 'event') { seen.push(m.event.alert.enterprise); ws.close(); resolve(seen); }
            };
            setTimeout(() => resolve(seen), 4000);
        })""")

        async def later():
            await asyncio.sleep(0.5)
            await push(base, "E2", "DC1", {"spark": 4})
            await asyncio.sleep(0.2)
            await push(base, "E1", "DC1", {"spark": 4})

        seen, _ = await asyncio.gather(collect, later())
        assert seen == ["E1", "E1"]
        assert [e for e in errors if "status of 40" not in e] == []  # only the refusals probed above


async def test_stale_then_reconnect_and_resync_after_restart(bsite, machine_db):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(port=port, database=machine_db)  # sessions live in the store: they survive the restart
    srv = Server(bsite, settings)
    await srv.start()
    try:
        async with chromium() as browser:
            page, errors = await logged_in_page(browser, base, "watcher")
            await page.wait_for_selector("#conn-dot.live")
            await push(base, "E1", "DC2", {"vent_open": True})
            await page.locator("#alert-rows tr.sev-red.state-active").wait_for(timeout=2000)

            await srv.stop()
            await page.locator("#conn-banner").wait_for(timeout=5000)  # shows it is stale
            assert await page.locator("#conn-dot.down").count() == 1
            await shoot(page, "dashboard-stale", full_page=False)

            srv = Server(bsite, settings)
            await srv.start()
            # Meanwhile: a new alert, and the red one signed for by an officer's API token.
            await push(base, "E2", "DC1", {"spark": 2})
            async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {OFFICER_TOKEN}"}) as c:
                rows = (await c.get("/api/v1/alerts")).json()
                red = next(a for a in rows if a["severity"] == "red")
                assert (await c.post(f"/api/v1/alerts/{red['id']}/ack", json={"note": "seen"})).status_code == 200
            await page.wait_for_selector("#conn-dot.live", timeout=15000)
            await page.locator("#alert-rows tr.sev-red.state-acknowledged").wait_for(timeout=3000)
            await page.locator("#alert-rows tr.sev-orange").wait_for(timeout=3000)
            assert await page.locator("#conn-banner").is_hidden()
            # Only the outage's failed connections may be logged as errors.
            assert [e for e in errors if "ERR_CONNECTION_REFUSED" not in e and "WebSocket" not in e] == []
    finally:
        await srv.stop()


# ------------------------------------------------------------------ the wall screen (the demo: Putuo)


@pytest.fixture(scope="module")
def demo_site(kinds):
    return load_site(DEMO / "site.toml", kinds)


@pytest.fixture
async def demo_server(demo_site, machine_db):
    srv = Server(demo_site, Settings(port=0, database=machine_db))
    await srv.start()
    yield srv
    await srv.stop()


def demo_tokens() -> dict[str, str]:
    import tomllib

    with open(DEMO / "credentials.toml", "rb") as fh:
        return tomllib.load(fh)["tokens"]


async def raise_alerts(base, enterprises):
    """A red (vent) on DC1 and an orange (spark) on DC2 of every enterprise."""
    tokens = demo_tokens()
    for eid in enterprises:
        await push(base, eid, "DC1", {"vent_open": True}, token=tokens[eid])
        await push(base, eid, "DC2", {"spark": 3}, token=tokens[eid])


async def test_wall_screen_1080p_rows_map_popups_kiosk(demo_server, demo_site):
    base = f"http://127.0.0.1:{demo_server.port}"
    ids = sorted(demo_site.enterprises)
    async with chromium() as browser:
        page, errors = await logged_in_page(browser, base, "officer", viewport=WALL, password="officer-demo")
        await page.wait_for_selector("#conn-dot.live")
        await page.locator("#map .ent-node").nth(len(ids) - 1).wait_for()
        await raise_alerts(base, ids)  # 40 alerts, more than one screen holds
        await until(page, f"document.querySelectorAll('#alert-rows tr').length === {2 * len(ids)}", timeout=10)
        await page.wait_for_timeout(500)

        # Nothing scrolls; the counts, the map and >= 8 whole rows are on the screen.
        assert await page.evaluate("document.scrollingElement.scrollHeight <= innerHeight + 1")

        def inside(b):
            return (
                b["y"] >= 0
                and b["y"] + b["height"] <= WALL["height"]
                and b["x"] >= 0
                and (b["x"] + b["width"] <= WALL["width"])
            )

        for sel in (".counts", "#map svg"):
            assert inside((await page.evaluate(BOXES, sel))[0]), sel
        box = (await page.evaluate(BOXES, "#alert-box"))[0]
        rows = [
            r
            for r in await page.evaluate(BOXES, "#alert-rows tr")
            if r["y"] >= box["y"] and r["y"] + r["height"] <= box["y"] + box["height"] and inside(r)
        ]
        assert len(rows) >= 8, rows
        print(f"wall screen: {len(rows)} whole rows at 1920x1080")
        assert (
            await page.locator("#count-red").inner_text()
            == await page.locator("#count-orange").inner_text()
            == str(len(ids))
        )

        # Pop-ups: at most three, stacked, over the map: never over a row or each other.
        await page.locator("#popups .popups-more").wait_for()
        pops = await page.evaluate(BOXES, "#popups .popup")
        room = (await page.evaluate(BOXES, "#popups"))[0]
        assert 2 <= len(pops) <= 3 and pairs_overlapping(pops) == []
        assert all(p["y"] >= room["y"] and p["y"] + p["height"] <= room["y"] + room["height"] for p in pops)  # whole
        more = await page.locator("#popups .popups-more").inner_text()
        assert more == f"另有 {2 * len(ids) - len(pops)} 条新报警，见列表"
        assert [(p["id"], r["id"]) for p in pops for r in rows if overlaps(p, r)] == []
        await shoot(page, "dashboard-wall", WALL, full_page=False)

        # The map: the outline and the ten streets of Putuo, a dot per enterprise, no label on another.
        assert await page.locator("#map path.area.district").count() == 1
        assert await page.locator("#map path.area.street").count() == 10
        labels = await page.evaluate(BOXES, "#map .map-label")
        dots = await page.evaluate(BOXES, "#map .ent-dot")
        assert len(dots) == len(ids)
        assert pairs_overlapping(labels) == []
        assert [(lab["id"], d) for lab in labels for d in dots if overlaps(lab, d)] == []
        shown = {lab["id"] for lab in labels}
        assert set(ids) <= shown  # every enterprise's name is on the map
        assert len([s for s in shown if s in {a.name for a in demo_site.basemap.areas}]) >= 8  # and most streets'
        await page.locator("#map").screenshot(path=str(ARTIFACTS / "dashboard-map.png"))
        await page.set_viewport_size(PHONE)  # the same on a phone: one pop-up, the list in sight
        await page.wait_for_timeout(500)
        assert len(await page.evaluate(BOXES, "#popups .popup")) == 1
        assert (await page.evaluate(BOXES, "#alert-rows tr"))[0]["y"] < PHONE["height"]
        await shoot(page, "dashboard-wall-phone", PHONE, full_page=False)
        laptop = {"width": 1366, "height": 768}  # a smaller control-room screen: still one screen
        await page.set_viewport_size(laptop)
        await page.wait_for_timeout(500)
        assert await page.evaluate("document.scrollingElement.scrollHeight <= innerHeight + 1")
        box = (await page.evaluate(BOXES, "#alert-box"))[0]
        assert (
            len(
                [
                    r
                    for r in await page.evaluate(BOXES, "#alert-rows tr")
                    if r["y"] >= box["y"] and r["y"] + r["height"] <= min(box["y"] + box["height"], 768)
                ]
            )
            >= 8
        )
        await shoot(page, "dashboard-1366", laptop, full_page=False)
        await page.set_viewport_size(WALL)

        # ?kiosk=1: no chrome, and the list turns its pages by itself.
        await page.goto(base + "/?kiosk=1&page_s=3")
        await until(page, f"document.querySelectorAll('#alert-rows tr').length === {2 * len(ids)}", timeout=10)
        assert await page.locator("header.top").is_hidden()
        assert await page.evaluate("document.scrollingElement.scrollHeight <= innerHeight + 1")
        await until(page, "/1\\/\\d/.test(document.getElementById('page-no').textContent)", timeout=5)
        first = [r["id"] for r in await page.evaluate(BOXES, "#alert-rows tr")]
        assert len(first) >= 8 and all(inside(r) for r in await page.evaluate(BOXES, "#alert-rows tr"))
        await until(page, "/2\\/\\d/.test(document.getElementById('page-no').textContent)", timeout=6)
        second = [r["id"] for r in await page.evaluate(BOXES, "#alert-rows tr")]
        assert second and not set(first) & set(second)
        await shoot(page, "dashboard-kiosk", WALL, full_page=False)
        assert errors == []


async def test_kiosk_new_row_touches_only_the_rows_whose_page_changed(demo_server, demo_site):
    """The kiosk cuts its pages from heights it measured once: a new alert hides the row it
    pushes off the first page and nothing else. (Showing every row to measure them all, then
    hiding the other pages again, at every new row restyled and laid out the whole list.)"""
    base = f"http://127.0.0.1:{demo_server.port}"
    ids = sorted(demo_site.enterprises)
    async with chromium() as browser:
        page, errors = await logged_in_page(
            browser, base, "officer", landing="/", viewport=WALL, password="officer-demo"
        )
        await raise_alerts(base, ids[:-1])
        await page.goto(base + "/?kiosk=1&page_s=600")
        await until(page, f"document.querySelectorAll('#alert-rows tr').length === {2 * (len(ids) - 1)}", timeout=10)
        await until(page, "/1\\/\\d/.test(document.getElementById('page-no').textContent)", timeout=5)
        await page.wait_for_timeout(300)
        await page.evaluate("""() => {
            window.__hiddenFlips = 0;
            new MutationObserver((ms) => { window.__hiddenFlips += ms.length; })
                .observe(document.getElementById('alert-rows'), {attributes: true, attributeFilter: ['hidden'], subtree: true});
        }""")
        visible = "[...document.querySelectorAll('#alert-rows tr')].filter((r) => !r.hidden).length"
        before = await page.evaluate(visible)
        await push(base, ids[-1], "DC1", {"vent_open": True}, token=demo_tokens()[ids[-1]])
        await until(page, f"document.querySelectorAll('#alert-rows tr').length === {2 * len(ids) - 1}", timeout=10)
        await page.wait_for_timeout(300)
        assert await page.evaluate("document.querySelector('#alert-rows tr').dataset.enterprise") == ids[-1]
        assert await page.evaluate(visible) == before  # the same room: one row in, one row off the page
        assert await page.evaluate("window.__hiddenFlips") <= 2, "a new row re-hid rows whose page did not change"
        assert errors == []


async def test_cleared_unsigned_red_stays_until_signed(server):
    """Needs the server side of issue 13 (loop): a vent that closes before anyone signs
    leaves its alert open, ``state=active``, ``condition_active: false``."""
    base = f"http://127.0.0.1:{server.port}"
    now = time.time()
    async with chromium() as browser:
        page, errors = await logged_in_page(browser, base, "watcher", viewport=WALL)
        await page.wait_for_selector("#conn-dot.live")
        await push(base, "E1", "DC2", {"vent_open": True}, ts=now - 30)
        await page.locator("#alert-rows tr.sev-red").wait_for(timeout=2000)
        await push(base, "E1", "DC2", {"vent_open": False}, ts=now - 28)
        await push(base, "E1", "DC2", {"vent_open": False}, ts=now)  # 28 s below the limit: the condition clears
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {OFFICER_TOKEN}"}) as c:

            async def red():
                rows = [a for a in (await c.get("/api/v1/alerts?state=all")).json() if a["device"] == "DC2"]
                assert len(rows) == 1
                return rows[0]

            for _ in range(50):
                if (await red())["condition_active"] is False or (await red())["state"] == "resolved":
                    break
                await asyncio.sleep(0.1)
            a = await red()
            assert (a["state"], a["condition_active"], a.get("peak_severity")) == ("active", False, "red")
            row = page.locator("#alert-rows tr.sev-red.cleared-unsigned")
            await row.wait_for(timeout=2000)
            await page.wait_for_timeout(1500)  # and it stays
            assert await row.count() == 1 and "已恢复未签收" in await row.inner_text()
            assert await page.locator("#count-red").inner_text() == "1"
            await page.locator('#map .ent-node.sev-red[data-enterprise="E1"]').wait_for()
            await shoot(page, "dashboard-cleared-unsigned", WALL, full_page=False)

            assert (
                await c.post(f"/api/v1/alerts/{a['id']}/ack", json={"note": "vent closed, checked"})
            ).status_code == 200
            await page.locator("#alert-rows tr.sev-red.state-acknowledged").wait_for(timeout=2000)
            assert await page.locator("#alert-rows tr.cleared-unsigned").count() == 0
            if (await red())["state"] != "resolved":  # a red is lifted by a person, not by itself
                assert (await c.post(f"/api/v1/alerts/{a['id']}/resolve", json={"note": "done"})).status_code == 200
            await page.locator("#alert-rows tr.sev-red").wait_for(state="detached", timeout=2000)
        assert errors == []


async def test_pages_in_chinese_and_english(server):
    base = f"http://127.0.0.1:{server.port}"
    texts = """() => [...document.querySelectorAll('[data-i18n]')].filter(e => !e.closest('template'))
        .map(e => e.textContent.trim()).filter(Boolean)"""
    async with chromium() as browser:
        await push(base, "E1", "DC2", {"vent_open": True})
        zh, errors = await logged_in_page(browser, base, "duty")
        await zh.locator("#alert-rows tr.sev-red").wait_for(timeout=2000)
        assert await zh.evaluate("document.documentElement.lang") == "zh-CN"
        import re

        untranslated = [s for s in await zh.evaluate(texts) if not re.search(CJK, s)]
        assert untranslated == []
        assert "未签收" in await zh.locator("#alert-rows").inner_text()
        assert await zh.title() == "(1) 值班预警大屏"
        await shoot(zh, "dashboard-zh", full_page=False)
        for locale, button in (("zh-CN", "登录"), ("en-US", "Log in")):  # the login page too, before any session
            ctx = await browser.new_context(viewport=PHONE, locale=locale)
            login = await ctx.new_page()
            await login.goto(base + "/login?failed=1")
            await until(login, "document.querySelector('#login-form button').textContent.length > 0")
            assert await login.locator("#login-form button").inner_text() == button
            assert await login.locator("#login-error").is_visible()
            await shoot(login, f"login-{locale}", PHONE, full_page=False)
            await ctx.close()

        en, en_errors = await logged_in_page(browser, base, "duty", locale="en-US")  # Accept-Language: en-US
        await en.locator("#alert-rows tr.sev-red").wait_for(timeout=2000)
        assert await en.evaluate("document.documentElement.lang") == "en"
        assert [s for s in await en.evaluate(texts) if re.search(CJK, s)] == []
        assert "Not signed for" in await en.locator("#alert-rows").inner_text()
        assert await en.locator("#lang-switch").inner_text() == "中文"
        await shoot(en, "dashboard-en", full_page=False)
        await en.click("#lang-switch")  # the user's choice beats the browser's language, and is kept
        await en.wait_for_load_state()
        await until(en, "document.documentElement.lang === 'zh-CN'")
        await en.goto(base + "/alert/" + await en.locator("#alert-rows tr").first.get_attribute("data-alert-id"))
        await en.locator('#timeline li[data-kind="raised"]').wait_for()
        assert [s for s in await en.evaluate(texts) if not re.search(CJK, s)] == []
        await en.click("#lang-switch")
        await en.wait_for_load_state()
        await until(en, "document.documentElement.lang === 'en'")
        await en.locator('#timeline li[data-kind="raised"]').wait_for()
        assert "Raised" in await en.locator("#timeline").inner_text()
        await shoot(en, "alert-detail-en", full_page=False)
        assert errors == [] and en_errors == []


async def test_dense_map_labels_never_overlap(kinds, machine_db, tmp_path):
    """200 enterprises in Putuo's ten streets: far more names than room. Those that fit near
    their dot sit there, some further out on a leader line, the rest are left out; none
    overlaps another label or a dot."""
    from simulators.site import generate_site, write_demo

    write_demo(tmp_path)  # the map beside the site file
    text, _ = generate_site(200, 1, seed=5, with_map=True)
    (tmp_path / "site.toml").write_text(text, encoding="utf-8")
    srv = Server(load_site(tmp_path / "site.toml", kinds), Settings(port=0, database=machine_db))
    await srv.start()
    try:
        base = f"http://127.0.0.1:{srv.port}"
        async with chromium() as browser:
            page, errors = await logged_in_page(browser, base, "officer", viewport=WALL, password="officer-demo")
            await page.locator("#map .ent-node").nth(199).wait_for()
            await until(page, "document.querySelector('#map svg').dataset.layoutMs !== undefined")
            await page.wait_for_timeout(300)
            labels = await page.evaluate(BOXES, "#map .map-label")
            dots = await page.evaluate(BOXES, "#map .ent-dot")
            assert len(dots) == 200
            assert pairs_overlapping(labels) == []
            assert [(lab["id"], d) for lab in labels for d in dots if overlaps(lab, d)] == []
            leaders = await page.locator("#map line.leader:not([visibility])").count()
            shown = len([lab for lab in labels if lab["id"].startswith("E")])
            ms = float(await page.evaluate("document.querySelector('#map svg').dataset.layoutMs"))
            print(f"dense map: {shown} of 200 enterprise labels shown, {leaders} on leader lines, placement {ms} ms")
            assert shown >= 30 and leaders >= 1  # 41 and 37 here: the room decides, not a fixed count
            await page.locator("#map").screenshot(path=str(ARTIFACTS / "dashboard-map-dense.png"))
            assert errors == []
    finally:
        await srv.stop()


async def test_long_list_keeps_the_worst_rows_in_the_page_and_the_rest_on_request(kinds, machine_db, tmp_path):
    """71 open reds: the page holds the worst 60 rows (each row in the page is laid out and
    painted again whenever the list moves), says how many more there are, and shows them when
    the officer scrolls to the end or presses 显示更多; a new red goes on top; the counts
    count every alert."""
    import tomllib

    from simulators.site import generate_site

    text, tokens = generate_site(80, 1, seed=5)
    (tmp_path / "site.toml").write_text(text, encoding="utf-8")
    site = tomllib.loads(text)
    dev = {e["id"]: next(d["id"] for d in e["devices"] if d.get("type") == "bag_filter") for e in site["enterprises"]}
    ids = sorted(dev)
    srv = Server(load_site(tmp_path / "site.toml", kinds), Settings(port=0, database=machine_db))
    await srv.start()
    try:
        base = f"http://127.0.0.1:{srv.port}"
        for eid in ids[:70]:
            await push(base, eid, dev[eid], {"vent_open": True}, token=tokens[eid])
        rows = "document.querySelectorAll('#alert-rows tr').length"
        async with chromium() as browser:
            page, errors = await logged_in_page(browser, base, "officer", viewport=WALL, password="officer-demo")
            await page.wait_for_selector("#conn-dot.live")
            await until(page, f"{rows} === 60", timeout=10)
            assert await page.text_content("#count-red") == "70"
            assert await page.is_visible("#list-more")
            assert (await page.text_content("#list-more-text")).strip() == "还有 10 条报警"

            await push(base, ids[70], dev[ids[70]], {"vent_open": True}, token=tokens[ids[70]])
            await until(page, "document.querySelector('#alert-rows tr').dataset.enterprise === " + repr(ids[70]))
            await until(page, "document.getElementById('list-more-text').textContent.includes('11')")
            assert await page.evaluate(rows) == 60
            assert await page.text_content("#count-red") == "71"

            # scrolled to its end, the list brings the rest
            await page.evaluate(
                "(() => { const b = document.getElementById('alert-box'); b.scrollTop = b.scrollHeight; })()"
            )
            await until(page, f"{rows} === 71", timeout=5)
            assert await page.is_hidden("#list-more")
            on_page = await page.evaluate(
                "[...document.querySelectorAll('#alert-rows tr')].map((r) => r.dataset.enterprise)"
            )
            assert sorted(on_page) == ids[:71]

            # after a reload (60 again), the button does the same
            await page.reload()
            await page.wait_for_selector("#conn-dot.live")
            await until(page, f"{rows} === 60", timeout=10)
            await page.click("#list-more-btn")
            await until(page, f"{rows} === 71", timeout=5)
            assert errors == []
    finally:
        await srv.stop()
