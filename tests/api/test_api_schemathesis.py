"""Property-based requests generated from the app's own OpenAPI schema (schemathesis): valid
and invalid bodies, parameters and ids, as an admin, against a populated workspace. No answer
may be a 500 (an unhandled error), and every error answer says why (``detail``). A 503 is
allowed: it is a deliberate answer (e.g. a webhook with no secret configured).

The app is built when the module is imported (schemathesis' fixture loader does not work with
pytest 9), over a populated SQLite file in a temporary folder."""
from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

from _apiws import auth, populate  # noqa: E402


def _app():
    from territorium import store
    from territorium.api import create_app

    d = tempfile.mkdtemp(prefix="territorium-schemathesis-")
    atexit.register(shutil.rmtree, d, ignore_errors=True)
    eng = store.engine(f"sqlite:///{Path(d) / 'ws.db'}")
    tokens = populate(eng)
    app = create_app(engine=eng)
    return app, auth(tokens, "admin")


APP, HEADERS = _app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    if case.path == "/api/auth/logout" or case.path.startswith("/api/users/{username}"):
        # logging out or deactivating the admin mid-run would turn the rest into 401s
        pytest.skip("changes the credentials the run depends on")
    if "/jobs" in case.path:
        pytest.skip("starts worker processes (tests/api/test_api_jobs.py covers the job endpoints)")
    r = case.call(headers={**HEADERS, **(case.headers or {})})
    assert r.status_code != 500, (case.method, case.path, r.status_code, r.text[:300])
    if r.status_code >= 400:
        assert r.json().get("detail"), r.text[:300]
