"""What the web edge may ask of a runtime: the embedded one (``warning run``) or a gateway of
the distributed one (``warning run --role ...``). Both implement this; the edge holds a
:class:`Runtime` and nothing more specific."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from ..ingest import Parsed
from ..policy.silences import Silence
from ..site import Site
from ..step import SystemFinding


class Runtime(Protocol):
    @property
    def devices(self) -> Mapping[str, Mapping[str, Mapping[str, int]]]:
        """enterprise -> device -> point -> point id (telemetry is validated against it)."""
        ...

    @property
    def ready(self) -> bool:
        """Started and not stopping."""
        ...

    def clock(self) -> float:
        """The runtime's time (epoch seconds): the edge stamps requests and queries with it."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Bounded: returns within a few seconds whatever is stuck."""
        ...

    def full(self) -> bool:
        """True when a telemetry request would be refused for room: answer 503 before reading it."""
        ...

    async def submit(self, enterprise: str, parsed: Parsed) -> tuple[int, int]:
        """Accept a validated request: (readings accepted, messages ignored as repeats). Raises
        ``Overloaded`` (503: retry) or ``Rejected`` (400: the store refuses what it carries)."""
        ...

    async def act(
        self,
        action: str,
        aid: str,
        actor: str,
        note: str | None,
        attachments: list[dict] | None = None,
        verdict: str | None = None,
    ) -> dict | None:
        """An officer's action (``verdict``: feedback's); the alert as it now is (None: ask the store). Raises
        ``AlertNotFound``/``AlertError`` (404/409), ``Rejected`` (400), ``Overloaded`` (503)."""
        ...

    async def reconfigure(self, site: Site, actor: str, version: int) -> None:
        """The live ledger changed the enterprises, devices or points (issue 14): take the new
        site (the ledger at ``version``) without a restart (unchanged points keep their state; a
        retired point's open alerts are closed by ``actor``). Returns once telemetry for the new
        points is accepted (distributed: once every partition has the change in order before it)."""
        ...

    async def reload_silences(self) -> None:
        """The silences changed in the store: apply them before the next alert."""
        ...

    async def finding(self, f: SystemFinding) -> None:
        """A finding of a rule outside the points' detectors (``f.enterprise``'s: an overdue
        dust-cleaning area), applied in order with that enterprise's inputs; severity None clears it."""
        ...

    def open_alerts_json(self) -> list[dict]:
        """Open alerts as JSON (for a new WebSocket client)."""
        ...

    def config_silences(self) -> Sequence[Silence]:
        """The configuration's recurring maintenance windows, as silences."""
        ...

    def suppressed(self) -> dict[str, int]:
        """Notifications suppressed so far, by reason (silenced, inhibited)."""
        ...

    def problems(self) -> list[str]:
        """Why the runtime cannot make progress now (``/readyz`` fails with these); empty: it can."""
        ...
