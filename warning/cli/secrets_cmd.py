"""``warning token ...`` and ``warning hash-password``: secrets, stored only as digests.

    warning token                         print a new token and its digest (for the site file)
    warning token new E001 [--label L]    issue a token for E001 in the store; printed once
    warning token rotate E001             issue a new one and revoke all of E001's others
    warning token revoke E001 TOKEN|DIGEST
    warning token list [E001]

A running server picks up issued and revoked tokens within ``token_refresh`` (5 s).
``--database`` / ``--data-dir`` may stand before or after ``token`` and its action; every
change says which store it was made in (standard error, so that standard output carries
only a new token).
"""

from __future__ import annotations

import asyncio
import re
import sys

from ..security import hash_password, new_token, token_digest
from ..store import tokens as token_store
from . import _store

_HEX64 = re.compile(r"[0-9a-f]{64}")


def register(sub) -> None:
    store, with_site = _store.options("database", "data_dir"), _store.options("database", "data_dir", "site")
    p = sub.add_parser("token", parents=[with_site], help="issue, rotate, revoke and list enterprise tokens")
    p.set_defaults(func=_token, action=None)
    acts = p.add_subparsers(dest="action")
    n = acts.add_parser(
        "new", parents=[store], help="issue a token for an enterprise (printed once, stored as a digest)"
    )
    n.add_argument("enterprise")
    n.add_argument("--label", default="")
    r = acts.add_parser(
        "rotate",
        parents=[with_site],
        help="issue a new token and revoke the enterprise's other tokens (--site: its digests too)",
    )
    r.add_argument("enterprise")
    v = acts.add_parser("revoke", parents=[store], help="revoke a token (give the token or its digest)")
    v.add_argument("enterprise")
    v.add_argument("token")
    ls = acts.add_parser("list", parents=[store], help="list issued and revoked tokens (digests only)")
    ls.add_argument("enterprise", nargs="?")
    p = sub.add_parser("hash-password", help="hash a password read from stdin for the site file")
    p.set_defaults(func=_hash)


def _token(args) -> int:
    if args.site is not None and args.action != "rotate":
        print("warning token: only `token rotate` uses --site", file=sys.stderr)
        return 2
    if args.action is None:
        if args.database or args.data_dir:
            print(
                "warning token: without an action nothing is stored; --database/--data-dir are for "
                "new, rotate, revoke and list",
                file=sys.stderr,
            )
            return 2
        tok = new_token()
        print(f"token  = {tok}\ndigest = {token_digest(tok)}")
        return 0
    return asyncio.run(_manage(args))


async def _manage(args) -> int:
    where = _store.describe(args)
    async with _store.connection(args) as conn:
        if args.action == "list":
            print(f"tokens in {where}:", file=sys.stderr)
            for t in await token_store.listing(conn, args.enterprise):
                state = f"revoked {t['revoked_at']:%Y-%m-%d %H:%M}" if t["revoked_at"] else "active"
                print(f"{t['enterprise']}  {t['digest'][:16]}…  {state}  {t['label']}")
            return 0
        if args.action == "revoke":
            digest = args.token if _HEX64.fullmatch(args.token) else token_digest(args.token)
            outcome = await token_store.revoke(conn, digest, args.enterprise)
            if outcome == "other enterprise":
                print(
                    f"refused: token {digest[:16]}… belongs to another enterprise than {args.enterprise} in {where}",
                    file=sys.stderr,
                )
                return 1
            print(f"revoked {digest[:16]}… of {args.enterprise} in {where} ({outcome})")
            return 0
        tok = new_token()
        async with conn.transaction():
            if args.action == "rotate":
                old = [t["digest"] for t in await token_store.listing(conn, args.enterprise) if not t["revoked_at"]]
                old += _site_digests(args.site, args.enterprise)
                for digest in old:
                    await token_store.revoke(conn, digest, args.enterprise)
                print(f"revoked {len(old)} earlier token(s) of {args.enterprise} in {where}", file=sys.stderr)
            await token_store.add(
                conn, token_digest(tok), args.enterprise, (args.label if args.action == "new" else "") or args.action
            )
        print(f"issued a token for {args.enterprise} in {where}", file=sys.stderr)
        print(tok)  # the only time the token is shown
        return 0


def _site_digests(site_path: str | None, enterprise: str) -> list[str]:
    if not site_path:
        return []
    from ..config import load_site

    e = load_site(site_path).enterprises.get(enterprise)
    return list(e.token_digests) if e else []


def _hash(args) -> int:
    print(hash_password(sys.stdin.readline().rstrip("\n")))
    return 0
