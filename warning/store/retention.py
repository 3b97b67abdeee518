"""Retention: drop whole time partitions past their table's horizon; never delete rows.

A partition is dropped when its last day ends before ``now - keep``. Defaults (per site,
``[retention]`` in the site file): packed raw readings a year, rollups for ever, message
ids 7 days (the de-duplication horizon: a message id repeated later than that is stored
again), dead letters 90 days. A DEFAULT partition is never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from . import timeparts


@dataclass(frozen=True, slots=True)
class Policy:
    raw_days: int | None = 365  #: packed readings (None: for ever)
    rollup_days: int | None = None
    message_days: int = 7  #: de-duplication horizon
    dead_letter_days: int | None = 90

    def keep_days(self, table: str) -> int | None:
        return {"readings_packed": self.raw_days, "rollups": self.rollup_days, "messages": self.message_days,
                "dead_letters": self.dead_letter_days}[table]

    @classmethod
    def from_dict(cls, raw: dict | None) -> Policy:
        """From a site file's ``[retention]`` table (``raw_days``, ``rollup_days``,
        ``message_days``, ``dead_letter_days``; 0 or absent rollups: for ever)."""
        raw = dict(raw or {})
        unknown = set(raw) - {"raw_days", "rollup_days", "message_days", "dead_letter_days"}
        if unknown:
            raise ValueError(f"retention: unknown keys {sorted(unknown)}")

        def days(key: str, default: int | None) -> int | None:
            v = raw.get(key, default)
            if v is None or v == 0:
                return None
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"retention.{key} must be a whole number of days >= 1 (0: for ever)")
            return v

        msg = days("message_days", 7)
        if msg is None:
            raise ValueError("retention.message_days must be >= 1")
        return cls(days("raw_days", 365), days("rollup_days", None), msg, days("dead_letter_days", 90))


def expired(parts: list[timeparts.Part], now: datetime, policy: Policy) -> list[timeparts.Part]:
    today = now.date()
    out = []
    for p in parts:
        keep = policy.keep_days(p.table)
        if keep is None or p.name.endswith("_default"):
            continue
        if p.hi <= today - timedelta(days=keep):
            out.append(p)
    return out


async def retain(conn: asyncpg.Connection, now: datetime, policy: Policy, *, dry_run: bool = False
                 ) -> list[timeparts.Part]:
    """Drop the expired partitions (each ``DROP TABLE`` its own statement: a kill between two
    leaves whole partitions either way). Returns what was (or would be) dropped."""
    gone = expired(await timeparts.parts(conn), now, policy)
    if not dry_run:
        for p in gone:
            await timeparts.drop(conn, p)
    return gone
