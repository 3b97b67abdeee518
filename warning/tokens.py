"""Which enterprise a bearer token belongs to: the site file's digests plus the ``tokens``
table (issued and revoked at run time by ``warning token``), minus revoked ones.

Pure: ``rebuild`` takes the table's rows; the runtime refreshes them every few seconds, so a
revocation takes effect within that time without a restart.
"""

from __future__ import annotations

from collections.abc import Iterable

from .site import Site


class TokenRegistry:
    """A read-only mapping digest -> enterprise id (``get`` like a dict)."""

    def __init__(self, site: Site):
        self.from_site = {d: e.id for e in site.enterprises.values() for d in e.token_digests}
        self.by_digest: dict[str, str] = dict(self.from_site)  #: the mapping in force

    def use_site(self, site: Site, rows: Iterable[tuple[str, str, bool]]) -> None:
        """The ledger changed the enterprises: their declared digests, then the table again."""
        self.from_site = {d: e.id for e in site.enterprises.values() for d in e.token_digests}
        self.rebuild(rows)

    def get(self, digest: str, default: None = None, /) -> str | None:
        return self.by_digest.get(digest, default)

    def rebuild(self, rows: Iterable[tuple[str, str, bool]]) -> None:
        """Apply the table: rows of (digest, enterprise, revoked)."""
        merged = dict(self.from_site)
        for digest, enterprise, revoked in rows:
            if revoked:
                merged.pop(digest, None)
            else:
                merged[digest] = enterprise
        self.by_digest = merged
