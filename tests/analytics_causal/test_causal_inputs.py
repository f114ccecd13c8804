"""Bad input fails with a ValueError that names the column or the units; results keep their contract."""
from __future__ import annotations

import dataclasses
import io
import json
import re

import numpy as np
import pandas as pd
import pytest
from _causal_sim import bsts_panel, confounded_visits, factor_panel
from _shared_data import causal_dir

from territorium.analytics import causal
from territorium.analytics.causal import (callaway_santanna, design_geo_experiment, did, dml_uplift, event_study,
                                          structural_counterfactual, synthetic_control, synthetic_did, twfe)

MPDTA = causal_dir() / "mpdta.csv"
KW = dict(unit="countyreal", time="year", outcome="lemp")


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    return pd.read_csv(MPDTA)


def test_missing_column_is_named(mpdta):
    with pytest.raises(ValueError, match=r"outcome column 'employment' is not in the panel"):
        callaway_santanna(mpdta, unit="countyreal", time="year", outcome="employment", first_treat="first.treat")
    with pytest.raises(ValueError, match=r"first-treatment column 'first_treat' is not in the panel"):
        callaway_santanna(mpdta, **KW, first_treat="first_treat")
    with pytest.raises(ValueError, match=r"unit column 'county'"):
        twfe(mpdta, unit="county", time="year", outcome="lemp", first_treat="first.treat")


def test_non_numeric_outcome_names_column_row_and_value(mpdta):
    bad = mpdta.copy()
    bad["lemp"] = bad["lemp"].astype(object)
    bad.loc[7, "lemp"] = "n/a"
    with pytest.raises(ValueError, match=r"outcome column 'lemp' is not numeric: value 'n/a' in row 8"):
        callaway_santanna(bad, **KW, first_treat="first.treat")


def test_no_never_treated_with_never_control(mpdta):
    treated_only = mpdta[mpdta["first.treat"] > 0]
    with pytest.raises(ValueError, match=r"control='never' but no unit is never treated.*first\.treat.*notyet"):
        callaway_santanna(treated_only, **KW, first_treat="first.treat", control="never")


def test_treatment_before_panel_start_names_units(mpdta):
    early = mpdta.copy()
    early.loc[early.countyreal.isin([8001, 8019]), "first.treat"] = 2001
    with pytest.raises(ValueError, match=r"units \[8001, 8019\] are treated before the panel starts"):
        callaway_santanna(early, **KW, first_treat="first.treat")
    at_start = mpdta.copy()
    at_start.loc[at_start.countyreal == 8001, "first.treat"] = 2003
    with pytest.raises(ValueError, match=r"units \[8001\] are treated from the first period"):
        callaway_santanna(at_start, **KW, first_treat="first.treat")
    with pytest.raises(ValueError, match=r"start 2003.0 is not after the first period"):
        did(mpdta, **KW, treated_units=[8001], start=2003)
    with pytest.raises(ValueError, match=r"start 2009.0 is after the last period"):
        did(mpdta, **KW, treated_units=[8001], start=2009)


def test_other_bad_input(mpdta):
    with pytest.raises(ValueError, match=r"unit\(s\) \['Atlantis'\] not found in unit column 'countyreal'"):
        synthetic_control(mpdta, **KW, treated_units=["Atlantis"], start=2006)
    dup = pd.concat([mpdta, mpdta.iloc[[5]]])
    with pytest.raises(ValueError, match=r"duplicate row for unit 8019 at year 2003 \(row 2501\)"):
        twfe(dup, **KW, first_treat="first.treat")
    with pytest.raises(ValueError, match=r"3 different dates.*callaway_santanna"):
        did(mpdta, **KW, first_treat="first.treat")
    with pytest.raises(ValueError, match=r"say who is treated"):
        twfe(mpdta, **KW)
    with pytest.raises(ValueError, match=r"control must be 'never' or 'notyet'"):
        callaway_santanna(mpdta, **KW, first_treat="first.treat", control="sometimes")
    bad_time = mpdta.assign(year=mpdta.year.astype(str).where(mpdta.index != 3, "soon"))
    with pytest.raises(ValueError, match=r"time column 'year': cannot read 'soon' \(row 4\)"):
        twfe(bad_time, **KW, first_treat="first.treat")
    with pytest.raises(ValueError, match=r"treatment column 'lpop' must be 0/1"):
        twfe(mpdta, **KW, treatment="lpop")
    with pytest.raises(ValueError, match=r"n_treated=300 is not possible with 500 candidate regions"):
        design_geo_experiment(mpdta, **KW, n_treated=300)
    df = confounded_visits(n=200)
    with pytest.raises(ValueError, match=r"covariate column 'x9'"):
        dml_uplift(df, outcome="revenue", treatment="visits", covariates=["x0", "x9"])


def test_unbalanced_panel_drops_units_with_a_note(mpdta):
    gap = mpdta.drop(index=mpdta.index[(mpdta.countyreal == 8001) & (mpdta.year == 2005)])
    r = callaway_santanna(gap, **KW, first_treat="first.treat")
    assert r.diagnostics["n_units"] == 499
    assert any("8001" in n for n in r.diagnostics["notes"])


@pytest.fixture(scope="module")
def results(mpdta):
    sc = factor_panel(n_units=20, seed=2)
    kw = dict(unit="unit", time="week", outcome="sales", treated_units=["r000"], start=21)
    hist = factor_panel(n_units=30, seed=5, treated=())
    return {
        "did": did(sc, **kw),
        "twfe": twfe(sc, **kw),
        "event_study": event_study(sc, **kw),
        "callaway_santanna": callaway_santanna(mpdta, **KW, first_treat="first.treat", log_outcome=True),
        "synthetic_control": synthetic_control(sc, **kw),
        "synthetic_did": synthetic_did(sc, **kw, reps=20),
        "structural_counterfactual": structural_counterfactual(bsts_panel(seed=1), unit="unit", time="month",
                                                               outcome="sales", treated_units=["treated"],
                                                               start=61, n_sims=200),
        "dml_uplift": dml_uplift(confounded_visits(n=600), outcome="revenue", treatment="visits",
                                 covariates=["x0", "x1", "x2"], learner="lasso"),
        "geo_design": design_geo_experiment(hist, unit="unit", time="week", outcome="sales", n_treated=5),
    }


def test_result_contract(results):
    from matplotlib.figure import Figure

    pattern = re.compile(r"^.+: [+\u2212][\d,.]+ (%|\S+).*, 95 % CI [+\u2212][\d,.]+ \u2026 [+\u2212][\d,.]+")
    for name, r in results.items():
        d = r.to_dict()
        text = json.dumps(d, allow_nan=False)                      # JSON-safe, no NaN
        assert json.loads(text)["summary"] == r.summary()
        fig = r.plot()
        assert isinstance(fig, Figure) and fig.axes
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        assert buf.getvalue()[:4] == b"\x89PNG"
        assert isinstance(r.table(), pd.DataFrame) and len(r.table()) >= 1
        with pytest.raises(dataclasses.FrozenInstanceError):
            r.method = "x"
        if name == "geo_design":
            assert "detects" in r.summary() and r.mde > 0
            continue
        assert r.method == name
        lo, hi = r.ci
        assert lo <= r.estimate <= hi and r.se > 0, name
        assert pattern.match(r.summary()), r.summary()
        assert d["estimate"] == r.estimate and d["ci"] == [lo, hi]
    cs = results["callaway_santanna"]
    # log outcome: relative effect is exp(ATT) − 1
    assert cs.relative == pytest.approx(100 * np.expm1(cs.estimate))
    assert cs.summary().startswith("Callaway–Sant'Anna ATT (simple): \u22123.9 % lemp")
    assert "pre-trends OK (p = 0.17)" in cs.summary()


def test_public_api_names():
    for name in ("did", "twfe", "event_study", "callaway_santanna", "synthetic_control", "synthetic_did",
                 "structural_counterfactual", "dml_uplift", "design_geo_experiment", "analyse_geo_experiment"):
        assert callable(getattr(causal, name))
    assert issubclass(causal.CallawaySantAnnaResult, causal.ImpactResult)
