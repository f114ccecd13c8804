"""Account (point) units and custom polygons."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from territorium.geo import build_units, locate, virtual_edge_report


def _accounts(seed=0):
    rng = np.random.default_rng(seed)
    # two dense clusters 600 km apart (Boston, Philadelphia) plus a lonely account in Maine
    a = np.column_stack([rng.normal(-71.06, 0.15, 300), rng.normal(42.36, 0.1, 300)])
    b = np.column_stack([rng.normal(-75.16, 0.15, 300), rng.normal(39.95, 0.1, 300)])
    c = np.array([[-68.0, 46.5]])
    p = np.vstack([a, b, c])
    df = pd.DataFrame({"account_id": [f"A{i:04d}" for i in range(len(p))], "lon": p[:, 0], "lat": p[:, 1]})
    # three accounts in one building
    df.loc[[10, 11, 12], ["lon", "lat"]] = df.loc[10, ["lon", "lat"]].to_numpy()
    return df


def test_accounts_delaunay_connected_long_edges_dropped():
    df = _accounts()
    u = build_units("account", accounts=df, cache=False)
    assert u.n == len(df) and u.geometry is None
    assert u.adjacency.n_components() == 1
    xy = u.xy
    real = u.adjacency.edges(include_virtual=False)
    length = np.hypot(*(xy[real[:, 0]] - xy[real[:, 1]]).T)
    # no real edge crosses between the clusters (hundreds of km); the clusters and the lonely
    # account are joined by virtual edges only
    assert length.max() < 100_000
    rep = virtual_edge_report(u)
    assert len(rep) == 2 and (rep["distance_km"] > 200).all()
    assert any("dropped" in n for n in u.notes)
    # accounts sharing a point are linked (by real edges)
    i10, i11, i12 = u.index_of(["A0010", "A0011", "A0012"])
    assert i11 in u.adjacency.neighbors(i10) or i11 in u.adjacency.neighbors(i12)
    # every account in the dense clusters has a neighbour by a real edge
    assert (np.bincount(real.ravel(), minlength=u.n)[:600] > 0).all()


def test_accounts_factor_controls_dropping():
    df = _accounts()
    loose = build_units("account", accounts=df, cache=False, max_edge_factor=1e9)
    strict = build_units("account", accounts=df, cache=False, max_edge_factor=2.0)
    assert loose.adjacency.n_edges > strict.adjacency.n_edges
    assert len(loose.adjacency.virtual_edges()) == 0


def test_accounts_bad_input():
    df = _accounts()
    df.loc[5, "lat"] = np.nan
    u = build_units("account", accounts=df, cache=False)
    assert u.n == len(df) - 1 and any("without valid coordinates" in n for n in u.notes)
    with pytest.raises(ValueError, match="duplicate account ids"):
        build_units("account", accounts=pd.concat([df, df.head(1)]), cache=False)
    with pytest.raises(ValueError, match="missing: lat"):
        build_units("account", accounts=df.drop(columns=["lat"]), cache=False)


def test_locate_accounts_by_id_and_point():
    df = _accounts()
    u = build_units("account", accounts=df, cache=False)
    pos = locate(u, account_ids=["A0003", "nope"])
    assert pos.tolist() == [u.index_of(["A0003"])[0], -1]
    near = locate(u, lon=[df.loc[600, "lon"] + 0.001], lat=[df.loc[600, "lat"]])
    assert near[0] == 600


def _squares():
    """A 3x2 grid of 10 km squares near Kansas City, a corner-only neighbour and an island."""
    import geopandas as gpd

    d = 0.1
    polys, ids = [], []
    for r in range(2):
        for c in range(3):
            polys.append(shapely.box(-95 + c * d, 39 + r * d, -95 + (c + 1) * d, 39 + (r + 1) * d))
            ids.append(f"T{r}{c}")
    polys.append(shapely.box(-95 + 3 * d, 39 + 2 * d, -95 + 4 * d, 39 + 3 * d))  # touches T12 at a corner
    ids.append("CORNER")
    polys.append(shapely.box(-94, 40, -93.9, 40.1))  # island
    ids.append("ISLAND")
    return gpd.GeoDataFrame(
        {"terr": ids, "label": [f"Territory {i}" for i in ids], "reps": np.arange(len(ids), dtype=float)},
        geometry=polys, crs="EPSG:4326",
    )


def _check_squares(u):
    assert u.n == 8
    assert u.adjacency.n_components() == 1
    pos = dict(zip(u.ids, range(u.n)))
    real = {tuple(sorted(e)) for e in u.adjacency.edges(include_virtual=False).tolist()}
    assert tuple(sorted((pos["T00"], pos["T01"]))) in real
    assert tuple(sorted((pos["T00"], pos["T10"]))) in real
    assert tuple(sorted((pos["T00"], pos["T11"]))) not in real  # corner only
    assert all(pos["CORNER"] not in e for e in real)  # corner contact is not a border
    rep = virtual_edge_report(u)
    assert set(rep["from_id"]) | set(rep["to_id"]) >= {"ISLAND", "CORNER"}
    assert u.table["area_km2"].iloc[pos["T00"]] == pytest.approx(11.1 * 8.5, rel=0.05)


def test_custom_geojson(tmp_path):
    p = tmp_path / "territories.geojson"
    _squares().to_file(p, driver="GeoJSON")
    u = build_units("custom", custom=p, id_column="terr", name_column="label")
    _check_squares(u)
    assert "reps" in u.table.columns
    assert u.table.set_index("unit_id").loc["T01", "name"] == "Territory T01"
    # locate by point in polygon
    assert locate(u, lon=[-94.95, -80.0], lat=[39.05, 30.0]).tolist() == [u.index_of(["T00"])[0], -1]


def test_custom_geopackage_projected_crs(tmp_path):
    p = tmp_path / "territories.gpkg"
    _squares().to_crs("EPSG:3857").to_file(p, driver="GPKG", layer="terr")
    u = build_units("custom", custom=p, id_column="terr", cache=False)
    _check_squares(u)
    with pytest.raises(ValueError, match="no column 'nope'"):
        build_units("custom", custom=p, id_column="nope", cache=False)


def test_custom_shapefile_default_ids(tmp_path):
    p = tmp_path / "terr.shp"
    _squares().drop(columns=["terr", "label"]).to_file(p)
    u = build_units("custom", custom=p, cache=False)
    assert list(u.ids) == [str(i) for i in range(1, 9)]


def test_custom_duplicate_ids_rejected(tmp_path):
    g = _squares()
    g.loc[1, "terr"] = "T00"
    p = tmp_path / "dup.geojson"
    g.to_file(p, driver="GeoJSON")
    with pytest.raises(ValueError, match="duplicate ids.*T00"):
        build_units("custom", custom=p, id_column="terr", cache=False)


def test_custom_other_crs_for_europe(tmp_path):
    import geopandas as gpd

    # two neighbouring squares in Germany measured in the European equal-area CRS
    g = gpd.GeoDataFrame({"id": ["a", "b"]}, geometry=[shapely.box(10, 50, 10.1, 50.1), shapely.box(10.1, 50, 10.2, 50.1)],
                         crs="EPSG:4326")
    u = build_units("custom", custom=g, crs="EPSG:3035")
    assert u.crs == "EPSG:3035" and u.adjacency.n_edges == 1
    assert u.table["area_km2"].iloc[0] == pytest.approx(7.16 * 11.12, rel=0.02)
