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
