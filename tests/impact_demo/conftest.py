"""The demo company at size "medium", generated and imported once per test session, and the
impact report the CLI writes on it.

"medium" (4,000 accounts, ~300k order lines) is the smallest size at which the planted effects
are estimated with useful precision; the "small" demo is too small (about 8,000 consumer
orders over two years: a state-month of Vermont holds a handful of orders).
"""
from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="session")
def impact_demo(tmp_path_factory):
    """(export folder, SQLite URL, truth dict) of the medium demo company, imported."""
    from _demo_ws import imported_demo
    from territorium.data.demo_effects import load_truth

    with imported_demo(tmp_path_factory, "medium") as (out, url):
        yield out, url, load_truth(out / "truth.yaml")


@pytest.fixture(scope="session")
def impact_ws(impact_demo):
    from territorium.plan.workspace import Workspace

    return Workspace(impact_demo[1])


@pytest.fixture(scope="session")
def impact_cli(impact_demo, tmp_path_factory):
    """The `impact-report` command run once on the medium demo: (CliRunner result, markdown
    path, the JSON report as written)."""
    import typer
    from typer.testing import CliRunner

    from territorium.commands import impact_demo as cmd

    out, url, _ = impact_demo
    app = typer.Typer()
    cmd.register(app)

    @app.callback()
    def _main() -> None:  # keep `impact-report` a sub-command
        pass

    md = tmp_path_factory.mktemp("impact-out") / "impact.md"
    res = CliRunner().invoke(app, ["impact-report", "--truth", str(out / "truth.yaml"),
                                   "--out", str(md), "--database", url])
    assert res.exit_code == 0, res.output
    return res, md, json.loads(md.with_suffix(".json").read_text(encoding="utf-8"))
