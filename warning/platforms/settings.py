"""The platforms' formats and the gateways that speak them, from the site file. Pure.

Every part of the two formats is configuration with the published descriptions as defaults,
because those descriptions are second-hand (see README, "Platform adapters"): paths, the
envelope's and the items' field names, the cipher and its text encodings, the time format,
and the answer convention. A site file overrides any of them::

    [platforms.provincial]
    prefix = "/platform/prov"
    envelope = { enterprise = "qybm", gateway = "wgbm", data = "data" }
    cipher = { algorithm = "des", mode = "cbc", encodings = ["base64", "hex"] }

    [[gateways]]
    id = "GW01"                  # wgbm (provincial) or appid (national)
    platform = "provincial"
    enterprise = "E001"
    key_env = "WARNING_GW01_KEY"  # key and IV only from the environment
    iv_env = "WARNING_GW01_IV"

Keys and IVs are never in the file: a gateway names the environment variables that hold
them, read when the server starts (:func:`gateway_cipher`, given the environment by its caller).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from ..i18n import Text
from .crypto import ALGORITHMS, ENCODINGS, CipherSpec, CryptoError

PLATFORMS = ("national", "provincial")
KINDS = ("rts", "events", "videos")  #: real-time values, sensor alarms, video alarms
KEY_ENCODINGS = ("utf8", "hex")


@dataclass(frozen=True, slots=True)
class Answer:
    """The platform's answer convention: ``{code: ok, msg: ok_msg, data: null}`` on success."""

    code: str = "code"
    msg: str = "msg"
    data: str = "data"
    ok: int = 200
    ok_msg: str = "操作成功"
    #: "mirror": the HTTP status says what the code says (400, 401, 503); "always_200": HTTP 200
    #: with the error only in ``code`` (for gateways that treat any non-200 as a transport fault)
    http_status: str = "mirror"


@dataclass(frozen=True, slots=True)
class Format:
    name: str  #: national | provincial
    paths: Mapping[str, str]  #: kind -> full path
    envelope: Mapping[str, str]  #: role (enterprise, gateway, data) -> field name; no enterprise: none sent
    algorithm: str
    mode: str
    encodings: tuple[str, ...]
    key_encoding: str  #: how the environment's key and IV text is read: utf8 (as bytes) | hex
    items: Mapping[str, str]  #: real-time item: role (code, ts, value) -> field name
    alarm_items: Mapping[str, str]  #: alarm item: role (ts, code, value, status, threshold, content) -> field
    items_key: str | None  #: plaintext is a JSON array, or an object holding the array under this key
    ts_format: str  #: strptime format of the items' times (read in the site's time zone)
    secret_header: str | None  #: header carrying the gateway's secret (national: appsecret)
    answer: Answer = field(default_factory=Answer)


NATIONAL = Format(
    name="national",
    paths={"rts": "/platform/national/api/data"},
    envelope={"gateway": "appid", "data": "data"},
    algorithm="sm4",
    mode="cbc",
    encodings=("hex",),
    key_encoding="utf8",
    items={"code": "tnm", "ts": "ts", "value": "val"},
    alarm_items={
        "ts": "ts",
        "code": "oname",
        "value": "avx",
        "status": "scd",
        "threshold": "threshold",
        "content": "content",
    },
    items_key=None,
    ts_format="%Y-%m-%d %H:%M:%S",
    secret_header="appsecret",
)

PROVINCIAL = Format(
    name="provincial",
    paths={
        "rts": "/platform/prov/api/rtsData",
        "events": "/platform/prov/api/eventsData",
        "videos": "/platform/prov/api/videosData",
    },
    envelope={"enterprise": "qybm", "gateway": "wgbm", "data": "data"},
    algorithm="des",
    mode="cbc",
    encodings=("base64", "hex"),
    key_encoding="utf8",
    items={"code": "tnm", "ts": "ts", "value": "val"},
    alarm_items=NATIONAL.alarm_items,
    items_key=None,
    ts_format="%Y-%m-%d %H:%M:%S",
    secret_header=None,
)

DEFAULTS = {"national": NATIONAL, "provincial": PROVINCIAL}
_SUFFIX = {"rts": "/api/rtsData", "events": "/api/eventsData", "videos": "/api/videosData"}


@dataclass(frozen=True, slots=True)
class Gateway:
    id: str  #: wgbm or appid
    platform: str
    enterprise: str
    key_env: str
    iv_env: str | None
    secret_env: str | None = None  #: national: the environment variable holding the appsecret


@dataclass(frozen=True, slots=True)
class Platforms:
    formats: Mapping[str, Format]  #: only the platforms some gateway speaks, or configured
    gateways: Sequence[Gateway]
    timezone: str = "Asia/Shanghai"  #: the site's zone: items' times carry none
    codes: Mapping[str, Mapping[str, tuple[str, str]]] = field(default_factory=dict)
    #: enterprise -> point code -> (device, point)


def parse_platforms(raw: dict, enterprises: Mapping, points: Sequence) -> Platforms:
    """Validate ``[platforms.*]`` and ``[[gateways]]``; raises ValueError naming the problem."""
    tables = raw.get("platforms", {})
    if not isinstance(tables, dict):
        raise ValueError("[platforms] must be a table")
    formats = {}
    for name, t in tables.items():
        if name not in PLATFORMS:
            raise ValueError(f"unknown platform {name!r} (one of {', '.join(PLATFORMS)})")
        formats[name] = _format(DEFAULTS[name], t)
    gateways, seen = [], set()
    for g in raw.get("gateways", []):
        gid, plat, ent = g.get("id"), g.get("platform"), g.get("enterprise")
        if not isinstance(gid, str) or not gid:
            raise ValueError("a gateway needs an id (its wgbm or appid)")
        if plat not in PLATFORMS:
            raise ValueError(f"gateway {gid!r}: platform must be one of {', '.join(PLATFORMS)}")
        if ent not in enterprises:
            raise ValueError(f"gateway {gid!r}: unknown enterprise {ent!r}")
        if (plat, gid) in seen:
            raise ValueError(f"gateway {gid!r} of {plat} defined twice")
        seen.add((plat, gid))
        if "key" in g or "iv" in g or "secret" in g:
            raise ValueError(f"gateway {gid!r}: keys come only from the environment (key_env, iv_env, secret_env)")
        if not isinstance(g.get("key_env"), str):
            raise ValueError(f"gateway {gid!r}: key_env (the environment variable holding its key) is required")
        fmt = formats.setdefault(plat, DEFAULTS[plat])
        if fmt.mode == "cbc" and not isinstance(g.get("iv_env"), str):
            raise ValueError(f"gateway {gid!r}: iv_env is required for {fmt.algorithm}-cbc")
        if "enterprise" in fmt.envelope and not enterprises[ent].code:
            raise ValueError(
                f"gateway {gid!r}: enterprise {ent!r} needs a code (the envelope's {fmt.envelope['enterprise']})"
            )
        gateways.append(Gateway(gid, plat, ent, g["key_env"], g.get("iv_env"), g.get("secret_env")))
    codes: dict[str, dict[str, tuple[str, str]]] = {}
    for p in points:
        if p.code is None:
            continue
        mine = codes.setdefault(p.ref.enterprise, {})
        if p.code in mine:
            raise ValueError(f"point code {p.code!r} used twice in enterprise {p.ref.enterprise!r}")
        mine[p.code] = (p.ref.device, p.ref.point)
    paths = [path for f in formats.values() for path in f.paths.values()]
    if len(paths) != len(set(paths)):
        raise ValueError("two platform routes share a path")
    tz = raw.get("site", {}).get("timezone", "Asia/Shanghai")
    return Platforms(formats, tuple(gateways), tz, codes)


def _format(base: Format, t: dict) -> Format:
    known = {
        "prefix",
        "paths",
        "envelope",
        "cipher",
        "key_encoding",
        "items",
        "alarm_items",
        "items_key",
        "ts_format",
        "secret_header",
        "answer",
    }
    extra = set(t) - known
    if extra:
        raise ValueError(f"{base.name}: unknown key(s) {', '.join(sorted(extra))}")
    paths = dict(base.paths)
    if "prefix" in t:
        prefix = t["prefix"].rstrip("/")
        paths = {k: prefix + (_SUFFIX[k] if base.name == "provincial" else "/api/data") for k in paths}
    for k, v in t.get("paths", {}).items():
        if k not in KINDS or not isinstance(v, str) or not v.startswith("/"):
            raise ValueError(f"{base.name}: paths maps {'|'.join(KINDS)} to absolute paths")
        paths[k] = v
    cipher = t.get("cipher", {})
    algorithm = cipher.get("algorithm", base.algorithm)
    mode = cipher.get("mode", base.mode)
    encodings = tuple(cipher.get("encodings", base.encodings))
    if algorithm not in ALGORITHMS or mode not in ("cbc", "ecb") or not set(encodings) <= set(ENCODINGS):
        raise ValueError(
            f"{base.name}: cipher needs algorithm in {tuple(ALGORITHMS)}, mode cbc|ecb, encodings among {ENCODINGS}"
        )
    key_encoding = t.get("key_encoding", base.key_encoding)
    if key_encoding not in KEY_ENCODINGS:
        raise ValueError(f"{base.name}: key_encoding must be one of {KEY_ENCODINGS}")
    answer = base.answer
    if "answer" in t:
        a = t["answer"]
        if a.get("http_status", "mirror") not in ("mirror", "always_200"):
            raise ValueError(f"{base.name}: answer.http_status must be mirror or always_200")
        answer = replace(answer, **{k: v for k, v in a.items() if k in Answer.__dataclass_fields__})
    return replace(
        base,
        paths=paths,
        envelope={**base.envelope, **t.get("envelope", {})},
        algorithm=algorithm,
        mode=mode,
        encodings=encodings,
        key_encoding=key_encoding,
        items={**base.items, **t.get("items", {})},
        alarm_items={**base.alarm_items, **t.get("alarm_items", {})},
        items_key=t.get("items_key", base.items_key),
        ts_format=t.get("ts_format", base.ts_format),
        secret_header=t.get("secret_header", base.secret_header),
        answer=answer,
    )


def gateway_cipher(fmt: Format, g: Gateway, environ: Mapping[str, str]) -> CipherSpec:
    """The gateway's cipher from the environment (passed in: this module stays pure); raises
    ValueError when a variable is unset or wrong."""
    return gateway_cipher_from(fmt, g.id, g.key_env, g.iv_env, environ)


def gateway_cipher_from(
    fmt: Format, who: str, key_env: str | None, iv_env: str | None, environ: Mapping[str, str]
) -> CipherSpec:
    """A cipher of ``fmt`` with the key and IV in the named environment variables; raises
    :class:`~warning.platforms.crypto.CryptoError` (a ValueError) whose ``reason`` is a catalogue
    text: it ends in a gateway's 401 and a channel's delivery error, in the reader's locale."""
    env = environ

    def read(var: str | None) -> bytes:
        text = env.get(var) if var else None
        if not text:
            raise CryptoError(
                Text.of("{who}: environment variable {var} is not set", who=who, var=var or "(key_env/iv_env)")
            )
        try:
            return bytes.fromhex(text) if fmt.key_encoding == "hex" else text.encode()
        except ValueError:
            raise CryptoError(Text.of("{who}: {var} is not hex", who=who, var=var)) from None

    key = read(key_env)
    iv = read(iv_env) if fmt.mode == "cbc" else b""
    try:
        return CipherSpec(fmt.algorithm, key, iv, fmt.mode, fmt.encodings)
    except CryptoError as exc:
        raise CryptoError(Text.of("{who}: {problem}", who=who, problem=exc.reason)) from None
