"""A second engine on the same SQLite file, made inside a process that has the workspace open,
must not release that process's SQLite locks. POSIX fcntl locks belong to the process and
are dropped by ANY close of the file, so re-reading the SQLite header once let another process
believe it was the last connection: it checkpointed and deleted the WAL under the server's
open connections ("disk I/O error")."""
from __future__ import annotations

import subprocess
import sys

import sqlalchemy as sa

from territorium import store


def _other_process_writes_and_leaves(db) -> None:
    code = ("import sqlite3\n"
            f"c = sqlite3.connect({str(db)!r}, timeout=5)\n"
            "c.execute('INSERT INTO t VALUES (2)'); c.commit(); c.close()\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)


def test_a_second_engine_keeps_the_process_sqlite_locks(tmp_path):
    db = tmp_path / "ws.db"
    url = f"sqlite:///{db}"
    eng = store.engine(url)
    with eng.begin() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
    with eng.connect() as conn:                      # a connection this process keeps open
        conn.execute(sa.text("SELECT count(*) FROM t")).scalar()
        store.engine(url).dispose()                  # e.g. a job manager made inside the server
        _other_process_writes_and_leaves(db)         # it must see that we still use the WAL
        assert (tmp_path / "ws.db-wal").exists(), "another process removed the WAL under an open connection"
        assert conn.execute(sa.text("SELECT count(*) FROM t")).scalar() == 1
    with eng.begin() as conn:
        conn.execute(sa.text("INSERT INTO t VALUES (3)"))
    with eng.connect() as conn:
        assert sorted(conn.execute(sa.text("SELECT x FROM t")).scalars()) == [2, 3]
    eng.dispose()


def test_a_non_sqlite_file_is_still_refused(tmp_path):
    bad = tmp_path / "notes.db"
    bad.write_text("hello, not a database\n")
    try:
        store.engine(f"sqlite:///{bad}")
    except store.DatabaseUnusable as exc:
        assert "not a SQLite database" in str(exc)
    else:
        raise AssertionError("a text file was accepted as a workspace")
