"""The ledger's admin page in a real browser (Debian's headless Chromium, Playwright): an
admin edits an enterprise; a bad value is shown beside its field and changes nothing; a
good one is saved, reaches the running site and the audit trail."""

from __future__ import annotations

import httpx

from tests.test_dashboard_browser import chromium
from tests.test_ledger_api import PW, login, server  # noqa: F401  (the fixture)

__all__ = ["server"]


async def test_admin_edits_an_enterprise_on_the_admin_page(server):  # noqa: F811
    base = f"http://127.0.0.1:{server.port}"
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(base + "/login")
        await page.fill("#username", "boss")
        await page.fill("#password", PW["boss"])
        await page.click("button[type=submit]")
        await page.wait_for_url(base + "/")
        await page.goto(base + "/admin")
        await page.click("#enterprises tr[data-id=E1]")
        await page.wait_for_selector("#editor:not([hidden])")
        assert await page.input_value("#f-name") == "甲粉体"
        await page.fill("#f-contact_phone", "not a phone")
        await page.click("#save")
        await page.wait_for_selector('.field-error[data-field="contact_phone"]:not(:empty)')
        assert server.site.enterprises["E1"].contact_phone == ""
        await page.fill("#f-contact_phone", "021-6250 1234")
        await page.fill("#f-name", "甲粉体有限公司")
        await page.select_option("#f-street", "wanli")
        await page.click("#save")
        await page.wait_for_selector("#msg:has-text('已保存')")
        assert errors == []
    e1 = server.site.enterprises["E1"]
    assert (e1.name, e1.contact_phone, e1.street) == ("甲粉体有限公司", "021-6250 1234", "wanli")
    admin, _ = await login(base, "boss")
    trail = (await admin.get("/api/v1/admin/audit?kind=enterprise&object=E1")).json()
    assert trail[0]["actor"] == "boss" and trail[0]["after"]["street"] == "wanli"
    await admin.aclose()
    async with httpx.AsyncClient(base_url=base) as anon:  # the page itself needs a login
        r = await anon.get("/admin")
        assert r.status_code == 303 and r.headers["location"] == "/login"


async def test_admin_edits_devices_points_streets_and_users_on_the_admin_page(server):  # noqa: F811
    """Devices and points (a device added with a platform code, a point dropped), a street
    created, a user created scoped to it (a bad role/enterprise pair refused beside its field,
    nothing applied), then the user retired: each reaches the running site live."""
    base = f"http://127.0.0.1:{server.port}"
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 1400, "height": 1600}, locale="zh-CN")
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(base + "/login")
        await page.fill("#username", "boss")
        await page.fill("#password", PW["boss"])
        await page.click("button[type=submit]")
        await page.wait_for_url(base + "/")
        await page.goto(base + "/admin")
        # devices and points of E1
        await page.click("#enterprises tr[data-id=E1]")
        await page.wait_for_selector("#editor:not([hidden]) #devices tr.device-row")
        assert await page.input_value("#devices tr.device-row .d-points") == "dp, vent_open, spark"
        await page.fill("#devices tr.device-row .d-points", "dp, spark")
        await page.click("#add-device")
        new_row = page.locator("#devices tr.device-row").nth(1)
        await new_row.locator(".d-id").fill("DC5")
        await new_row.locator(".d-points").fill("dp=TNM-E1-5, hopper_temp")
        await page.click("#save")
        await page.wait_for_selector("#msg:has-text('已保存')")
        dc5 = server.runtime.devices["E1"]["DC5"]
        assert set(dc5) == {"dp", "hopper_temp"} and set(server.runtime.devices["E1"]["DC1"]) == {"dp", "spark"}
        assert {p.ref.point: p.code for p in server.site.points if p.ref.device == "DC5"}["dp"] == "TNM-E1-5"
        # a bad point kind: refused beside the devices, nothing applied
        await page.fill("#devices tr.device-row .d-points", "dp, no_such_kind")
        await page.click("#save")
        await page.wait_for_selector('.field-error[data-field="devices"]:not(:empty)')
        assert set(server.runtime.devices["E1"]["DC1"]) == {"dp", "spark"}
        # a street
        await page.click("#street-new")
        await page.fill("#s-id", "zhenru")
        await page.fill("#s-name", "真如镇街道")
        await page.click("#street-save")
        await page.wait_for_selector("#streets tr[data-id=zhenru]")
        assert server.site.streets["zhenru"].name == "真如镇街道"
        # a user: an enterprise user without an enterprise is refused beside the field
        await page.click("#user-new")
        await page.fill("#u-name", "zr")
        await page.select_option("#u-role", "enterprise")
        await page.fill("#u-password", "zhenru-pass-1")
        await page.click("#user-save")
        await page.wait_for_selector('#user-form .field-error[data-field="enterprise"]:not(:empty)')
        assert "zr" not in server.site.users
        await page.select_option("#u-role", "officer")
        await page.fill("#u-streets", "zhenru")
        await page.click("#user-save")
        await page.wait_for_selector("#users tr[data-id=zr]")
        assert server.site.users["zr"].streets == ("zhenru",) and server.site.users["zr"].role == "officer"
        assert errors == []
        # the new officer signs in with the password the admin set, then is retired
        zr = httpx.AsyncClient(base_url=base)
        r = await zr.post("/login", data={"username": "zr", "password": "zhenru-pass-1"})
        assert r.status_code == 303 and "failed" not in r.headers["location"]
        await zr.aclose()
        await page.click("#users tr[data-id=zr]")
        await page.click("#user-retire")
        await page.wait_for_selector("#users tr[data-id=zr]", state="detached")
        assert "zr" not in server.site.users
        assert errors == []
    admin, _ = await login(base, "boss")
    trail = (await admin.get("/api/v1/admin/audit?kind=user&object=zr")).json()
    assert [t["action"] for t in trail] == ["retire", "create"] and trail[0]["actor"] == "boss"
    await admin.aclose()
