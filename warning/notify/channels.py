"""Delivery per channel type: builds the request (pure helpers) and sends it (I/O).

Secrets come only from environment variables named in the channel's options (``url_env``,
``secret_env``, ``token_env``, ``password_env``, ``host_env``); a channel file never holds a key.

Every HTTP request carries ``Idempotency-Key: <notification id>`` so receivers that
de-duplicate can drop the re-sends that at-least-once delivery allows.

Recipients of person-addressed channels (SMS, e-mail): the channel's fixed ``to`` list,
plus the on-duty person of the channel's tier when ``to_on_duty = true``, plus the
enterprise's own contact when ``to_enterprise = true`` (一码推送).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import os
import smtplib
import urllib.parse
from email.message import EmailMessage

import aiohttp
import orjson

from ..platforms import push
from ..platforms.settings import gateway_cipher_from
from ..policy import formats
from ..site import Channel

log = logging.getLogger(__name__)


def env(ch: Channel, name: str) -> str | None:
    """The value of option ``name``, or of the environment variable named by ``name_env``."""
    if f"{name}_env" in ch.options:
        return os.environ.get(ch.options[f"{name}_env"])
    return ch.options.get(name)


def secret(ch: Channel) -> str | None:
    """Signing secrets only from the environment: a ``secret`` written in the file is ignored."""
    var = ch.options.get("secret_env")
    return os.environ.get(var) if var else None


def dingtalk_sign(secret_: str, timestamp_ms: int) -> str:
    """DingTalk: base64(HMAC-SHA256(key=secret, msg="{timestamp}\\n{secret}")), URL-encoded."""
    mac = hmac.new(secret_.encode(), f"{timestamp_ms}\n{secret_}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(mac).decode())


def dingtalk_url(url: str, secret_: str | None, now: float) -> str:
    if not secret_:
        return url
    ts = int(now * 1000)
    return f"{url}{'&' if '?' in url else '?'}timestamp={ts}&sign={dingtalk_sign(secret_, ts)}"


def feishu_sign(secret_: str, timestamp_s: int) -> str:
    """Feishu/Lark: base64(HMAC-SHA256(key="{timestamp}\\n{secret}", msg=empty))."""
    mac = hmac.new(f"{timestamp_s}\n{secret_}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def recipients(ch: Channel, payload: dict, field: str) -> list[str]:
    """Addresses (``phone`` or ``email``) for a person-addressed channel, without repeats."""
    out = list(ch.options.get("to", []))
    if ch.options.get("to_on_duty") and payload.get("recipient", {}).get(field):
        out.append(payload["recipient"][field])
    if ch.options.get("to_enterprise") and payload.get("contact", {}).get(field):
        out.append(payload["contact"][field])
    return list(dict.fromkeys(out))


class Sender:
    """Sends one payload on one channel; returns None on success, else the reason."""

    def __init__(
        self, session: aiohttp.ClientSession, clock, timeout: float = 10.0, codes: push.PushCodes | None = None
    ):
        self.session = session
        self.clock = clock
        self.timeout = timeout
        self.codes = codes  #: the site's platform codes, for ``upstream`` channels

    async def send(self, ch: Channel, payload: dict, key: str) -> str | None:
        t = ch.type
        loc = ch.options.get("locale")  #: the channel's language (docs/alerting.md); zh-CN by default
        if t == "log":
            log.warning("[%s] %s", ch.id, formats.title(payload, loc))
            return None
        if t == "email":
            return await self._email(ch, payload)
        if t == "upstream":
            return await self._upstream(ch, payload, key)
        url = env(ch, "url")
        if t == "webhook" and ch.options.get("to_enterprise"):
            var = payload.get("contact", {}).get("webhook_env")
            url = os.environ.get(var) if var else None
        if not url:
            return f"channel {ch.id!r} has no url (set the environment variable in url_env)"
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        now = self.clock()
        if t == "wecom":
            body = formats.wecom_any(payload, loc)
        elif t == "dingtalk":
            body = formats.dingtalk_markdown(payload, loc)
            url = dingtalk_url(url, secret(ch), now)
        elif t == "feishu":
            s = secret(ch)
            ts = int(now)
            body = formats.feishu_text(payload, ts, feishu_sign(s, ts) if s else None, loc)
        elif t == "sms":
            phones = recipients(ch, payload, "phone")
            if not phones:
                return f"channel {ch.id!r}: no phone number to send to"
            body = {
                ch.options.get("to_field", "to"): phones,
                ch.options.get("text_field", "text"): formats.sms_text(payload, int(ch.options.get("limit", 300)), loc),
            }
            var = ch.options.get("token_env")
            token = os.environ.get(var) if var else None
            if token:
                headers["Authorization"] = f"Bearer {token}"
        else:
            body = formats.webhook(payload)
        return await self._post(ch, url, body, headers)

    async def _post(self, ch: Channel, url: str, body: dict, headers: dict) -> str | None:
        try:
            async with self.session.post(url, data=orjson.dumps(body), headers=headers) as resp:
                text = await resp.text()
                if resp.status >= 300:
                    return f"HTTP {resp.status}: {text[:200]}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"
        if ch.type in ("wecom", "dingtalk", "feishu"):  # robots answer 200 with an error code
            try:
                answer = orjson.loads(text)
            except orjson.JSONDecodeError:
                return None
            if isinstance(answer, dict):
                code = answer.get("errcode", answer.get("code", answer.get("StatusCode", 0)))
                if code:
                    return f"{ch.type} error {code}: {text[:200]}"
        return None

    async def _upstream(self, ch: Channel, payload: dict, key: str) -> str | None:
        """One event to the platform above, in the channel's format (warning/platforms/push.py)."""
        url = env(ch, "url")
        if not url:
            return f"channel {ch.id!r} has no url (set the environment variable in url_env)"
        codes = self.codes or push.PushCodes({}, {}, {})
        qybm, items = push.items_of(payload, codes)
        body: dict = (
            {"id": payload["id"], "qybm": qybm, "enterprise": payload["enterprise"], "items": items}
            if "readings" in payload
            else items[0]
        )
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        name = ch.options.get("format", "json")
        fmt = codes.formats.get(name) if name != "json" else None
        if fmt is not None:
            try:
                cipher = gateway_cipher_from(
                    fmt, ch.id, ch.options.get("key_env"), ch.options.get("iv_env"), os.environ
                )
            except ValueError as exc:
                return str(exc)
            body = push.envelope(fmt, cipher, str(ch.options["gateway"]), qybm, items)
            if fmt.secret_header:
                var = ch.options.get("secret_env")
                headers[fmt.secret_header] = (os.environ.get(var) if var else None) or ""
        try:
            timeout = aiohttp.ClientTimeout(total=float(ch.options.get("timeout", self.timeout)))
            async with self.session.post(url, data=orjson.dumps(body), headers=headers, timeout=timeout) as resp:
                return push.accepted(fmt, resp.status, await resp.text())
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"

    async def _email(self, ch: Channel, payload: dict) -> str | None:
        to = recipients(ch, payload, "email")
        if not to:
            return f"channel {ch.id!r}: no e-mail address to send to"
        host = env(ch, "host")
        if not host:
            return f"channel {ch.id!r}: no SMTP host (set host or the environment variable in host_env)"
        subject, text = formats.email_parts(payload, ch.options.get("locale"))
        msg = EmailMessage()
        msg["Subject"] = subject
        msg["From"] = ch.options.get("from", "warning@localhost")
        msg["To"] = ", ".join(to)
        msg["X-Warning-Notification"] = payload.get("id", "")
        msg.set_content(text)
        port = int(ch.options.get("port", 25))
        user = env(ch, "username")
        password = os.environ.get(ch.options["password_env"]) if "password_env" in ch.options else None

        def deliver() -> None:
            with smtplib.SMTP(host, port, timeout=self.timeout) as smtp:
                if ch.options.get("starttls"):
                    smtp.starttls()
                if user and password:
                    smtp.login(user, password)
                smtp.send_message(msg)

        try:
            await asyncio.to_thread(deliver)
        except (smtplib.SMTPException, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None
