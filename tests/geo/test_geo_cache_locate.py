"""Cache round trips, locate on counties and states, geocoding helpers, CLI."""
from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from territorium.geo import build_units, city_coordinates, locate, zip_centroid
from territorium.geo import cache as geo_cache


def test_cache_hit_returns_identical_units():
    t0 = time.perf_counter()
    a = build_units("zip", states=["DE"], cache=True)
    cold = time.perf_counter() - t0
    n_entries = len(list(geo_cache.cache_root().iterdir()))
    t0 = time.perf_counter()
    b = build_units("zip", states=["DE"], cache=True)
    warm = time.perf_counter() - t0
    assert len(list(geo_cache.cache_root().iterdir())) == n_entries
    assert warm < cold
    for f in ("indptr", "indices", "virtual"):
        np.testing.assert_array_equal(getattr(a.adjacency, f), getattr(b.adjacency, f))
    pd.testing.assert_frame_equal(a.table, b.table)
    assert a.notes == b.notes and a.crs == b.crs and a.level == b.level
    assert a.geometry.geom_equals_exact(b.geometry, tolerance=1e-9).all()
    # a different filter is a different entry
    c = build_units("zip", states=["DE", "RI"], cache=True)
    assert c.n > a.n
    assert len(list(geo_cache.cache_root().iterdir())) == n_entries + 1


def test_cache_of_point_units_and_format_version(monkeypatch):
    df = pd.DataFrame({"account_id": ["a", "b", "c", "d"], "lon": [-71.0, -71.1, -71.05, -72.0],
                       "lat": [42.0, 42.0, 42.1, 42.05]})
    a = build_units("account", accounts=df)
    b = build_units("account", accounts=df)
    assert b.geometry is None
    np.testing.assert_array_equal(a.adjacency.indices, b.adjacency.indices)
    pd.testing.assert_frame_equal(a.table, b.table)
    # changed data, changed key
    df2 = df.assign(lon=df["lon"] + 0.5)
    c = build_units("account", accounts=df2)
    assert not np.allclose(c.table["lon"], a.table["lon"])
    # an entry written by another cache format is ignored
    monkeypatch.setattr(geo_cache, "CACHE_FORMAT", geo_cache.CACHE_FORMAT + 1)
    assert geo_cache.load(next(p.name for p in geo_cache.cache_root().iterdir() if p.is_dir())) is None


def test_locate_counties_and_states():
    u = build_units("county", states=["VA", "MD", "DC"])
    pos = locate(u, county_fips=["51600", "51059", "24510", "99999"])
    assert u.ids[pos[:3]].tolist() == ["51600", "51059", "24510"] and pos[3] == -1
    # by ZIP: 22030 is in Fairfax County, 22034 in Fairfax city, 20001 in DC
    pos = locate(u, zips=["22030", "22034", "20001", "00000"])
    assert u.ids[pos[:3]].tolist() == ["51059", "51600", "11001"] and pos[3] == -1
    # by point: the White House is in DC, Fairfax city hall in Fairfax city
    pos = locate(u, lon=[-77.0365, -77.3064, 0.0], lat=[38.8977, 38.8462, 0.0])
    assert u.ids[pos[:2]].tolist() == ["11001", "51600"] and pos[2] == -1
    s = build_units("state", states=["VA", "MD"])
    pos = locate(s, states=["Virginia", "md", "TX"])
    assert pos[0] == s.index_of(["VA"])[0] and pos[1] == s.index_of(["MD"])[0] and pos[2] == -1
    assert locate(s, zips=["22030"])[0] == s.index_of(["VA"])[0]
    with pytest.raises(ValueError):
        locate(s)


def test_locate_many_points_fast():
    u = build_units("county", states=["CA", "NV", "OR"])
    rng = np.random.default_rng(1)
    n = 200_000
    lon = rng.uniform(-124, -114, n)
    lat = rng.uniform(32.5, 46, n)
    t0 = time.perf_counter()
    pos = locate(u, lon=lon, lat=lat)
    dt = time.perf_counter() - t0
    assert dt < 5
    inside = pos >= 0
    assert 0.3 < inside.mean() < 0.95
    # spot-check with shapely
    import shapely

    k = np.flatnonzero(inside)[:50]
    assert shapely.contains_xy(u.geometry.values[pos[k]], lon[k], lat[k]).all()


def test_zip_centroid_and_city_coordinates():
    z = zip_centroid(np.array(["02554", "10001", "99999"], dtype=object))
    assert z["state"].tolist()[:2] == ["MA", "NY"]
    assert z["lat"].iloc[1] == pytest.approx(40.75, abs=0.05) and np.isnan(z["lat"].iloc[2])
    c = city_coordinates(["St. Louis", "Saint Louis", "New York City", "Brooklyn", "Tiny Nowhere",
                          "Coeur d'Alene", "Doña Ana"], ["MO", "missouri", "NY", "NY", "KS", "ID", "NM"])
    assert c["lat"].iloc[0] == pytest.approx(38.63, abs=0.1)
    assert c["lat"].iloc[1] == c["lat"].iloc[0]
    assert c["lat"].iloc[2] == pytest.approx(40.71, abs=0.1)
    assert c["source"].iloc[0] == "geonames"
    assert np.isnan(c["lat"].iloc[4]) and pd.isna(c["source"].iloc[4])
    assert c["lat"].iloc[5] == pytest.approx(47.68, abs=0.1)
    assert c["lat"].iloc[6] == pytest.approx(32.39, abs=0.2)  # a small place: from zipcodes
    one = city_coordinates("Boston", "MA")
    assert len(one) == 1 and one["lat"].iloc[0] == pytest.approx(42.36, abs=0.1)


def test_cli_units_build_and_show():
    import typer
    from typer.testing import CliRunner

    from territorium.commands.units import register

    app = typer.Typer()
    register(app)
    r = CliRunner().invoke(app, ["units", "build", "--level", "county", "--states", "MA", "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)
    assert s["units"] == 14 and s["components"] == 1 and s["virtual_edges"] >= 2
    assert any(v["from_id"] == "25019" or v["to_id"] == "25019" for v in s["virtual"])
    r = CliRunner().invoke(app, ["units", "show", "--level", "county", "--states", "MA"])
    assert r.exit_code == 0 and "Nantucket County, MA (25019)" in r.output
    r = CliRunner().invoke(app, ["units", "build", "--level", "county", "--states", "ZZ"])
    assert r.exit_code == 2 and "unknown state" in r.output
    r = CliRunner().invoke(app, ["units", "build", "--level", "custom"])
    assert r.exit_code != 0


def test_cli_account_and_custom_files(tmp_path):
    import geopandas as gpd
    import shapely
    import typer
    from typer.testing import CliRunner

    from territorium.commands.units import register

    app = typer.Typer()
    register(app)
    acc = tmp_path / "accounts.csv"
    pd.DataFrame({"account_id": ["001", "002", "003", "004"], "lon": [-71.0, -71.1, -71.05, -90.0],
                  "lat": [42.0, 42.0, 42.1, 35.0]}).to_csv(acc, index=False)
    r = CliRunner().invoke(app, ["units", "build", "--level", "account", "--file", str(acc), "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)
    assert s["units"] == 4 and s["components"] == 1 and s["virtual_edges"] == 1
    poly = tmp_path / "p.geojson"
    gpd.GeoDataFrame({"code": ["a", "b"]}, geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)],
                     crs="EPSG:4326").to_file(poly, driver="GeoJSON")
    r = CliRunner().invoke(app, ["units", "build", "--level", "custom", "--file", str(poly),
                                 "--id-column", "code", "--crs", "EPSG:3035", "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)
    assert s["units"] == 2 and s["edges"] == 1 and s["virtual_edges"] == 0
