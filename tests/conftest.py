"""Shared fixtures: a small site, real PostgreSQL (the machine's and the embedded one),
and a running server on a free loopback port."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import tempfile
from pathlib import Path

import asyncpg
import pytest

from warning.config import load_kinds, parse_site
from warning.security import hash_password, token_digest

MACHINE_DSN = os.environ.get("WARNING_TEST_DSN", "postgresql://postgres@127.0.0.1:5432/test")
TOKENS = {"E1": "token-e1-" + "a" * 20, "E2": "token-e2-" + "b" * 20}
OFFICER_TOKEN = "officer-api-token-" + "c" * 20
PASSWORDS = {"duty": "duty-pass", "watcher": "watcher-pass"}
_SALT = b"0123456789abcdef"


def site_dict(channels: list[dict] | None = None, offline_after: float = 300) -> dict:
    dc = ["dp", "hopper_temp", "air_speed", "spark", "vent_open", "airlock_fault", "running"]
    return {
        "site": {"name": "test site", "offline_after": offline_after},
        "enterprises": [
            {"id": "E1", "name": "Enterprise one", "token_sha256": [token_digest(TOKENS["E1"])],
             "devices": [{"id": "DC1", "type": "bag_filter", "points": dc,
                          "overrides": {"dp": {"baseline": {"baseline": 1100.0}}}},
                         {"id": "DC2", "type": "bag_filter", "points": dc}]},
            {"id": "E2", "name": "Enterprise two", "token_sha256": [token_digest(TOKENS["E2"])],
             "devices": [{"id": "DC1", "type": "bag_filter", "points": dc}]},
        ],
        "users": [
            {"name": "duty", "role": "officer", "password": hash_password(PASSWORDS["duty"], salt=_SALT),
             "api_token_sha256": token_digest(OFFICER_TOKEN)},
            {"name": "watcher", "role": "viewer", "password": hash_password(PASSWORDS["watcher"], salt=_SALT)},
        ],
        "channels": channels or [],
    }


@pytest.fixture(scope="session")
def kinds():
    return load_kinds()


@pytest.fixture(scope="session")
def site(kinds):
    return parse_site(site_dict(), kinds)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def fresh_database() -> tuple[str, str]:
    """A new empty database on the machine's server: (dsn, name)."""
    name = "warning_t_" + secrets.token_hex(6)
    conn = await asyncpg.connect(MACHINE_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return MACHINE_DSN.rsplit("/", 1)[0] + "/" + name, name


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(MACHINE_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def machine_db():
    dsn, name = await fresh_database()
    yield dsn
    await drop_database(name)


@pytest.fixture(scope="session")
def embedded_dir():
    with tempfile.TemporaryDirectory(prefix="warning-emb-") as d:
        yield Path(d)


async def wait_for(predicate, timeout: float = 5.0, interval: float = 0.02):
    """Poll an async or sync predicate until it returns a truthy value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)
