"""The ledger's tables (migration 011): load the live records, write a batch of changes with
their audit rows in one transaction, read the audit trail."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import orjson

from ..ledger.plan import Change, Records

_LOCK_ID = 0x6C656467  # "ledg": one writer of the ledger at a time
_TABLE = {"street": "ledger_streets", "enterprise": "ledger_enterprises", "user": "ledger_users"}
_KEY = {"street": "id", "enterprise": "id", "user": "name"}


def _json(v) -> str | None:
    return None if v is None else orjson.dumps(v).decode()


async def version(conn: asyncpg.Connection) -> int:
    row = await conn.fetchval("SELECT value FROM ledger_meta WHERE key = 'version'")
    return 0 if row is None else int(orjson.loads(row))


async def load(conn: asyncpg.Connection) -> tuple[Records, int]:
    """(the live records, the ledger's version)."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        tables = {}
        for kind, table in _TABLE.items():
            rows = await conn.fetch(
                f"SELECT {_KEY[kind]} AS k, doc FROM {table} WHERE retired_at IS NULL ORDER BY {_KEY[kind]}"
            )
            tables[kind] = {r["k"]: orjson.loads(r["doc"]) for r in rows}
        v = await version(conn)
    return Records(tables["street"], tables["enterprise"], tables["user"]), v


async def meta(conn: asyncpg.Connection, key: str):
    row = await conn.fetchval("SELECT value FROM ledger_meta WHERE key = $1", key)
    return None if row is None else orjson.loads(row)


async def write(
    conn: asyncpg.Connection,
    changes: Sequence[Change],
    actor: str,
    *,
    action: str | None = None,
    expect_version: int | None = None,
    meta_updates: dict | None = None,
) -> int:
    """Apply ``changes`` and their audit rows (``action`` overrides each change's own, e.g.
    ``import``) in one transaction; returns the new version. With ``expect_version``, a
    ledger changed since that version raises :class:`Stale` and nothing is written."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_ID)
        current = await version(conn)
        if expect_version is not None and current != expect_version:
            raise Stale(current)
        for kind, table in _TABLE.items():
            mine = [c for c in changes if c.kind == kind]
            live = [(c, c.after) for c in mine if c.after is not None]
            if kind == "enterprise":
                if live:
                    await conn.executemany(
                        f"INSERT INTO {table} (id, credit_code, street, doc) VALUES ($1, $2, $3, $4::jsonb) "
                        "ON CONFLICT (id) DO UPDATE SET credit_code = EXCLUDED.credit_code, street = EXCLUDED.street, "
                        "doc = EXCLUDED.doc, retired_at = NULL, updated_at = now()",
                        [(c.id, doc.get("credit_code"), doc.get("street"), _json(doc)) for c, doc in live],
                    )
            elif live:
                await conn.executemany(
                    f"INSERT INTO {table} ({_KEY[kind]}, doc) VALUES ($1, $2::jsonb) ON CONFLICT ({_KEY[kind]}) "
                    "DO UPDATE SET doc = EXCLUDED.doc, retired_at = NULL, updated_at = now()",
                    [(c.id, _json(doc)) for c, doc in live],
                )
            gone = [c.id for c in mine if c.after is None]
            if gone:
                await conn.execute(
                    f"UPDATE {table} SET retired_at = now(), updated_at = now() WHERE {_KEY[kind]} = ANY($1::text[])",
                    gone,
                )
        if changes:
            await conn.copy_records_to_table(
                "ledger_audit",
                columns=["actor", "action", "kind", "object", "before", "after"],
                records=[
                    (actor, action or c.action, c.kind, c.id, _json(_public(c.before)), _json(_public(c.after)))
                    for c in changes
                ],
            )
        new = current + 1 if changes else current
        for key, value in {"version": new, **(meta_updates or {})}.items():
            await conn.execute(
                "INSERT INTO ledger_meta (key, value) VALUES ($1, $2::jsonb) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                key,
                _json(value),
            )
    return new


def _public(doc: dict | None) -> dict | None:
    """A record as the audit trail keeps it: a password hash is noted as changed, not copied."""
    if doc is None or "password" not in doc:
        return doc
    return {**doc, "password": "(scrypt hash)"}


async def audit(
    conn: asyncpg.Connection, *, kind: str | None = None, obj: str | None = None, limit: int = 100
) -> list[dict]:
    rows = await conn.fetch(
        "SELECT id, extract(epoch FROM at) AS at, actor, action, kind, object, before, after FROM ledger_audit "
        "WHERE ($1::text IS NULL OR kind = $1) AND ($2::text IS NULL OR object = $2) ORDER BY id DESC LIMIT $3",
        kind,
        obj,
        limit,
    )
    return [
        {
            **dict(r),
            "at": float(r["at"]),
            "before": orjson.loads(r["before"]) if r["before"] else None,
            "after": orjson.loads(r["after"]) if r["after"] else None,
        }
        for r in rows
    ]


class Stale(RuntimeError):
    """The ledger changed since the version a batch was planned against."""

    def __init__(self, current: int):
        super().__init__(f"the ledger is at version {current}")
        self.current = current
