"""Issue 13, "Tracebacks instead of messages": every failure outside the program ends with a
one-line message naming what and where, exit 1 or 2 (130 for Ctrl-C), never a traceback,
and nothing stored or changed. Runs the real entry point in a subprocess."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from _run import ACCOUNTS, BAD_ACCOUNT, BIN, _prefix, assert_clean_failure, cli, tree, write_accounts

from territorium.commands._errors import GuardedGroup


def count(db: Path, table: str) -> int:
    if not db.exists():
        return 0
    con = sqlite3.connect(db)
    try:
        have = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return con.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0] if table in have else 0
    finally:
        con.close()


@pytest.fixture
def ro(tmp_path):
    """A read-only folder (restored afterwards so pytest can clean up)."""
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    yield d
    d.chmod(0o755)


# ------------------------------------------------------------------ the database option
def test_summary_without_workspace_says_so_and_creates_nothing(tmp_path):
    res = cli("summary", cwd=tmp_path)
    assert_clean_failure(res, 2, f"no workspace at {tmp_path / 'territorium.db'}")
    assert list(tmp_path.iterdir()) == []


def test_mistyped_database_url_creates_no_folders(tmp_path):
    res = cli("summary", "--database", f"sqlite:///{tmp_path}/typo/dir/ws.db", cwd=tmp_path)
    assert_clean_failure(res, 2, f"no workspace at {tmp_path}/typo/dir/ws.db")
    assert not (tmp_path / "typo").exists()


@pytest.mark.parametrize("url,needle", [
    ("foo://user@host/db", "unknown scheme 'foo'"),
    ("mysql://user@host/db", "unknown scheme 'mysql'"),
    ("not a url", "is not a database URL"),
])
def test_unknown_database_scheme(tmp_path, url, needle):
    f = write_accounts(tmp_path / "accounts.csv")
    res = cli("import", "accounts", f, "--database", url, "--today", "2025-06-30", cwd=tmp_path)
    assert_clean_failure(res, (1, 2), needle)
    res = cli("summary", "--database", url, cwd=tmp_path)
    assert_clean_failure(res, 2, needle)


def test_folder_as_database(tmp_path):
    f = write_accounts(tmp_path / "accounts.csv")
    (tmp_path / "adir").mkdir()
    res = cli("import", "accounts", f, "--database", f"sqlite:///{tmp_path / 'adir'}", "--today", "2025-06-30",
              cwd=tmp_path)
    assert_clean_failure(res, (1, 2), f"{tmp_path / 'adir'}: is a folder")
    assert list((tmp_path / "adir").iterdir()) == []


def test_random_bytes_as_database_are_left_alone(tmp_path):
    f = write_accounts(tmp_path / "accounts.csv")
    junk = tmp_path / "junk.db"
    junk.write_bytes(os.urandom(8192))
    before = junk.read_bytes()
    for args in (("import", "accounts", f, "--today", "2025-06-30"), ("summary",)):
        res = cli(*args, "--database", f"sqlite:///{junk}", cwd=tmp_path)
        assert_clean_failure(res, (1, 2), f"{junk}: not a SQLite database")
    assert junk.read_bytes() == before


def test_new_database_in_read_only_folder(tmp_path, ro):
    f = write_accounts(tmp_path / "accounts.csv")
    res = cli("import", "accounts", f, "--database", f"sqlite:///{ro / 'ws.db'}", "--today", "2025-06-30",
              cwd=tmp_path)
    assert_clean_failure(res, (1, 2), f"cannot create the database {ro / 'ws.db'}", f"{ro} is not writable")
    assert list(ro.iterdir()) == []


# ------------------------------------------------------------------ output paths
def test_rejects_file_in_read_only_folder_imports_nothing(tmp_path, ro):
    ro.chmod(0o755)
    f = write_accounts(ro / "accounts.csv", ACCOUNTS + [BAD_ACCOUNT])
    ro.chmod(0o555)
    db = tmp_path / "ws.db"
    res = cli("import", "accounts", f, "--skip-invalid", "--database", f"sqlite:///{db}", "--today", "2025-06-30",
              cwd=tmp_path)
    assert_clean_failure(res, 1, str(ro / "accounts.rejects.csv"), "permission denied")
    assert count(db, "accounts") == 0
    assert sorted(p.name for p in ro.iterdir()) == ["accounts.csv"]


def test_out_below_a_regular_file(tmp_path):
    (tmp_path / "plan.csv").write_text("x\n")
    res = cli("demo", "--size", "small", "--out", tmp_path / "plan.csv" / "demo", cwd=tmp_path)
    assert_clean_failure(res, 1, f"{tmp_path / 'plan.csv'} is a file, not a folder")
    assert (tmp_path / "plan.csv").read_text() == "x\n"


def test_out_in_read_only_folder(tmp_path, ro):
    res = cli("demo", "--size", "small", "--out", ro / "demo", cwd=tmp_path)
    assert_clean_failure(res, 1, str(ro / "demo"), "permission denied")
    assert list(ro.iterdir()) == []


# ------------------------------------------------------------------ concurrency and Ctrl-C
def test_four_first_imports_at_once_on_a_new_workspace(tmp_path):
    db = tmp_path / "new" / "ws.db"
    files = []
    for i in range(4):
        rows = [r.replace("001", f"00{i}", 1) for r in ACCOUNTS]
        files.append(write_accounts(tmp_path / f"accounts{i}.csv", rows))
    env = {k: v for k, v in os.environ.items() if k != "TERRITORIUM_DATABASE_URL"}
    procs = [subprocess.Popen([str(BIN), "import", "accounts", str(f), "--database", f"sqlite:///{db}",
                               "--today", "2025-06-30"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for f in files]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, out + err
        assert "Traceback" not in out + err and "already exists" not in out + err
    assert count(db, "accounts") == 12
    assert count(db, "import_batches") == 4


def _orders_file(path: Path, lines: int) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    try:
        from import_orders import generate
    finally:
        sys.path.pop(0)
    generate(path, lines, seed=3)
    return path


def test_ctrl_c_during_an_import_says_nothing_was_imported(tmp_path):
    orders = _orders_file(tmp_path / "orders_export.csv", 150_000)
    db = tmp_path / "ws.db"
    p = subprocess.Popen(_prefix() + [str(BIN), "import", "orders", str(orders), "--database", f"sqlite:///{db}",
                                      "--today", "2026-01-01"],
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "COLUMNS": "200"},
                         # Ctrl-C as from a terminal: a test run started in the background (``&``)
                         # hands its children SIGINT ignored, and Python then never raises it
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    t0 = time.monotonic()
    while not db.exists() and p.poll() is None and time.monotonic() - t0 < 240:
        time.sleep(0.01)  # the database is opened when the rows are about to be stored
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)

    class R:  # the shape assert_clean_failure reads
        stdout, stderr, returncode = out, err, p.returncode
    assert_clean_failure(R, 130, "interrupted (Ctrl-C): nothing was imported")
    assert count(db, "orders") == 0 and count(db, "order_lines") == 0 and count(db, "import_batches") == 0


# ------------------------------------------------------------------ the wrapper itself
def _app() -> typer.Typer:
    app = typer.Typer(cls=GuardedGroup)

    @app.command()
    def boom(kind: str) -> None:
        if kind == "bug":
            raise RuntimeError("boom")
        if kind == "perm":
            raise PermissionError(13, "Permission denied", "/x/out/plan.csv")
        if kind == "ctrl-c":
            raise KeyboardInterrupt
        raise typer.Exit(3)

    @app.command()
    def other() -> None:
        pass

    return app


@pytest.mark.parametrize("kind,code,text", [
    ("bug", 1, "internal error: RuntimeError: boom (this is a bug; TERRITORIUM_DEBUG=1 shows the traceback"),
    ("perm", 1, "error: /x/out/plan.csv: permission denied"),
    ("ctrl-c", 130, "interrupted: stopped by Ctrl-C"),
    ("exit", 3, ""),
])
def test_wrapper_maps_exceptions_to_one_line(kind, code, text, monkeypatch):
    monkeypatch.delenv("TERRITORIUM_DEBUG", raising=False)
    res = CliRunner().invoke(_app(), ["boom", kind], env={"COLUMNS": "200"})
    assert res.exit_code == code, res.output
    assert text in " ".join(res.output.split())
    assert "Traceback" not in res.output


def test_debug_env_shows_the_bug(monkeypatch):
    monkeypatch.setenv("TERRITORIUM_DEBUG", "1")
    res = CliRunner().invoke(_app(), ["boom", "bug"])
    assert isinstance(res.exception, RuntimeError) and str(res.exception) == "boom"


def test_import_checks_the_database_before_reading_the_file(tmp_path):
    """The import fails on the database at once (the file is never read: it does not even exist)."""
    from territorium.store import DatabaseUnusable
    from territorium.store.db import preflight

    (tmp_path / "adir").mkdir()
    res = cli("import", "orders", tmp_path / "missing.csv", "--database", f"sqlite:///{tmp_path / 'adir'}",
              cwd=tmp_path)
    assert_clean_failure(res, 2, f"{tmp_path / 'adir'}: is a folder")
    preflight(f"sqlite:///{tmp_path}/new/sub/ws.db")  # fine, and nothing created yet
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir"]
    with pytest.raises(DatabaseUnusable, match="unknown scheme 'oracle'"):
        preflight("oracle://scott@db/orcl")
