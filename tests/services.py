"""The servers the suite starts for itself: PostgreSQL (embedded) and an MQTT broker (Mosquitto).

A fresh clone on a machine with neither passes ``make test``: nothing here looks for a
service on 5432 or 1883. ``WARNING_TEST_DSN`` still points the suite at a server of your own.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from warning.store.embedded import EmbeddedPostgres

# A throwaway cluster: durability buys nothing here and costs the shared machine's disk.
_FAST = ("fsync", "synchronous_commit", "full_page_writes")


class SuitePostgres:
    """The suite's PostgreSQL: the server ``dsn`` names, or an embedded one started on first use."""

    def __init__(self, dsn: str | None):
        self._given = dsn
        self._lock = threading.Lock()
        self._embedded: EmbeddedPostgres | None = None
        self._dir: str | None = None
        self._dsn: str | None = dsn

    def admin_dsn(self) -> str:
        """A DSN that may create and drop databases (blocking: starts the server the first time)."""
        with self._lock:
            if self._dsn is None:
                self._dir = tempfile.mkdtemp(prefix="warning-testpg-")
                self._embedded = EmbeddedPostgres(self._dir)
                dsn = self._embedded.start()
                asyncio.run(_throwaway_settings(dsn))
                self._dsn = dsn
            return self._dsn

    def dsn_for(self, database: str) -> str:
        """The admin DSN with its database replaced (works for TCP and Unix-socket URIs)."""
        if self._dsn is None:
            raise RuntimeError("the suite's PostgreSQL is not started")
        parts = urlsplit(self._dsn)
        return urlunsplit(parts._replace(path="/" + database))

    def stop(self) -> None:
        with self._lock:
            if self._embedded is not None:
                self._embedded.stop()
                self._embedded = None
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None
            self._dsn = self._given


async def _throwaway_settings(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for name in _FAST:
            await conn.execute(f"ALTER SYSTEM SET {name} = off")
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()


@dataclass
class Broker:
    host: str
    port: int
    proc: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def mosquitto_binary() -> str:
    """Debian installs the broker in /usr/sbin, which is not on a normal user's PATH."""
    found = shutil.which("mosquitto", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    if found is None:
        raise RuntimeError(
            "the MQTT tests need Debian's mosquitto: `make test` installs it (apt-get install mosquitto, as root)"
        )
    return found


def start_broker(folder: Path, port: int, timeout: float = 10.0) -> Broker:
    """Mosquitto on 127.0.0.1:``port``, anonymous, with persistence in ``folder`` (persistent
    sessions are what the kill test relies on: QoS 1 messages wait for a killed subscriber)."""
    conf, log = folder / "mosquitto.conf", folder / "mosquitto.log"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence true\n"
        f"persistence_location {folder}/\n"
        f"log_dest file {log}\n"
        # Run as whoever starts the suite (as root, mosquitto would otherwise switch to the
        # `mosquitto` user, which cannot write our temp dir).
        f"user {pwd.getpwuid(os.geteuid()).pw_name}\n"
        # Queued QoS 1 messages per offline session: the default (1000) could drop a burst
        # published while the kill test's server is down.
        "max_queued_messages 100000\n"
    )
    proc = subprocess.Popen([mosquitto_binary(), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            text = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(f"mosquitto exited with {proc.returncode}: {text[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return Broker("127.0.0.1", port, proc, log)
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"mosquitto did not listen on {port} within {timeout} s") from None
            time.sleep(0.05)
