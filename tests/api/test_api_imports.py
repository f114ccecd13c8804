"""Imports over the API: a multipart upload goes through the same all-or-nothing importer as
``territorium import``; a file with bad rows stores nothing and answers the problem table."""
from __future__ import annotations

import io

import pandas as pd
import sqlalchemy as sa

from _apiws import auth

HEADER = ("Id,Name,Type,Industry,BillingStreet,BillingCity,BillingState,BillingPostalCode,BillingCountry,"
          "AnnualRevenue,NumberOfEmployees,OwnerId")
GOOD = ["001N1,Salon North,Customer,Salon,1 Main St,New York,NY,10001,US,1000000,12,005X",
        "001N2,Spa South,Prospect,Spa,2 Elm St,New York,NY,10002,US,5000,3,005X"]
# row 4: negative revenue; row 5: employees not a number; row 6: no id
BAD = ["001B1,Bad One,Customer,Salon,1 Main St,New York,NY,10001,US,-5,12,005X",
       "001B2,Bad Two,Customer,Salon,1 Main St,New York,NY,10001,US,100,many,005X",
       ",Bad Three,Customer,Salon,1 Main St,New York,NY,10001,US,100,4,005X"]


def _csv(rows) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def _ids(eng) -> set[str]:
    with eng.connect() as c:
        return {r[0] for r in c.execute(sa.text("SELECT account_id FROM accounts"))}


def test_good_file_lands_and_bad_file_lands_nothing(api):
    c, tok = api
    eng = c.app.state.engine
    h = auth(tok, "planner")
    before = _ids(eng)
    r = c.post("/api/imports/accounts", files={"file": ("crm.csv", _csv(GOOD), "text/csv")}, headers=h)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["stored"] is True and body["summary"]["imported"] == 2 and body["summary"]["file"] == "crm.csv"
    assert _ids(eng) == before | {"001N1", "001N2"}

    r = c.post("/api/imports/accounts", files={"file": ("crm2.csv", _csv(GOOD[:1] + BAD), "text/csv")},
               data={"format": "salesforce"}, headers=h)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["stored"] is False and body["errors"] >= 3 and "nothing was imported" in body["detail"]
    rows = {p["row"] for p in body["problems"] if p["severity"] == "error"}
    assert {3, 4, 5} <= rows, body["problems"]
    assert all(p["file"] == "crm2.csv" for p in body["problems"])
    cols = {p["row"]: p["column"] for p in body["problems"] if p["severity"] == "error"}
    assert "Revenue" in cols[3] and "Employees" in cols[4]
    assert _ids(eng) == before | {"001N1", "001N2"}   # not even the good row of the bad file

    r = c.post("/api/imports/accounts", files={"file": ("crm.csv", _csv(GOOD), "text/csv")}, headers=h)
    assert r.status_code == 409 and "replace=true" in r.json()["detail"]    # the ids are there already
    r = c.post("/api/imports/accounts", files={"file": ("crm.csv", _csv(GOOD), "text/csv")}, data={"replace": "true"},
               headers=h)
    assert r.status_code == 201 and _ids(eng) == {"001N1", "001N2"}


def test_excel_and_parquet_uploads(api, tmp_path):
    c, tok = api
    eng = c.app.state.engine
    h = auth(tok, "admin")
    df = pd.read_csv(io.BytesIO(_csv(GOOD)), dtype=str)
    x = io.BytesIO()
    df.to_excel(x, index=False)
    r = c.post("/api/imports/accounts", files={"file": ("crm.xlsx", x.getvalue(), "application/octet-stream")},
               headers=h)
    assert r.status_code == 201, r.text
    df["Id"] = ["001P1", "001P2"]
    p = io.BytesIO()
    df.to_parquet(p, index=False)
    r = c.post("/api/imports/accounts", files={"file": ("crm.parquet", p.getvalue(), "application/octet-stream")},
               headers=h)
    assert r.status_code == 201, r.text
    assert {"001N1", "001N2", "001P1", "001P2"} <= _ids(eng)


def test_oversized_unknown_kind_unreadable_and_roles(api):
    c, tok = api
    eng = c.app.state.engine
    before = _ids(eng)
    c.app.state.upload_limit = 100
    r = c.post("/api/imports/accounts", files={"file": ("big.csv", _csv(GOOD), "text/csv")}, headers=auth(tok, "admin"))
    assert r.status_code == 413 and "100 bytes" in r.json()["detail"] and "file" in r.json()["detail"]
    big = _csv(GOOD) + b"x" * (1 << 20)   # beyond what two files of 100 bytes can be: refused unread
    r = c.post("/api/imports/accounts", files={"file": ("big.csv", big, "text/csv")}, headers=auth(tok, "admin"))
    assert r.status_code == 413 and "nothing was read" in r.json()["detail"]
    c.app.state.upload_limit = 10 * 2**20
    r = c.post("/api/imports/widgets", files={"file": ("x.csv", _csv(GOOD), "text/csv")}, headers=auth(tok, "admin"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "path.kind"
    r = c.post("/api/imports/accounts", files={"file": ("x.csv", b"\x00\x01garbage", "text/csv")},
               headers=auth(tok, "admin"))
    assert r.status_code == 422 and r.json()["stored"] is False and r.json()["detail"]
    r = c.post("/api/imports/accounts", files={"file": ("x.csv", _csv(GOOD), "text/csv")}, headers=auth(tok, "rep1"))
    assert r.status_code == 403
    assert _ids(eng) == before
    kinds = c.get("/api/imports", headers=auth(tok, "rep1")).json()
    assert {"accounts", "orders", "reps", "activities"} <= {k["kind"] for k in kinds}
