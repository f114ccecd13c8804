"""Real panels with published estimates (../shared/data/causal/SOURCES.md), reproduced."""
from __future__ import annotations


import pandas as pd
import pytest
from _shared_data import causal_dir

from territorium.analytics.causal import callaway_santanna, did, event_study, twfe

DATA = causal_dir()


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    return pd.read_csv(DATA / "mpdta.csv")


@pytest.fixture(scope="module")
def organ() -> pd.DataFrame:
    return pd.read_csv(DATA / "organ_donation.csv")


def _cs(df, **kw):
    return callaway_santanna(df, unit="countyreal", time="year", outcome="lemp", first_treat="first.treat", **kw)


def test_mpdta_aggregations_match_published(mpdta):
    """Callaway & Sant'Anna (2021) / R did: simple −0.0400, dynamic −0.0772, group −0.031."""
    r = _cs(mpdta)
    assert round(r.aggregate("simple")[0], 4) == -0.0400
    assert round(r.aggregate("dynamic")[0], 4) == -0.0772
    assert round(r.aggregate("group")[0], 3) == -0.031
    assert r.estimate == pytest.approx(r.aggregate("simple")[0])
    # analytic SEs of R did / moderndid (bstrap = FALSE): 0.0120, 0.0200, 0.0124; R's docs show
    # the multiplier-bootstrap SE of the simple ATT, ≈ 0.0118
    se = {k: r.aggregate(k)[1] for k in ("simple", "dynamic", "group")}
    assert se["simple"] == pytest.approx(0.012034, abs=2e-6)
    assert se["dynamic"] == pytest.approx(0.019965, abs=2e-6)
    assert se["group"] == pytest.approx(0.012446, abs=2e-6)
    assert abs(se["simple"] - 0.0118) < 0.0006


def test_mpdta_group_time_atts_and_pretest(mpdta):
    """The ATT(g,t) table and the pre-test p-value printed by R did's summary(att_gt(...))."""
    r = _cs(mpdta)
    published = {  # (group, time): ATT(g,t)
        (2004, 2004): -0.0105, (2004, 2005): -0.0704, (2004, 2006): -0.1373, (2004, 2007): -0.1008,
        (2006, 2004): 0.0065, (2006, 2005): -0.0028, (2006, 2006): -0.0046, (2006, 2007): -0.0412,
        (2007, 2004): 0.0305, (2007, 2005): -0.0027, (2007, 2006): -0.0311, (2007, 2007): -0.0261,
    }
    gt = r.details["att_gt"].set_index(["group", "time"])["estimate"]
    assert len(gt) == 12
    for key, val in published.items():
        assert round(gt.loc[key], 4) == pytest.approx(val, abs=1e-12), key
    assert r.diagnostics["pretrend_p"] == pytest.approx(0.16812, abs=5e-6)
    # dynamic by event time: e = 0 .. 3 (published event-study plot values)
    dyn = r.details["dynamic"].set_index("event_time")["estimate"]
    assert dyn.loc[0] == pytest.approx(-0.0199, abs=5e-5)
    assert dyn.loc[3] == pytest.approx(-0.1008, abs=5e-5)


def test_mpdta_not_yet_treated_and_universal_base(mpdta):
    """Not-yet-treated controls (moderndid/R: simple −0.0398, dynamic −0.0774, group −0.0305);
    the base-period convention changes pre-period cells only, never the post aggregates."""
    ny = _cs(mpdta, control="notyet")
    assert ny.aggregate("simple")[0] == pytest.approx(-0.039764, abs=1e-6)
    assert ny.aggregate("dynamic")[0] == pytest.approx(-0.077399, abs=1e-6)
    assert ny.aggregate("group")[0] == pytest.approx(-0.030462, abs=1e-6)
    uni = _cs(mpdta, base_period="universal")
    var = _cs(mpdta)
    for k in ("simple", "dynamic", "group"):
        assert uni.aggregate(k) == pytest.approx(var.aggregate(k), abs=1e-12)
    d = uni.details["dynamic"].set_index("event_time")
    assert d.loc[-1, "estimate"] == 0.0 and -4 in d.index          # reference period, long differences
    assert d.loc[-4, "estimate"] == pytest.approx(0.00331, abs=1e-5)


def test_mpdta_bootstrap_se_close_to_analytic(mpdta):
    a = _cs(mpdta)
    b = _cs(mpdta, bootstrap=999, seed=3)
    assert b.estimate == a.estimate
    assert b.se == pytest.approx(a.se, rel=0.1)
    assert b.to_dict()["diagnostics"]["se_method"].startswith("multiplier bootstrap")


def test_organ_donation_twfe_matches_published(organ):
    """Kessler & Roth (2014) via The Effect: TWFE −0.0225 (SE 0.0067, clustered by state)."""
    r = twfe(organ, unit="State", time="Quarter", outcome="Rate", treated_units=["California"], start="Q32011")
    assert round(r.estimate, 4) == -0.0225
    assert round(r.se, 4) == 0.0067
    assert r.diagnostics["n_clusters"] == 27
    # same numbers as an explicit dummy-variable regression (statsmodels oracle)
    import statsmodels.formula.api as smf

    od = organ.assign(D=((organ.State == "California") & organ.Quarter.isin(["Q32011", "Q42011", "Q12012"])).astype(int))
    ref = smf.ols("Rate ~ D + C(State) + C(Quarter)", od).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(od.State)[0]})
    assert r.estimate == pytest.approx(ref.params["D"], abs=1e-12)
    assert r.se == pytest.approx(ref.bse["D"], rel=1e-9)
    # the 0/1 treatment-column spelling gives the same fit
    r2 = twfe(od, unit="State", time="Quarter", outcome="Rate", treatment="D")
    assert r2.estimate == pytest.approx(r.estimate, abs=1e-12)


def test_organ_donation_did_and_event_study(organ):
    r = did(organ, unit="State", time="Quarter", outcome="Rate", treated_units=["California"], start="Q32011")
    # balanced panel, common start: the 2×2 DiD of pre/post means equals the TWFE coefficient
    assert r.estimate == pytest.approx(-0.022459, abs=1e-6)
    cells = r.details["cells"].set_index("term")["estimate"]
    assert (cells["treated post"] - cells["treated pre"]) - (cells["control post"] - cells["control pre"]) == \
        pytest.approx(r.estimate, abs=1e-12)
    es = event_study(organ, unit="State", time="Quarter", outcome="Rate", treated_units=["California"], start="Q32011")
    coef = es.details["coefficients"].set_index("event_time")["estimate"]
    assert coef.loc[-1] == 0.0
    assert list(coef.index) == [-3, -2, -1, 0, 1, 2]
    assert all(coef.loc[[0, 1, 2]] < -0.015)
    assert any("treated cluster" in n for n in es.diagnostics["notes"])   # one treated state: warned
