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
    content = "\n".join(lines)
    return {"msgtype": "markdown", "markdown": {"content": content.encode()[:4096].decode(errors="ignore")}}
