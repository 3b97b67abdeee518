"""Issue 16 item 4 in a real browser: the enterprise page's point history over any range
(presets, from/to, drag to zoom), raw when close and rollups when far, limits drawn."""

from __future__ import annotations

import time

import asyncpg

from tests.test_dashboard_browser import bsite, chromium, logged_in_page, server, shoot, until  # noqa: F401
from warning.store import maintenance


async def test_point_history_zooms_from_rollups_to_raw(server):  # noqa: F811
    pid = server.runtime.devices["E1"]["DC1"]["hopper_temp"]
    end = time.time() - 3 * 3600
    rows = [
        (-1, pid, int((end - 20 * 86400 + 60 * k) * 1000), round(30 + (k % 60) * 0.25, 2)) for k in range(20 * 1440)
    ]
    conn = await asyncpg.connect(server.dsn)
    try:
        await conn.copy_records_to_table("readings", columns=("batch", "point_id", "ts_ms", "value"), records=rows)
        while not (await maintenance.run_pass(conn, server.site.retention, max_hours=10_000)).ran:
            pass
    finally:
        await conn.close()
    base = f"http://127.0.0.1:{server.port}"
    async with chromium() as browser:
        page, errors = await logged_in_page(browser, base, "duty")
        await page.goto(base + "/e/E1")
        await page.locator("#hist-point").select_option("DC1/hopper_temp")
        await page.locator("#hist svg.zoomable").wait_for()
        await page.click('#hist button[data-span="2592000"]')  # 30 days
        await until(page, "document.querySelector('#hist svg.zoomable')?.dataset.resolution === '1h'")
        assert await page.locator("#hist svg line.limit").count() == 2  # yellow 55, red 70
        assert await page.locator("#hist svg path.series").count() == 1
        # drag across a sliver of the plot: the range narrows until raw readings answer
        for _ in range(6):
            svg = page.locator("#hist svg.zoomable")
            box = await svg.bounding_box()
            assert box is not None
            y = box["y"] + box["height"] / 2
            await page.mouse.move(box["x"] + box["width"] * 0.40, y)
            await page.mouse.down()
            await page.mouse.move(box["x"] + box["width"] * 0.45, y, steps=3)
            await page.mouse.up()
            await page.wait_for_timeout(300)
            if await page.evaluate("document.querySelector('#hist svg.zoomable').dataset.resolution") == "raw":
                break
        res = await page.evaluate("document.querySelector('#hist svg.zoomable').dataset")
        assert res["resolution"] == "raw", res
        assert float(res["t1"]) - float(res["t0"]) < 6 * 3600
        await shoot(page, "enterprise-history")
        await page.click("#hist button:has-text('缩小')")  # zoom out (zh-CN page)
        before = float(res["t1"]) - float(res["t0"])
        span = "(d => Number(d.t1) - Number(d.t0))(document.querySelector('#hist svg.zoomable').dataset)"
        await until(page, f"{span} > {before * 1.5}")
        assert errors == []
