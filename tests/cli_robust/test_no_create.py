"""Commands that work on an existing workspace never create one from a mistyped database path:
``plan``, ``users`` and ``serve`` refuse a SQLite file that does not exist, as the read-only
commands do ("no workspace at ..."), and create no file or folder (``serve --create`` makes a
new one on purpose: tests/api/test_server_process.py)."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize("args", [
    ("plan", "list"), ("plan", "show", "fy27"), ("plan", "copy", "a", "b"), ("users", "list"),
    ("users", "add", "pat", "--role", "planner"), ("users", "token", "pat"),
    ("assign", "territories", "--plan", "fy27"),
    # an address that cannot be bound: were the workspace made, the server would fail, not hang the test
    ("serve", "--host", "256.0.0.1", "--port", "0"),
], ids=" ".join)
def test_a_mistyped_database_path_creates_nothing(tmp_path, args):
    from typer.testing import CliRunner

    from territorium.cli import app

    db = tmp_path / "typo" / "ws.db"
    r = CliRunner().invoke(app, [*args, "--database", f"sqlite:///{db}"])
    assert r.exit_code == 2 and f"no workspace at {db}" in r.output, r.output
    assert not (tmp_path / "typo").exists()

