"""``territorium import`` in-process: exit codes, problem table, --json, --skip-invalid, import all."""
from __future__ import annotations

import json

import sqlalchemy as sa
from _importfiles import GOOD_ACCOUNTS, GOOD_ORDERS, SF_ACCOUNT_HEADER, SHOPIFY_HEADER, write
from typer.testing import CliRunner

from territorium.cli import app

runner = CliRunner()


def db(tmp_path):
    return f"sqlite:///{tmp_path / 'cli.db'}"


def rows(url, table):
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            return conn.execute(sa.text(f'SELECT COUNT(*) FROM "{table}"')).scalar()
    finally:
        eng.dispose()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def test_invalid_file_exits_2_with_problem_table(tmp_path):
    path = write(tmp_path / "accounts.csv", SF_ACCOUNT_HEADER,
                 GOOD_ACCOUNTS + ["001Z,Bad,,,,Austin,TX,10001,US,-1,1,005X,,,,"])
    res = run("import", "accounts", path, "--database", db(tmp_path), "--today", "2025-06-30")
    assert res.exit_code == 2, res.output
    out = res.output
    assert "2 problem(s): nothing was imported" in out
    assert "AnnualRevenue" in out and "negative value is impossible" in out
    assert "ZIP 10001 is in NY, not TX" in out
    assert "Nothing was imported" in out
    assert "Traceback" not in out


def test_problem_table_shows_first_n_and_a_count(tmp_path):
    bad = [f"00{i},A,,,,Boston,MA,02134,US,x{i},1,005X,,,," for i in range(30)]
    path = write(tmp_path / "accounts.csv", SF_ACCOUNT_HEADER, bad)
    res = run("import", "accounts", path, "--database", db(tmp_path), "--max-problems", "5")
    assert res.exit_code == 2
    assert "and 25 more problem(s)" in res.output


def test_good_file_imports_and_prints_summary(tmp_path):
    path = write(tmp_path / "orders_export.csv", SHOPIFY_HEADER, GOOD_ORDERS)
    res = run("import", "orders", path, "--database", db(tmp_path), "--today", "2025-06-30")
    assert res.exit_code == 0, res.output
    assert "Import summary" in res.output
    assert rows(db(tmp_path), "orders") == 3 and rows(db(tmp_path), "order_lines") == 6


def test_skip_invalid_json(tmp_path):
    path = write(tmp_path / "accounts.csv", SF_ACCOUNT_HEADER,
                 GOOD_ACCOUNTS + ["001Z,Bad,,,,Boston,MA,02134,US,abc,1,005X,,,,"])
    res = run("import", "accounts", path, "--database", db(tmp_path), "--skip-invalid", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    f = out["files"][0]
    assert out["stored"] and f["imported"] == 3 and f["rejected"] == 1
    assert f["rejects_file"].endswith("accounts.rejects.csv")
    assert out["problems"][0] == {"file": "accounts.csv", "row": 5, "column": "AnnualRevenue", "value": "abc",
                                  "reason": "not an amount", "severity": "error"}
    assert rows(db(tmp_path), "accounts") == 3
    assert (tmp_path / "accounts.rejects.csv").read_text().startswith("_row,_reasons,Id,Name")


def test_bad_input_never_tracebacks(tmp_path):
    for args in (["accounts", tmp_path / "missing.csv"],
                 ["orders", write(tmp_path / "a.csv", SF_ACCOUNT_HEADER, GOOD_ACCOUNTS)],
                 ["accounts", tmp_path / "a.csv", "--format", "shopify"],
                 ["all", tmp_path]):
        res = run("import", *args, "--database", db(tmp_path))
        assert res.exit_code == 2, (args, res.output)
        assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
        assert "Error:" in res.output


def test_duplicate_import_exits_1_with_hint(tmp_path):
    path = write(tmp_path / "accounts.csv", SF_ACCOUNT_HEADER, GOOD_ACCOUNTS)
    assert run("import", "accounts", path, "--database", db(tmp_path)).exit_code == 0
    res = run("import", "accounts", path, "--database", db(tmp_path))
    assert res.exit_code == 1 and "--replace" in res.output
    assert run("import", "accounts", path, "--database", db(tmp_path), "--replace").exit_code == 0
    assert rows(db(tmp_path), "accounts") == 3


def test_import_all_from_manifest(tmp_path):
    write(tmp_path / "accounts.csv", SF_ACCOUNT_HEADER, GOOD_ACCOUNTS)
    write(tmp_path / "orders.csv", SHOPIFY_HEADER, GOOD_ORDERS)
    (tmp_path / "manifest.yaml").write_text(
        "files:\n  - {file: accounts.csv, table: accounts, format: salesforce}\n"
        "  - {file: orders.csv, table: orders, format: shopify}\n")
    res = run("import", "all", tmp_path, "--database", db(tmp_path), "--json", "--today", "2025-06-30")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [f["table"] for f in out["files"]] == ["accounts", "orders"]
    assert rows(db(tmp_path), "accounts") == 3 and rows(db(tmp_path), "order_lines") == 6
