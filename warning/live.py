"""The live ledger: the store's ledger is the running site's truth, changed without a restart.

Which wins, the site file or the ledger? The site file seeds the ledger on the first start.
After that the ledger in the store is the truth: edits made through the admin API or an
import stay across restarts. A site file that *changed* since the last start is applied at start as an audited import (actor ``site file``) of what
changed *in the file* since the file last seen (kept in ``ledger_meta``): a record the file
adds or edits is created or updated; a record the file did not change is left as the ledger
has it, so a live edit survives a change elsewhere in the file; a record the file no longer
declares is not retired (only the admin API retires). An unchanged site file changes nothing, so a
restart never undoes a live edit. The site file's other parts (name, channels, policy, time
zone) are read from the file at every start and are not in the ledger.

:meth:`LiveLedger.propose` is the one way to change the ledger: plan (pure, every error at
once), write with the audit rows in one transaction, build the new site, hand it to the
``on_site`` callback (the runtime and the web state), in that order, one change at a time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import asyncpg

from .config import ConfigError, parse_site
from .ledger.plan import Change, Proposal, RecordError, Records, apply, plan, records_of_site
from .site import Site
from .store import ledger as ledger_store

log = logging.getLogger(__name__)
SITE_FILE = "site file"  #: the audit trail's actor for the seed and the imports at start


def site_from_records(base: Site, records: Records, kinds: Mapping[str, dict]) -> Site:
    """``base`` (the site file: name, channels, policy, time zone) with the ledger's streets,
    enterprises, points and users. Raises ``ConfigError`` if the ledger does not build."""
    ledger = parse_site(records.to_raw(), dict(kinds), source="ledger")
    return dataclasses.replace(
        base, enterprises=ledger.enterprises, points=ledger.points, users=ledger.users, streets=ledger.streets
    )


def _records(raw: dict) -> Records:
    return Records(
        {d["id"]: d for d in raw.get("streets", [])},
        {d["id"]: d for d in raw.get("enterprises", [])},
        {d["name"]: d for d in raw.get("users", [])},
    )


@dataclass(frozen=True)
class Outcome:
    changes: list[Change]
    errors: list[RecordError]
    version: int
    applied: bool  #: False for a dry run or a refused batch

    def to_json(self) -> dict:
        return {
            "applied": self.applied,
            "version": self.version,
            "errors": [e.to_json() for e in self.errors],
            "changes": [c.to_json() for c in self.changes],
            "summary": {a: sum(1 for c in self.changes if c.action == a) for a in ("create", "update", "retire")},
        }


class LiveLedger:
    def __init__(
        self,
        base: Site,
        kinds: Mapping[str, dict],
        pool: asyncpg.Pool,
        on_site: Callable[[Site, str], Awaitable[None]] | None = None,
    ):
        self.base = base
        self.kinds = kinds
        self.pool = pool
        self.on_site = on_site
        self.records = Records()
        self.version = 0
        self.site = base
        self._lock = asyncio.Lock()  #: one change at a time, in order

    async def start(self) -> Site:
        """Seed or import from the site file (see the module's rule), then load the ledger."""
        from_file = records_of_site(self.base, self.kinds)
        raw = from_file.to_raw()
        async with self.pool.acquire() as conn:
            current, version = await ledger_store.load(conn)
            seen = await ledger_store.meta(conn, "site_file")
            if seen != raw:
                first = version == 0 and not any(current.table(k) for k in ("street", "enterprise", "user"))
                last = Records() if seen is None else _records(seen)
                proposals = [
                    Proposal(kind, "upsert", rid, doc)
                    for kind in ("street", "enterprise", "user")
                    for rid, doc in from_file.table(kind).items()
                    if last.table(kind).get(rid) != doc
                ]
                changes, errors = plan(current, proposals, self.kinds)
                if errors:  # parse_site accepted the file, so this is a ledger rule (e.g. a credit code)
                    raise ConfigError(
                        "site file refused by the ledger: "
                        + "; ".join(f"{e.kind} {e.id} {e.field}: {e.message}" for e in errors[:20])
                    )
                version = await ledger_store.write(
                    conn, changes, SITE_FILE, action="seed" if first else "import", meta_updates={"site_file": raw}
                )
                current = apply(current, changes)
                log.info("ledger: %s %d records from the site file", "seeded" if first else "imported", len(changes))
        self.records, self.version = current, version
        self.site = site_from_records(self.base, current, self.kinds)
        return self.site

    async def propose(
        self,
        proposals: Sequence[Proposal],
        actor: str,
        *,
        dry_run: bool = False,
        action: str | None = None,
        extra_errors: Sequence[RecordError] = (),
    ) -> Outcome:
        """Validate and (unless ``dry_run``) apply a batch: all of it or, with any error, none.
        ``extra_errors``: the caller's own (an imported file's unreadable cells), listed with
        the batch's and refusing it too."""
        async with self._lock:
            await self._catch_up()
            # Pure and seconds long for a big ledger: off the event loop, so ingest goes on meanwhile.
            changes, errors, new, site = await asyncio.to_thread(self._plan, proposals)
            if extra_errors:
                errors = sorted([*extra_errors, *errors], key=lambda e: (e.row or 0, e.field))
            if errors or dry_run or not changes:
                return Outcome([] if errors else changes, errors, self.version, False)
            async with self.pool.acquire() as conn:
                self.version = await ledger_store.write(
                    conn, changes, actor, action=action, expect_version=self.version
                )
            self.records, self.site = new, site
            if self.on_site is not None:
                await self.on_site(site, actor)
            return Outcome(changes, [], self.version, True)

    def _plan(self, proposals: Sequence[Proposal]) -> tuple[list[Change], list[RecordError], Records, Site]:
        changes, errors = plan(self.records, proposals, self.kinds)
        if errors or not changes:
            return changes, errors, self.records, self.site
        new = apply(self.records, changes)
        try:
            return changes, [], new, site_from_records(self.base, new, self.kinds)
        except ConfigError as exc:  # e.g. an override a detector refuses
            return [], [RecordError("ledger", "", "", str(exc))], self.records, self.site

    async def _catch_up(self) -> None:
        """Another process (a second gateway, the CLI) may have changed the ledger: reload."""
        async with self.pool.acquire() as conn:
            v = await ledger_store.version(conn)
            if v == self.version:
                return
            self.records, self.version = await ledger_store.load(conn)
        self.site = site_from_records(self.base, self.records, self.kinds)
        if self.on_site is not None:
            await self.on_site(self.site, "ledger")
