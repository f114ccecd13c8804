"""Territory maps that follow RFC 7946 (issue 12): no ``crs`` member, exterior rings
counter-clockwise and holes clockwise, and no sliver holes from dissolving units — a
territory keeps only the holes its units have (a lake) or that other territories fill (an
enclave). Each file is read back with a parser of its own: json + shapely for GeoJSON,
pyogrio for the GeoPackage, an XML parser for KML."""
import json
import xml.etree.ElementTree as ET

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from shapely.geometry import box, shape

from territorium.plan import exporting as ex

REPS = pd.DataFrame({"rep_id": ["R1", "R2", "R3"], "name": ["Ann", "Bo", "Cy"],
                     "email": ["a@x.com", "b@x.com", "c@x.com"], "title": ["AE"] * 3})


def _plan(units: pd.DataFrame, geoms) -> ex.ExportPlan:
    tids = sorted(units["territory"].unique())
    tt = pd.DataFrame({"territory_id": tids, "name": tids, "rep_id": REPS["rep_id"][:len(tids)].tolist()})
    acc = pd.DataFrame({"account_id": ["A1"], "name": ["Acme"], "territory_id": [tids[0]], "owner_id": ["R1"]})
    return ex.ExportPlan(units=units, territories=tt, accounts=acc, reps=REPS.copy(),
                         geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"), level="zip")


@pytest.fixture(scope="module")
def planted():
    """A 4 x 4 grid of units (0.1° cells) in three territories with a planted sliver, an
    enclave and a lake: T1 holds all cells but two; cell (1, 1) is T2's enclave inside T1;
    cell (2, 2) has a 1e-4° triangle cut from its corner where three other T1 cells meet (a
    gap no unit covers: a sliver hole of T1 after dissolving); cell (0, 3) is T3 and has a
    lake (a hole of the unit itself)."""
    ids, geoms, terr = [], [], []
    xs = [round(-74 + k * 0.1, 6) for k in range(5)]       # shared edges with identical coordinates
    ys = [round(40 + k * 0.1, 6) for k in range(5)]
    for j in range(4):
        for i in range(4):
            x0, y0 = xs[i], ys[j]
            g = box(x0, y0, xs[i + 1], ys[j + 1])
            t = "T1"
            if (i, j) == (1, 1):
                t = "T2"
            if (i, j) == (2, 2):
                g = g.difference(shapely.Polygon([(x0, y0), (x0 + 1e-4, y0), (x0, y0 + 1e-4)]))
            if (i, j) == (0, 3):
                t = "T3"
                g = g.difference(box(x0 + 0.03, y0 + 0.03, x0 + 0.06, y0 + 0.06))
            ids.append(f"{10001 + j * 4 + i:05d}")
            geoms.append(g)
            terr.append(t)
    units = pd.DataFrame({"unit_id": ids, "name": ids, "territory": terr})
    return _plan(units, geoms), geoms


def _holes(geom):
    return [shapely.Polygon(r) for p in getattr(geom, "geoms", [geom]) for r in p.interiors]


def test_geojson_is_rfc7946_with_only_real_holes(planted, tmp_path):
    plan, geoms = planted
    raw = shapely.union_all([g for g, t in zip(geoms, plan.units["territory"]) if t == "T1"])
    assert len(_holes(raw)) == 2                 # what a plain dissolve gives: the enclave and the sliver
    (path,) = ex.export(plan, "geojson", tmp_path)
    doc = json.loads(path.read_text())
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    terr = {f["properties"]["territory_id"]: shape(f["geometry"]) for f in doc["features"]}
    assert sorted(terr) == ["T1", "T2", "T3"]
    for t, g in terr.items():
        for p in getattr(g, "geoms", [g]):
            assert p.exterior.is_ccw, t
            assert not any(r.is_ccw for r in p.interiors), t
    (hole,) = _holes(terr["T1"])                 # the enclave stays, the sliver is gone
    assert hole.area == pytest.approx(0.01, rel=1e-6)
    assert hole.symmetric_difference(box(-73.9, 40.1, -73.8, 40.2)).area < 1e-12   # the enclave's cell
    (lake,) = _holes(terr["T3"])
    assert lake.area == pytest.approx(0.0009, rel=1e-6)
    assert _holes(terr["T2"]) == []
    # the sliver is filled, so T1 covers its 14 cells and the 5e-9 deg² triangle
    assert terr["T1"].area == pytest.approx(14 * 0.01, rel=1e-9, abs=1e-8)


def test_gpkg_and_kml_carry_the_same_clean_territories(planted, tmp_path):
    plan, _ = planted
    (gp,) = ex.export(plan, "gpkg", tmp_path)
    assert {n for n, _ in pyogrio.list_layers(gp)} == {"territories", "units"}
    t = pyogrio.read_dataframe(gp, layer="territories").set_index("territory_id")
    assert [len(_holes(t.geometry["T1"])), len(_holes(t.geometry["T3"]))] == [1, 1]
    (k,) = ex.write_kml(plan, tmp_path / "t.kml", engine="etree")
    ns = "{http://www.opengis.net/kml/2.2}"
    pms = {p.findtext(f"{ns}name"): p for p in ET.parse(k).getroot().iter(f"{ns}Placemark")}
    assert len(list(pms["T1"].iter(f"{ns}innerBoundaryIs"))) == 1


def test_demo_zip_territories_have_no_holes_their_units_lack(demo_small, tmp_path):
    from territorium.plan.workspace import Workspace

    _, url = demo_small
    ws = Workspace(url)
    load = ws.load_units("zip")
    plan = ex.build_plan(ws, hierarchy="none", level="zip", load=load)
    units = gpd.GeoDataFrame({"territory": plan.units["territory"].to_numpy()},
                             geometry=np.asarray(plan.geometry), crs="EPSG:4326").dropna()
    assert sum(len(_holes(g)) for g in units.geometry) == 0          # the units have no holes
    raw = units.dissolve("territory")
    assert sum(len(_holes(g)) for g in raw.geometry.make_valid()) > 100   # a plain dissolve leaves slivers
    (path,) = ex.export(plan, "geojson", tmp_path)
    doc = json.loads(path.read_text())
    assert "crs" not in doc
    tree = shapely.STRtree(units.geometry.to_numpy())
    n_holes = 0
    for f in doc["features"]:
        t, g = f["properties"]["territory_id"], shape(f["geometry"])
        for p in getattr(g, "geoms", [g]):
            assert p.exterior.is_ccw and not any(r.is_ccw for r in p.interiors)
        for h in _holes(g):          # every hole left is another territory's land
            n_holes += 1
            near = [i for i in tree.query(h, predicate="intersects") if units["territory"].iloc[i] != t]
            assert sum(h.intersection(units.geometry.iloc[i]).area for i in near) >= 0.5 * h.area
    assert n_holes <= 5
