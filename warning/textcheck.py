"""The one text validator for everything a client or a person sends that may reach the store.

Pure. PostgreSQL refuses U+0000 in ``text`` (CharacterNotInRepertoireError) and UTF-8 cannot
encode a lone surrogate (``"\\ud800"``, which the json module and JavaScript accept), so
either would fail a whole transaction far from its sender. Other C0 control characters are
legal in PostgreSQL but are never meaningful in an id, a name or a note, and they break logs
and terminals, so they are refused too; tab, newline and carriage return stay allowed.
Lengths are counted in characters (what a person sees and what ``varchar(n)`` counts).

Refusals name the field and say why, as a :class:`warning.i18n.Text` (message id and
parameters of the ``warning`` catalogue), rendered in the reader's locale by whoever answers;
``str()`` of one is its zh-CN text.
"""

from __future__ import annotations

import json
import re

from .i18n import Text

#: U+0000-U+001F except tab, newline, carriage return; U+007F; lone surrogates.
_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


class TextError(ValueError):
    """A text refused at the edge: which ``field``, and the ``reason`` (a catalogue text)."""

    def __init__(self, field: str, reason: Text):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def problem(value: str, max_len: int) -> Text | None:
    """Why ``value`` may not be stored, or None when it may."""
    m = _BAD.search(value)
    if m is not None:
        code = f"U+{ord(m.group()):04X}"
        if 0xD800 <= ord(m.group()) <= 0xDFFF:
            return Text.of("contains a lone surrogate {code} (not valid Unicode)", code=code)
        return Text.of("contains the control character {code}", code=code)
    if len(value) > max_len:
        return Text.of("is {n} characters long, over the limit of {limit}", n=len(value), limit=max_len)
    return None


def check_text(value: str, *, field: str, max_len: int) -> str:
    """``value`` unchanged when it may be stored, else :class:`TextError` naming ``field``."""
    if not isinstance(value, str):
        raise TextError(field, Text.of("must be a string, not {type}", type=type(value).__name__))
    reason = problem(value, max_len)
    if reason is not None:
        raise TextError(field, reason)
    return value


def storable(value: str, max_len: int) -> str:
    """``value`` with every refused character replaced by U+FFFD and cut to ``max_len``: for
    texts the server writes itself that quote a client's input (dead letters' reasons)."""
    return _BAD.sub("\ufffd", value[:max_len])


def first_bad_text(doc, *, max_len: int, field: str = "body", max_depth: int = 64) -> TextError | None:
    """The first string (key or value) anywhere in a decoded JSON document that may not be
    stored, as a TextError naming its path (``body.attachments[0].name``), or None.

    Endpoints check their known fields with :func:`check_text` and their own limits; this
    is the net under them, so a field someone adds later cannot smuggle a NUL to the store.
    """
    stack = [(doc, field, 0)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, str):
            reason = problem(node, max_len)
            if reason is not None:
                return TextError(path, reason)
        elif depth >= max_depth:
            return TextError(path, Text.of("nested deeper than {depth} levels", depth=max_depth))
        elif isinstance(node, dict):
            for k, v in node.items():
                reason = problem(k, max_len)
                if reason is not None:
                    return TextError(f"{path} key", reason)
                stack.append((v, f"{path}.{k}", depth + 1))
        elif isinstance(node, list):
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(node))
    return None


def surrogate_in_json(raw: bytes) -> TextError | None:
    """For a body orjson refused over a surrogate: the field holding it (JSON allows the
    escape ``"\\ud800"``, and the json module and JavaScript write it), so the 400 can name
    the field instead of a character offset. None when that is not the problem."""
    try:  # surrogatepass: also a surrogate written as its UTF-8-style bytes (ED A0 80), not escaped
        doc = json.loads(raw.decode("utf-8", "surrogatepass"))
    except (ValueError, RecursionError):
        return None
    return first_bad_text(doc, max_len=len(raw) + 1)
