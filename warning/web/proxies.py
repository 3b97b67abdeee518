"""Forwarded headers, believed only from configured proxies (``--trusted-proxies``,
``WARNING_TRUSTED_PROXIES``: addresses or networks, comma-separated; default none).

A request whose peer is a trusted proxy gets its client address from ``Forwarded``
(RFC 7239 ``for=``), else ``X-Forwarded-For``, else ``X-Real-IP``: the list is read from
the right (the nearest hop) and the first address that is not itself a trusted proxy is
the client. Its scheme comes from ``Forwarded``'s ``proto=`` or ``X-Forwarded-Proto``.
From any other peer these headers are ignored, so a client cannot pick the address that
the login throttle and the logs see. uvicorn's own ``proxy_headers`` (which by default
believes 127.0.0.1) is switched off in ``warning.server``: this is the only place.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str | Iterable[str] | None) -> tuple[Network, ...]:
    """``"10.0.0.1, 10.1.0.0/16"`` -> networks; ValueError names a bad entry."""
    if text is None:
        return ()
    items = text.split(",") if isinstance(text, str) else list(text)
    out = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"trusted proxy {item!r} is not an address or network") from None
    return tuple(out)


def _address(text: str) -> str | None:
    """An address from a header value (``1.2.3.4``, ``1.2.3.4:80``, ``"[::1]:80"``), or None."""
    v = text.strip().strip('"')
    if v.startswith("["):
        v = v[1:].partition("]")[0]
    elif v.count(":") == 1:
        v = v.partition(":")[0]
    try:
        return str(ipaddress.ip_address(v))
    except ValueError:
        return None


def _forwarded(value: str) -> tuple[list[str], str | None]:
    """(``for=`` values in order, the last ``proto=``) of an RFC 7239 header."""
    hops, proto = [], None
    for element in value.split(","):
        for pair in element.split(";"):
            key, _, v = pair.strip().partition("=")
            key = key.strip().lower()
            if key == "for":
                hops.append(v)
            elif key == "proto":
                proto = v.strip().strip('"').lower()
    return hops, proto


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    networks: tuple[Network, ...] = ()

    def trusts(self, address: str | None) -> bool:
        if not address or not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in n for n in self.networks)

    def resolve(self, peer: str | None, headers: dict[str, str]) -> tuple[str | None, str | None]:
        """(client address, scheme) for a request from ``peer``; (peer, None) unless trusted."""
        if not self.trusts(peer):
            return peer, None
        proto = None
        if "forwarded" in headers:
            hops, proto = _forwarded(headers["forwarded"])
        elif "x-forwarded-for" in headers:
            hops = headers["x-forwarded-for"].split(",")
        elif "x-real-ip" in headers:
            hops = [headers["x-real-ip"]]
        else:
            hops = []
        if proto is None and "x-forwarded-proto" in headers:
            proto = headers["x-forwarded-proto"].split(",")[-1].strip().lower()
        addresses = [_address(h) for h in hops]
        if any(a is None for a in addresses):
            addresses = []  # a garbled chain says nothing reliable: keep the proxy's address
        client = peer
        for a in reversed(addresses):
            client = a
            if not self.trusts(a):
                break
        return client, proto if proto in ("http", "https") else None


class ForwardedFrom:
    """ASGI middleware: rewrites ``client`` and ``scheme`` of requests from trusted proxies."""

    def __init__(self, app, proxies: TrustedProxies):
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket") and self.proxies.networks:
            peer = scope.get("client")
            headers: dict[str, str] = {}
            for k, v in scope["headers"]:
                if k in (b"forwarded", b"x-forwarded-for", b"x-real-ip", b"x-forwarded-proto"):
                    name = k.decode("latin-1")  # repeated header lines are one list (RFC 9110)
                    headers[name] = (
                        headers[name] + "," + v.decode("latin-1") if name in headers else v.decode("latin-1")
                    )
            client, proto = self.proxies.resolve(peer[0] if peer else None, headers)
            if peer is not None and client != peer[0]:
                scope = dict(scope, client=(client, 0))
            if proto is not None:
                ws = scope["type"] == "websocket"
                scope = dict(scope, scheme=("wss" if proto == "https" else "ws") if ws else proto)
        return await self.app(scope, receive, send)
