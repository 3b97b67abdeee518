"""Message bodies per channel type. Pure: payload (an AlertEvent as JSON) in, request body out.

Every word comes from the ``warning`` catalogue (warning.i18n), zh-CN unless the channel
says ``locale = "en"``. The payload carries what the router knows about the site:
``enterprise_name``, ``point_title`` (the kind's title id) and ``link`` (the alert's page
under ``WARNING_PUBLIC_URL``; absent when that is unset). An alert with structured
``message_data`` is described in the channel's locale; the clearing event's own text is
its ``message``. Times are shown in the site's time zone (the payload's ``timezone``, put
there with the names; ``Asia/Shanghai`` for a payload without one), through ``warning.times``.
"""

from __future__ import annotations

from ..i18n import translate, word
from ..messages import render
from ..times import local

SEVERITY_COLOR = {"blue": "info", "yellow": "warning", "orange": "warning", "red": "warning"}


def webhook(payload: dict) -> dict:
    """Generic JSON webhook: the event as it is; ``id`` lets the receiver drop repeats."""
    return {"type": "alert_event", "event_id": payload["id"], **payload}


def _when(payload: dict) -> str:
    """The event's time as the site's wall clock."""
    return local(payload["at"], payload.get("timezone"), "%Y-%m-%d %H:%M:%S")


def level(sev: str, locale: str | None = None) -> str:
    """``红色(一级)`` / ``red (level 1)``."""
    return word("severity-level", sev, locale)


def kind_word(kind: str, locale: str | None = None) -> str:
    return word("event", kind, locale)


def enterprise(payload: dict, code: str | None = None) -> str:
    """``苏州汇通木制品有限公司 (E001)``: named, with the code for search."""
    code = code if code is not None else payload["alert"]["enterprise"]
    name = payload.get("enterprise_name")
    return f"{name} ({code})" if name and name != code else code


def where(payload: dict, locale: str | None = None) -> str:
    a = payload["alert"]
    point = ""
    if a["point"]:
        title = payload.get("point_title")
        point = f" / {word('point', title, locale)} ({a['point']})" if title else f" / {a['point']}"
    return f"{enterprise(payload)} / {a['device']}{point}"


def details(payload: dict, locale: str | None = None) -> str:
    """The event's text: a clearing's own message, else the alert's, in ``locale`` when structured."""
    a = payload["alert"]
    own = (payload.get("data") or {}).get("message_data")
    if own:  # a clearing's or a fall's own words
        return render(own, locale)
    if (
        payload.get("kind") in ("cleared", "updated")
        and payload.get("message")
        and (payload["message"] != a.get("message"))
    ):
        return str(payload["message"])
    data = a.get("message_data")
    return render(data, locale) if data else str(a.get("message", ""))


def title(payload: dict, locale: str | None = None) -> str:
    """One line: ``[红色(一级)预警 发布] 企业名 (E001) / DC1 / 料斗温度 (hopper_temp)`` (or a group's count)."""
    if payload.get("kind") == "group":
        return translate(
            "[{level} alert {kind}] {enterprise}: {count} alerts",
            locale,
            level=level(payload["severity"], locale),
            kind=kind_word("group", locale),
            enterprise=enterprise(payload, payload["enterprise"]),
            count=payload["count"],
        )
    a = payload["alert"]
    return translate(
        "[{level} alert {kind}] {where}",
        locale,
        level=level(a["severity"], locale),
        kind=kind_word(payload["kind"], locale),
        where=where(payload, locale),
    )


FIELDS = ("Rule", "Details", "Peak", "State", "Time", "Alert no.", "Tier", "On duty", "Held by", "Note", "Link")


def _line(label: str, value: object, locale: str | None) -> str:
    return translate("{label}: {value}", locale, label=word("field", label, locale), value=value)


def lines(payload: dict, locale: str | None = None) -> list[str]:
    """The body as plain lines, shared by WeCom, DingTalk, Feishu, SMS and e-mail."""
    if payload.get("kind") == "group":
        out = [
            translate(
                "{time}: {count} alerts of one enterprise, sent together:",
                locale,
                time=_when(payload),
                count=payload["count"],
            )
        ]
        for ev in payload["events"]:
            a = ev["alert"]
            out.append(
                f"- {level(a['severity'], locale)} {a['device']}/{a['point'] or '-'} "
                f"{word('rule', a['rule'], locale)}: {details(ev, locale)}"
                + (f" {ev['link']}" if ev.get("link") else f" ({a['id']})")
            )
        if payload["count"] > len(payload["events"]):
            out.append(translate("... and {n} more", locale, n=payload["count"] - len(payload["events"])))
        return out
    a = payload["alert"]
    out = [_line("Rule", word("rule", a["rule"], locale), locale), _line("Details", details(payload, locale), locale)]
    if a.get("peak_severity") and a["peak_severity"] != a["severity"]:
        out.append(_line("Peak", level(a["peak_severity"], locale), locale))
    if a.get("condition_active") is False and a.get("state") == "active":
        out.append(_line("State", word("state", "cleared, not signed for", locale), locale))
    out += [_line("Time", _when(payload), locale), _line("Alert no.", a["id"], locale)]
    if payload.get("tier"):
        out.append(_line("Tier", payload["tier"]["name"], locale))
    if payload.get("recipient"):
        out.append(_line("On duty", payload["recipient"]["name"], locale))
    if a.get("holder"):
        out.append(_line("Held by", a["holder"], locale))
    if payload.get("note"):
        out.append(_line("Note", payload["note"], locale))
    if payload.get("link"):
        out.append(_line("Link", payload["link"], locale))
    return out


def wecom_markdown(payload: dict, locale: str | None = None) -> dict:
    """WeCom group robot ``markdown`` message (content at most 4096 bytes)."""
    sev = payload["severity"] if payload.get("kind") == "group" else payload["alert"]["severity"]
    head = f'## <font color="{SEVERITY_COLOR[sev]}">{title(payload, locale)}</font>'
    body = [f"> {x}" for x in lines(payload, locale)]
    if payload.get("link") and payload.get("kind") != "group":
        body[-1] = "> " + _line("Link", f"[{payload['link']}]({payload['link']})", locale)
    content = "\n".join([head] + body)
    return {"msgtype": "markdown", "markdown": {"content": content.encode()[:4096].decode(errors="ignore")}}


wecom_any = wecom_markdown  #: single events and groups share one layout


def dingtalk_markdown(payload: dict, locale: str | None = None) -> dict:
    """DingTalk robot ``markdown`` message (the signature goes in the URL, see channels.dingtalk_url)."""
    t = title(payload, locale)
    text = "\n\n".join([f"### {t}"] + lines(payload, locale))
    return {"msgtype": "markdown", "markdown": {"title": t[:64], "text": text[:5000]}}


def feishu_text(
    payload: dict, timestamp: int | None = None, sign: str | None = None, locale: str | None = None
) -> dict:
    """Feishu/Lark custom bot ``text`` message; with a signing secret the body carries timestamp and sign."""
    body: dict = {
        "msg_type": "text",
        "content": {"text": "\n".join([title(payload, locale)] + lines(payload, locale))[:4000]},
    }
    if sign is not None:
        body = {"timestamp": str(timestamp), "sign": sign, **body}
    return body


def sms_text(payload: dict, limit: int = 300, locale: str | None = None) -> str:
    """A short text: title, the first lines, and the link (kept whole: it is what the reader taps)."""
    link = payload.get("link")
    body = [x for x in lines(payload, locale)[:3]]
    text = title(payload, locale) + " " + "; ".join(body)
    if link and payload.get("kind") != "group":
        tail = " " + link
        return text[: max(0, limit - len(tail))] + tail
    return text[:limit]


def email_parts(payload: dict, locale: str | None = None) -> tuple[str, str]:
    """(subject, plain-text body)."""
    return title(payload, locale), "\n".join(lines(payload, locale)) + "\n"
