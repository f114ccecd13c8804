"""Analytics over the API on a copy of the shared small demo company: potential (the
territory table adds up the account table), forecasts (reconciled: territories sum to the
total), and impact (a 2×2 DiD equal to the difference of mean changes computed here from the
same panel; a staggered DiD), plus the refusals (bad input 422, unknown units 404, roles)."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from _apiws import auth


@pytest.fixture(scope="module")
def demo_api(demo_small, tmp_path_factory):
    from fastapi.testclient import TestClient

    from territorium import store
    from territorium.api import create_app
    from territorium.plan import users as U

    db = tmp_path_factory.mktemp("api-demo") / "ws.db"
    shutil.copy(demo_small[1].removeprefix("sqlite:///"), db)
    eng = store.engine(f"sqlite:///{db}")
    store.upgrade(eng)
    tokens = {}
    for name, role in (("pl", "planner"), ("rep", "rep")):
        U.create_user(eng, name, role=role, person_id="r-none" if role == "rep" else None)
        tokens[name] = U.create_token(eng, name, "tests")
    with TestClient(create_app(engine=eng), base_url="https://testserver") as client:
        yield client, tokens
    eng.dispose()


@pytest.mark.slow
def test_potential_tables_add_up(demo_api):
    c, tok = demo_api
    r = c.post("/api/analytics/potential", json={"folds": 2, "max_iter": 10, "limit": 5000},
               headers=auth(tok, "pl"))
    assert r.status_code == 200, r.text
    b = r.json()
    acc = pd.DataFrame(b["accounts"]["items"])
    assert len(acc) == b["accounts"]["total"] > 100
    assert (acc["lower"] <= acc["upper"] + 1e-9).all() and (acc["white_space"] >= -1e-9).all()
    by_t = acc.dropna(subset=["territory"]).groupby("territory")["white_space"].sum()
    tt = pd.DataFrame(b["territories"]).set_index("territory")["white_space"]
    assert tt.reindex(by_t.index).to_numpy() == pytest.approx(by_t.to_numpy(), rel=1e-6)
    assert 0.5 <= b["check"]["coverage_cv"] <= 1.0
    assert acc["white_space"].is_monotonic_decreasing
    assert (b["accounts"]["limit"], b["accounts"]["offset"]) == (5000, 0)


def test_forecast_is_reconciled(demo_api):
    c, tok = demo_api
    r = c.post("/api/analytics/forecast", json={"level": "all", "horizon": 3, "models": ["snaive"]},
               headers=auth(tok, "pl"))
    assert r.status_code == 200, r.text
    fc = pd.DataFrame(r.json()["forecast"])
    total = fc[fc["level"] == "total"].set_index("period")["forecast"]
    terr = fc[fc["level"] == "territory"].groupby("period")["forecast"].sum()
    assert len(total) == 3 and terr.reindex(total.index).to_numpy() == pytest.approx(total.to_numpy(), rel=1e-6)
    assert (fc["lower"] <= fc["forecast"] + 1e-9).all() and (fc["forecast"] <= fc["upper"] + 1e-9).all()


def test_impact_did_and_staggered(demo_api):
    from territorium.plan.panels import revenue_panel
    from territorium.plan.workspace import Workspace

    c, tok = demo_api
    h = auth(tok, "pl")
    body = {"treated": ["NY", "CT"], "treated_from": "2025-02-01", "channel": "dtc", "start": "2024-09-01",
            "end": "2025-07-01"}
    r = c.post("/api/analytics/impact", json=body, headers=h)
    assert r.status_code == 200, r.text
    b = r.json()
    p = revenue_panel(Workspace(engine=c.app.state.engine), level="state", channel="dtc", start="2024-09-01",
                      end="2025-07-01")
    post = p["period"] >= pd.Timestamp("2025-02-01")
    treated = p["unit"].isin(["NY", "CT"])
    m = p.groupby([treated, post])["revenue"].mean()
    want = (m[True, True] - m[True, False]) - (m[False, True] - m[False, False])
    assert b["estimate"] == pytest.approx(want, rel=1e-6)
    assert b["ci"][0] <= b["estimate"] <= b["ci"][1] and b["units"] == p["unit"].nunique() and b["periods"] == 10

    r = c.post("/api/analytics/impact", headers=h, json={
        "method": "staggered", "channel": "dtc", "end": "2026-01-01",
        "first_treat": {"NY": "2025-02-01", "CT": "2025-02-01", "MA": "2025-07-01", "RI": "2025-07-01"}})
    assert r.status_code == 200, r.text
    b = r.json()
    assert np.isfinite(b["estimate"]) and b["ci"][0] <= b["estimate"] <= b["ci"][1] and b["method"] == "staggered"

    r = c.post("/api/analytics/impact", json={**body, "treated": ["NY", "ZZ"]}, headers=h)
    assert r.status_code == 404 and "ZZ" in r.json()["detail"]
    r = c.post("/api/analytics/impact", json={"treated": ["NY"]}, headers=h)
    assert r.status_code == 422 and "treated_from" in r.json()["detail"]
    r = c.post("/api/analytics/impact", json={**body, "alpha": 2}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.alpha"
    assert c.post("/api/analytics/impact", json=body, headers=auth(tok, "rep")).status_code == 403
