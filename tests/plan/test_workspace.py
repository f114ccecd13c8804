"""The workspace turns imported rows into unit measures; totals must reconcile with the raw files."""
import numpy as np
import pandas as pd
import pytest

from territorium.measures import account_workload
from territorium.plan.workspace import Workspace, fill_unassigned


def test_measures_reconcile_with_the_exported_files(demo_small, demo_load):
    out, _ = demo_small
    units = demo_load.units
    acc = pd.read_csv(out / "accounts.csv", dtype=str)
    assert demo_load.unplaced_accounts == 0
    assert units.table["account_count"].sum() == len(acc)
    assert units.table["potential"].sum() == pytest.approx(pd.to_numeric(acc["Potential__c"]).sum())
    canon = acc.rename(columns={"Tier__c": "tier", "Segment__c": "segment", "Type": "account_type"})
    assert units.table["workload"].sum() == pytest.approx(account_workload(canon).sum())
    # revenue: paid / partially refunded orders in the trailing year, straight from the Shopify file
    o = pd.read_csv(out / "shopify_orders.csv", dtype=str, usecols=["Name", "Created at", "Total", "Financial Status"])
    o = o.dropna(subset=["Created at"])
    ts = pd.to_datetime(o["Created at"], format="%Y-%m-%d %H:%M:%S %z", utc=True).dt.tz_localize(None)
    start, end = demo_load.window
    keep = (ts >= start) & (ts < end) & o["Financial Status"].isin(["paid", "partially_refunded"])
    assert units.table["revenue"].sum() == pytest.approx(pd.to_numeric(o.loc[keep, "Total"]).sum(), rel=1e-9)
    assert units.table["order_count"].sum() == keep.sum()


def test_accounts_land_in_the_unit_of_their_zip(demo_load):
    from territorium.geo.build import zip_to_unit

    acc = demo_load.accounts
    fold = zip_to_unit(demo_load.units)
    expect = demo_load.units.index_of(fold.reindex(acc["zip"]).to_numpy())
    np.testing.assert_array_equal(acc["unit"].to_numpy(), expect)


def test_current_alignment_covers_units_and_fill_keeps_neighbours(demo_small, demo_load):
    _, url = demo_small
    cur, labels = Workspace(url).current_alignment(demo_load.units)
    assert len(labels) == 40
    filled = fill_unassigned(demo_load.units, cur)
    assert (filled >= 0).all()
    # every filled unit took the territory of some neighbour
    adj = demo_load.units.adjacency
    for u in np.flatnonzero(cur < 0):
        assert filled[u] in set(filled[adj.neighbors(u)])


def test_empty_workspace_says_what_to_do(tmp_path):
    from territorium.plan.workspace import WorkspaceError

    ws = Workspace(f"sqlite:///{tmp_path / 'empty.db'}", create=True)
    assert ws.counts()["accounts"] == 0
    with pytest.raises(WorkspaceError, match="import alignment"):
        ws.current_alignment(__import__("territorium.geo.grid", fromlist=["x"]).grid_units(2, 2))
