"""ZIP units: cells tile their county, folding, islands, locate through the fold map."""
from __future__ import annotations

import numpy as np
import pytest
import shapely

from territorium.geo import build_units, locate, virtual_edge_report, zip_to_unit
from territorium.geo.polygons import project
from territorium.geo.reference import zip_table
from territorium.geo.sources import county_frame


@pytest.fixture(scope="module")
def ri():
    return build_units("zip", states=["RI"])


@pytest.fixture(scope="module")
def de():
    return build_units("zip", states=["DE"])


@pytest.fixture(scope="module")
def ma():
    return build_units("zip", states=["MA"])


@pytest.mark.parametrize("name", ["ri", "de"])
def test_cells_tile_their_county(name, request):
    u = request.getfixturevalue(name)
    cells = project(u.geometry.values, "EPSG:5070")
    c = county_frame().set_index("fips")
    for fips, grp in u.table.groupby("county_fips"):
        county = project([c.loc[fips].geometry], "EPSG:5070")[0]
        mine = cells[grp.index.to_numpy()]
        total = shapely.area(mine).sum()
        union = shapely.union_all(mine)
        # sum of areas = county area (within 0.5%), and = area of their union (no overlaps)
        assert abs(total / county.area - 1) < 0.005, fips
        assert abs(union.area / total - 1) < 1e-4, fips
        # and every cell lies inside its county
        assert shapely.area(shapely.difference(mine, county.buffer(1.0))).max() < 1e3
    assert u.adjacency.n_components() == 1


def test_area_column_is_equal_area_km2(de):
    # Delaware land area is about 5,047 km² (Census 1,949 sq mi)
    assert 4900 < de.table["area_km2"].sum() < 5400  # cartographic shoreline: a bit of water


def test_po_box_zips_fold_into_a_unit_of_their_county(ri, ma):
    z = zip_table()
    for u, st in ((ri, "RI"), (ma, "MA")):
        fm = zip_to_unit(u)
        zs = z[(z["state"] == st)]
        assert set(zs["zip"]) <= set(fm.index) | set(zs.loc[zs["lat"].isna(), "zip"])
        po = zs[(zs["zip_type"] == "PO BOX") & zs["lat"].notna()]
        assert len(po) > 5
        units = u.table.set_index("unit_id")
        from territorium.geo.counties import match_counties

        cf = match_counties(po["state"].to_numpy(), po["county"].to_numpy())["county_fips"].to_numpy()
        got = units.loc[fm.loc[po["zip"]].to_numpy(), "county_fips"].to_numpy()
        assert (got == cf).all()
        # PO boxes have no cell of their own
        assert not set(po["zip"]) & set(u.ids)


def test_block_island_po_box_is_part_of_a_unit(ri):
    fm = zip_to_unit(ri)
    owner = fm["02807"]  # Block Island, a PO BOX ZIP
    i = ri.index_of([owner])[0]
    geom = ri.geometry.iloc[i]
    assert geom.contains(shapely.Point(-71.575, 41.17))  # the island is in the owner's cell
    assert "02807" in ri.table.loc[i, "member_zips"].split()


def test_standard_zips_sharing_a_point_fold():
    z = zip_table()
    std = z[(z["zip_type"] == "STANDARD") & z["active"] & z["lat"].notna() & (z["state"] == "NY")]
    dup = std[std.duplicated(["lat", "lon"], keep=False)]
    assert len(dup) >= 2
    u = build_units("zip", states=["NY"])
    fm = zip_to_unit(u)
    for _, g in dup.groupby(["lat", "lon"]):
        assert fm.loc[g["zip"]].nunique() == 1


def test_massachusetts_islands_virtual(ma):
    assert ma.adjacency.n_components() == 1
    rep = virtual_edge_report(ma)
    ends = set(rep["from_id"]) | set(rep["to_id"])
    assert "02554" in ends  # Nantucket
    assert ends & {"02539", "02568", "02557", "02575", "02535"}  # Martha's Vineyard ZIPs
    nant = ma.index_of(["02554"])[0]
    lo, hi = ma.adjacency.indptr[nant], ma.adjacency.indptr[nant + 1]
    assert ma.adjacency.virtual[lo:hi].all()
    assert any("Nantucket, MA (02554)" in n for n in ma.notes)


def test_zip_table_columns(ri):
    t = ri.table
    for col in ("unit_id", "name", "x", "y", "lon", "lat", "area_km2", "state", "county_fips",
                "zip_count", "member_zips"):
        assert col in t.columns
    assert t["unit_id"].is_unique
    assert (t["area_km2"] > 0).all()
    assert t["zip_count"].sum() == len(zip_to_unit(ri))
    # the unit point is the ZIP centroid when that lies in the cell
    z = zip_table().loc["02903"]
    row = t.set_index("unit_id").loc["02903"]
    assert row["lon"] == pytest.approx(z["lon"], abs=1e-6) and row["lat"] == pytest.approx(z["lat"], abs=1e-6)


def test_locate_zip_units(ri):
    fm = zip_to_unit(ri)
    zips = np.array(["02903", "02807", "99999", None, "02901"], dtype=object)
    pos = locate(ri, zips=zips)
    assert pos[0] == ri.index_of(["02903"])[0]
    assert pos[1] == ri.index_of([fm["02807"]])[0]
    assert pos[2] == -1 and pos[3] == -1
    assert pos[4] == ri.index_of([fm["02901"]])[0]
    # by point: the ZIP centroid lies in its own cell
    z = zip_table().loc[["02903"]]
    assert locate(ri, lon=z["lon"].to_numpy(), lat=z["lat"].to_numpy())[0] == pos[0]
    # ZIP first, point second: the point fills where the ZIP is unknown
    both = locate(ri, zips=["99999"], lon=[z["lon"].iloc[0]], lat=[z["lat"].iloc[0]])
    assert both[0] == pos[0]


def test_county_without_zip_of_its_own_is_covered():
    # Virginia's Emporia, Covington, Lexington and Manassas Park cities have no ZIP named after
    # them; every county of the state is still covered by cells
    u = build_units("zip", states=["VA"])
    c = county_frame()
    va = c[c["state"] == "VA"]
    cells = project(u.geometry.values, "EPSG:5070")
    total = shapely.area(cells).sum()
    assert abs(total / shapely.area(project(va.geometry.values, "EPSG:5070")).sum() - 1) < 0.005
    assert any("51595" in n for n in u.notes)
    assert u.adjacency.n_components() == 1


def test_zip_polygon_filter_keeps_points_inside_and_their_folds():
    box = shapely.box(-71.3, 42.2, -70.9, 42.5)  # Boston
    u = build_units("zip", states=["MA"], polygon=box)
    pts = shapely.points(u.table[["lon", "lat"]].to_numpy())
    assert shapely.contains(box, pts).all()
    assert "02134" in set(u.ids) and "01201" not in set(u.ids)  # Allston in, Pittsfield out
    assert u.adjacency.n_components() == 1
    fm = zip_to_unit(u)
    assert set(fm.unique()) <= set(u.ids)
    # only ZIPs of the kept units are in the fold map, none from the rest of the state
    assert "01201" not in fm.index
    with pytest.raises(ValueError, match="filter polygon"):
        build_units("zip", polygon=shapely.box(0, 0, 1, 1), cache=False)
