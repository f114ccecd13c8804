"""Quotas and exports of a stored plan over the API (the engines of ``territorium quota`` and
``territorium export``), checked against the planted revenue and potential of the workspace."""
from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from _apiws import UNITS, auth, by_territory

sys.path.insert(0, str(Path(__file__).parents[1] / "plan"))
from _planws import POTENTIAL, REVENUE, ZIP  # noqa: E402

ZIP_TERRITORY = UNITS   # plan p: 10001 → T1, 10002 → T2, 10003 → T3


def test_quotas_blend_history_and_potential_and_save(api):
    c, tok = api
    h = auth(tok, "planner")
    r = c.post("/api/plans/p/quotas", json={"total": 1_000_000, "weight": 0.3, "round_to": 0, "goals": False},
               headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    sales, pot = by_territory(REVENUE), by_territory(POTENTIAL)
    want = {t: 1_000_000 * (0.3 * sales[t] / sum(sales.values()) + 0.7 * pot[t] / sum(pot.values())) for t in sales}
    got = {x["territory"]: x["quota"] for x in body["territories"]}
    assert got == pytest.approx(want, rel=1e-9)
    assert body["quota_sum"] == pytest.approx(1_000_000) and body["saved_version"] is None
    assert {x["territory"]: x["sales"] for x in body["territories"]} == pytest.approx(sales)

    r = c.post("/api/plans/p/quotas", json={"total": 900_000, "round_to": 1000, "save": True}, headers=h)
    assert r.status_code == 428
    r = c.post("/api/plans/p/quotas", json={"total": 900_000, "round_to": 1000, "save": True, "expected_version": 1},
               headers=h)
    assert r.status_code == 200 and r.json()["saved_version"] == 2, r.text
    saved = {t["territory_id"]: t["quota"] for t in c.get("/api/plans/p/content", headers=h).json()["territories"]}
    computed = {x["territory"]: x["quota"] for x in r.json()["territories"]}
    assert {k: saved[k] for k in computed} == pytest.approx(computed) and sum(computed.values()) == pytest.approx(9e5)
    assert all(v % 1000 == 0 for v in computed.values())
    r = c.post("/api/plans/p/quotas", json={"total": 1, "save": True, "expected_version": 1}, headers=h)
    assert r.status_code == 409 and r.json()["current_version"] == 2
    r = c.post("/api/plans/p/quotas", json={"weight": 2}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.weight"
    assert c.post("/api/plans/nope/quotas", json={}, headers=h).status_code == 404
    assert c.post("/api/plans/p/quotas", json={}, headers=auth(tok, "rep1")).status_code == 403


def _accounts_csv(resp) -> pd.DataFrame:
    z = zipfile.ZipFile(io.BytesIO(resp.content))
    return pd.read_csv(io.BytesIO(z.read("accounts_territories.csv")), dtype=str)


def test_export_downloads_whole_plan_and_scoped_parts(api):
    c, tok = api
    r = c.get("/api/plans/p/export?format=csv", headers=auth(tok, "planner"))
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == 'attachment; filename="p-v1-csv.zip"'
    df = _accounts_csv(r)
    want = {a: ZIP_TERRITORY[ZIP[a[0]]] for a in REVENUE}
    tcol = "territory_id" if "territory_id" in df.columns else "territory"
    assert dict(zip(df["account_id"], df[tcol])) == want

    r = c.get("/api/plans/p/export?format=csv", headers=auth(tok, "rep1"))
    assert r.status_code == 200
    assert sorted(_accounts_csv(r)["account_id"]) == ["a1", "a2", "a3"]
    r = c.get("/api/plans/p/export?format=geojson", headers=auth(tok, "mgr_east"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    gj = json.loads(r.content)
    assert sorted(f["properties"]["territory_id"] for f in gj["features"]) == ["T1", "T2"]
    assert c.get("/api/plans/p/export?format=csv", headers=auth(tok, "rep9")).status_code == 404


def test_export_formats(api):
    c, tok = api
    h = auth(tok, "admin")
    r = c.get("/api/plans/p/export?format=xlsx", headers=h)
    assert r.status_code == 200 and r.content[:2] == b"PK"
    sheets = pd.read_excel(io.BytesIO(r.content), sheet_name=None)
    assert {"T1", "T2", "T3"} <= {s.split()[0] for s in sheets}
    r = c.get("/api/plans/p/export?format=kml", headers=h)
    assert r.status_code == 200 and r.content.count(b"<Placemark") == 3
    r = c.get("/api/plans/p/export?format=salesforce", headers=h)
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert r.status_code == 200 and any(n.endswith("Territory2.csv") for n in names)
    r = c.get("/api/plans/p/export?format=docx", headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.format"
