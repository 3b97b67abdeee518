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

The write and the live apply are two steps, kept consistent by the version: the store's
committed version is the truth, and :attr:`LiveLedger.applied` is the version the running
system has taken. :meth:`LiveLedger.sync` (the server calls it every second) reads a newer
committed version (another gateway, the CLI, a write whose process died before applying it)
and applies whatever is committed but not applied (an apply that failed is retried there); a
start applies the committed ledger. So a crash or a failure between the write and the apply
is repaired at the next sync or start, never left.

Each change rebuilds only what it touches (:func:`site_after`): the changed enterprises'
devices and points are parsed, the rest of the site is kept, so one change to a ledger of
160,000 points costs milliseconds, not the seconds of parsing the whole ledger again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import asyncpg

from .config import ConfigError, parse_site, parse_users
from .i18n import Text
from .ledger.plan import Change, Proposal, RecordError, Records, apply, diff, plan, records_of_site
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


def site_after(site: Site, records: Records, changes: Sequence[Change], kinds: Mapping[str, dict]) -> Site:
    """``site`` (built from the ledger before ``changes``) after them, rebuilding only what they
    touch: the changed enterprises (parsed alone, with the site file's parser), the streets if a
    street changed, the users if a user or a street changed. The same site as
    :func:`site_from_records` of ``records`` would build (the points of a changed enterprise
    move to the end of ``points``; a point's id comes from the store, not its place)."""
    touched = {c.kind for c in changes}
    ents = {c.id: c.after for c in changes if c.kind == "enterprise"}
    streets_raw = list(records.streets.values())
    streets = site.streets
    if "street" in touched:
        streets = parse_site({"streets": streets_raw}, dict(kinds), source="ledger").streets
    enterprises, points = site.enterprises, site.points
    if ents:
        part = parse_site(
            {"streets": streets_raw, "enterprises": [d for d in ents.values() if d is not None]},
            dict(kinds),
            source="ledger",
        )
        enterprises = dict(site.enterprises)
        for eid, doc in ents.items():
            if doc is None:
                enterprises.pop(eid, None)
            else:
                enterprises[eid] = part.enterprises[eid]
        points = tuple(p for p in site.points if p.ref.enterprise not in ents) + part.points
    users = site.users
    if touched & {"user", "street"}:
        users = parse_users(list(records.users.values()), records.enterprises, streets, "ledger")
    return dataclasses.replace(site, enterprises=enterprises, points=points, users=users, streets=streets)


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
    live: bool = True  #: the running system has taken it (False: committed, applied at the next sync)

    def to_json(self, locale: str | None = None) -> dict:
        """The outcome as the API answers it, the errors' messages in ``locale`` (zh-CN when not given)."""
        return {
            "applied": self.applied,
            "live": self.live,
            "version": self.version,
            "errors": [e.to_json(locale) for e in self.errors],
            "changes": [c.to_json() for c in self.changes],
            "summary": {a: sum(1 for c in self.changes if c.action == a) for a in ("create", "update", "retire")},
        }


class LiveLedger:
    def __init__(
        self,
        base: Site,
        kinds: Mapping[str, dict],
        pool: asyncpg.Pool,
        on_site: Callable[[Site, str, int], Awaitable[None]] | None = None,
    ):
        self.base = base
        self.kinds = kinds
        self.pool = pool
        self.on_site = on_site  #: (site, actor, version): the running system takes the ledger
        self.records = Records()
        self.version = 0  #: the committed version these records and this site are
        self.applied = 0  #: the version the running system has taken (``on_site``)
        self.site = base
        self._actor = SITE_FILE  #: who made the version not applied yet
        self._lock = asyncio.Lock()  #: one change at a time, in order

    async def start(self) -> Site:
        """Seed or import from the site file (see the module's rule), then load the ledger. The
        runtime starts from the site returned: it is applied (``applied`` = ``version``)."""
        from_file = records_of_site(self.base, self.kinds)
        raw = from_file.to_raw()
        while True:
            async with self.pool.acquire() as conn:
                current, version = await ledger_store.load(conn)
                seen = await ledger_store.meta(conn, "site_file")
                if seen == raw:
                    break
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
                try:  # gateways and workers start together: the first one imports, the others reload
                    version = await ledger_store.write(
                        conn,
                        changes,
                        SITE_FILE,
                        action="seed" if first else "import",
                        expect_version=version,
                        meta_updates={"site_file": raw},
                    )
                except ledger_store.Stale:
                    continue
                current = apply(current, changes)
                log.info("ledger: %s %d records from the site file", "seeded" if first else "imported", len(changes))
                break
        self.records, self.version = current, version
        self.site = site_from_records(self.base, current, self.kinds)
        self.applied = version
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
        the batch's and refusing it too. Once written, the batch is applied live; if that fails
        the outcome says ``live`` False and :meth:`sync` applies it."""
        async with self._lock:
            await self._load_newer()
            # Pure and seconds long for a big batch: off the event loop, so ingest goes on meanwhile.
            changes, errors, new, site = await asyncio.to_thread(self._plan, proposals)
            if extra_errors:
                errors = sorted([*extra_errors, *errors], key=lambda e: (e.row or 0, e.field))
            if errors or dry_run or not changes:
                return Outcome([] if errors else changes, errors, self.version, False)
            async with self.pool.acquire() as conn:
                self.version = await ledger_store.write(
                    conn, changes, actor, action=action, expect_version=self.version
                )
            self.records, self.site, self._actor = new, site, actor
            live = await self._apply()
            return Outcome(changes, [], self.version, True, live)

    async def sync(self) -> bool:
        """Bring the running system to the committed ledger: read a version another process
        committed, apply what is committed but not applied. True when it is applied."""
        async with self._lock:
            await self._load_newer()
            return await self._apply()

    def _plan(self, proposals: Sequence[Proposal]) -> tuple[list[Change], list[RecordError], Records, Site]:
        changes, errors = plan(self.records, proposals, self.kinds)
        if errors or not changes:
            return changes, errors, self.records, self.site
        new = apply(self.records, changes)
        try:
            return changes, [], new, site_after(self.site, new, changes, self.kinds)
        except ConfigError as exc:  # e.g. an override a detector refuses
            return (
                [],
                [RecordError("ledger", "", "", Text.of("the site refused the change: {error}", error=str(exc)))],
                self.records,
                self.site,
            )

    async def _load_newer(self) -> None:
        """Another process (a second gateway, the CLI) may have changed the ledger: reload it,
        rebuilding only what changed."""
        async with self.pool.acquire() as conn:
            v = await ledger_store.version(conn)
            if v == self.version:
                return
            records, version = await ledger_store.load(conn)
        changes = diff(self.records, records)
        self.site = await asyncio.to_thread(site_after, self.site, records, changes, self.kinds)
        self.records, self.version, self._actor = records, version, "ledger"

    async def _apply(self) -> bool:
        if self.applied == self.version:
            return True
        if self.on_site is not None:
            try:
                await self.on_site(self.site, self._actor, self.version)
            except Exception:  # the store or the broker away: the change is committed, the next sync applies it
                log.exception("ledger version %d is committed but not applied yet; the next sync retries", self.version)
                return False
        self.applied = self.version
        return True
