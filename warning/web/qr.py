"""Enterprise codes (企业码): ``GET /qr/{enterprise}.svg``, a QR code linking to ``/e/{enterprise}``.

Drawn on the server as SVG by the ``qrcode`` package (pinned), so the browser loads no
script for it and it prints sharply at any size. The link's origin is
``WARNING_PUBLIC_URL`` when set (what phones outside the control room must reach, e.g.
``https://warning.example.gov.cn``), else the origin of the request: behind a reverse
proxy set the variable, or the code points at the proxy's upstream address.
"""

from __future__ import annotations

import os
from functools import lru_cache

import qrcode
import qrcode.image.svg
from starlette.requests import Request
from starlette.responses import Response

from .responses import json_error
from .scope import scope_of


@lru_cache(maxsize=256)
def qr_svg(url: str) -> bytes:
    """An SVG (one path, medium error correction) encoding ``url``."""
    qr = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=10,
        border=4,
        image_factory=qrcode.image.svg.SvgPathFillImage,
    )
    qr.add_data(url)
    qr.make(fit=True)
    return qr.make_image().to_string(encoding="unicode").encode()


def enterprise_url(request: Request, enterprise: str) -> str:
    base = os.environ.get("WARNING_PUBLIC_URL") or str(request.base_url)
    return base.rstrip("/") + "/e/" + enterprise


def routes(state):
    async def code(request: Request) -> Response:
        eid = request.path_params["id"]
        if eid not in state.site.enterprises or not scope_of(request).sees(eid):
            return json_error(404, f"no enterprise {eid!r}")
        return Response(
            qr_svg(enterprise_url(request, eid)),
            media_type="image/svg+xml",
            headers={"Cache-Control": "private, max-age=3600"},
        )

    return [("/qr/{id}.svg", code, ["GET"])]
