"""``warning session ...``: the server-side sessions (``warning.store.sessions``).

    warning session list [USER]    live sessions: user, address, since, until
    warning session end USER       end every session of USER (a lost phone, a copied cookie)

A running server stops accepting an ended session at once for a session it has not
checked in the last 2 s (its cache), else within those 2 s; an open dashboard feed of it
closes within 5 s. ``--database`` / ``--data-dir`` may stand before or after ``session``.
"""

from __future__ import annotations

import asyncio
import sys

from ..store import sessions as session_store
from . import _store


def register(sub) -> None:
    store = _store.options("database", "data_dir")
    p = sub.add_parser("session", parents=[store], help="list live sessions, or end a user's sessions")
    acts = p.add_subparsers(dest="action", required=True)
    ls = acts.add_parser("list", parents=[store], help="live sessions (no secrets: user, address, times)")
    ls.add_argument("user", nargs="?")
    end = acts.add_parser("end", parents=[store], help="end every session of a user")
    end.add_argument("user")
    p.set_defaults(func=lambda args: asyncio.run(_session(args)))


async def _session(args) -> int:
    where = _store.describe(args)
    async with _store.connection(args) as conn:
        if args.action == "list":
            print(f"live sessions in {where}:", file=sys.stderr)
            for s in await session_store.live(conn, args.user):
                print(
                    f"{s['user_name']}  {s['address'] or '-'}  since {s['created_at']:%Y-%m-%d %H:%M}  "
                    f"until {s['expires_at']:%Y-%m-%d %H:%M}"
                )
            return 0
        n = await session_store.end_user(conn, args.user, "ended by an administrator")
        print(f"ended {n} session(s) of {args.user} in {where}")
        return 0
