"""Same-origin checks for what a browser could be made to send with the session cookie:
every WebSocket handshake (``/ws``) and every write (POST, PUT, PATCH, DELETE) that carries
no ``Authorization`` header (so cookie-authenticated, or a login/logout form).

The request's own origin is its scheme and ``Host`` header (after trusted proxies, see
``warning.web.proxies``); ``WARNING_PUBLIC_URL``'s origin is accepted too. The ``Origin``
header must be one of them; without ``Origin`` a ``Referer`` must be. ``Origin: null``
(sandboxed frames, some redirects) is refused. A cross-origin request gets 403 (a
WebSocket handshake: HTTP 403 before any upgrade).

A request with neither header is let through: browsers send ``Origin`` on every WebSocket
handshake and every cross-origin POST, so such a request does not come from another
site's page (curl, scripts, the test clients). It still needs the session and, for
actions, the session's CSRF token.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import orjson

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORT = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]``, lower case, default port left out; None if not http(s)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORT or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" if port in (None, _DEFAULT_PORT[scheme]) else f"{scheme}://{host}:{port}"


def own_origins(scheme: str, host: str | None, public_url: str | None) -> set[str]:
    web_scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    out = set()
    if host:
        mine = origin_of(f"{web_scheme}://{host}")
        if mine:
            out.add(mine)
    if public_url:
        pub = origin_of(public_url)
        if pub:
            out.add(pub)
    return out


def cross_origin(scheme: str, headers: dict[bytes, bytes], public_url: str | None) -> str | None:
    """Why this request is cross-origin, or None when it is not (or cannot be told)."""
    raw = headers.get(b"origin")
    if raw is None:
        referer = headers.get(b"referer")
        if referer is None:
            return None
        raw, what = referer, "Referer"
    else:
        what = "Origin"
    value = raw.decode("latin-1")
    if value.strip() == "null":
        return "Origin: null"
    host = headers.get(b"host")
    if origin_of(value) in own_origins(scheme, host.decode("latin-1") if host else None, public_url):
        return None
    return f"{what} {value[:200]!r} is not this site"


class SameOrigin:
    """ASGI middleware refusing cross-origin WebSocket handshakes and cookie writes."""

    def __init__(self, app, public_url: str | None = None):
        self.app = app
        self.public_url = public_url

    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind == "websocket" or (kind == "http" and scope["method"] not in SAFE_METHODS):
            headers = dict(scope["headers"])  # for these names the last line counts
            if kind == "websocket" or b"authorization" not in headers:
                why = cross_origin(scope["scheme"], headers, self.public_url)
                if why is not None:
                    return await self._refuse(kind, why, receive, send)
        return await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(kind: str, why: str, receive, send) -> None:
        if kind == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008, "reason": "cross-origin"})
            return
        body = orjson.dumps({"error": f"cross-origin request refused: {why}"})
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
