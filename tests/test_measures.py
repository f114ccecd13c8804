"""Measures: workload profile arithmetic and aggregation to units against a direct recount."""
import numpy as np
import pandas as pd
import pytest

from territorium.measures import WorkloadProfile, account_workload, load_profile, unit_measures


def test_default_profile_file_matches_dataclass_defaults():
    assert load_profile() == WorkloadProfile()


def test_workload_formula_by_tier_segment_and_prospect():
    p = WorkloadProfile(visits_per_year={"A": 10, "default": 1}, minutes_per_visit={"SMB": 30, "default": 90},
                        travel_minutes=30, prospect_visits_per_year=3)
    a = pd.DataFrame({"tier": ["A", None, "A"], "segment": ["SMB", "SMB", None],
                      "account_type": ["Customer", "Customer", "Prospect"]})
    np.testing.assert_allclose(account_workload(a, p), [10 * 60 / 60, 1 * 60 / 60, 3 * 120 / 60])


def test_profile_rejects_unknown_keys_and_negatives(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("visits_per_yr: {A: 3}\n")
    with pytest.raises(ValueError, match="unknown workload profile keys: visits_per_yr"):
        load_profile(f)
    f.write_text("travel_minutes: -5\n")
    with pytest.raises(ValueError, match="negative"):
        load_profile(f)
    f.write_text("minutes_per_visit: {SMB: 20}\n")
    assert load_profile(f).minutes_per_visit["SMB"] == 20
    assert load_profile(f).minutes_per_visit["Enterprise"] == 120  # other keys keep defaults


def test_unit_measures_equal_a_direct_recount():
    rng = np.random.default_rng(3)
    n_units, n_acc, n_ord = 7, 300, 2000
    acc = pd.DataFrame({"potential": rng.gamma(2, 1000, n_acc), "tier": rng.choice(["A", "B", "C"], n_acc),
                        "segment": rng.choice(["SMB", "Enterprise"], n_acc), "size": rng.integers(1, 50, n_acc)})
    au = rng.integers(-1, n_units, n_acc)  # -1: unplaced
    orders = pd.DataFrame({"total": rng.gamma(2, 50, n_ord), "customer": rng.integers(0, 400, n_ord),
                           "orders": rng.integers(1, 4, n_ord)})
    ou = rng.integers(-1, n_units, n_ord)
    m = unit_measures(n_units, accounts=acc, account_unit=au, orders=orders, order_unit=ou, extra=("size",))
    wl = account_workload(acc)
    for u in range(n_units):
        a, o = au == u, ou == u
        assert m.loc[u, "account_count"] == a.sum()
        assert m.loc[u, "potential"] == pytest.approx(acc["potential"][a].sum())
        assert m.loc[u, "workload"] == pytest.approx(wl[a].sum())
        assert m.loc[u, "size"] == acc["size"][a].sum()
        assert m.loc[u, "revenue"] == pytest.approx(orders["total"][o].sum())
        assert m.loc[u, "order_count"] == orders["orders"][o].sum()
        assert m.loc[u, "customers"] == orders["customer"][o].nunique()
    # unplaced rows are not counted anywhere
    assert m["account_count"].sum() == (au >= 0).sum()


def test_unit_measures_checks_lengths_and_extra_columns():
    acc = pd.DataFrame({"potential": [1.0, 2.0]})
    with pytest.raises(ValueError, match="one entry per account"):
        unit_measures(2, accounts=acc, account_unit=np.array([0]))
    with pytest.raises(KeyError, match="nope"):
        unit_measures(2, accounts=acc, account_unit=np.array([0, 1]), extra=("nope",))
