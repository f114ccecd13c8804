"""Issue 13, "Inputs overwritten": a command never writes over its own input (also through a
symlink), never replaces an imported CRM file or a file Territorium did not write without
--force, and re-writes its own outputs (so `make demo` can run again)."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from _run import assert_clean_failure, cli, tree, write_accounts

from territorium.commands._outputs import LEDGER, OutputRefused, check_outputs, record_outputs


@pytest.fixture
def ws(tmp_path):
    """A workspace with three imported accounts (imported from tmp_path/crm/accounts.csv)."""
    (tmp_path / "crm").mkdir()
    f = write_accounts(tmp_path / "crm" / "accounts.csv")
    db = tmp_path / "ws.db"
    res = cli("import", "accounts", f, "--database", f"sqlite:///{db}", "--today", "2025-06-30", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    return tmp_path, f"sqlite:///{db}", f


def alignment_file(path: Path) -> Path:
    path.write_text("zip,territory\n02134,T1\n10001,T2\n62701,T2\n", encoding="utf-8")
    return path


def test_export_refuses_to_overwrite_its_alignment(ws):
    tmp, url, _ = ws
    a = alignment_file(tmp / "a.csv")
    before = tree(tmp)
    res = cli("export", "--format", "csv", "--alignment", a, "--out", a, "--database", url, cwd=tmp)
    assert_clean_failure(res, 2, f"{a} is an input of this command (--alignment)", "refusing to write over it")
    res = cli("export", "--format", "csv", "--alignment", a, "--out", a, "--database", url, "--force", cwd=tmp)
    assert_clean_failure(res, 2, "is an input of this command")  # --force does not make that safe
    assert tree(tmp) == before


def test_export_refuses_an_input_reached_through_a_symlink(ws):
    tmp, url, _ = ws
    a = alignment_file(tmp / "a.csv")
    (tmp / "link.csv").symlink_to(a)
    before = tree(tmp)
    res = cli("export", "--format", "excel", "--alignment", "a.csv", "--out", "link.csv", "--database", url, cwd=tmp)
    assert_clean_failure(res, 2, "link.csv is an input of this command (--alignment (the same file as a.csv))")
    assert tree(tmp) == before


def test_design_refuses_to_overwrite_its_from_file(ws):
    tmp, url, _ = ws
    a = alignment_file(tmp / "current.csv")
    before = tree(tmp)
    res = cli("design", "--units", "state", "--from", a, "--out", tmp / "." / "current.csv", "--database", url,
              cwd=tmp)
    assert_clean_failure(res, 2, "is an input of this command (--from")
    assert tree(tmp) == before


def test_quota_route_assign_size_refuse_to_overwrite_their_inputs(ws):
    tmp, url, crm = ws
    a = alignment_file(tmp / "a.csv")
    rules = tmp / "rules.yaml"
    rules.write_text("rules: []\n")
    before = tree(tmp)
    res = cli("quota", "--alignment", a, "--out", a, "--database", url, cwd=tmp)
    assert_clean_failure(res, 2, f"{a} is an input of this command (--alignment)")
    res = cli("route", "--rules", rules, "--out", rules, "--database", url, cwd=tmp)
    assert_clean_failure(res, 2, f"{rules} is an input of this command (--rules)")
    res = cli("route", "--rules", rules, "--out", crm, "--database", url, cwd=tmp)
    assert_clean_failure(res, 2, "is the accounts file imported into the workspace")
    res = cli("assign", "territories", "--alignment", a, "--out", tmp / "x" / ".." / "a.csv", "--database", url,
              cwd=tmp)
    assert_clean_failure(res, 2, "is an input of this command (--alignment")
    (tmp / "sizing.csv").write_text("my numbers\n")
    res = cli("size", "--out", tmp / "sizing.png", "--database", url, cwd=tmp)
    assert_clean_failure(res, 2, f"{tmp / 'sizing.csv'} exists and was not written by Territorium")
    (tmp / "sizing.csv").unlink()
    assert tree(tmp) == before


def test_excel_export_over_the_imported_crm_file(ws):
    tmp, url, crm = ws
    before = tree(tmp)
    res = cli("export", "--format", "excel", "--out", crm, "--database", url, cwd=tmp)
    assert_clean_failure(res, 2, f"{crm} is the accounts file imported into the workspace on",
                         "refusing to replace it (use --force")
    assert tree(tmp) == before


def test_design_out_below_a_file_or_in_a_read_only_folder_fails_before_the_work(ws):
    tmp, url, _ = ws
    (tmp / "plan.csv").write_text("mine\n")
    ro = tmp / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        before = tree(tmp)
        res = cli("design", "--units", "state", "--out", tmp / "plan.csv" / "x.csv", "--database", url, cwd=tmp)
        assert_clean_failure(res, 2, f"cannot write {tmp / 'plan.csv' / 'x.csv'}: {tmp / 'plan.csv'} is a file, "
                                     "not a folder")
        res = cli("design", "--units", "state", "--out", ro / "plan.csv", "--database", url, cwd=tmp)
        assert_clean_failure(res, 2, f"cannot write {ro / 'plan.csv'}: the folder {ro} is not writable")
        res = cli("export", "--format", "all", "--out", ro / "export", "--database", url, cwd=tmp)
        assert_clean_failure(res, 2, f"the folder {ro} is not writable")
        assert tree(tmp) == before
    finally:
        ro.chmod(0o755)


def test_read_only_commands_do_not_create_a_workspace(tmp_path):
    for args in (("export", "--format", "csv", "--out", tmp_path / "x"), ("design", "--units", "state"),
                 ("summary",)):
        res = cli(*args, "--database", f"sqlite:///{tmp_path}/nowhere/ws.db", cwd=tmp_path)
        assert_clean_failure(res, 2, f"no workspace at {tmp_path}/nowhere/ws.db")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# ------------------------------------------------------------------ the rule, on real files
def test_own_outputs_are_replaced_others_need_force(tmp_path):
    out = tmp_path / "plan.csv"
    check_outputs([out])  # nothing there yet
    out.write_text("unit,territory\n1,T1\n")
    with pytest.raises(OutputRefused, match="exists and was not written by Territorium"):
        check_outputs([out])
    check_outputs([out], force=True)
    record_outputs([out], "design")
    assert LEDGER in os.listdir(tmp_path)
    check_outputs([out])  # ours and unchanged: replaced without asking (make demo re-runs)
    time.sleep(0.01)
    out.write_text("unit,territory\n1,T9\n")  # edited by hand since
    with pytest.raises(OutputRefused, match="or was changed since"):
        check_outputs([out])


def test_inputs_are_compared_by_real_path(tmp_path):
    (tmp_path / "sub").mkdir()
    a = tmp_path / "a.csv"
    a.write_text("x\n")
    (tmp_path / "sub" / "l.csv").symlink_to(a)
    with pytest.raises(OutputRefused, match="the same file as"):
        check_outputs([tmp_path / "sub" / ".." / "sub" / "l.csv"], inputs={"--from": a}, force=True)
    check_outputs([tmp_path / "b.csv"], inputs={"--from": a, "--lock": None})


def test_export_rewrites_its_own_files_and_asks_before_others(demo_small, tmp_path):
    _, url = demo_small
    out = tmp_path / "exp"
    args = ("export", "--format", "csv", "--format", "geojson", "--units", "county", "--out", out, "--database", url)
    first = cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    csv = out / "accounts_territories.csv"
    body = csv.read_bytes()
    again = cli(*args, cwd=tmp_path)  # what `make demo` does on every run
    assert again.returncode == 0, again.stdout + again.stderr
    assert csv.read_bytes() == body
    csv.write_text("my own notes\n")
    refused = cli(*args, cwd=tmp_path)
    assert_clean_failure(refused, 2, f"{csv} exists and was not written by Territorium", "--force")
    assert csv.read_text() == "my own notes\n"
    forced = cli(*args, "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert csv.read_bytes() == body


def test_potential_and_forecast_follow_the_output_rule(ws, demo_small, tmp_path):
    tmp, url, crm = ws
    before = tree(tmp)
    res = cli("potential", "--out", crm, "--database", url, cwd=tmp)
    assert_clean_failure(res, 2, "is the accounts file imported into the workspace")
    (tmp / "mine_sites.csv").write_text("my notes\n")
    res = cli("potential", "--out", tmp / "mine.csv", "--database", url, cwd=tmp)
    assert_clean_failure(res, 2, f"{tmp / 'mine_sites.csv'} exists and was not written by Territorium", "--force")
    (tmp / "mine_sites.csv").unlink()
    assert tree(tmp) == before
    _, demo_url = demo_small
    regions = tmp_path / "regions.csv"
    regions.write_text("territory,region\nT01,East\n")
    res = cli("forecast", "--regions", regions, "--out", regions, "--database", demo_url, cwd=tmp_path)
    assert_clean_failure(res, 2, f"{regions} is an input of this command (--regions)")
    assert regions.read_text() == "territory,region\nT01,East\n"


def test_impact_plot_never_replaces_the_panel_or_a_foreign_file(tmp_path):
    import shutil

    src = Path(__file__).resolve().parents[1] / "analytics_causal" / "data" / "mpdta.csv"  # shipped copy
    panel = tmp_path / "mpdta.csv"
    shutil.copy(src, panel)
    args = ("impact", "staggered", "--panel", panel, "--unit", "countyreal", "--time", "year",
            "--outcome", "lemp", "--first-treat", "first.treat")
    body = panel.read_bytes()
    res = cli(*args, "--plot", panel, cwd=tmp_path)
    assert_clean_failure(res, 2, f"{panel} is an input of this command (--panel)")
    assert panel.read_bytes() == body
    mine = tmp_path / "figure.png"
    mine.write_bytes(b"my own figure")
    res = cli(*args, "--plot", mine, cwd=tmp_path)
    assert_clean_failure(res, 2, f"{mine} exists and was not written by Territorium", "--force")
    assert mine.read_bytes() == b"my own figure"
    res = cli(*args, "--plot", mine, "--force", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert mine.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = cli(*args, "--plot", mine, cwd=tmp_path)  # its own figure: replaced without --force
    assert again.returncode == 0, again.stdout + again.stderr
