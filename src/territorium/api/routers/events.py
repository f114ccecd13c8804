"""Real-time tracking: Shopify webhooks, generic events, live KPIs and their event stream.

- ``POST /api/webhooks/shopify``: Shopify's ``orders/create``, ``orders/updated``,
  ``refunds/create`` and ``customers/create``, verified with the shop's webhook secret
  (``TERRITORIUM_SHOPIFY_SECRET``) as Shopify documents it; 401 for a missing or wrong
  signature, 400 for a body that is not JSON, 422 naming the field for a payload that cannot
  be used, 409 for a delivery triggered longer ago than the replay window (default 48 h,
  Shopify retries for 4 h) whose id was never seen, 200 ``duplicate`` for a retried delivery
  (counted once), 503 with ``Retry-After`` when the database stays busy (nothing written).
- ``POST /api/events``: orders and activities in our own column names, by a planner or admin,
  idempotent on each event's ``id``.
- ``GET /api/kpis/live``: month-to-date orders and revenue per territory of the active plan.
- ``GET /api/kpis/stream``: the same as server-sent events, one ``kpi`` event per change.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import threading
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from territorium.api.deps import CurrentUser, Eng, require
from territorium.data.webhooks import PayloadError, SHOPIFY_TOPICS, event_rows, shopify_rows, verify_shopify_hmac
from territorium.plan.events import Busy, LiveTotals, ingest

router = APIRouter(tags=["events"])

MAX_BODY = 5 * 1024 * 1024


class Broadcaster:
    """Fan-out of events to the open streams (each stream has its own queue and loop)."""

    def __init__(self):
        self._subs: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = set()
        self._lock = threading.Lock()

    def subscribe(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Queue]:
        sub = (asyncio.get_running_loop(), asyncio.Queue(maxsize=1000))
        with self._lock:
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub) -> None:
        with self._lock:
            self._subs.discard(sub)

    def publish(self, event: dict) -> None:
        with self._lock:
            subs = list(self._subs)
        for loop, q in subs:
            try:
                loop.call_soon_threadsafe(q.put_nowait, event)
            except RuntimeError:   # that stream's loop is gone
                self.unsubscribe((loop, q))

    @property
    def listeners(self) -> int:
        return len(self._subs)


def install(app: FastAPI, *, shopify_secret: str | None = None, replay_window_h: float = 48.0) -> None:
    """Add the routes and their state to ``app`` (called by ``create_app``)."""
    app.state.shopify_secret = shopify_secret if shopify_secret is not None else os.environ.get(
        "TERRITORIUM_SHOPIFY_SECRET", "")
    app.state.replay_window = dt.timedelta(hours=replay_window_h)
    app.state.broadcaster = Broadcaster()
    app.state.live = LiveTotals(app.state.engine, publish=app.state.broadcaster.publish)
    app.include_router(router)


def _err(code: int, detail: str, **extra) -> JSONResponse:
    return JSONResponse(status_code=code, content={"detail": detail, **extra},
                        headers={"Retry-After": "5"} if code == 503 else None)


def _parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        t = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return t.astimezone(dt.timezone.utc).replace(tzinfo=None) if t.tzinfo else t


@router.post("/api/webhooks/shopify", summary="Shopify webhook (orders, refunds, customers)")
async def shopify_webhook(request: Request):
    """Receive one Shopify delivery. Authenticated by its HMAC signature, not by a user."""
    app = request.app
    body = await request.body()
    if len(body) > MAX_BODY:
        return _err(413, f"body larger than {MAX_BODY // 1024 // 1024} MB")
    secret = app.state.shopify_secret
    if not secret:
        return _err(503, "no Shopify webhook secret configured (set TERRITORIUM_SHOPIFY_SECRET)")
    if not verify_shopify_hmac(secret, body, request.headers.get("x-shopify-hmac-sha256")):
        return _err(401, "missing or wrong X-Shopify-Hmac-SHA256 signature")
    topic = request.headers.get("x-shopify-topic", "")
    delivery = request.headers.get("x-shopify-webhook-id") or request.headers.get("x-shopify-event-id")
    if not delivery:
        return _err(400, "X-Shopify-Webhook-Id is missing (needed to count a retried delivery once)")
    if len(delivery) > 200:
        return _err(400, "X-Shopify-Webhook-Id is longer than 200 characters")
    if topic not in SHOPIFY_TOPICS:
        return _err(422, f"X-Shopify-Topic {topic!r} is not handled ({', '.join(SHOPIFY_TOPICS)})",
                    field="X-Shopify-Topic")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _err(400, f"the body is not JSON ({exc.__class__.__name__})")
    try:
        rows = shopify_rows(topic, payload)
    except PayloadError as exc:
        return _err(422, str(exc), field=exc.field)
    triggered = _parse_time(request.headers.get("x-shopify-triggered-at"))
    key = f"shopify:{delivery}"
    return await asyncio.to_thread(_store, app, key, "shopify", topic, rows,
                                   request.headers.get("x-shopify-shop-domain"), triggered)


def _store(app, key, source, topic, rows, shop, triggered):
    eng = app.state.engine
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    if triggered is not None and now - triggered > app.state.replay_window:
        from sqlalchemy import text

        with eng.connect() as c:
            seen = c.execute(text("SELECT 1 FROM event_deliveries WHERE delivery_id = :d"), {"d": key}).first()
        if not seen:
            return _err(409, f"delivery triggered at {triggered.isoformat(sep=' ')} UTC is older than the replay "
                             f"window ({app.state.replay_window}); refused as a possible replay")
    try:
        res = ingest(eng, delivery_id=key, source=source, topic=topic, rows=rows, shop=shop, triggered_at=triggered,
                     retries=getattr(app.state, "ingest_retries", 6))
    except Busy as exc:
        return _err(503, f"{exc}; nothing was stored, retry")
    if res.status == "duplicate":
        return {"status": "duplicate", "delivery": key}
    events = app.state.live.apply(res, key)
    return {"status": "stored", "delivery": key, "rows": res.rows, "territories": sorted({e["territory"] for e in events})}


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=200, description="Your id of the event: a retry with the same id counts once")
    type: str = Field(pattern="^(order|activity)$")
    data: dict[str, Any]


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[Event] = Field(min_length=1, max_length=1000)


@router.post("/api/events", summary="Orders and activities as they happen")
def post_events(batch: EventBatch, request: Request, user=require("admin", "planner")):
    """Each event is stored with its id (a retry with the same id changes nothing); the
    whole batch is checked first, so a bad event stores nothing and names its index."""
    parsed = []
    for i, ev in enumerate(batch.events):
        try:
            parsed.append((ev, event_rows({"type": ev.type, "data": ev.data})))
        except PayloadError as exc:
            return _err(422, f"events[{i}].{exc}", field=f"events[{i}].{exc.field}")
    out = []
    for ev, rows in parsed:
        r = _store(request.app, f"api:{ev.id}", "api", ev.type, rows, None, None)
        if isinstance(r, JSONResponse):
            return r
        out.append({"id": ev.id, "status": r["status"]})
    return {"events": out}


def _scope(eng, user) -> set[str] | None:
    from territorium.plan import plans
    from territorium.plan.access import territory_scope

    if user.role in ("admin", "planner"):
        return None
    active, _ = plans.list_plans(eng, model="geographic", status="active")
    if not active:
        return set()
    return territory_scope(user, plans.plan_content(eng, active[0].name).territories) or set()


@router.get("/api/kpis/live", summary="Month-to-date orders and revenue per territory")
def live_kpis(request: Request, user: CurrentUser, eng: Eng):
    """A rep sees only its own territories, a manager its subtree."""
    return request.app.state.live.snapshot(_scope(eng, user))


@router.get("/api/kpis/stream", summary="Live KPIs as server-sent events")
async def kpi_stream(request: Request, user: CurrentUser, eng: Eng):
    """``event: snapshot`` first, then one ``event: kpi`` per territory change (``data``: the
    territory, its new month-to-date orders and revenue, the change and the order), and a
    comment line every 15 s to keep proxies from closing the stream."""
    scope = await asyncio.to_thread(_scope, eng, user)
    live: LiveTotals = request.app.state.live
    snap = await asyncio.to_thread(live.snapshot, scope)
    bc: Broadcaster = request.app.state.broadcaster
    sub = bc.subscribe()

    async def stream():
        try:
            yield f"event: snapshot\ndata: {json.dumps(snap)}\n\n"
            while True:
                if await request.is_disconnected():
                    break
                try:
                    ev = await asyncio.wait_for(sub[1].get(), timeout=15.0)
                except asyncio.TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if scope is None or ev["territory"] in scope:
                    yield f"event: kpi\ndata: {json.dumps(ev)}\n\n"
        finally:
            bc.unsubscribe(sub)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
