"""The one message catalogue: gettext ``.po`` files read with Babel, zh-CN first, English second.

Catalogues live in ``warning/locale/<locale>/LC_MESSAGES/<domain>.po``: the ``warning``
domain holds every text the server builds (alert messages, point and kind titles, dust
types, rule names, channel messages, API errors, the report); the ``ui`` domain holds the
pages' strings. Message ids are English with ``{name}`` placeholders (``str.format``);
contexts (``msgctxt``) keep short words apart (``rule``/``threshold`` vs. ``point``/...).

The ``.po`` files are read with Babel on first use (then cached), not compiled to ``.mo``
by a make step: the ``.po`` is then the only artefact, a fresh clone runs without a build
step, and reading ~300 entries costs a few milliseconds once per process.

A message missing from a catalogue falls back to the English id (so a new string never
breaks a page); :func:`untranslated` lists such gaps and the tests fail on any in zh-CN.

This module is the catalogues' one home: the pages' strings (``/api/v1/i18n/ui.json``,
:func:`messages`), the server's texts (:func:`translate`), and the choice of locale
(:func:`negotiate`) all read them here. A refusal made where the reader's locale is not
known yet (a body reader, a text check) is a :class:`Text`: the message id and its
parameters, rendered when the answer is built for its reader; a list of such texts is a
:class:`Joined` parameter of one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from babel.messages.pofile import read_po

DEFAULT_LOCALE = "zh-CN"  #: what a person reads unless they asked for another
LOCALES = ("zh-CN", "en")  #: supported, in order of preference
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
_DIRS = {"zh-CN": "zh_CN", "en": "en"}


def normalise(tag: str | None) -> str | None:
    """A supported locale for a language tag (``zh``, ``zh-cn``, ``zh_Hans_CN``, ``en-US`` ...), or None."""
    if not tag:
        return None
    t = tag.strip().replace("_", "-").lower()
    if t[:2] == "zh":
        return "zh-CN"
    if t == "en" or t.startswith("en-"):
        return "en"
    return None


def negotiate(accept_language: str | None, user_pref: str | None = None) -> str:
    """The locale to answer in: the user's own setting (site file user ``locale``) first, then
    the best supported entry of ``Accept-Language`` by q-value, then zh-CN."""
    pref = normalise(user_pref[:20] if user_pref else None)
    if pref:
        return pref
    best: tuple[float, int, str] | None = None
    for i, part in enumerate((accept_language or "")[:1000].split(",")[:30]):  # a header is no work list
        bits = part.strip().split(";")
        loc = normalise(bits[0])
        if loc is None:
            continue
        q = 1.0
        for b in bits[1:]:
            k, _, v = b.strip().partition("=")
            if k == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        if q > 0 and (best is None or (q, -i) > (best[0], best[1])):
            best = (q, -i, loc)
    return best[2] if best else DEFAULT_LOCALE


@lru_cache(maxsize=16)
def _entries(locale: str, domain: str, directory: Path | None) -> tuple[tuple[str | None, str, str], ...]:
    """(context, msgid, msgstr) of every entry of one ``.po`` file, read once."""
    path = (directory or LOCALE_DIR) / _DIRS.get(locale, locale) / "LC_MESSAGES" / f"{domain}.po"
    if not path.exists():
        return ()
    with open(path, "rb") as fh:
        cat = read_po(fh, locale=_DIRS.get(locale, locale).replace("-", "_"), domain=domain)
    return tuple(
        (m.context, m.id, m.string if isinstance(m.string, str) else "") for m in cat if m.id and isinstance(m.id, str)
    )


@lru_cache(maxsize=16)
def catalogue(locale: str, domain: str = "warning", directory: Path | None = None) -> dict[tuple[str | None, str], str]:
    """(context, msgid) -> msgstr of one catalogue (empty msgstrs are left out: they fall back)."""
    return {(ctx, mid): text for ctx, mid, text in _entries(locale, domain, directory) if text}


@lru_cache(maxsize=8)
def messages(locale: str, domain: str = "ui") -> dict[str, str]:
    """msgid -> text of every entry of a domain in ``locale``, the msgid where nobody
    translated it: what the pages get (``/api/v1/i18n/ui.json``)."""
    loc = normalise(locale) or DEFAULT_LOCALE
    return {mid: text or mid for _, mid, text in _entries(loc, domain, None)}


def translate(
    msgid: str, locale: str | None = None, *, context: str | None = None, domain: str = "warning", **params: object
) -> str:
    """The text of ``msgid`` in ``locale`` (default zh-CN), formatted with ``params``."""
    return say(msgid, locale, params, context=context, domain=domain)


def say(
    msgid: str, locale: str | None, params: Mapping[str, object], *, context: str | None = None, domain: str = "warning"
) -> str:
    """:func:`translate` with the parameters as a mapping (an error's ``params``, say)."""
    loc = normalise(locale) or DEFAULT_LOCALE
    text = catalogue(loc, domain).get((context, msgid), msgid)
    if params:
        params = {k: v.render(loc) if isinstance(v, (Text, Joined)) else v for k, v in params.items()}
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError):
            return msgid.format(**params)  # a broken translation must not lose the message
    return text


@dataclass(frozen=True, slots=True)
class Text:
    """A message for a person whose reader is not known yet: ``msgid`` of the ``warning``
    domain and its parameters. :meth:`render` gives it in a locale; ``str()`` in zh-CN."""

    msgid: str
    params: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def of(cls, msgid: str, **params: object) -> Text:
        return cls(msgid, params)

    def render(self, locale: str | None = None) -> str:
        params = {k: v.render(locale) if isinstance(v, (Text, Joined)) else v for k, v in self.params.items()}
        return say(self.msgid, locale, params)

    def __str__(self) -> str:
        return self.render(DEFAULT_LOCALE)


@dataclass(frozen=True, slots=True)
class Joined:
    """Several texts shown as one, each rendered in the reader's locale and joined by ``sep``
    (a refusal's list of bad items): a parameter of a :class:`Text`. Plain strings (a code, an
    index) are kept as they are."""

    parts: tuple[Text | str, ...]
    sep: str = "; "

    def render(self, locale: str | None = None) -> str:
        return self.sep.join(p.render(locale) if isinstance(p, Text) else p for p in self.parts)

    def __str__(self) -> str:
        return self.render(DEFAULT_LOCALE)


def N_(msgid: str) -> str:
    """Marks a message id written down here and translated later (gettext's ``gettext_noop``),
    so the catalogue test finds it."""
    return msgid


def word(context: str, msgid: str, locale: str | None = None) -> str:
    """A short word by context (``rule``, ``point``, ``severity``, ``dust``, ``event``, ``unit``, ...)."""
    return translate(msgid, locale, context=context)


_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def untranslated(locale: str = DEFAULT_LOCALE, domain: str = "warning", directory: Path | None = None) -> list[str]:
    """Entries of a catalogue nobody translated: msgstr empty, or equal to an English msgid
    (one with a latin word outside its placeholders). Used by the tests, and by anyone who
    adds a string: ``python -c "from warning.i18n import untranslated; print(untranslated())"``."""
    path = (directory or LOCALE_DIR) / _DIRS.get(locale, locale) / "LC_MESSAGES" / f"{domain}.po"
    with open(path, "rb") as fh:
        cat = read_po(fh)
    bad = []
    for m in cat:
        if not m.id or not isinstance(m.id, str):
            continue
        english = bool(_LATIN_WORD.search(_PLACEHOLDER.sub("", m.id)))
        if not m.string or (english and m.string == m.id):
            bad.append(f"{m.context + '|' if m.context else ''}{m.id}")
    return bad
