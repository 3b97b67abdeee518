"""What every runtime raises to the edges."""

from __future__ import annotations

import asyncpg

#: failures of the store that mean "try again later", not "bad input"
DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, ConnectionError, TimeoutError)


class Overloaded(Exception):
    """The runtime cannot take more now; retry after ``retry_after`` seconds."""

    def __init__(self, reason: str, retry_after: int = 1):
        super().__init__(reason)
        self.retry_after = retry_after
