"""Message bodies per channel type. Pure: payload (an AlertEvent as JSON) in, request body out."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

CST = timezone(timedelta(hours=8))
SEVERITY_ZH = {"blue": "蓝色(四级)", "yellow": "黄色(三级)", "orange": "橙色(二级)", "red": "红色(一级)"}
SEVERITY_COLOR = {"blue": "info", "yellow": "warning", "orange": "warning", "red": "warning"}
KIND_ZH = {"raised": "发布", "updated": "更新", "escalated": "升级", "acknowledged": "签收", "resolved": "解除"}


def webhook(payload: dict) -> dict:
    """Generic JSON webhook: the event as it is; ``id`` lets the receiver drop repeats."""
    return {"type": "alert_event", "event_id": payload["id"], **payload}


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, CST).strftime("%Y-%m-%d %H:%M:%S")


def wecom_markdown(payload: dict) -> dict:
    """WeCom group robot ``markdown`` message (content at most 4096 bytes)."""
    a = payload["alert"]
    sev = a["severity"]
    where = f"{a['enterprise']} / {a['device']}" + (f" / {a['point']}" if a["point"] else "")
    lines = [
        f"## <font color=\"{SEVERITY_COLOR[sev]}\">{SEVERITY_ZH[sev]}预警 {KIND_ZH.get(payload['kind'], payload['kind'])}</font>",
        f"> 位置: {where}",
        f"> 规则: {a['rule']}",
        f"> 详情: {a['message']}",
        f"> 时间: {_when(payload['at'])}",
        f"> 编号: {a['id']}",
    ]
    if payload.get("tier"):
        lines.append(f"> 层级: {payload['tier']['name']}")
    if payload.get("recipient"):
        lines.append(f"> 值班: {payload['recipient']['name']}")
    if a.get("holder"):
        lines.append(f"> 责任人: {a['holder']}")
    content = "\n".join(lines)
    return {"msgtype": "markdown", "markdown": {"content": content.encode()[:4096].decode(errors="ignore")}}


# -- the other channels (docs/alerting.md) ---------------------------------------------------------
KIND_ZH.update({"handling": "处置", "feedback": "反馈", "group": "汇总"})


def title(payload: dict) -> str:
    """One line: ``[红色(一级)预警 发布] E001 / DC1 / hopper_temp`` (or a group's count)."""
    if payload.get("kind") == "group":
        sev = payload["severity"]
        return f"[{SEVERITY_ZH[sev]}预警 汇总] {payload['enterprise']} 共 {payload['count']} 条"
    a = payload["alert"]
    where = f"{a['enterprise']} / {a['device']}" + (f" / {a['point']}" if a["point"] else "")
    return f"[{SEVERITY_ZH[a['severity']]}预警 {KIND_ZH.get(payload['kind'], payload['kind'])}] {where}"


def lines(payload: dict) -> list[str]:
    """The body as plain lines, shared by DingTalk, Feishu, SMS and e-mail."""
    if payload.get("kind") == "group":
        out = [f"{_when(payload['at'])} 一组预警 {payload['count']} 条(同一企业, 合并发送):"]
        for ev in payload["events"]:
            a = ev["alert"]
            out.append(f"- {SEVERITY_ZH[a['severity']]} {a['device']}/{a['point'] or '-'} {a['rule']}: "
                       f"{a['message']} ({a['id']})")
        if payload["count"] > len(payload["events"]):
            out.append(f"... 另有 {payload['count'] - len(payload['events'])} 条")
        return out
    a = payload["alert"]
    out = [f"规则: {a['rule']}", f"详情: {a['message']}", f"时间: {_when(payload['at'])}", f"编号: {a['id']}"]
    if payload.get("tier"):
        out.append(f"层级: {payload['tier']['name']}")
    if payload.get("recipient"):
        out.append(f"值班: {payload['recipient']['name']}")
    if a.get("holder"):
        out.append(f"责任人: {a['holder']}")
    if payload.get("note"):
        out.append(f"说明: {payload['note']}")
    return out


def wecom_any(payload: dict) -> dict:
    """WeCom markdown for single events (the skeleton's layout) and for groups."""
    if payload.get("kind") != "group":
        return wecom_markdown(payload)
    content = "\n".join([f"## <font color=\"warning\">{title(payload)}</font>"] + [f"> {x}" for x in lines(payload)])
    return {"msgtype": "markdown", "markdown": {"content": content.encode()[:4096].decode(errors="ignore")}}


def dingtalk_markdown(payload: dict) -> dict:
    """DingTalk robot ``markdown`` message (the signature goes in the URL, see channels.dingtalk_url)."""
    t = title(payload)
    text = "\n\n".join([f"### {t}"] + lines(payload))
    return {"msgtype": "markdown", "markdown": {"title": t[:64], "text": text[:5000]}}


def feishu_text(payload: dict, timestamp: int | None = None, sign: str | None = None) -> dict:
    """Feishu/Lark custom bot ``text`` message; with a signing secret the body carries timestamp and sign."""
    body: dict = {"msg_type": "text", "content": {"text": "\n".join([title(payload)] + lines(payload))[:4000]}}
    if sign is not None:
        body = {"timestamp": str(timestamp), "sign": sign, **body}
    return body


def sms_text(payload: dict, limit: int = 300) -> str:
    """A short text: title, then the first lines, cut at ``limit`` characters."""
    return (title(payload) + " " + "; ".join(lines(payload)[:3]))[:limit]


def email_parts(payload: dict) -> tuple[str, str]:
    """(subject, plain-text body)."""
    return title(payload), "\n".join(lines(payload)) + "\n"
