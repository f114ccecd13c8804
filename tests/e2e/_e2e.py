"""Helpers of the browser tests: log in, copy the demo plan, save screenshots."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from _webws import PASSWORD


def missing(what: str):
    """Skip for want of ``what`` (a browser, a build); fail instead in CI (``CI`` set)."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} (CI must run the browser tests: .ci/run installs chromium, firefox-esr and xvfb, "
                    "make test builds the app)")
    pytest.skip(what)


def login(page, server, user: str, password: str = PASSWORD) -> None:
    page.goto(server.url + "/")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)


def plan_copy(server, name: str) -> None:
    """A draft copy of plan ``demo`` named ``name`` (the newest plan, so the page opens it)."""
    from territorium import store
    from territorium.plan import plans

    eng = store.engine(f"sqlite:///{server.db}")
    try:
        plans.copy_plan(eng, "demo", name, actor="seed")
    finally:
        eng.dispose()


def screenshot(page, name: str, tmp_path) -> None:
    """Save a screenshot (and into ``TERRITORIUM_DOCS_IMG`` when set, for docs/img)."""
    page.screenshot(path=str(tmp_path / f"{name}.png"))
    dest = os.environ.get("TERRITORIUM_DOCS_IMG")
    if dest:
        Path(dest).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(dest) / f"{name}.png"))
