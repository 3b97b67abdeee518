"""Tokens issued, rotated and revoked with the CLI take effect on a running server, and the
store keeps digests only."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import asyncpg
import httpx
import orjson

from tests.conftest import TOKENS, site_dict, wait_for
from warning.config import parse_site
from warning.server import Server, Settings
from warning.tokens import TokenRegistry


def cli(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "warning.cli", "token", *args], capture_output=True, text=True, check=True, timeout=60
    )
    return out.stdout.strip()


def test_registry_merges_site_and_table(site):
    reg = TokenRegistry(site)
    some_site_digest = next(iter(reg.from_site))
    reg.rebuild([("d-new", "E2", False), (some_site_digest, "E1", True)])
    assert reg.get("d-new") == "E2" and reg.get(some_site_digest) is None
    reg.rebuild([])
    assert reg.get(some_site_digest) is not None and reg.get("d-new") is None


async def post(port, token) -> int:
    body = orjson.dumps([{"device": "DC1", "ts": int(time.time() * 1000), "values": {"dp": 1}}])
    async with httpx.AsyncClient() as c:
        r = await c.post(
            f"http://127.0.0.1:{port}/api/v1/telemetry",
            content=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
    return r.status_code


async def test_issue_rotate_revoke_on_a_running_server(kinds, machine_db, tmp_path):
    site_file = tmp_path / "site.toml"
    from simulators.site import _toml  # the demo generator's TOML writer

    raw = site_dict()
    lines = ["[site]", 'name = "t"']
    for e in raw["enterprises"]:
        lines += ["[[enterprises]]", f"id = {_toml(e['id'])}", f"token_sha256 = {_toml(e['token_sha256'])}"]
    site_file.write_text("\n".join(lines) + "\n")
    srv = Server(parse_site(raw, kinds), Settings(port=0, database=machine_db, token_refresh=0.2))
    await srv.start()
    try:
        new = await asyncio.to_thread(cli, "new", "E1", "--label", "gateway", "--database", machine_db)
        assert len(new) >= 40
        # picked up at the next refresh (0.2 s here), not at once: the suite once posted between
        # the CLI's commit and that refresh and got the 401 it should
        await wait_for(lambda: _is(post(srv.port, new), 202), timeout=5)

        rotated = await asyncio.to_thread(cli, "rotate", "E1", "--site", str(site_file), "--database", machine_db)
        await wait_for(lambda: _is(post(srv.port, rotated), 202), timeout=5)
        await wait_for(lambda: _is(post(srv.port, new), 401), timeout=5)  # the issued one is revoked
        assert await post(srv.port, TOKENS["E1"]) == 401  # and the site file's one too
        assert await post(srv.port, TOKENS["E2"]) == 202  # another enterprise is untouched

        await asyncio.to_thread(cli, "revoke", "E1", rotated, "--database", machine_db)
        await wait_for(lambda: _is(post(srv.port, rotated), 401), timeout=5)
        listing = await asyncio.to_thread(cli, "list", "E1", "--database", machine_db)
        assert listing.count("revoked") >= 3 and rotated not in listing
        conn = await asyncpg.connect(machine_db)
        stored = " ".join(r["digest"] for r in await conn.fetch("SELECT digest FROM tokens"))
        await conn.close()
        assert new not in stored and rotated not in stored  # digests only
    finally:
        await srv.stop()


async def _is(coro, expected) -> bool:
    return await coro == expected
