"""Potential and forecast fixtures on the shared small demo company (``demo_small``)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def pf_demo(demo_small):
    """(export folder, SQLite URL) of the shared small demo company."""
    return demo_small


@pytest.fixture(scope="session")
def pf_frame(pf_demo):
    """The account feature frame of the small demo."""
    from territorium.plan.analytics import account_frame
    from territorium.plan.workspace import Workspace

    return account_frame(Workspace(pf_demo[1]))


@pytest.fixture(scope="session")
def pf_potential(pf_demo, pf_frame):
    """run_potential on the small demo (CRM target, cross-fitted)."""
    from territorium.plan.analytics import run_potential
    from territorium.plan.workspace import Workspace

    return run_potential(Workspace(pf_demo[1]), frame=pf_frame, folds=3, n_threads=1, seed=0,
                         params={"max_iter": 60})


@pytest.fixture(scope="session")
def pf_forecast(pf_demo, pf_frame):
    """Reconciled forecasts of the small demo (two fast candidate models)."""
    from territorium.plan.analytics import monthly_sales, run_forecast
    from territorium.plan.workspace import Workspace

    ws = Workspace(pf_demo[1])
    series = monthly_sales(ws, load=pf_frame.load)
    return run_forecast(ws, series=series, models=["snaive", "sarima_drift"], horizon=6, origins=3)
