"""A tiny planted workspace for the plan, API and CLI tests: 9 accounts in 3 ZIPs with known
orders, written through the store's bulk writer into a real database, and a 2-territory plan.

ZIP 10001 (a1..a3) and 10002 (b1..b3) form territory T1 (rep r1); ZIP 10003 (c1..c3) is T2
(rep r2). Account revenue in the year before the last order: a1 100, a2 200, a3 300,
b1 1,000, b2 2,000, b3 4,000, c1 10, c2 20, c3 30; plus one order of a1 two years earlier
that lies outside the revenue window.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd

REVENUE = {"a1": 100.0, "a2": 200.0, "a3": 300.0, "b1": 1000.0, "b2": 2000.0, "b3": 4000.0,
           "c1": 10.0, "c2": 20.0, "c3": 30.0}
ZIP = {"a": "10001", "b": "10002", "c": "10003"}
POTENTIAL = {k: float(i + 1) * 10 for i, k in enumerate(sorted(REVENUE))}


def fill(eng) -> None:
    from territorium import store
    from territorium.store.db import write_frames

    store.upgrade(eng)
    acc = pd.DataFrame({"account_id": list(REVENUE), "name": [f"Shop {k}" for k in REVENUE],
                        "zip": [ZIP[k[0]] for k in REVENUE], "state": "NY",
                        "potential": [POTENTIAL[k] for k in REVENUE]})
    base = dt.datetime(2026, 5, 1)
    contacts = pd.DataFrame({"contact_id": [f"k-{k}" for k in REVENUE], "account_id": list(REVENUE),
                             "email": [f"{k}@shop.example" for k in REVENUE]})
    orders = [{"order_id": f"o-{k}", "customer_email": f"{k}@shop.example", "created_at": base - dt.timedelta(days=i * 3),
               "total": v, "financial_status": "paid"} for i, (k, v) in enumerate(REVENUE.items())]
    orders.append({"order_id": "o-old", "customer_email": "a1@shop.example", "created_at": base - dt.timedelta(days=800),
                   "total": 99999.0, "financial_status": "paid"})
    with eng.begin() as conn:
        write_frames(conn, {"accounts": acc, "contacts": contacts, "orders": pd.DataFrame(orders)})


def base_plan(eng, name: str = "base", actor: str = "alice"):
    from territorium.plan import plans

    return plans.create_plan(
        eng, name, units={"10001": "T1", "10002": "T1", "10003": "T2"},
        territories={"T1": {"reps": ["r1"], "parent": "East", "quota": 1000.0},
                     "T2": {"reps": ["r2"], "parent": "East", "quota": 500.0},
                     "East": {"manager": "m1", "name": "East region"}},
        actor=actor, seed=3, settings={"balance": {"workload": 0.05}})


def grid_plan(url: str, name: str = "grid") -> None:
    """A workspace of 40 placed accounts on a 5 × 8 grid of points (0.1° apart) and an
    account-level plan that gives 30 of them to T1 and 10 to T2 (deliberately unbalanced)."""
    import numpy as np

    from territorium import store
    from territorium.plan import plans
    from territorium.store.db import write_frames

    eng = store.engine(url)
    store.upgrade(eng)
    ids = [f"acc{i:02d}" for i in range(40)]
    acc = pd.DataFrame({"account_id": ids, "name": ids, "state": "NY", "zip": "13820",
                        "lat": 42.0 + (np.arange(40) // 8) * 0.1, "lon": -75.0 + (np.arange(40) % 8) * 0.1})
    with eng.begin() as conn:
        write_frames(conn, {"accounts": acc})
    plans.create_plan(eng, name, units={a: ("T1" if i < 30 else "T2") for i, a in enumerate(ids)},
                      territories={"T1": {"reps": ["r1"]}, "T2": {"reps": ["r2"]}}, unit_level="account",
                      actor="seed")
    eng.dispose()
