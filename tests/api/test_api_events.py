"""Real-time tracking: Shopify webhooks verified with Shopify's HMAC scheme, idempotent
retries, replays and malformed bodies refused, a busy database losing nothing, generic events,
live KPIs, and the server-sent event stream of a real server seeing a change within a second."""
from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
import threading
import time

import pytest
import sqlalchemy as sa

from _apiws import auth
from territorium.data.webhooks import sign_shopify

SECRET = "shpss_test_secret"


def _order(oid, zip_, total, *, status="paid", when=None):
    when = when or dt.datetime.now(dt.timezone.utc)
    return {"id": oid, "email": f"buyer{oid}@example.com", "created_at": when.isoformat(),
            "currency": "USD", "subtotal_price": f"{total:.2f}", "total_price": f"{total:.2f}",
            "total_discounts": "0.00", "financial_status": status,
            "customer": {"id": 9000 + oid, "email": f"buyer{oid}@example.com"},
            "shipping_address": {"zip": zip_, "province_code": "NY", "country_code": "US"},
            "line_items": [{"sku": "LUM-SK-0101", "name": "Serum", "quantity": 2, "price": f"{total / 2:.2f}"}]}


def _headers(body: bytes, topic: str, wid: str, *, secret=SECRET, triggered=None):
    return {"X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": wid, "X-Shopify-Shop-Domain": "lumiere.myshopify.com",
            "X-Shopify-Hmac-Sha256": sign_shopify(secret, body), "Content-Type": "application/json",
            "X-Shopify-Triggered-At": (triggered or dt.datetime.now(dt.timezone.utc)).isoformat()}


@pytest.fixture
def ev(template_db, tmp_path):
    from fastapi.testclient import TestClient

    from territorium import store
    from territorium.api import create_app

    src, tokens = template_db
    dst = tmp_path / "ws.db"
    shutil.copy(src, dst)
    eng = store.engine(f"sqlite:///{dst}")
    app = create_app(engine=eng, shopify_secret=SECRET)
    with TestClient(app, base_url="https://testserver") as client:
        yield client, tokens, eng, app
    eng.dispose()


def _post(client, topic, payload, wid, **kw):
    body = json.dumps(payload).encode()
    return client.post("/api/webhooks/shopify", content=body, headers=_headers(body, topic, wid, **kw))


def _count(eng, sql):
    with eng.connect() as c:
        return c.execute(sa.text(sql)).scalar()


def test_signed_order_is_stored_once_and_moves_the_live_totals(ev):
    client, tokens, eng, _ = ev
    before = client.get("/api/kpis/live", headers=auth(tokens, "planner")).json()["territories"].get("T1", {})
    r = _post(client, "orders/create", _order(1001, "10001", 120.0), "wh-1")
    assert r.status_code == 200 and r.json()["status"] == "stored" and r.json()["territories"] == ["T1"]
    assert _count(eng, "SELECT COUNT(*) FROM orders WHERE order_id = '1001'") == 1
    assert _count(eng, "SELECT COUNT(*) FROM order_lines WHERE order_id = '1001'") == 1
    live = client.get("/api/kpis/live", headers=auth(tokens, "planner")).json()
    t1 = live["territories"]["T1"]
    assert t1["orders"] == before.get("orders", 0) + 1
    assert t1["revenue"] == pytest.approx(before.get("revenue", 0.0) + 120.0)
    assert live["plan"] == "live"
    # Shopify retries the same delivery: counted once
    r2 = _post(client, "orders/create", _order(1001, "10001", 120.0), "wh-1")
    assert r2.status_code == 200 and r2.json()["status"] == "duplicate"
    again = client.get("/api/kpis/live", headers=auth(tokens, "planner")).json()["territories"]["T1"]
    assert again == t1
    assert _count(eng, "SELECT COUNT(*) FROM event_deliveries") == 1


def test_updates_and_refunds_change_revenue_by_their_difference(ev):
    client, tokens, eng, _ = ev
    _post(client, "orders/create", _order(2001, "10002", 100.0), "wh-a")
    t2 = lambda: client.get("/api/kpis/live", headers=auth(tokens, "admin")).json()["territories"]["T2"]  # noqa: E731
    start = t2()
    assert _post(client, "orders/updated", _order(2001, "10002", 130.0), "wh-b").json()["status"] == "stored"
    assert t2()["revenue"] == pytest.approx(start["revenue"] + 30.0) and t2()["orders"] == start["orders"]
    refund = {"id": 77, "order_id": 2001, "created_at": dt.datetime.now(dt.timezone.utc).isoformat(),
              "transactions": [{"kind": "refund", "status": "success", "amount": "130.00"}]}
    assert _post(client, "refunds/create", refund, "wh-c").status_code == 200
    assert t2()["revenue"] == pytest.approx(start["revenue"] - 100.0) and t2()["orders"] == start["orders"] - 1
    with eng.connect() as c:
        assert c.execute(sa.text("SELECT financial_status FROM orders WHERE order_id = '2001'")).scalar() == "refunded"
    cust = {"id": 555, "email": "New@Example.com", "first_name": "Ada", "last_name": "L",
            "default_address": {"zip": "10003", "province_code": "NY", "country_code": "US"}}
    assert _post(client, "customers/create", cust, "wh-d").status_code == 200
    with eng.connect() as c:
        assert c.execute(sa.text("SELECT email, zip FROM customers WHERE customer_id = '555'")).one() == ("new@example.com", "10003")


def test_an_order_shipped_abroad_keeps_its_country_and_never_lands_in_a_us_territory(ev):
    client, tokens, eng, _ = ev
    o = _order(7001, "10001", 60.0)
    o["shipping_address"] = {"zip": "10001", "province_code": "ON", "country_code": "CA"}   # looks like Manhattan
    r = _post(client, "orders/create", o, "wh-ca")
    assert r.status_code == 200 and r.json()["territories"] == [""]
    with eng.connect() as c:
        row = c.execute(sa.text("SELECT shipping_zip, shipping_country, shipping_postal_code, shipping_subdivision "
                                "FROM orders WHERE order_id = '7001'")).one()
    assert tuple(row) == (None, "CA", "10001", "CA-ON")


@pytest.mark.parametrize("case, status, text", [
    ("wrong secret", 401, "X-Shopify-Hmac-SHA256"),
    ("no signature", 401, "X-Shopify-Hmac-SHA256"),
    ("tampered body", 401, "X-Shopify-Hmac-SHA256"),
    ("not json", 400, "not JSON"),
    ("missing total", 422, "total_price: is missing"),
    ("bad amount", 422, "total_price: 'lots' is not an amount"),
    ("unknown topic", 422, "X-Shopify-Topic 'products/create'"),
    ("no delivery id", 400, "X-Shopify-Webhook-Id is missing"),
    ("replayed old delivery", 409, "replay"),
])
def test_bad_deliveries_get_a_clear_4xx_and_store_nothing(ev, case, status, text):
    client, _, eng, _ = ev
    payload = _order(3001, "10001", 50.0)
    body = json.dumps(payload).encode()
    h = _headers(body, "orders/create", "wh-bad")
    if case == "wrong secret":
        h = _headers(body, "orders/create", "wh-bad", secret="not-the-secret")
    elif case == "no signature":
        del h["X-Shopify-Hmac-Sha256"]
    elif case == "tampered body":
        body = body.replace(b"50.00", b"5.00")
    elif case == "not json":
        body = b"{not json"
        h = _headers(body, "orders/create", "wh-bad")
    elif case in ("missing total", "bad amount"):
        if case == "missing total":
            del payload["total_price"]
        else:
            payload["total_price"] = "lots"
        body = json.dumps(payload).encode()
        h = _headers(body, "orders/create", "wh-bad")
    elif case == "unknown topic":
        h["X-Shopify-Topic"] = "products/create"
    elif case == "no delivery id":
        del h["X-Shopify-Webhook-Id"]
    elif case == "replayed old delivery":
        h = _headers(body, "orders/create", "wh-old", triggered=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3))
    r = client.post("/api/webhooks/shopify", content=body, headers=h)
    assert r.status_code == status and text in r.json()["detail"], r.text
    assert _count(eng, "SELECT COUNT(*) FROM orders WHERE order_id = '3001'") == 0
    assert _count(eng, "SELECT COUNT(*) FROM event_deliveries") == 0


def test_a_busy_database_loses_nothing(template_db, tmp_path):
    """Another writer holds the lock: 503 with Retry-After and nothing written; Shopify's
    retry after the lock is gone stores the order once."""
    from fastapi.testclient import TestClient

    from territorium.api import create_app

    src, _ = template_db
    dst = tmp_path / "ws.db"
    shutil.copy(src, dst)
    eng = sa.create_engine(f"sqlite:///{dst}", connect_args={"timeout": 0.2})
    app = create_app(engine=eng, shopify_secret=SECRET)
    app.state.ingest_retries = 1
    blocker = sqlite3.connect(dst, timeout=5)
    with TestClient(app, base_url="https://testserver") as client:
        client.get("/api/health")
        app.state.live.load()
        blocker.execute("BEGIN IMMEDIATE")
        blocker.execute("INSERT INTO reps (rep_id, name) VALUES ('zz', 'lock holder')")
        r = _post(client, "orders/create", _order(4001, "10001", 80.0), "wh-busy")
        assert r.status_code == 503 and r.headers["Retry-After"] == "5" and "nothing was stored" in r.json()["detail"]
        blocker.rollback()
        assert _count(eng, "SELECT COUNT(*) FROM event_deliveries") == 0
        r = _post(client, "orders/create", _order(4001, "10001", 80.0), "wh-busy")
        assert r.status_code == 200 and r.json()["status"] == "stored"
    blocker.close()
    assert _count(eng, "SELECT COUNT(*) FROM orders WHERE order_id = '4001'") == 1
    eng.dispose()


def test_generic_events_by_role_idempotent_and_all_or_nothing(ev):
    client, tokens, eng, _ = ev
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    batch = {"events": [
        {"id": "e1", "type": "order", "data": {"order_id": "X1", "created_at": now, "total": 40, "shipping_zip": "10003"}},
        {"id": "e2", "type": "activity", "data": {"activity_id": "V1", "account_id": "a1", "rep_id": "r1",
                                                 "type": "visit", "date": now[:10], "duration_min": 30}}]}
    assert client.post("/api/events", json=batch, headers=auth(tokens, "rep1")).status_code == 403
    r = client.post("/api/events", json=batch, headers=auth(tokens, "planner"))
    assert r.status_code == 200 and [e["status"] for e in r.json()["events"]] == ["stored", "stored"]
    r = client.post("/api/events", json=batch, headers=auth(tokens, "planner"))
    assert [e["status"] for e in r.json()["events"]] == ["duplicate", "duplicate"]
    bad = {"events": [{"id": "e3", "type": "order", "data": {"order_id": "X2", "created_at": now, "total": 1}},
                      {"id": "e4", "type": "order", "data": {"order_id": "X3", "created_at": "yesterday", "total": 1}}]}
    r = client.post("/api/events", json=bad, headers=auth(tokens, "planner"))
    assert r.status_code == 422 and r.json()["detail"].startswith("events[1].data.created_at")
    assert _count(eng, "SELECT COUNT(*) FROM orders WHERE order_id IN ('X2', 'X3')") == 0
    r = client.post("/api/events", json={"events": [{"id": "e5", "type": "refund", "data": {}}]},
                    headers=auth(tokens, "planner"))
    assert r.status_code == 422 and "type" in r.json()["detail"]


def test_live_kpis_are_scoped_to_the_reps_territory(ev):
    client, tokens, _, _ = ev
    _post(client, "orders/create", _order(5001, "10001", 10.0), "wh-r1")
    _post(client, "orders/create", _order(5002, "10002", 20.0), "wh-r2")
    mine = client.get("/api/kpis/live", headers=auth(tokens, "rep1")).json()["territories"]
    assert set(mine) == {"T1"}
    assert set(client.get("/api/kpis/live", headers=auth(tokens, "mgr_east")).json()["territories"]) <= {"T1", "T2"}
    assert client.get("/api/kpis/live").status_code == 401


def test_the_event_stream_of_a_real_server_sees_a_change_within_a_second(template_db, tmp_path):
    import httpx
    import uvicorn

    from territorium import store
    from territorium.api import create_app

    src, tokens = template_db
    dst = tmp_path / "ws.db"
    shutil.copy(src, dst)
    eng = store.engine(f"sqlite:///{dst}")
    app = create_app(engine=eng, shopify_secret=SECRET, cookie_secure=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    got: dict = {}

    def listen(user, key, want):
        with httpx.Client(timeout=15) as c:
            with c.stream("GET", f"{base}/api/kpis/stream", headers=auth(tokens, user)) as s:
                event = None
                for line in s.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event == "kpi":
                        got.setdefault(key, []).append((time.perf_counter(), json.loads(line[6:])))
                        if len(got[key]) >= want:
                            return
                    elif line.startswith("data: ") and event == "snapshot":
                        got[key + "_ready"] = time.perf_counter()

    try:
        planner = threading.Thread(target=listen, args=("planner", "planner", 2), daemon=True)
        rep = threading.Thread(target=listen, args=("rep1", "rep1", 1), daemon=True)
        planner.start()
        rep.start()
        while ("planner_ready" not in got or "rep1_ready" not in got) and time.time() < deadline:
            time.sleep(0.02)
        for oid, z, wid in ((6001, "10002", "wh-s1"), (6002, "10001", "wh-s2")):
            body = json.dumps(_order(oid, z, 99.0)).encode()
            t0 = time.perf_counter()
            r = httpx.post(f"{base}/api/webhooks/shopify", content=body, headers=_headers(body, "orders/create", wid))
            assert r.status_code == 200, r.text
            got.setdefault("sent", []).append(t0)
        planner.join(10)
        rep.join(10)
    finally:
        server.should_exit = True
        th.join(10)
        eng.dispose()
    assert [e["territory"] for _, e in got["planner"]] == ["T2", "T1"]
    lag = [t - s for (t, _), s in zip(got["planner"], got["sent"])]
    assert max(lag) < 1.0, lag
    # the rep of T1 never sees T2's order: its first event is its own territory's
    assert [e["territory"] for _, e in got["rep1"]] == ["T1"] and got["rep1"][0][1]["delta_revenue"] == pytest.approx(99.0)
