"""Browser sessions: argon2 passwords, Secure HttpOnly SameSite cookies, CSRF on writes,
rate-limited login, logout; the users CLI and the first-run admin."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parents[1]))
from _cli import command_app  # noqa: E402

PW = "correct horse battery"


@pytest.fixture
def client(api):
    from territorium.plan import users as U

    c, tokens = api
    U.set_password(c.app.state.engine, "planner", PW)
    return c


def test_login_sets_a_hardened_cookie_and_writes_need_the_csrf_token(client):
    r = client.post("/api/auth/login", json={"username": "planner", "password": PW})
    assert r.status_code == 200
    csrf = r.json()["csrf_token"]
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=strict" in cookie
    assert client.get("/api/auth/me").json()["username"] == "planner"
    body = {"moves": {"10001": "T2"}, "expected_version": 1}
    r = client.post("/api/plans/p/moves", json=body)
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    r = client.post("/api/plans/p/moves", json=body, headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403
    r = client.post("/api/plans/p/moves", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["version"] == 2
    assert client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get("/api/auth/me").status_code == 401


def test_passwords_are_argon2_hashes_and_sessions_are_stored_hashed(client):
    eng = client.app.state.engine
    r = client.post("/api/auth/login", json={"username": "planner", "password": PW})
    sid = client.cookies.get("territorium_session")
    with eng.connect() as conn:
        h = conn.execute(sa.text("SELECT password_hash FROM users WHERE username = 'planner'")).scalar_one()
        stored = conn.execute(sa.text("SELECT id_hash FROM web_sessions")).scalars().all()
        tokens = conn.execute(sa.text("SELECT token_hash FROM api_tokens")).scalars().all()
    assert h.startswith("$argon2id$") and PW not in h
    assert r.status_code == 200 and sid and sid not in stored and len(stored) == 1 and len(stored[0]) == 64
    assert all(len(t) == 64 and not t.startswith("trm_") for t in tokens)


def test_login_is_rate_limited_per_address_and_user(client):
    for _ in range(5):
        assert client.post("/api/auth/login", json={"username": "planner", "password": "wrong!"}).status_code == 401
    r = client.post("/api/auth/login", json={"username": "planner", "password": PW})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    # another user name from the same address is not locked out
    assert client.post("/api/auth/login", json={"username": "admin", "password": "wrong!"}).status_code == 401
    r = client.post("/api/auth/login", json={"username": "nobody", "password": "x"})
    assert r.status_code == 401 and r.json()["detail"] == "wrong user name or password"


def test_users_cli_adds_roles_and_tokens_and_the_first_admin(tmp_path):
    from fastapi.testclient import TestClient

    from territorium import store
    from territorium.api import create_app
    from territorium.commands import users as users_cmd
    from territorium.plan import users as U

    url = f"sqlite:///{tmp_path / 'ws.db'}"
    app = command_app(users_cmd)
    run = CliRunner()
    r = run.invoke(app, ["users", "list", "--database", url])  # users commands never create a workspace
    assert r.exit_code != 0 and "no workspace at" in str(r.exception) and not (tmp_path / "ws.db").exists()
    made = store.engine(url)
    store.upgrade(made)
    made.dispose()
    r = run.invoke(app, ["users", "add", "ann", "--role", "rep", "--database", url])
    assert r.exit_code == 2 and "a rep needs --person" in r.output
    r = run.invoke(app, ["users", "add", "ann", "--role", "rep", "--person", "r1", "--password-stdin",
                         "--database", url], input="short\n")
    assert r.exit_code == 2 and "at least 10 characters" in r.output
    r = run.invoke(app, ["users", "add", "ann", "--role", "rep", "--person", "r1", "--database", url])
    assert r.exit_code == 0
    pw = r.output.strip().rsplit(" ", 1)[-1]
    r = run.invoke(app, ["users", "role", "ann", "planner", "--database", url])
    assert r.exit_code == 0 and "ann: planner" in r.output
    tok = run.invoke(app, ["users", "token", "ann", "--name", "ci", "--database", url]).output.strip()
    eng = store.engine(url)
    assert U.ensure_admin(eng, None) is None  # users exist: no admin is made
    with TestClient(create_app(engine=eng), base_url="https://testserver") as c:
        assert c.get("/api/auth/me", headers={"Authorization": f"Bearer {tok}"}).json()["role"] == "planner"
        assert c.post("/api/auth/login", json={"username": "ann", "password": pw}).status_code == 200
    fresh = store.engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    one_time = U.ensure_admin(fresh, None)
    assert one_time and len(one_time) >= 16 and U.authenticate(fresh, "admin", one_time).role == "admin"
    assert U.authenticate(fresh, "admin", "admin") is None
    assert U.ensure_admin(fresh, None) is None
