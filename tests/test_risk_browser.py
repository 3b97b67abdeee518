"""Risk warnings in a real browser at a phone's size (Debian's Chromium through Playwright):

* the enterprise user signs for a red warning and replies with a photo from its page; the
  officer returns it; the enterprise replies again; the officer closes it; the timeline
  shows every step;
* a citizen posts a hazard report with a photo from the QR code's public page (no login),
  and it is followed to a close;
* the big screen and the map show the risk warnings first, one per enterprise in its colour,
  at 1920x1080 and on a phone, with the enterprise's alarms one click away;
* the enterprise's page wears its risk warning as its badge (red while the warning is open,
  无预警 without colour once it is closed, its red alarms still open and one click away).
"""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import OFFICER_TOKEN, wait_for
from tests.test_dashboard_browser import (  # noqa: F401 - bsite is a fixture of the dashboard's browser tests
    BOXES,
    PHONE,
    bsite,
    chromium,
    logged_in_page,
    push,
    shoot,
    until,
)
from warning.server import Server, Settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
WALL = {"width": 1920, "height": 1080}


@pytest.fixture
async def server(bsite, machine_db, tmp_path):  # noqa: F811 - photos go to the test's folder
    srv = Server(bsite, Settings(port=0, database=machine_db, uploads=tmp_path / "uploads"))
    await srv.start()
    yield srv
    await srv.stop()


async def state_is(page, wid: str, state: str, timeout: float = 8.0) -> None:
    await until(
        page, f"document.querySelector('#risk-panel article[data-id=\"{wid}\"]')?.dataset.state === '{state}'", timeout
    )


async def badge_is(page, level: str, text: str, timeout: float = 8.0) -> None:
    """The enterprise page's badge shows the enterprise's risk warning at ``level`` ("none": no
    warning, no colour), reading ``text``."""
    await until(page, f"document.getElementById('ent-status').dataset.warning === '{level}'", timeout)
    badge = page.locator("#ent-status")
    assert await badge.inner_text() == text
    assert await badge.get_attribute("class") == f"ent-status risk-{level}"


async def test_phone_reply_loop_return_and_close(server, tmp_path):
    base = f"http://127.0.0.1:{server.port}"
    await push(base, "E1", "DC1", {"spark": 3, "vent_open": True})
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {OFFICER_TOKEN}"}) as off:
        rows = await wait_for(lambda: _warnings(off), timeout=10)
    wid = rows[0]["id"]
    photo = tmp_path / "现场.png"
    photo.write_bytes(PNG)
    async with chromium() as browser:
        ent, ent_errors = await logged_in_page(browser, base, "ent1", landing="/e/E1", viewport=PHONE)
        await state_is(ent, wid, "open")
        # the page's badge is the enterprise's risk warning (red), its alarms one click away
        await badge_is(ent, "red", "红色风险预警")
        link = ent.locator("#ent-alarms")
        await until(ent, "document.getElementById('ent-alarms').dataset.count === '2'")
        assert "红色报警" in await link.inner_text() and await link.get_attribute("href") == "#ent-alerts"
        await ent.click(f"article[data-id='{wid}'] [data-do=sign]")
        await state_is(ent, wid, "signed")
        form = f"article[data-id='{wid}'] form[data-role=reply]"
        await ent.fill(f"{form} textarea[name=cause]", "滤袋破损导致火花")
        await ent.fill(f"{form} textarea[name=measures]", "已停机, 更换滤袋")
        await ent.select_option(f"{form} select[name=verdict]", "true")
        await ent.set_input_files(f"{form} input[name=photo]", str(photo))
        await ent.click(f"{form} button[type=submit]")
        await state_is(ent, wid, "replied")
        await shoot(ent, "risk-enterprise-phone", PHONE)

        off_page, off_errors = await logged_in_page(browser, base, "duty", landing="/", viewport=PHONE)
        await off_page.goto(f"{base}/e/E1")
        await state_is(off_page, wid, "replied")
        review = f"article[data-id='{wid}'] form[data-role=review]"
        await off_page.fill(f"{review} input[name=note]", "请补充更换后的照片")
        await off_page.click(f"{review} [data-do=return]")
        await state_is(off_page, wid, "returned")

        await ent.reload()
        await state_is(ent, wid, "returned")
        await ent.fill(f"{form} textarea[name=cause]", "滤袋破损导致火花")
        await ent.fill(f"{form} textarea[name=measures]", "已更换滤袋并补拍照片")
        await ent.set_input_files(f"{form} input[name=photo]", str(photo))
        await ent.click(f"{form} button[type=submit]")
        await state_is(ent, wid, "replied")

        await off_page.reload()
        await state_is(off_page, wid, "replied")
        await off_page.fill(f"{review} input[name=note]", "同意销号")
        await off_page.click(f"{review} [data-do=close]")
        await state_is(off_page, wid, "closed")
        # closed: no warning, no colour, though its two red alarms are still open (nobody lifted
        # them): the badge follows the warning, not the worst alarm
        await badge_is(off_page, "none", "无预警")
        assert await off_page.inner_text("#ent-alarms") == "红色报警 · 2 条未关闭"
        actions = await off_page.evaluate(
            f"[...document.querySelectorAll(\"article[data-id='{wid}'] .risk-timeline li\")].map(li => li.dataset.action)"
        )
        people = [a for a in actions if a not in ("level", "cleared", "escalate")]
        assert people == ["opened", "sign", "reply", "return", "reply", "close"], actions
        text = await off_page.inner_text(f"article[data-id='{wid}'] .risk-timeline")
        assert "请补充更换后的照片" in text and "ent1" in text and "duty" in text
        await shoot(off_page, "risk-officer-phone", PHONE)
        assert ent_errors == [] and off_errors == []


async def test_public_qr_page_report_followed_to_a_close(server, tmp_path):
    base = f"http://127.0.0.1:{server.port}"
    photo = tmp_path / "hazard.png"
    photo.write_bytes(PNG)
    async with chromium() as browser:
        context = await browser.new_context(viewport=PHONE, locale="zh-CN")
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{base}/q/E1")  # no login
        await until(page, "document.getElementById('r-challenge').textContent.includes('=')")
        assert await page.inner_text("#r-name") == "Enterprise one"
        challenge = await page.inner_text("#r-challenge")
        a, b = (int(x) for x in challenge.split(" = ")[0].split(" + "))
        await page.fill("#r-text", "粉碎车间地面积尘很厚, 没有清扫")
        await page.fill("#r-contact", "王先生 13900000000")
        await page.fill("#r-answer", str(a + b))
        await page.set_input_files("#r-photo", str(photo))
        await page.click("#r-send")
        await until(page, "document.getElementById('r-result').textContent.includes('已提交')")
        await shoot(page, "risk-public-report-phone", PHONE)
        assert errors == []
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {OFFICER_TOKEN}"}) as off:
        rows = (await off.get("/api/v1/warnings?kind=report")).json()
        assert len(rows) == 1
        rid = rows[0]["id"]
        item = (await off.get(f"/api/v1/warnings/{rid}")).json()
        assert (
            item["steps"][0]["note"].startswith("粉碎车间") and item["steps"][0]["data"]["photo"]["type"] == "image/png"
        )
        for step, body in (
            ("sign", {}),
            ("reply", {"cause": "现场核实属实", "measures": "已责令清扫", "verdict": "true"}),
            ("review", {"close": True, "note": "复查合格, 销号"}),
        ):
            r = await off.post(f"/api/v1/warnings/{rid}/{step}", json=body)
            assert r.status_code == 200, r.text
        assert r.json()["state"] == "closed"


async def _warnings(client):
    rows = [w for w in (await client.get("/api/v1/warnings")).json() if w["kind"] == "warning"]
    return rows or None


async def test_big_screen_and_map_show_risk_warnings_first(server):
    """Three alarms, two enterprises: the board lists two warnings (one per enterprise, red),
    above the alarm list; each map dot takes its enterprise's warning colour; a row's alarm
    count leads to the enterprise's page with its alarms. At 1920x1080 and on a phone."""
    base = f"http://127.0.0.1:{server.port}"
    async with chromium() as browser:
        page, errors = await logged_in_page(browser, base, "duty", viewport=WALL)
        await page.wait_for_selector("#conn-dot.live")
        await page.locator("#map .ent-node").nth(1).wait_for()
        assert await page.locator("#risk-rows tr").count() == 0 and await page.locator("#risk-empty").is_visible()
        await push(base, "E1", "DC1", {"spark": 3, "vent_open": True})  # two red alarms of one enterprise
        await push(base, "E2", "DC1", {"vent_open": True})
        await until(page, "document.querySelectorAll('#alert-rows tr').length >= 3", timeout=10)
        await until(page, "document.querySelectorAll('#risk-rows tr').length === 2", timeout=10)
        rows = await page.evaluate(
            "[...document.querySelectorAll('#risk-rows tr')].map(r => [r.dataset.enterprise, r.className])"
        )
        assert sorted(e for e, _ in rows) == ["E1", "E2"]  # one warning per enterprise, not one per alarm
        assert all("sev-red" in c and "state-open" in c for _, c in rows), rows
        assert await page.locator("#risk-count-red").inner_text() == "2"
        assert "待签收" in await page.inner_text("#risk-rows")
        await page.locator('#map .ent-node.sev-red[data-enterprise="E1"][data-warning="red"]').wait_for(timeout=3000)
        await page.locator('#map .ent-node.sev-red[data-enterprise="E2"]').wait_for(timeout=3000)

        # warnings first: the board is above the alarm list, both on the one screen, nothing scrolls
        assert await page.evaluate("document.scrollingElement.scrollHeight <= innerHeight + 1")
        board = (await page.evaluate(BOXES, "#risk-board"))[0]
        first_alarm = (await page.evaluate(BOXES, "#alert-rows tr"))[0]
        assert board["y"] + board["height"] <= first_alarm["y"] and first_alarm["y"] + first_alarm["height"] <= 1080
        await shoot(page, "risk-wall", WALL, full_page=False)

        await page.set_viewport_size(PHONE)
        await page.wait_for_timeout(400)
        board = (await page.evaluate(BOXES, "#risk-board"))[0]
        first_alarm = (await page.evaluate(BOXES, "#alert-rows tr"))[0]
        assert board["y"] < first_alarm["y"] < PHONE["height"]  # the warnings first, the alarms still in sight
        await shoot(page, "risk-wall-phone", PHONE, full_page=False)

        # the alarms one click away: the E1 row's alarm count opens E1's page with its alarms
        link = page.locator('#risk-rows tr[data-enterprise="E1"] td.c-alarms a')
        assert await link.inner_text() == "2"
        await link.click()
        await page.wait_for_url(f"{base}/e/E1#ent-alerts")
        await until(page, "document.querySelectorAll('#ent-alerts li').length >= 2", timeout=5)
        await badge_is(page, "red", "红色风险预警")  # the page's badge is the warning, as on the board
        assert errors == []
