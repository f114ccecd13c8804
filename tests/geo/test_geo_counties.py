"""County and state units: Census counts, name matching, islands, filters."""
from __future__ import annotations

import numpy as np
import pytest
import shapely

from territorium.geo import build_units, match_counties, normalize_county_name, virtual_edge_report

# Census 2016 county-equivalent counts (Virginia: 95 counties + 38 independent cities).
CENSUS_COUNTS = {"GA": 159, "CA": 58, "TX": 254, "VA": 133, "LA": 64, "AK": 29, "PR": 78,
                 "DE": 3, "RI": 5, "MA": 14, "HI": 5, "MO": 115, "MD": 24, "NV": 17}


@pytest.mark.parametrize("state,count", sorted(CENSUS_COUNTS.items()))
def test_county_count_matches_census(state, count):
    u = build_units("county", states=[state], cache=False)
    assert u.n == count
    assert set(u.table["state"]) == {state}
    assert u.table["unit_id"].str.fullmatch(r"\d{5}").all()
    assert u.adjacency.n_components() == 1


def test_all_us_counties_connected_with_islands_flagged():
    u = build_units("county")
    assert u.n == 3142 + 78  # 50 states + DC, plus Puerto Rico
    assert u.adjacency.n_components() == 1
    rep = virtual_edge_report(u)
    linked = set(rep["from_id"]) | set(rep["to_id"])
    # islands that only virtual edges reach
    for fips in ("25019", "25007", "53055", "15001", "72147", "72049"):
        assert fips in linked, fips
    # Hawaii links to the mainland (California), not to the slightly nearer Aleutians
    hi = rep[rep["from_id"].str.startswith("15") ^ rep["to_id"].str.startswith("15")]
    assert len(hi) == 1 and {hi["from_id"].iloc[0][:2], hi["to_id"].iloc[0][:2]} == {"15", "06"}
    # virtual edges are flagged, and only those
    assert u.adjacency.virtual.sum() == 2 * len(rep)
    assert any("Nantucket County, MA (25019)" in n for n in u.notes)


def test_massachusetts_islands_get_virtual_edges():
    u = build_units("county", states=["MA"])
    assert u.adjacency.n_components() == 1
    nant, dukes, barn = u.index_of(["25019", "25007", "25001"])
    v = {tuple(e) for e in u.adjacency.virtual_edges().tolist()}
    # Nantucket and Dukes have no land border: each of their edges is virtual
    for i in (nant, dukes):
        lo, hi = u.adjacency.indptr[i], u.adjacency.indptr[i + 1]
        assert hi > lo and u.adjacency.virtual[lo:hi].all()
    assert any(nant in e for e in v) and any(dukes in e for e in v)
    # mainland Barnstable borders Plymouth for real
    plym = u.index_of(["25023"])[0]
    assert plym in u.adjacency.neighbors(barn)
    real = {tuple(e) for e in u.adjacency.edges(include_virtual=False).tolist()}
    assert (min(barn, plym), max(barn, plym)) in real


def test_rook_not_queen_four_corners():
    # Utah, Colorado, Arizona and New Mexico meet in one point: UT-NM and AZ-CO only touch
    u = build_units("state", states=["UT", "CO", "AZ", "NM"], cache=False)
    ut, co, az, nm = u.index_of(["UT", "CO", "AZ", "NM"])
    real = {tuple(sorted(e)) for e in u.adjacency.edges(include_virtual=False).tolist()}
    assert tuple(sorted((ut, co))) in real and tuple(sorted((az, nm))) in real
    assert tuple(sorted((ut, nm))) not in real and tuple(sorted((az, co))) not in real


def test_states_level_links_alaska_hawaii_puerto_rico():
    u = build_units("state")
    assert u.n == 52
    assert u.adjacency.n_components() == 1
    rep = virtual_edge_report(u)
    assert set(rep["from_id"]) | set(rep["to_id"]) >= {"AK", "HI", "PR"}
    assert len(rep) == 3


def test_table_columns_and_areas():
    u = build_units("county", states=["RI"], cache=False)
    for col in ("unit_id", "name", "x", "y", "lon", "lat", "area_km2", "state", "county_fips"):
        assert col in u.table.columns
    # Providence County land area is about 1,060 km² (Census: 409.5 sq mi)
    prov = u.table.set_index("unit_id").loc["44007"]
    assert 1000 < prov["area_km2"] < 1150
    assert prov["name"] == "Providence County, RI"
    # unit points lie in their polygons, geometry is WGS84
    pts = shapely.points(u.table[["lon", "lat"]].to_numpy())
    assert shapely.intersects(u.geometry.values, pts).all()
    assert u.geometry.crs.to_epsg() == 4326


@pytest.mark.parametrize(
    "state,name,fips",
    [
        ("VA", "Fairfax County", "51059"),
        ("VA", "Fairfax City", "51600"),
        ("VA", "Richmond city", "51760"),
        ("VA", "Richmond County", "51159"),
        ("VA", "Franklin City", "51620"),
        ("VA", "Franklin County", "51067"),
        ("VA", "James City County", "51095"),
        ("MD", "Baltimore City", "24510"),
        ("MD", "Baltimore County", "24005"),
        ("MO", "St. Louis city", "29510"),
        ("MO", "Saint Louis County", "29189"),
        ("MO", "Ste. Genevieve County", "29186"),
        ("LA", "Orleans Parish", "22071"),
        ("LA", "St Tammany Parish", "22103"),
        ("LA", "St. John the Baptist Parish", "22095"),
        ("NM", "Dona Ana County", "35013"),
        ("NM", "Doña Ana County", "35013"),
        ("NV", "Carson City", "32510"),
        ("AK", "Municipality of Anchorage", "02020"),
        ("AK", "Anchorage Borough", "02020"),
        ("AK", "City and Borough of Juneau", "02110"),
        ("AK", "Valdez-Cordova Census Area", "02261"),
        ("AK", "Copper River Census Area", "02261"),
        ("PR", "Bayamon Municipio", "72021"),
        ("PR", "Mayaguez", "72097"),
        ("IN", "La Porte County", "18091"),
        ("TX", "De Witt County", "48123"),
        ("NY", "Suffolk County", "36103"),
        ("DC", "District of Columbia", "11001"),
    ],
)
def test_county_name_matching(state, name, fips):
    m = match_counties([state], [name])
    assert m["county_fips"].iloc[0] == fips, (state, name, m["how"].iloc[0])


def test_county_name_matching_unknown_and_missing():
    m = match_counties(["PA", "TX", "CA"], ["Monongalia County", None, "Narnia County"])
    assert m["county_fips"].isna().all()
    assert m["how"].tolist() == ["unmatched", "missing", "unmatched"]


def test_normalize_county_name():
    assert normalize_county_name("St. Mary's County") == ("st marys", False)
    assert normalize_county_name("Saint Mary's County") == ("st marys", False)
    assert normalize_county_name("Manassas Park City") == ("manassas park", True)


def test_zipcodes_counties_all_matched():
    """Every ZIP county name in the 50 states + DC + PR matches except a handful of data errors
    (names of a neighbouring state's county)."""
    from territorium.geo.reference import STATES, zip_table

    z = zip_table()
    z = z[z["state"].isin(list(STATES)) & z["county"].notna()]
    m = match_counties(z["state"].to_numpy(), z["county"].to_numpy())
    assert (m["how"] == "unmatched").sum() <= 10
    assert (m["how"] == "fuzzy").sum() == 0


def test_states_filter_and_unknown_state():
    u = build_units("county", states="ri, DE", cache=False)
    assert set(u.table["state"]) == {"RI", "DE"}
    assert u.n == 8
    assert u.adjacency.n_components() == 1
    # DE is linked to RI, and Newport County (RI) touches only Massachusetts by land
    rep = virtual_edge_report(u)
    assert len(rep) == 2
    assert "44005" in set(rep["from_id"]) | set(rep["to_id"])
    with pytest.raises(ValueError, match="unknown state 'XX'"):
        build_units("county", states=["XX"], cache=False)


def test_polygon_filter(tmp_path):
    # a box around the Boston area: Suffolk (25025) in, Berkshire (25003) out
    box = shapely.box(-71.3, 42.2, -70.9, 42.5)
    u = build_units("county", states=["MA"], polygon=box, cache=False)
    ids = set(u.ids)
    assert "25025" in ids and "25003" not in ids
    pts = shapely.points(u.table[["lon", "lat"]].to_numpy())
    assert shapely.contains(box, pts).all()
    assert u.adjacency.n_components() == 1
    # the same polygon from a GeoJSON file
    import geopandas as gpd

    p = tmp_path / "box.geojson"
    gpd.GeoDataFrame({"name": ["box"]}, geometry=[box], crs="EPSG:4326").to_file(p, driver="GeoJSON")
    u2 = build_units("county", states=["MA"], polygon=p, cache=False)
    assert list(u2.ids) == list(u.ids)
    with pytest.raises(ValueError, match="no unit"):
        build_units("county", states=["MA"], polygon=shapely.box(0, 0, 1, 1), cache=False)


def test_degrees_plausible():
    u = build_units("county", states=["GA"], cache=False)
    deg = u.adjacency.degree()
    assert 4 <= deg.mean() <= 7
    assert np.all(deg >= 1)
