"""The demo site: a district of dust-hazard enterprises, written as a site TOML file.

Why generated: a plausible district (20 enterprises, 3 bag filters each, wet collectors
where the dust is aluminium) is tedious to write by hand and must stay in step with the
simulators. Everything comes from ``seed``, including the demo secrets, so the files are
reproducible byte for byte; the site file stores only digests and scrypt hashes (salted
with a fixed, seed-derived salt for reproducibility: demo only). The plaintext secrets go
to a separate credentials file, clearly marked demo only.

The demo district is Putuo, Shanghai (普陀区): every enterprise belongs to one of its
streets and towns (街镇) and sits inside that street's polygon on the schematic basemap
``config/demo/putuo.geojson`` (hand-drawn, not surveyed), which the site file names.

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
from warning.config import config_dir
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
    "新宇", "盛隆", "富康", "天成", "广源", "万通", "正阳", "沪西", "申江", "苏河",
    "真如", "桃浦", "长风", "曹杨", "武宁", "金沙", "长青", "联创", "佳和", "润泽",
)  # fmt: skip
USERS = (("officer", "officer", "officer-demo"), ("viewer", "viewer", "viewer-demo"))
MAP_NAME = "putuo.geojson"  #: ``[site] map`` of the demo, relative to the site file


def basemap_path() -> Path:
    """The demo's basemap, in config/demo (``WARNING_CONFIG_DIR`` moves config/, e.g. in a container)."""
    return config_dir() / "demo" / MAP_NAME


# Putuo's streets and towns in the order enterprises are dealt to them: the industrial towns
# in the north-west (Taopu, Changzheng) hold most, every street at least one of 20.
STREET_ORDER = ("桃浦镇", "长征镇", "真如镇街道", "万里街道", "长风新村街道", "桃浦镇", "长征镇", "曹杨新村街道",
                "石泉路街道", "甘泉路街道", "宜川路街道", "长寿路街道", "桃浦镇", "长征镇", "真如镇街道",
                "万里街道", "长风新村街道", "桃浦镇", "长征镇", "桃浦镇")  # fmt: skip


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


def _inside(lon: float, lat: float, ring: list) -> bool:
    """Even-odd rule: is the point inside the ring?"""
    hit = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:]):
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            hit = not hit
    return hit


def _streets() -> dict[str, list]:
    """Street name -> its outer ring, from the demo's basemap."""
    doc = json.loads(basemap_path().read_text(encoding="utf-8"))
    return {
        f["properties"]["name"]: f["geometry"]["coordinates"][0]
        for f in doc["features"]
        if f["properties"].get("level") == "street"
    }


def _place(ring: list, rng: random.Random) -> list[float]:
    """A point well inside the street (rejection sampling in the middle of its bounding box)."""
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    x0, x1, y0, y1 = min(lons), max(lons), min(lats), max(lats)
    for _ in range(1000):
        lon = rng.uniform(x0 + (x1 - x0) * 0.15, x1 - (x1 - x0) * 0.15)
        lat = rng.uniform(y0 + (y1 - y0) * 0.15, y1 - (y1 - y0) * 0.15)
        if _inside(lon, lat, ring):
            return [round(lon, 4), round(lat, 4)]
    raise ValueError("no point found inside the street")


def _enterprises(n: int, collectors: int, seed: int) -> tuple[list[dict], dict[str, str]]:
    rng = random.Random(derive_seed(seed, "site"))
    places = random.Random(derive_seed(seed, "putuo"))  # its own stream: tokens and baselines stay as they were
    streets = _streets()
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
        rng.uniform(0, 1), rng.uniform(0, 1)  # the old Suzhou jitter: drawn so later tokens and baselines stay
        street = STREET_ORDER[i % len(STREET_ORDER)]
        enterprises.append(
            {
                "id": eid,
                "name": f"上海{brand}{rng.choice(DUSTS[dust])}有限公司",
                "dust": dust,
                "street": street,
                "location": _place(streets[street], places),
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
DEMO_OVERRIDES = {
    ("E013", "DC1"): {"air_speed": {"anomaly": {"ref_interval": 1.0, "when_running": 0, "direction": "both"}}}
}


def generate_site(
    n_enterprises: int = 20, collectors: int = 3, seed: int = 1, with_map: bool = False
) -> tuple[str, dict[str, str]]:
    """The site TOML text and the plaintext tokens (enterprise id -> token).

    Only token digests and password hashes are in the text; see :func:`demo_user_secrets`
    for the users' plaintext secrets. ``with_map`` names the demo's basemap (``[site] map``,
    relative to the site file: the file must then be beside it, as :func:`write_demo` puts
    it); without it the enterprises keep their places and streets, and the map has no outline.
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
    lines += _table("[site]", {"name": "上海市普陀区（演示）", "offline_after": 60})
    if with_map:
        lines.insert(
            -1, f"map = {_toml(MAP_NAME)}  # schematic outline of Putuo and its streets, hand-drawn, not surveyed"
        )
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


def resolve_map(site: dict, base: Path) -> dict:
    """A site read from (or generated for) ``base``, with its ``[site] map`` made absolute,
    so it parses wherever the site dict goes (a scenario, a replay)."""
    name = site.get("site", {}).get("map")
    if name and not Path(name).is_absolute():
        site["site"]["map"] = str((base / name).resolve())
    return site


def basemap_beside(site: dict, out: Path) -> dict:
    """The site to write into ``out``: its map copied beside it and named relative to it
    (the site file names the map relative to itself)."""
    name = site.get("site", {}).get("map")
    if not name:
        return site
    src = Path(name) if Path(name).is_absolute() else basemap_path().parent / name
    out.mkdir(parents=True, exist_ok=True)
    if (out / src.name).resolve() != src.resolve():
        (out / src.name).write_bytes(src.read_bytes())
    return {**site, "site": {**site["site"], "map": src.name}}


def write_demo(
    dir: str | Path = "config/demo", *, n_enterprises: int = 20, collectors: int = 3, seed: int = 1
) -> tuple[Path, Path]:
    """Write ``site.toml`` and ``credentials.toml`` into ``dir`` (relative to the working
    directory); returns both paths."""
    out = Path(dir)
    out.mkdir(parents=True, exist_ok=True)
    text, tokens = generate_site(n_enterprises, collectors, seed, with_map=True)
    site_path, cred_path = out / "site.toml", out / "credentials.toml"
    site_path.write_text(text, encoding="utf-8")
    cred_path.write_text(credentials_toml(tokens, seed), encoding="utf-8")
    basemap_beside({"site": {"map": MAP_NAME}}, out)  # the text names it relative: copy it along
    return site_path, cred_path
