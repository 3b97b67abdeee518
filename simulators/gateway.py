"""A data-collection gateway speaking a platform's format (national or provincial), for the
adapters' load tests through the real HTTP path: ``warning simulate --platform provincial``.

:func:`with_codes` gives a generated site its codes (enterprise ``code``, per-device ``codes``)
and one gateway per enterprise; :class:`GatewayPusher` is :class:`~simulators.push.SitePusher`
with each step's readings re-encoded as that platform's items, encrypted with the gateway's key
(read from the environment variables the site file names, as the server does) and posted to
the platform's path. Answers are read in the platform's convention (``code`` 200 is success).
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import datetime

import aiohttp

from simulators.push import SitePusher
from warning.platforms.crypto import CipherSpec
from warning.platforms.settings import DEFAULTS, Format
from warning.times import zone


def enterprise_code(index: int) -> str:
    return f"3205{index:08d}"  # 12 digits: a Suzhou-like region prefix and a serial


def with_codes(site: dict, platforms=("provincial", "national"), key_prefix: str = "WARNING_GW") -> dict:
    """The site (tomllib form, edited in place and returned) with codes and, per enterprise, one
    gateway of each platform: ``P<enterprise>`` (provincial) and ``N<enterprise>`` (national), their
    keys in ``{key_prefix}_{P|N}_{enterprise}_KEY`` / ``_IV`` (national also ``_SECRET``)."""
    gateways = []
    for i, ent in enumerate(site["enterprises"], 1):
        ent["code"] = enterprise_code(i)
        for j, dev in enumerate(ent.get("devices", []), 1):
            dev["codes"] = {p: f"{ent['code']}{j:03d}{k:04d}" for k, p in enumerate(dev.get("points", []), 1)}
        for platform in platforms:
            tag = platform[0].upper()
            var = f"{key_prefix}_{tag}_{ent['id']}"
            g = {
                "id": f"{tag}{ent['id']}",
                "platform": platform,
                "enterprise": ent["id"],
                "key_env": f"{var}_KEY",
                "iv_env": f"{var}_IV",
            }
            if platform == "national":
                g["secret_env"] = f"{var}_SECRET"
            gateways.append(g)
    site["gateways"] = gateways
    return site


def demo_keys(site: dict) -> dict[str, str]:
    """Environment values for every gateway of the site: deterministic, for load tests only."""
    env = {}
    for g in site.get("gateways", []):
        size = 16 if DEFAULTS[g["platform"]].algorithm == "sm4" else 8
        env[g["key_env"]] = (g["id"] * size)[:size]
        env[g["iv_env"]] = (g["id"][::-1] * size)[:size]
        if g.get("secret_env"):
            env[g["secret_env"]] = f"secret-{g['id']}"
    return env


class GatewayPusher(SitePusher):
    """Pushes the site's simulated readings in a platform's format, one post per enterprise per step."""

    def __init__(
        self,
        site: dict,
        base_url: str,
        platform: str,
        fmt: Format | None = None,
        timezone: str = "Asia/Shanghai",
        environ: dict | None = None,
        **kw,
    ) -> None:
        super().__init__(site, {e["id"]: "-" for e in site["enterprises"]}, base_url, **kw)
        self.fmt = fmt or DEFAULTS[platform]
        self.tz = zone(timezone)
        env = os.environ if environ is None else environ
        self.codes = {
            (e["id"], d["id"], p): c
            for e in site["enterprises"]
            for d in e.get("devices", [])
            for p, c in d.get("codes", {}).items()
        }
        self.qybm = {e["id"]: e.get("code") for e in site["enterprises"]}
        self.gateways = {}
        for g in site.get("gateways", []):
            if g["platform"] != platform:
                continue
            key, iv = env[g["key_env"]].encode(), env[g["iv_env"]].encode()
            spec = CipherSpec(self.fmt.algorithm, key, iv, self.fmt.mode, self.fmt.encodings)
            self.gateways[g["enterprise"]] = (g["id"], spec, env.get(g.get("secret_env") or "", ""))
        self.url = base_url.rstrip("/") + self.fmt.paths["rts"]

    def encode(self, eid: str, body: list[dict]) -> tuple[bytes, dict]:
        """Native items -> the platform's request (body, headers)."""
        gid, spec, secret = self.gateways[eid]
        f = self.fmt.items
        items = []
        for it in body:
            when = datetime.fromtimestamp(it["ts"] / 1000, self.tz).strftime(self.fmt.ts_format)
            for point, v in it["values"].items():
                code = self.codes.get((eid, it["device"], point))
                if code is not None:
                    items.append({f["code"]: code, f["ts"]: when, f["value"]: f"{float(v):.2f}"})
        env = self.fmt.envelope
        doc = {env["gateway"]: gid, env["data"]: spec.seal(json.dumps(items).encode())}
        if "enterprise" in env:
            doc[env["enterprise"]] = self.qybm[eid]
        headers = {"Content-Type": "application/json"}
        if self.fmt.secret_header:
            headers[self.fmt.secret_header] = secret
        return json.dumps(doc).encode(), headers

    async def _post(self, session: aiohttp.ClientSession, sem: asyncio.Semaphore, eid: str, body: list[dict]) -> None:
        if eid not in self.gateways:
            self.stats["skipped"] += len(body)
            return
        data, headers = self.encode(eid, body)
        n = sum(len(it["values"]) for it in body)
        sent = await self._send(session, sem, eid, data, headers)
        if sent is None:
            self.stats["failed"] += n
            return
        status, answer = sent
        try:
            code = json.loads(answer or "{}").get(self.fmt.answer.code)
        except ValueError:
            code = None
        if code == self.fmt.answer.ok:
            self.stats["accepted"] += n
        else:
            self.stats["rejected"] += n
            self.last_error = f"{eid}: HTTP {status}: {(answer or '')[:200]}"
