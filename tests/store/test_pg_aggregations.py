"""The SQL aggregations behind panels, forecasts and potential give the same numbers on
SQLite and on a real PostgreSQL server (they use dialect-specific date truncation)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.postgres


@pytest.fixture
def both(demo_small, pg_engine):
    """The small demo imported into SQLite (shared) and into a fresh PostgreSQL schema."""
    from territorium.data import import_directory
    from territorium.plan.workspace import Workspace

    out, url = demo_small
    res = import_directory(out, engine=pg_engine, replace=True)
    assert res.ok, res.problems.head()
    return Workspace(url), Workspace(engine=pg_engine)


def _sorted(df: pd.DataFrame, keys) -> pd.DataFrame:
    return df.sort_values(list(keys)).reset_index(drop=True)


def test_revenue_and_activity_panels_agree(both):
    from territorium.plan.panels import activity_panel, revenue_panel

    lite, pg = both
    for level, freq in (("state", "month"), ("territory", "week"), ("account", "month")):
        a = _sorted(revenue_panel(lite, level=level, freq=freq), ["unit", "period"])
        b = _sorted(revenue_panel(pg, level=level, freq=freq), ["unit", "period"])
        assert len(a) > 0 and list(a["unit"]) == list(b["unit"]), (level, freq)
        assert (pd.to_datetime(a["period"]) == pd.to_datetime(b["period"])).all()
        num = [c for c in a.columns if c not in ("unit", "period") and pd.api.types.is_numeric_dtype(a[c])]
        np.testing.assert_allclose(a[num].to_numpy(float), b[num].to_numpy(float), rtol=1e-9, atol=1e-6)
    a = _sorted(activity_panel(lite), ["unit", "period"])
    b = _sorted(activity_panel(pg), ["unit", "period"])
    assert a["activities"].sum() > 0
    np.testing.assert_array_equal(a["activities"].to_numpy(), b["activities"].to_numpy())


def test_monthly_sales_agree(both):
    from territorium.plan.analytics import monthly_sales

    lite, pg = both
    a, b = monthly_sales(lite, level="county"), monthly_sales(pg, level="county")
    assert a.bottom.shape == b.bottom.shape and a.bottom.to_numpy().sum() > 0
    np.testing.assert_allclose(a.bottom.sort_index(axis=1).to_numpy(), b.bottom.sort_index(axis=1).to_numpy(),
                               rtol=1e-9)


def test_account_frames_agree(both):
    from territorium.plan.panels import account_frame

    lite, pg = both
    a = _sorted(account_frame(lite), ["account_id"])
    b = _sorted(account_frame(pg), ["account_id"])
    assert list(a["account_id"]) == list(b["account_id"]) and a["revenue"].sum() > 0
    for col in ("revenue", "orders", "visits"):
        np.testing.assert_allclose(a[col].to_numpy(float), b[col].to_numpy(float), rtol=1e-9, atol=1e-6)
