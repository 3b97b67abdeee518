"""``warning token`` and ``warning hash-password``: secrets for the site file."""

from __future__ import annotations

import sys

from ..security import hash_password, new_token, token_digest


def register(sub) -> None:
    p = sub.add_parser("token", help="print a new enterprise token and the digest to put in the site file")
    p.set_defaults(func=_token)
    p = sub.add_parser("hash-password", help="hash a password read from stdin for the site file")
    p.set_defaults(func=_hash)


def _token(args) -> int:
    tok = new_token()
    print(f"token  = {tok}\ndigest = {token_digest(tok)}")
    return 0


def _hash(args) -> int:
    print(hash_password(sys.stdin.readline().rstrip("\n")))
    return 0
