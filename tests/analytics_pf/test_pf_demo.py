"""Potential and forecasts on the small demo company (imported through the real path)."""
from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from territorium.analytics.potential import spearman, white_space
from territorium.commands import analytics as cmd
from territorium.plan.analytics import BOOKED_STATUSES, unit_potential


def _app() -> typer.Typer:
    app = typer.Typer()
    cmd.register(app)
    return app


def test_monthly_sales_match_the_orders(pf_demo, pf_forecast):
    _, url = pf_demo
    hf, series = pf_forecast
    # every complete month, and nothing else: the export ends on 2026-10-31 (local time)
    assert str(series.bottom.index[0]) == "2024-11" and str(series.bottom.index[-1]) == "2026-10"
    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    q = ",".join("?" * len(BOOKED_STATUSES))
    total = con.execute(
        f"SELECT SUM(total) FROM orders WHERE (financial_status IS NULL OR financial_status IN ({q})) "
        "AND created_at >= '2024-11-01' AND created_at < '2026-11-01'", BOOKED_STATUSES).fetchone()[0]
    assert series.bottom.to_numpy().sum() == pytest.approx(total, rel=1e-9)
    assert hf.history[0].sum() == pytest.approx(total, rel=1e-9)
    assert set(series.levels) == {"state", "territory"} and series.keys["territory"].nunique() == 40


def test_demo_forecasts_are_coherent_and_honest(pf_forecast):
    hf, _ = pf_forecast
    H = hf.hierarchy
    rec = hf.reconciled()
    scale = np.abs(rec).max()
    for level in ("state", "territory", "bottom"):
        assert np.abs(rec[H.rows(level)].sum(0) - rec[0]).max() <= 1e-9 * scale
    s = hf.series
    for _, r in s.iterrows():  # offered only if the challenger beat seasonal naive
        if r["offered"]:
            assert r["ratio"] < 1 and r["model"] == r["challenger"]
        else:
            assert r["model"] == "snaive"
    assert s["offered"].any()            # on growing demo sales the drift model does win somewhere


def test_demo_potential_recovers_the_planted_wallets(pf_demo, pf_potential, pf_frame):
    rep = pf_potential
    c = rep.check
    assert c.target == "crm" and c.n_labelled == len(pf_frame.accounts)
    assert abs(c.coverage_cv - 0.8) <= 0.07, c
    assert abs(c.quantile_hit_cv - 0.9) <= 0.07, c
    # truth: the generator's Potential__c (every estimate here is out-of-fold) minus revenue
    truth_ws = white_space(pf_frame.crm_potential, pf_frame.revenue)
    rho = spearman(rep.accounts["white_space"].to_numpy(), truth_ws)
    assert rho >= 0.85, rho
    # the naive peer (revenue × constant) is far behind: most accounts buy nothing yet
    assert spearman(white_space(5 * pf_frame.revenue, pf_frame.revenue), truth_ws) < rho - 0.3
    # area tables add up to the accounts placed in units
    placed = pf_frame.accounts["unit"].to_numpy() >= 0
    assert unit_potential(rep).sum() == pytest.approx(rep.accounts["potential"][placed].sum(), rel=1e-9)
    assert rep.territories["white_space"].sum() == pytest.approx(rep.unit_white_space.sum(), rel=1e-9)
    assert rep.territories["rank"].tolist() == list(range(1, 41))
    # the first rep site reaches exactly the white space of the units near it that no rep covers
    from scipy.spatial import cKDTree

    from territorium.plan.analytics import _rep_points_km
    from territorium.plan.workspace import Workspace

    reps_xy, _ = _rep_points_km(Workspace(pf_demo[1]), rep.load)
    assert len(reps_xy) == 40
    xy = rep.load.units.table[["x", "y"]].to_numpy() / 1000.0
    uncovered = cKDTree(reps_xy).query(xy)[0] > rep.radius_km
    first = rep.load.units.index_of([rep.sites["unit_id"].iloc[0]])[0]
    near = np.hypot(*(xy - xy[first]).T) <= rep.radius_km
    assert rep.sites["reach_white_space"].iloc[0] == pytest.approx(rep.unit_white_space[near & uncovered].sum())
    assert rep.sites["reach_white_space"].is_monotonic_decreasing


def test_estimated_potential_is_a_balance_measure(pf_potential):
    from territorium.design import design

    est = unit_potential(pf_potential)
    units = pf_potential.load.units.with_measures({"est_potential": est})
    r = design(units, 4, balance={"est_potential": 0.10}, seed=0, time_limit=4, n_jobs=1)
    # the engine balanced the estimate itself: its totals are the sums of our per-unit values
    tot = np.bincount(r.assignment, weights=est, minlength=4)
    assert np.allclose(r.report.territories["est_potential"].to_numpy(), tot, rtol=1e-9)
    dev = np.abs(tot / tot.mean() - 1).max()
    assert dev <= 0.20, dev        # tolerance 10%; a short run on a busy machine may stop a bit above


def test_forecast_cli(pf_demo, tmp_path):
    _, url = pf_demo
    out = tmp_path / "f.csv"
    res = CliRunner().invoke(_app(), ["forecast", "--database", url, "--level", "all", "--models",
                                      "snaive,sarima_drift", "--backtest-origins", "3", "--out", str(out),
                                      "--plot", str(tmp_path / "f.png")])
    assert res.exit_code == 0, res.output
    assert "MASE" in res.output and "seasonal naive" in res.output
    fc = pd.read_csv(out)
    piv = fc.pivot_table(index="period", columns="level", values="forecast", aggfunc="sum")
    for level in ("territory", "state", "bottom"):
        assert np.allclose(piv[level], piv["total"], rtol=1e-9)
    assert (tmp_path / "f_backtest.csv").exists() and (tmp_path / "f.png").stat().st_size > 10_000


def test_forecast_cli_too_little_history(pf_demo, tmp_path):
    _, url = pf_demo
    res = CliRunner().invoke(_app(), ["forecast", "--database", url, "--horizon", "12", "--backtest-origins", "4",
                                      "--models", "snaive", "--out", str(tmp_path / "f.csv")])
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert "too little history" in text and "(24 months)" in text and "at least 28 months" in text
    assert not (tmp_path / "f.csv").exists()


def test_potential_cli(pf_demo, tmp_path):
    _, url = pf_demo
    out = tmp_path / "p.csv"
    res = CliRunner().invoke(_app(), ["potential", "--database", url, "--folds", "2", "--top", "3",
                                      "--threads", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "Where should the next rep go" in res.output and "coverage" in res.output
    acc = pd.read_csv(out)
    assert len(acc) == 1500 and (acc["white_space"] >= 0).all()
    assert (acc["lower"] <= acc["median"]).all() and (acc["median"] <= acc["upper"]).all()
    assert (tmp_path / "p_territories.csv").exists() and (tmp_path / "p_sites.csv").exists()
    bad = CliRunner().invoke(_app(), ["potential", "--database", url, "--interval", "0.9,0.1"])
    assert bad.exit_code == 2 and "LOW < HIGH" in bad.output


def test_region_mapping(pf_demo, pf_frame, tmp_path):
    from territorium.plan.analytics import monthly_sales, read_regions
    from territorium.plan.workspace import Workspace, WorkspaceError

    ws = Workspace(pf_demo[1])
    terr = [f"T{i:02d}" for i in range(1, 41)]
    f = tmp_path / "regions.csv"
    f.write_text("territory,region\n" + "".join(f"{t},{'East' if i < 20 else 'West'}\n" for i, t in enumerate(terr)))
    s = monthly_sales(ws, load=pf_frame.load, regions=read_regions(f))
    assert s.levels == ("region", "state", "territory")
    assert (s.keys.groupby("territory")["region"].nunique() == 1).all()
    f.write_text("territory,region\nT01,East\nT02,East\nT01,West\n")
    with pytest.raises(WorkspaceError, match=r"row 4, column 'territory'"):
        read_regions(f)
    f.write_text("territory,region\nT01,East\n")
    with pytest.raises(WorkspaceError, match="lacks territories: T02"):
        monthly_sales(ws, load=pf_frame.load, regions=read_regions(f))
