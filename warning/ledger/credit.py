"""统一社会信用代码 (unified social credit code, GB 32100-2015): 18 characters, the last a check
character computed from the first 17.

Position 1 is the registration authority, 2 the kind of organisation, 3-8 the administrative
division (digits), 9-17 the organisation code, 18 the check. Characters come from a 31-letter
alphabet (the digits and the capitals without I, O, S, V, Z); the check is
``31 - (sum of value(c_i) * 3**(i-1) mod 31) mod 31``, read back through the alphabet.
"""

from __future__ import annotations

from ..i18n import Text

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  #: 1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28
LENGTH = 18


def check_char(first17: str) -> str:
    """The check character for the first 17 characters (which must be in the alphabet)."""
    total = sum(_VALUE[c] * w for c, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def problem(code: str) -> Text | None:
    """Why ``code`` is not a valid credit code (a catalogue text), or None if it is."""
    if len(code) != LENGTH:
        return Text.of("must be 18 characters, not {n}", n=len(code))
    bad = sorted({c for c in code if c not in _VALUE})
    if bad:
        return Text.of("characters not allowed: {chars} (no I, O, S, V, Z, no lower case)", chars=repr("".join(bad)))
    if not code[2:8].isdigit():
        return Text.of("positions 3-8 (administrative division) must be digits")
    want = check_char(code[:17])
    if code[17] != want:
        return Text.of("wrong check character: the last should be {want}", want=want)
    return None


def valid(code: str) -> bool:
    return problem(code) is None
