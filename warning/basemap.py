"""The district's basemap for the risk map: a GeoJSON file named in the site file
(``[site] map = "putuo.geojson"``), checked at start-up and served to the pages as is.

Pure: :func:`parse_basemap` takes the decoded JSON and returns a :class:`Basemap` or
raises :class:`BasemapError`; reading the file is the config loader's job. Only what the
page draws is kept: polygons (``Polygon`` / ``MultiPolygon``) with a ``name``, an optional
``name_en`` and a ``level`` (``district``: the outline; ``street``: a street or town, 街镇).
Bounded, because the page draws every vertex as SVG on every screen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LEVELS = ("district", "street")
MAX_FEATURES = 500
MAX_VERTICES = 100_000
MAX_NAME = 100

Ring = tuple[tuple[float, float], ...]


class BasemapError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Area:
    name: str
    name_en: str
    level: str
    polygons: tuple[tuple[Ring, ...], ...]  #: polygons, each an outer ring then holes; (lon, lat)


@dataclass(frozen=True, slots=True)
class Basemap:
    name: str
    areas: tuple[Area, ...]

    def streets(self) -> frozenset[str]:
        return frozenset(a.name for a in self.areas if a.level == "street")

    def as_json(self) -> dict:
        """GeoJSON again, only the kept members: what ``/api/v1/dash/map`` answers."""
        return {
            "type": "FeatureCollection",
            "name": self.name,
            "features": [
                {
                    "type": "Feature",
                    "properties": {"name": a.name, "name_en": a.name_en, "level": a.level},
                    "geometry": {
                        "type": "MultiPolygon",
                        "coordinates": [[[list(p) for p in ring] for ring in poly] for poly in a.polygons],
                    },
                }
                for a in self.areas
            ],
        }


def _text(value: object, what: str, required: bool) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
        raise BasemapError(f"{what} must be a non-empty text of at most {MAX_NAME} characters")
    if any(ord(c) < 32 for c in value):
        raise BasemapError(f"{what} contains control characters")
    return value.strip()


def _ring(raw: object, what: str) -> Ring:
    if not isinstance(raw, list) or len(raw) < 4:
        raise BasemapError(f"{what}: a ring needs at least 4 positions (closed)")
    out = []
    for pos in raw:
        if not (
            isinstance(pos, list)
            and len(pos) >= 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pos[:2])
        ):
            raise BasemapError(f"{what}: a position must be [longitude, latitude]")
        lon, lat = float(pos[0]), float(pos[1])
        if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
            raise BasemapError(f"{what}: position {pos!r} is not a longitude, latitude")
        out.append((lon, lat))
    if out[0] != out[-1]:
        raise BasemapError(f"{what}: a ring must end where it starts")
    return tuple(out)


def _polygon(raw: object, what: str) -> tuple[Ring, ...]:
    if not isinstance(raw, list) or not raw:
        raise BasemapError(f"{what}: a polygon is a list of rings")
    return tuple(_ring(r, what) for r in raw)


def parse_basemap(doc: object, source: str = "map") -> Basemap:
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise BasemapError(f"{source}: not a GeoJSON FeatureCollection")
    feats = doc["features"]
    if len(feats) > MAX_FEATURES:
        raise BasemapError(f"{source}: more than {MAX_FEATURES} features")
    areas: list[Area] = []
    vertices = 0
    names: set[str] = set()
    for i, f in enumerate(feats):
        what = f"{source}: feature {i}"
        if not isinstance(f, dict) or not isinstance(f.get("geometry"), dict):
            raise BasemapError(f"{what}: not a Feature with a geometry")
        raw_props = f.get("properties")
        props: dict = raw_props if isinstance(raw_props, dict) else {}
        name = _text(props.get("name"), f"{what}: properties.name", True)
        level = props.get("level", "street")
        if level not in LEVELS:
            raise BasemapError(f"{what}: properties.level must be one of {LEVELS}")
        if level == "street" and name in names:
            raise BasemapError(f"{what}: street {name!r} twice")
        names.add(name)
        geom = f["geometry"]
        polys: tuple[tuple[Ring, ...], ...]
        if geom.get("type") == "Polygon":
            polys = (_polygon(geom.get("coordinates"), what),)
        elif geom.get("type") == "MultiPolygon" and isinstance(geom.get("coordinates"), list):
            polys = tuple(_polygon(p, what) for p in geom["coordinates"])
        else:
            raise BasemapError(f"{what}: geometry must be a Polygon or MultiPolygon")
        vertices += sum(len(r) for p in polys for r in p)
        if vertices > MAX_VERTICES:
            raise BasemapError(f"{source}: more than {MAX_VERTICES} positions")
        areas.append(Area(name, _text(props.get("name_en"), f"{what}: properties.name_en", False), level, polys))
    title = doc.get("name")
    return Basemap(title.strip()[:MAX_NAME] if isinstance(title, str) else "", tuple(areas))
