"""Hierarchy: building, errors, subtree queries, roll-ups equal to the sum of the leaves;
overlays and split credit with planted totals."""
import numpy as np
import pandas as pd
import pytest

from territorium.hierarchy import (
    Hierarchy, HierarchyError, SplitRule, account_owners, adjacency_groups, split_credit,
)

MAP = pd.DataFrame({
    "territory": ["T1", "T2", "T3", "T4", "T5", "T6"],
    "district": ["D1", "D1", "D2", "D3", "D3", "D4"],
    "area": ["A1", "A1", "A1", "A2", "A2", "A2"],
    "region": ["East", "East", "East", "East", "East", "East"],
})


@pytest.fixture
def h():
    return Hierarchy.from_levels(MAP, ["territory", "district", "area", "region"],
                                 managers={"A1": "m-a1", "D3": "m-d3", "East": "vp"})


def test_tree_shape_and_queries(h):
    assert h.depth == 4 and h.leaves == ["T1", "T2", "T3", "T4", "T5", "T6"]
    assert h.path("T5") == ["East", "A2", "D3", "T5"]
    assert h.leaves_under("A1") == ["T1", "T2", "T3"] and h.leaves_under("D4") == ["T6"]
    assert h.subtree("A2") == ["A2", "D3", "T4", "T5", "D4", "T6"]
    assert h.managed_by("m-a1") == ["T1", "T2", "T3"]
    assert h.managed_by("vp") == h.leaves
    assert h.managers_of("T4") == ["vp", "m-d3"]
    assert h.level_frame().set_index("territory").loc["T3", ["district", "area", "region"]].tolist() == ["D2", "A1", "East"]


def test_rollup_sums_equal_leaf_sums_at_every_node(h):
    rng = np.random.default_rng(0)
    vals = pd.DataFrame({"revenue": rng.gamma(2, 1000, 6), "quota": rng.gamma(2, 1000, 6),
                         "accounts": rng.integers(1, 50, 6).astype(float)}, index=h.leaves)
    vals["attainment"] = 0.0
    vals["avg_revenue"] = vals["revenue"]
    vals["rev_per_account"] = vals["revenue"] / vals["accounts"]
    vals["max_quota"] = vals["quota"]
    r = h.rollup(vals, {"attainment": ("ratio", "revenue", "quota"), "avg_revenue": "mean",
                        "rev_per_account": ("wmean", "accounts"), "max_quota": "max"})
    for node in h.nodes:
        leaves = h.leaves_under(node)
        sub = vals.loc[leaves]
        assert r.loc[node, "revenue"] == pytest.approx(sub["revenue"].sum(), rel=1e-12)
        assert r.loc[node, "accounts"] == sub["accounts"].sum()
        assert r.loc[node, "attainment"] == pytest.approx(sub["revenue"].sum() / sub["quota"].sum())
        assert r.loc[node, "avg_revenue"] == pytest.approx(sub["revenue"].mean())
        # weighted mean of revenue per account, weights = accounts: total revenue / total accounts
        assert r.loc[node, "rev_per_account"] == pytest.approx(sub["revenue"].sum() / sub["accounts"].sum())
        assert r.loc[node, "max_quota"] == pytest.approx(sub["quota"].max())
        assert r.loc[node, "leaves"] == len(leaves)
    # top node = grand total, exactly the sum of the leaves
    assert r.loc["East", "revenue"] == pytest.approx(vals["revenue"].sum(), rel=1e-12)


def test_rollup_missing_and_extra_leaves(h):
    with pytest.raises(HierarchyError, match="no values for territories T6"):
        h.rollup(pd.DataFrame({"x": [1.0] * 5}, index=h.leaves[:5]))
    r = h.rollup(pd.DataFrame({"x": [1.0] * 5}, index=h.leaves[:5]), missing="zero")
    assert r.loc["A2", "x"] == 2.0
    with pytest.raises(HierarchyError, match="not in the hierarchy: T9"):
        h.rollup(pd.DataFrame({"x": [1.0]}, index=["T9"]))


def test_build_errors_name_the_row():
    bad = MAP.copy()
    bad.loc[2, "district"] = "D1"          # T3 now under D1 too... fine; make D1 sit in two areas instead
    bad.loc[2, "area"] = "A2"
    with pytest.raises(HierarchyError, match=r"row 4: district 'D1' is under 'A2' here but under 'A1' on row 2"):
        Hierarchy.from_levels(bad, ["territory", "district", "area", "region"])
    twice = pd.concat([MAP, MAP.iloc[[0]].assign(district="D4")], ignore_index=True)
    with pytest.raises(HierarchyError, match="row 8: territory 'T1' is under 'D4' here but under 'D1' on row 2"):
        Hierarchy.from_levels(twice, ["territory", "district", "area", "region"])
    with pytest.raises(HierarchyError, match="cycle"):
        Hierarchy.from_parents(pd.DataFrame({"node": ["a", "b", "c"], "parent": ["b", "c", "a"]}))
    with pytest.raises(HierarchyError, match="row 4: node 'a' appears twice"):
        Hierarchy.from_parents(pd.DataFrame({"node": ["a", "b", "a"], "parent": ["r", "r", "b"]}))


def test_from_parents_any_depth():
    df = pd.DataFrame({"node": ["T1", "T2", "T3", "A", "B", "C"], "parent": ["A", "B", "C", "B", "C", ""],
                       "manager": ["", "", "", "ma", "", "mc"]})
    h = Hierarchy.from_parents(df)
    assert h.path("T1") == ["C", "B", "A", "T1"] and h.depth == 4
    assert h.leaves == ["T1", "T2", "T3"]  # depth-first: C > B > A > T1, then T2 (under B), then T3
    assert h.managed_by("ma") == ["T1"] and set(h.managed_by("mc")) == {"T1", "T2", "T3"}
    r = h.rollup(pd.DataFrame({"v": [1.0, 2.0, 4.0]}, index=["T1", "T2", "T3"]))
    assert r["v"].to_dict() == {"C": 7.0, "B": 3.0, "A": 1.0, "T1": 1.0, "T2": 2.0, "T3": 4.0}


def test_adjacency_groups_are_contiguous():
    # 4 x 4 grid of territories; 4 groups must each be connected on the grid
    xy = np.array([(i, j) for j in range(4) for i in range(4)], dtype=float)
    edges = [(j * 4 + i, j * 4 + i + 1) for j in range(4) for i in range(3)] + \
            [(j * 4 + i, (j + 1) * 4 + i) for j in range(3) for i in range(4)]
    g = adjacency_groups(xy, np.array(edges), 4)
    assert sorted(np.unique(g)) == [0, 1, 2, 3] and g[0] == 0
    import networkx as nx

    G = nx.Graph(edges)
    for k in range(4):
        assert nx.is_connected(G.subgraph(np.flatnonzero(g == k).tolist()))
    assert np.array_equal(g, adjacency_groups(xy, np.array(edges), 4))  # deterministic


ACC = pd.DataFrame({"account_id": ["a", "b", "c", "d"], "owner": ["r1", "r1", "r2", None],
                    "revenue": [1000.0, 500.0, 200.0, 100.0]})
OV = pd.DataFrame({"account_id": ["a", "a", "c", "zz"], "overlay": ["fragrance", "medspa", "fragrance", "x"],
                   "owner": ["s1", "s2", "s1", "s9"]})


def test_split_70_30():
    r = split_credit(ACC, OV, SplitRule("split", 0.7, 0.3))
    got = r.by_owner.set_index("owner")["credited"].to_dict()
    # a: r1 700, s1 150, s2 150; b: r1 500 (no overlay -> 100 %); c: r2 140, s1 60; d: unassigned 100
    assert got == pytest.approx({"r1": 1200.0, "s1": 210.0, "s2": 150.0, "r2": 140.0, "(unassigned)": 100.0})
    assert r.ok and r.credited_total == pytest.approx(1800.0) and r.expected_total == 1800.0
    assert r.revenue_total == 1800.0  # the overlay on the unknown account 'zz' is ignored


def test_additive_100_50():
    r = split_credit(ACC, OV, SplitRule("additive", 1.0, 0.5))
    got = r.by_owner.set_index("owner")["credited"].to_dict()
    # base 100 % each; every overlay owner 50 %: a -> s1 500, s2 500; c -> s1 100
    assert got == pytest.approx({"r1": 1500.0, "r2": 200.0, "(unassigned)": 100.0, "s1": 600.0, "s2": 500.0})
    # total credit = revenue x (1 + 0.5 x overlay owners) = 1800 + 0.5 x (2 x 1000 + 200)
    assert r.expected_total == pytest.approx(2900.0) and r.ok


def test_split_rule_checks_and_owners_table():
    with pytest.raises(ValueError, match="add up to 1"):
        SplitRule("split", 0.7, 0.5)
    own = account_owners(ACC.rename(columns={}), OV).set_index("account_id")
    assert own.loc["a", "overlay_owners"] == "s1;s2" and own.loc["b", "overlay_owners"] == ""
    assert own.loc["c", "overlays"] == "fragrance"
