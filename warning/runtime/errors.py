"""What every runtime raises to the edges, and how store failures are told apart.

A store failure is one of two things, and they are answered differently:

* an **outage** (:data:`OUTAGE`): the store cannot be reached or cannot work right now
  (connection lost or refused, timeouts, shutdown or start-up, out of resources, a
  transaction rolled back by a deadlock). Nothing is wrong with the data: answer 503 and
  retry;
* a **refusal** (anything else, typically class 22 data errors such as U+0000 in text):
  the store will refuse the same rows every time. Retrying would never end: the request
  that carried them (:data:`DATA_ERRORS`) is answered 400, a derived item (an alert event)
  is dead-lettered. A refusal that is not the data's fault (a schema mismatch, a bug) is
  answered 503 for the request, loudly logged, rather than blamed on the client.
"""

from __future__ import annotations

import asyncpg

#: failures of the store that mean "try again later", not "bad input"
OUTAGE = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.TransactionRollbackError,
    asyncpg.exceptions.InvalidTransactionStateError,
    asyncpg.exceptions.PostgresSystemError,
    OSError,
    ConnectionError,
    TimeoutError,
)
#: everything a store call may raise: an outage, or a refusal of what it was given
#: (asyncpg raises UnicodeEncodeError itself for a lone surrogate in COPY)
DB_ERRORS = (asyncpg.PostgresError, *OUTAGE, UnicodeError)


#: refusals that are the data's fault (class 22 data exceptions, 23 integrity violations, text
#: the driver cannot encode): the request that carried them is answered 400
DATA_ERRORS = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError, UnicodeError)


def is_data_error(exc: BaseException) -> bool:
    return isinstance(exc, DATA_ERRORS)


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` means the store is unreachable or busy (retry), not that it refused the data."""
    return isinstance(exc, OUTAGE)


def reason(exc: BaseException) -> str:
    """A short, storable description of a refusal (no control characters, bounded)."""
    text = f"{type(exc).__name__}: {exc}"
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)[:500]


class Overloaded(Exception):
    """The runtime cannot take more now; retry after ``retry_after`` seconds (HTTP 503)."""

    def __init__(self, reason: str, retry_after: int = 1):
        super().__init__(reason)
        self.retry_after = retry_after


class Rejected(Exception):
    """The store refused what this request carries: retrying cannot help (HTTP 400)."""
