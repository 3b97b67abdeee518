"""Everything ``warning run`` starts, in order, and stops in reverse:
store (embedded PostgreSQL or a DSN) → pool and migrations → runtime (recovery) → HTTP.
The runtime is the embedded one, or with ``roles`` a gateway of the distributed one.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import uvicorn
from starlette.applications import Starlette

from .config import Site, config_dir, load_kinds, public_labels
from .live import LiveLedger
from .metrics import Metrics
from .risk.config import RiskConfig
from .risk.config import default as default_risk
from .risk.config import parse as parse_risk
from .runtime.embedded import EmbeddedRuntime, Options
from .runtime.gateway import KafkaGateway
from .runtime.kafka import KafkaSettings
from .runtime.risk import RiskService
from .sources.mqtt import MqttSettings, MqttSource
from .store import maintenance, timeparts
from .store import tokens as token_store
from .store.db import connect_pool
from .store.embedded import EmbeddedPostgres, default_data_dir
from .store.registry import changed_enterprises
from .store.sessions import Sessions
from .tokens import TokenRegistry
from .web.admission import Admission
from .web.app import AppState, build_app
from .web.auth import Auth
from .web.hub import Hub
from .web.limits import EdgeLimits, protocol_with
from .web.proxies import TrustedProxies, parse_networks
from .web.ratelimit import Buckets
from .web.sendnow import SendNowProtocol

log = logging.getLogger(__name__)
FULL_GC_EVERY = 100  #: middle-generation collections between full ones (CPython's default: 10)
STOP_WITHIN = 10.0  #: seconds from SIGTERM to exit, at most (documented in the README)
GRACEFUL_HTTP = 4  #: seconds open requests get to finish once stopping (the runtime answers them before)
POOL_CLOSE_WITHIN = 1.0


@dataclass
class Settings:
    """What ``warning run`` is told; every field has a flag and most an environment variable."""

    host: str = "127.0.0.1"
    port: int = 8080
    database: str | None = None  #: DSN; None starts the embedded server
    data_dir: Path | None = None  #: embedded server's folder (default: see store.embedded)
    trusted_proxies: str | None = None  #: addresses/networks whose forwarded headers count (default: none)
    public_url: str | None = None  #: WARNING_PUBLIC_URL: the origin browsers use, if not the Host's
    max_body: int = 1 << 20  #: bytes per telemetry request
    limits: EdgeLimits = field(default_factory=EdgeLimits)  #: heads, slow clients, idle connections, WS messages
    enterprise_rate: float | None = None  #: readings/s per enterprise, all its tokens together (None: = rate)
    share_requests: int = 8  #: telemetry requests in flight per enterprise (fair admission)
    share_readings: int = 20_000  #: readings waiting for their commit per enterprise
    rate: float = 5_000.0  #: readings/s per enterprise token
    burst: float = 50_000.0  #: readings per token in a burst
    runtime: Options = field(default_factory=Options)
    mqtt: MqttSettings | None = None  #: subscribe to an MQTT broker (off by default)
    token_refresh: float = 5.0  #: seconds between reloads of the tokens table
    ledger_sync: float = 1.0  #: seconds between checks for a committed ledger version not yet applied (warning.live)
    store_interval: float = 300.0  #: seconds between store upkeep passes (packing, partitions, retention); 0: none
    roles: set[str] | None = None  #: distributed gateway roles (ingest, dashboard, notifier); None: embedded
    kafka: KafkaSettings | None = None  #: the distributed runtime's broker and topics (with ``roles``)
    risk: Path | None = None  #: the risk model's file (default WARNING_RISK, else config/risk.toml), docs/risk.md
    uploads: Path | None = None  #: photos of replies, reports, cleaning (default: the data folder's uploads/)


def load_risk(path: Path | None) -> RiskConfig:
    """The risk model's file: ``path``, else WARNING_RISK, else config/risk.toml, else the defaults."""
    chosen = path or (Path(os.environ["WARNING_RISK"]) if os.environ.get("WARNING_RISK") else None)
    if chosen is None:
        shipped = config_dir() / "risk.toml"
        if not shipped.exists():
            return default_risk()
        chosen = shipped
    return parse_risk(chosen.read_text(encoding="utf-8"))


class Server:
    def __init__(self, site: Site, settings: Settings):
        self.site = site
        self.settings = settings
        self.embedded: EmbeddedPostgres | None = None
        self.pool: asyncpg.Pool | None = None
        self.dsn: str | None = None
        self.runtime: EmbeddedRuntime | KafkaGateway | None = None
        self.app: Starlette | None = None
        self.uvicorn: uvicorn.Server | None = None
        self._serving: asyncio.Task | None = None
        self._background: list[asyncio.Task] = []
        self.tokens = TokenRegistry(site)  #: site digests + the tokens table
        self.risk: RiskService | None = None
        self.mqtt: MqttSource | None = None
        self.ledger: LiveLedger | None = None
        self.state: AppState | None = None

    async def start(self) -> None:
        s = self.settings
        dsn = s.database
        if dsn is None and s.roles:
            raise ValueError("the distributed roles need a shared PostgreSQL: give --database")
        if dsn is None:
            self.embedded = EmbeddedPostgres(s.data_dir)
            dsn = await asyncio.to_thread(self.embedded.start)
            log.info("embedded PostgreSQL in %s", self.embedded.pgdata)
        self.pool = pool = await connect_pool(dsn)
        self.dsn = dsn
        async with pool.acquire() as conn:  # today's partitions exist before the first request
            await timeparts.ensure_ahead(conn, datetime.now(UTC), adopt=True)
        # The store's ledger is the running site (warning.live: the site file seeds it, then
        # its own changes are imported at start); the admin API changes it live.
        self.ledger = LiveLedger(self.site, load_kinds(), self.pool, on_site=self._use_site)
        self.site = await self.ledger.start()
        self.tokens = TokenRegistry(self.site)
        metrics = Metrics()
        hub = Hub(metrics=metrics, labels=public_labels(self.site))
        if s.roles:
            self.runtime = KafkaGateway(
                self.site,
                self.pool,
                s.kafka or KafkaSettings.from_env(),
                metrics=metrics,
                hub=hub,
                roles=s.roles,
                max_in_flight=s.runtime.max_pending,
            )
        else:
            self.runtime = EmbeddedRuntime(self.site, self.pool, metrics=metrics, hub=hub, options=s.runtime)
        await self.runtime.start()
        auth = Auth(self.site, Sessions(self.pool))
        await self._refresh_tokens()
        auth.enterprise_by_digest = self.tokens  # run-time issued and revoked tokens count too
        buckets = Buckets(s.rate, s.burst)
        proxies = TrustedProxies(parse_networks(s.trusted_proxies or os.environ.get("WARNING_TRUSTED_PROXIES")))
        state = AppState(
            self.site,
            self.pool,
            self.runtime,
            hub,
            metrics,
            auth,
            buckets,
            s.max_body,
            proxies=proxies,
            public_url=s.public_url or os.environ.get("WARNING_PUBLIC_URL") or None,
            admission=Admission(s.share_requests, s.share_readings),
            enterprise_buckets=Buckets(s.enterprise_rate or s.rate, (s.enterprise_rate or s.rate) / s.rate * s.burst),
            ledger=self.ledger,
            tokens=self.tokens,
        )
        self.state = state
        self._background.append(asyncio.create_task(self._token_loop()))
        self._background.append(asyncio.create_task(self._ledger_loop()))
        if s.store_interval > 0:
            assert self.dsn is not None
            # packing, partitions ahead and retention, once per pass across every process on the database
            upkeep = maintenance.keep_up(self.dsn, lambda: self.site.retention, s.store_interval)
            self._background.append(asyncio.create_task(upkeep))
        if s.mqtt is not None:
            self.mqtt = MqttSource(
                s.mqtt, runtime=self.runtime, auth=auth, buckets=buckets, pool=self.pool, metrics=metrics
            )
            state.mqtt = self.mqtt
            self._background.append(asyncio.create_task(self.mqtt.run()))
        state.uploads = s.uploads or ((s.data_dir or default_data_dir()) / "uploads")
        self.risk = RiskService(self.site, self.pool, hub, load_risk(s.risk), runtime=self.runtime)
        await self.risk.start()
        state.risk = self.risk
        self.app = app = build_app(state)
        lim = s.limits
        config = uvicorn.Config(
            app,
            host=s.host,
            port=s.port,
            http=protocol_with(lim),
            ws=SendNowProtocol,  # uvicorn's "websockets-sansio", plus the hub's send_now
            # No permessage-deflate: it would compress every event once per client (a zlib
            # stream each), where the hub sends one encoded frame to all (warning.web.hub).
            ws_per_message_deflate=False,
            ws_max_size=lim.ws_max_size,
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_keep_alive=lim.idle_timeout,
            timeout_graceful_shutdown=GRACEFUL_HTTP,
            # forwarded headers are read only from --trusted-proxies (web.proxies);
            # uvicorn would otherwise believe them from 127.0.0.1
            proxy_headers=False,
            forwarded_allow_ips="",
        )
        self.uvicorn = uvicorn.Server(config)
        # the CLI owns signals, for an orderly stop
        self.uvicorn.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        self._serving = asyncio.create_task(self.uvicorn.serve())
        while not self.uvicorn.started:
            if self._serving.done():
                self._serving.result()  # raises the bind error
                raise RuntimeError("HTTP server stopped during start-up")
            await asyncio.sleep(0.02)
        # What start-up built (the site, the detectors with their warmed state, the modules)
        # lives as long as the process: out of the cyclic collector's sight, a full collection
        # walks only what came after; and full collections are considered 10x less often
        # (garbage in reference cycles that old waits longer; everything else is freed by
        # reference counting as before). Without this, bench/dashboard_bench.py traced gen-2
        # pauses of 80-290 ms every few seconds at 10,000 readings/s, the tail of reading ->
        # screen; with it, one or two of 30-75 ms in 30 s.
        gc.collect()
        gc.freeze()
        young, middle, _ = gc.get_threshold()
        gc.set_threshold(young, middle, FULL_GC_EVERY)

    @property
    def db(self) -> asyncpg.Pool:
        """The pool, once started."""
        if self.pool is None:
            raise RuntimeError("the server is not started")
        return self.pool

    @property
    def port(self) -> int:
        if self.uvicorn is None:
            raise RuntimeError("the server is not started")
        sock = self.uvicorn.servers[0].sockets[0]
        return sock.getsockname()[1]

    async def _use_site(self, site: Site, actor: str, version: int) -> None:
        """The ledger changed: the runtime first (new points registered, retired points'
        alerts closed; in distributed mode, every worker told in order), then the edge (scopes,
        users, token digests), without a restart."""
        changed = changed_enterprises(self.site, site)
        if self.runtime is not None:
            await self.runtime.reconfigure(site, actor, version)
        self.site = site
        if self.risk is not None:
            self.risk.use_site(site)
        if self.state is not None:
            self.state.site = site
            self.state.auth.use_site(site)
            hub = self.state.hub  # the live feed names a new enterprise
            hub.labels = public_labels(site) if hub.labels is None else hub.labels.updated(site, changed)
        async with self.db.acquire() as conn:
            self.tokens.use_site(site, await token_store.rows(conn))

    async def _refresh_tokens(self) -> None:
        async with self.db.acquire() as conn:
            self.tokens.rebuild(await token_store.rows(conn))

    async def _ledger_loop(self) -> None:
        """The committed ledger is the truth: take a version another process committed, and
        retry an apply that failed (warning.live.LiveLedger.sync)."""
        assert self.ledger is not None
        while True:
            await asyncio.sleep(self.settings.ledger_sync)
            try:
                await self.ledger.sync()
            except Exception as exc:  # the store away: the next pass carries on
                log.warning("ledger sync failed: %s", exc)

    async def _token_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.token_refresh)
            try:
                await self._refresh_tokens()
            except Exception as exc:  # keep the last known tokens while the store is away
                log.warning("token refresh failed: %s", exc)

    async def stop(self) -> None:
        """Bounded (SIGTERM to exit within ``STOP_WITHIN`` seconds whatever is stuck): the HTTP
        server and the runtime stop side by side (the runtime answers what still waits, so
        requests in flight end), then the pool, then the embedded PostgreSQL, always."""
        for t in self._background:
            t.cancel()
        for t in self._background:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(t, 1.0)
        if self.uvicorn is not None:
            self.uvicorn.should_exit = True
        if self.risk is not None:  # before the runtime and the pool: it writes through the pool
            await self.risk.stop()
        steps: list[Awaitable[object]] = []
        if self.runtime is not None:
            steps.append(self.runtime.stop())
        if self._serving is not None:
            steps.append(self._serving)
        for res in await asyncio.gather(*steps, return_exceptions=True):
            if isinstance(res, BaseException):
                log.error("stopping: %s", res)
        if self.pool is not None:
            try:
                await asyncio.wait_for(self.pool.close(), POOL_CLOSE_WITHIN)
            except TimeoutError:  # a connection still busy (a stuck query): end them all
                log.warning("stopping: connections still busy after %.0f s; terminating them", POOL_CLOSE_WITHIN)
                self.pool.terminate()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)
