"""The risk map's basemap: ``[site] map`` (a GeoJSON file beside the site file) and each
enterprise's ``street``, checked at start-up; the demo's schematic Putuo."""

from __future__ import annotations

import json

import pytest

from simulators.site import _inside, write_demo
from tests.conftest import site_dict
from warning.basemap import BasemapError, parse_basemap
from warning.config import ConfigError, config_dir, load_site, parse_site

PUTUO = (
    "长寿路街道",
    "曹杨新村街道",
    "长风新村街道",
    "宜川路街道",
    "甘泉路街道",
    "石泉路街道",
    "万里街道",
    "真如镇街道",
    "长征镇",
    "桃浦镇",
)
SQUARE = [[[121.0, 31.0], [121.1, 31.0], [121.1, 31.1], [121.0, 31.1], [121.0, 31.0]]]


def _map(*features) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


def _area(name, level="street", coords=SQUARE, kind="Polygon"):
    return {
        "type": "Feature",
        "properties": {"name": name, "level": level},
        "geometry": {"type": kind, "coordinates": coords},
    }


def test_demo_is_putuo_every_enterprise_inside_its_street():
    demo = load_site(config_dir() / "demo" / "site.toml")
    assert demo.basemap is not None and demo.basemap.streets() == frozenset(PUTUO)
    outline = [a for a in demo.basemap.areas if a.level == "district"]
    assert [a.name for a in outline] == ["普陀区"]
    rings = {a.name: a.polygons[0][0] for a in demo.basemap.areas}
    for e in demo.enterprises.values():
        assert e.street in PUTUO and e.location is not None
        assert _inside(*e.location, list(rings[e.street])), (e.id, e.street, e.location)
        assert _inside(*e.location, list(rings["普陀区"]))
    served = demo.basemap.as_json()
    assert served["type"] == "FeatureCollection" and len(served["features"]) == 11


def test_site_without_map_still_loads_and_street_is_free_text(kinds):
    raw = site_dict()
    raw["enterprises"][0]["street"] = "any street"
    site = parse_site(raw, kinds)
    assert site.basemap is None and site.enterprises[raw["enterprises"][0]["id"]].street == "any street"


def test_map_problems_fail_at_start_with_a_reason(kinds, tmp_path):
    def load(doc, street=None):
        (tmp_path / "m.geojson").write_text(json.dumps(doc), encoding="utf-8")
        raw = site_dict()
        raw.setdefault("site", {})["map"] = "m.geojson"
        if street:
            raw["enterprises"][0]["street"] = street
        return parse_site(raw, kinds, base=tmp_path)

    assert load(_map(_area("A")), "A").basemap.streets() == {"A"}
    with pytest.raises(ConfigError, match="not on the map"):
        load(_map(_area("A")), "B")
    with pytest.raises(ConfigError, match="FeatureCollection"):
        load({"type": "Feature"})
    with pytest.raises(ConfigError, match="end where it starts"):
        load(_map(_area("A", coords=[SQUARE[0][:-1] + [[121.05, 31.05]]])))
    with pytest.raises(ConfigError, match="Polygon"):
        load(_map(_area("A", kind="LineString")))
    with pytest.raises(ConfigError, match="twice"):
        load(_map(_area("A"), _area("A")))
    with pytest.raises(ConfigError, match="longitude"):
        load(_map(_area("A", coords=[[[200, 31], [121, 31], [121, 32], [200, 31]]])))
    (tmp_path / "m.geojson").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="map"):
        parse_site({**site_dict(), "site": {"map": "m.geojson"}}, kinds, base=tmp_path)


def test_a_missing_map_only_loses_the_outline(kinds, tmp_path, caplog):
    """A site file copied without its map still monitors: a warning, no basemap, streets unchecked."""
    raw = site_dict()
    raw.setdefault("site", {})["map"] = "missing.geojson"
    raw["enterprises"][0]["street"] = "长征镇"
    with caplog.at_level("WARNING", logger="warning.config"):
        site = parse_site(raw, kinds, base=tmp_path)
    assert site.basemap is None and "missing.geojson not found" in caplog.text


def test_multipolygon_and_levels():
    m = parse_basemap(_map(_area("D", "district"), _area("S", coords=[SQUARE, SQUARE], kind="MultiPolygon")))
    assert [(a.name, a.level, len(a.polygons)) for a in m.areas] == [("D", "district", 1), ("S", "street", 2)]
    with pytest.raises(BasemapError, match="level"):
        parse_basemap(_map(_area("X", "province")))


def test_written_demo_carries_its_map(tmp_path):
    site_path, _ = write_demo(tmp_path / "demo")
    assert (tmp_path / "demo" / "putuo.geojson").exists()
    assert load_site(site_path).basemap is not None
