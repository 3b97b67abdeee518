"""The demo site: a district of dust-hazard enterprises, written as a site TOML file.

Why generated: a plausible district (20 enterprises, 3 bag filters each, wet collectors
where the dust is aluminium) is tedious to write by hand and must stay in step with the
simulators. Everything comes from ``seed``, including the demo secrets, so the files are
reproducible byte for byte; the site file stores only digests and scrypt hashes (salted
with a fixed, seed-derived salt for reproducibility: demo only). The plaintext secrets go
to a separate credentials file, clearly marked demo only.

TOML is written by hand (no writer library is installed); tests read it back with
``tomllib``.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path

from simulators.plant import derive_seed
from warning.security import hash_password, token_digest

BAG_POINTS = ["dp", "hopper_temp", "air_speed", "airlock_fault", "fan_fault", "running", "spark", "vent_open"]
WET_POINTS = ["water_level", "water_flow", "h2", "running"]
DUSTS = {  # dust type -> trade words that go into a company name
    "wood": ("木业", "家具", "木制品"),
    "metal": ("金属制品", "精密机械", "五金制品"),
    "grain": ("粮油", "面粉", "饲料"),
    "plastic": ("塑胶", "塑料制品", "新材料"),
    "aluminium": ("铝业", "铝制品", "轻合金"),
}
WET_DUSTS = {"aluminium", "magnesium"}
BRANDS = (
    "恒达", "鑫源", "华盛", "永兴", "金泰", "宏昌", "瑞丰", "德利", "汇通", "嘉禾",
    "新宇", "盛隆", "富康", "天成", "广源", "万通", "正阳", "吴越", "东吴", "阳澄",
    "太湖", "金鸡", "石湖", "枫桥", "横塘", "胥江", "长青", "联创", "佳和", "润泽",
)  # fmt: skip
USERS = (("officer", "officer", "officer-demo"), ("viewer", "viewer", "viewer-demo"))
CENTRE = (120.6, 31.3)  # lon, lat: Suzhou


def _toml(value) -> str:
    """One TOML value. JSON string escapes are valid TOML basic-string escapes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_toml(v)}" for k, v in value.items()) + " }" if value else "{}"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _table(header: str, fields: dict, indent: str = "") -> list[str]:
    lines = [f"{indent}{header}"]
    lines += [f"{indent}{_key(k)} = {_toml(v)}" for k, v in fields.items()]
    return lines + [""]


def _salt(seed: int, name: str) -> bytes:
    return hashlib.sha256(f"warning-demo-salt:{seed}:{name}".encode()).digest()[:16]


def demo_user_secrets(seed: int = 1) -> dict[str, dict[str, str]]:
    """Plaintext demo secrets of the users: password, and the officer's API token."""
    rng = random.Random(derive_seed(seed, "users"))
    secrets = {name: {"role": role, "password": password} for name, role, password in USERS}
    secrets["officer"]["api_token"] = f"demo-officer-{rng.getrandbits(128):032x}"
    return secrets


def _enterprises(n: int, collectors: int, seed: int) -> tuple[list[dict], dict[str, str]]:
    rng = random.Random(derive_seed(seed, "site"))
    dusts = [list(DUSTS)[i % len(DUSTS)] for i in range(n)]  # every type present when n >= 5
    rng.shuffle(dusts)
    brands = list(BRANDS)
    rng.shuffle(brands)
    enterprises, tokens = [], {}
    for i, dust in enumerate(dusts):
        eid = f"E{i + 1:03d}"
        brand = brands[i % len(brands)] + (brands[(i // len(brands)) % len(brands)] if i >= len(brands) else "")
        token = f"demo-{eid}-{rng.getrandbits(64):016x}"
        tokens[eid] = token
        devices = [
            {
                "id": f"DC{k + 1}",
                "type": "bag_filter",
                "points": list(BAG_POINTS),
                "overrides": {"dp": {"baseline": {"baseline": float(rng.randrange(900, 1310, 10))}}},
            }
            for k in range(collectors)
        ]
        if dust in WET_DUSTS:
            devices.append({"id": "WC1", "type": "wet_collector", "points": list(WET_POINTS)})
        lon = round(CENTRE[0] + rng.uniform(-0.08, 0.08), 4)
        lat = round(CENTRE[1] + rng.uniform(-0.06, 0.06), 4)
        enterprises.append(
            {
                "id": eid,
                "name": f"苏州{brand}{rng.choice(DUSTS[dust])}有限公司",
                "dust": dust,
                "location": [lon, lat],
                "token_sha256": [token_digest(token)],
                "devices": devices,
            }
        )
    return enterprises, tokens


# Per-site overrides of the demo: the collector whose air-speed spike is the demo's blue
# (anomaly) alert was commissioned with per-sample anomaly constants (``ref_interval`` 1 s),
# so its anomaly detector is warm after the three minutes of back-filled history, where the
# default (5-minute units) would need hours of history before scoring. It scores both sides
# (the default judges air speed only when it is lower than ever), so the demo's upward spike,
# a sensor glitch, shows as what it is: a blue anomaly.
DEMO_OVERRIDES = {("E013", "DC1"): {"air_speed": {"anomaly": {"ref_interval": 1.0, "when_running": 0,
                                                              "direction": "both"}}}}


def generate_site(n_enterprises: int = 20, collectors: int = 3, seed: int = 1) -> tuple[str, dict[str, str]]:
    """The site TOML text and the plaintext tokens (enterprise id -> token).

    Only token digests and password hashes are in the text; see :func:`demo_user_secrets`
    for the users' plaintext secrets.
    """
    enterprises, tokens = _enterprises(n_enterprises, collectors, seed)
    for ent in enterprises:  # see DEMO_OVERRIDES
        for dev in ent["devices"]:
            for point, specs in DEMO_OVERRIDES.get((ent["id"], dev["id"]), {}).items():
                dev.setdefault("overrides", {}).setdefault(point, {}).update(specs)
    lines = [
        f"# Demo site generated by simulators/site.py (generate_site(seed={seed})). Demo only:",
        "# the password hashes use a fixed salt so the file reproduces; never reuse them.",
        "",
    ]
    lines += _table("[site]", {"name": "Demo district", "offline_after": 60})
    for ent in enterprises:
        lines += _table("[[enterprises]]", {k: v for k, v in ent.items() if k != "devices"})
        for dev in ent["devices"]:
            lines += _table("[[enterprises.devices]]", dev, indent="  ")
    for name, secret in demo_user_secrets(seed).items():
        hashed = hash_password(secret["password"], salt=_salt(seed, name))
        user = {"name": name, "role": secret["role"], "password": hashed}
        if "api_token" in secret:
            user["api_token_sha256"] = token_digest(secret["api_token"])
        lines += _table("[[users]]", user)
    lines += _table("[[channels]]", {"id": "duty-log", "type": "log", "min_severity": "blue"})
    return "\n".join(lines), tokens


def site_toml(site: dict, origin: str = "a parsed site") -> str:
    """A parsed site (``tomllib`` output, possibly edited: a scenario adds O2 points) as
    TOML text again; the same writer as :func:`generate_site`."""
    lines = [f"# Site written by simulators/site.py from {origin}.", ""]
    lines += _table("[site]", site.get("site", {}))
    for ent in site.get("enterprises", []):
        lines += _table("[[enterprises]]", {k: v for k, v in ent.items() if k != "devices"})
        for dev in ent.get("devices", []):
            lines += _table("[[enterprises.devices]]", dev, indent="  ")
    for user in site.get("users", []):
        lines += _table("[[users]]", user)
    for channel in site.get("channels", []):
        lines += _table("[[channels]]", channel)
    for gateway in site.get("gateways", []):  # platform gateways (simulators/gateway.py)
        lines += _table("[[gateways]]", gateway)
    return "\n".join(lines)


def credentials_toml(tokens: dict[str, str], seed: int = 1) -> str:
    """The plaintext demo secrets as TOML: ``[tokens]`` and ``[users.<name>]``."""
    lines = [
        "# DEMO ONLY: plaintext secrets of the generated demo site (simulators/site.py).",
        "# Anyone holding this file can push telemetry and sign in. Never use outside the demo.",
        "",
    ]
    lines += _table("[tokens]", tokens)
    for name, secret in demo_user_secrets(seed).items():
        lines += _table(f"[users.{name}]", {k: v for k, v in secret.items() if k != "role"})
    return "\n".join(lines)


def write_demo(
    dir: str | Path = "config/demo", *, n_enterprises: int = 20, collectors: int = 3, seed: int = 1
) -> tuple[Path, Path]:
    """Write ``site.toml`` and ``credentials.toml`` into ``dir`` (relative to the working
    directory); returns both paths."""
    out = Path(dir)
    out.mkdir(parents=True, exist_ok=True)
    text, tokens = generate_site(n_enterprises, collectors, seed)
    site_path, cred_path = out / "site.toml", out / "credentials.toml"
    site_path.write_text(text, encoding="utf-8")
    cred_path.write_text(credentials_toml(tokens, seed), encoding="utf-8")
    return site_path, cred_path
