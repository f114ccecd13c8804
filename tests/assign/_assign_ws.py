"""The tiny planted workspace of the assign tests: three reps (NYC, Philadelphia, Boston) and a
manager, ten accounts around each city, one open deal, one closed one."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

CITIES = {"NYC": (40.75, -73.99, "NY"), "PHL": (39.95, -75.16, "PA"), "BOS": (42.36, -71.06, "MA")}


def tiny_frames() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(5)
    reps = pd.DataFrame({
        "rep_id": ["A", "B", "C", "M"], "name": ["Ann NYC", "Bob PHL", "Cat BOS", "Max Manager"],
        "email": None, "title": ["Account Executive"] * 3 + ["Regional Sales Manager"],
        "home_zip": ["10001", "19103", "02108", "10001"],
        "home_lat": [40.75, 39.95, 42.36, 40.75], "home_lon": [-73.99, -75.16, -71.06, -73.99],
        "capacity_hours": [1600.0, 1600.0, 1600.0, 500.0], "fte": [1.0] * 4,
        "skills": ["Skincare;Enterprise", "Haircare", "Skincare", "Enterprise"], "active": [True] * 4,
    })
    rows = []
    for city, (lat, lon, st) in CITIES.items():
        for k in range(10):
            owner = {"NYC": "A", "PHL": "A" if k < 4 else "B", "BOS": "C"}[city]
            rows.append({
                "account_id": f"{city.lower()}_{k}", "name": f"{city} salon {k}", "street": None, "city": city,
                "state": st, "zip": None, "country": "US", "industry": "Salon",
                "segment": "Enterprise" if (city == "NYC" and k < 2) else "SMB",
                "account_type": "Customer - Direct", "tier": "A", "annual_revenue": 1e6, "employees": 10,
                "owner_id": owner, "potential": 1000.0 * (k + 1), "product_lines": "Skincare;Haircare",
                "lat": lat + rng.uniform(-0.05, 0.05), "lon": lon + rng.uniform(-0.05, 0.05), "geocode": "zip",
            })
    acc = pd.DataFrame(rows)
    contacts = pd.DataFrame({"contact_id": [f"c{i}" for i in range(len(acc))], "account_id": acc["account_id"],
                             "first_name": "x", "last_name": "y", "email": [f"buyer{i}@shop.com" for i in range(len(acc))],
                             "phone": None})
    orders = pd.DataFrame({
        "order_id": [f"#{1000 + i}" for i in range(len(acc))], "customer_email": contacts["email"],
        "customer_id": None, "account_id": None,
        "created_at": [dt.datetime(2026, 6, 1, 12)] * len(acc), "currency": "USD",
        "subtotal": 100.0 * (np.arange(len(acc)) + 1), "total": 100.0 * (np.arange(len(acc)) + 1),
        "discounts": 0.0, "discount_code": None, "financial_status": "paid", "shipping_zip": None,
        "shipping_state": None, "shipping_country": "US", "lat": None, "lon": None,
    })
    opps = pd.DataFrame({
        "opportunity_id": ["o1", "o2"], "account_id": ["phl_0", "phl_1"], "name": ["deal", "old deal"],
        "stage": ["Negotiation/Review", "Closed Won"], "amount": [5000.0, 900.0],
        "close_date": [dt.date(2027, 2, 1), dt.date(2026, 3, 1)], "probability": [80.0, 100.0],
        "owner_id": ["A", "A"], "is_won": [False, True], "is_closed": [False, True],
    })
    return {"reps": reps, "accounts": acc, "contacts": contacts, "orders": orders, "opportunities": opps}


def write_tiny_workspace(directory: Path) -> tuple[str, Path]:
    """The tiny planted workspace as a SQLite file in ``directory`` plus an account →
    territory (city) alignment CSV: (SQLite URL, alignment path)."""
    from territorium import store
    from territorium.store.db import write_frames

    url = f"sqlite:///{directory / 'ws.db'}"
    eng = store.engine(url)
    store.upgrade(eng)
    frames = tiny_frames()
    with eng.begin() as conn:
        write_frames(conn, frames)
    eng.dispose()
    acc = frames["accounts"]
    al = directory / "alignment.csv"
    pd.DataFrame({"account_id": acc["account_id"], "territory": acc["city"]}).to_csv(al, index=False)
    return url, al
