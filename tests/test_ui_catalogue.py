"""The pages' strings: one catalogue (gettext domain ``ui``, zh-CN and English), served as
JSON by ``/api/v1/i18n/ui.json``; every string the pages use is in it, translated."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from babel.messages.pofile import read_po

from tests.test_dashboard_api import dash_site_dict
from warning.config import parse_site
from warning.i18n import LOCALE_DIR, negotiate
from warning.server import Server, Settings
from warning.web.pages import STATIC

CJK = re.compile(r"[\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def used_msgids() -> set[str]:
    """What the pages ask for: t("...") and N_("...") in the scripts, data-i18n* in the markup."""
    ids: set[str] = set()
    for f in Path(STATIC).iterdir():
        text = f.read_text(encoding="utf-8")
        if f.suffix == ".js":
            ids |= set(re.findall(r'\b(?:t|N_)\("((?:[^"\\]|\\.)*)"', text))
        elif f.suffix == ".html":
            ids |= set(re.findall(r'data-i18n(?:-[a-z-]+)?="([^"]+)"', text))
    return ids


def po(locale: str) -> dict[str, str]:
    with open(LOCALE_DIR / locale / "LC_MESSAGES" / "ui.po", "rb") as fh:
        return {m.id: m.string for m in read_po(fh) if m.id}


def test_every_page_string_is_in_both_catalogues_and_translated():
    used = used_msgids()
    assert len(used) > 100  # the extraction finds the pages' strings
    zh, en = po("zh_CN"), po("en")
    assert used - set(zh) == set() and used - set(en) == set()
    assert set(zh) - used == set()  # no dead entries
    for msgid in used:
        assert CJK.search(zh[msgid]), f"not translated to Chinese: {msgid!r}"
        assert set(PLACEHOLDER.findall(zh[msgid])) == set(PLACEHOLDER.findall(msgid)), msgid
        assert not CJK.search(en[msgid] or msgid), msgid


def test_no_chinese_or_english_literal_left_in_the_pages():
    """Text a person reads is only in the catalogue: no CJK in the scripts or markup (bar the
    name-shortening rule, which works on Chinese company names)."""
    for f in Path(STATIC).iterdir():
        if f.suffix not in (".js", ".html"):
            continue
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("//")[0]
            if CJK.search(code) and "shortName" not in code:
                pytest.fail(f"{f.name}:{n}: {line.strip()}")
        if f.suffix == ".html":  # markup: elements carry data-i18n, not text
            body = re.sub(r"<(script|style|title)[^>]*>.*?</\1>", "", f.read_text(encoding="utf-8"), flags=re.S)
            texts = [t.strip() for t in re.findall(r">([^<]+)<", body)]
            assert [t for t in texts if re.search(r"[A-Za-z]{2,}", t)] == [], f.name


@pytest.mark.parametrize(
    "header, chosen, want",
    [
        ("", None, "zh-CN"),
        ("en-US,en;q=0.9", None, "en"),
        ("fr, en;q=0.5, zh;q=0.4", None, "en"),
        ("en;q=0.3, zh-CN;q=0.8", None, "zh-CN"),
        ("zh-TW", None, "zh-CN"),
        ("de", None, "zh-CN"),
        ("en", "zh-CN", "zh-CN"),
        ("", "en", "en"),
        ("en", "xx", "en"),
        ("*", None, "zh-CN"),
        ("en;q=x", None, "zh-CN"),
    ],
)
def test_locale_negotiation(header, chosen, want):
    assert negotiate(header, chosen) == want


async def test_strings_and_map_endpoints(kinds, machine_db):
    srv = Server(parse_site(dash_site_dict(), kinds), Settings(port=0, database=machine_db))
    await srv.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{srv.port}") as c:
            r = await c.get("/api/v1/i18n/ui.json")  # no login needed: the login page uses it
            assert r.status_code == 200 and r.json()["locale"] == "zh-CN"
            assert r.json()["messages"]["Sign for"] == "签收"
            picker = [("zh-CN", "中文"), ("en", "English")]  # each language named in itself, from its catalogue
            assert [(loc["code"], loc["name"]) for loc in r.json()["locales"]] == picker
            r = await c.get("/api/v1/i18n/ui.json", headers={"Accept-Language": "en-GB,en;q=0.8"})
            assert r.json()["locale"] == "en" and r.json()["messages"]["Sign for"] == "Sign for"
            assert [(loc["code"], loc["name"]) for loc in r.json()["locales"]] == picker
            r = await c.get("/api/v1/i18n/ui.json", headers={"Accept-Language": "en", "Cookie": "warning_lang=zh-CN"})
            assert r.json()["locale"] == "zh-CN"  # the user's choice on the page wins
            assert (await c.get("/api/v1/i18n/ui.json?lang=en")).json()["locale"] == "en"
            assert (await c.get("/api/v1/dash/map")).status_code == 401
            r = await c.post("/login", data={"username": "duty", "password": "duty-pass"})
            assert r.status_code == 303
            r = await c.get("/api/v1/dash/map")  # this site names no map: no features, the page draws a grid
            assert r.status_code == 200 and r.json()["features"] == []
            site = (await c.get("/api/v1/dash/site")).json()
            assert all("street" in e for e in site["enterprises"])
    finally:
        await srv.stop()
