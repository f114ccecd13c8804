"""``territorium impact ...`` on panel files, through a local Typer app (CliRunner)."""
from __future__ import annotations

import json

import pytest
from _causal_sim import confounded_visits, factor_panel
from _shared_data import causal_dir
from typer.testing import CliRunner

from _cli import command_app
from territorium.commands import impact

DATA = causal_dir()
MPDTA = str(DATA / "mpdta.csv")
MP = ["--panel", MPDTA, "--unit", "countyreal", "--time", "year", "--outcome", "lemp"]


@pytest.fixture(scope="module")
def app():
    return command_app(impact)


def run(app, *args):
    return CliRunner().invoke(app, ["impact", *args])


def test_staggered_prints_table_and_summary(app):
    r = run(app, "staggered", *MP, "--first-treat", "first.treat", "--log-outcome")
    assert r.exit_code == 0, r.output
    assert "ATT simple" in r.output and "-0.0400" in r.output and "-0.0772" in r.output and "-0.0310" in r.output
    assert "\u22123.9 % lemp" in r.output and "pre-trends OK (p = 0.17)" in r.output


def test_staggered_json_and_plot(app, tmp_path):
    png = tmp_path / "out" / "es.png"
    r = run(app, "staggered", *MP, "--first-treat", "first.treat", "--control", "notyet", "--json",
            "--plot", str(png))
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    overall = {row["aggregation"]: row["estimate"] for row in d["overall"]}
    assert overall["simple"] == pytest.approx(-0.039764, abs=1e-6)
    assert d["diagnostics"]["control"] == "notyet" and d["panel"] == MPDTA
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_unknown_column_exits_2_naming_file_and_column(app, tmp_path):
    r = run(app, "staggered", *MP[:-1], "employment", "--first-treat", "first.treat")
    assert r.exit_code == 2
    assert "mpdta.csv" in r.output and "'employment'" in r.output
    r = run(app, "did", "--panel", str(tmp_path / "nope.csv"), "--treated", "a", "--start", "3")
    assert r.exit_code == 2 and "nope.csv: no such file" in r.output
    r = run(app, "did", *MP, "--treated", "8001")
    assert r.exit_code == 2 and "--treated needs --start" in r.output
    bad = tmp_path / "panel.xlsx"
    bad.write_text("x")
    r = run(app, "did", "--panel", str(bad), "--treated", "a", "--start", "3")
    assert r.exit_code == 2 and "unknown file type" in r.output


def test_did_synth_sdid_bsts_on_a_parquet_panel(app, tmp_path):
    path = tmp_path / "panel.parquet"
    factor_panel(n_units=15, seed=1, effect=8.0).to_parquet(path)
    base = ["--panel", str(path), "--unit", "unit", "--time", "week", "--outcome", "sales",
            "--treated", "r000", "--start", "21", "--json"]
    out = {}
    for cmd, extra in (("did", []), ("twfe", []), ("synth", []), ("sdid", ["--reps", "20"]), ("bsts", [])):
        r = run(app, cmd, *base, *extra)
        assert r.exit_code == 0, (cmd, r.output)
        out[cmd] = json.loads(r.stdout)
    assert out["did"]["estimate"] == pytest.approx(out["twfe"]["estimate"])
    for cmd in out:
        assert 3.0 < out[cmd]["estimate"] < 13.0, cmd
    r = run(app, "synth", *base[:-1])
    assert r.exit_code == 0 and "synthetic control:" in r.output and "weight r" in r.output


def test_dml_and_geo_design(app, tmp_path):
    path = tmp_path / "accounts.csv"
    confounded_visits(n=800).to_csv(path, index=False)
    r = run(app, "dml", "--panel", str(path), "--outcome", "revenue", "--treatment", "visits",
            "--covariates", "x0,x1,x2,x3,x4", "--learner", "lasso", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["method"] == "dml_uplift" and d["diagnostics"]["naive_estimate"] > d["estimate"]
    hist = tmp_path / "hist.csv"
    factor_panel(n_units=30, seed=2, treated=()).to_csv(hist, index=False)
    r = run(app, "geo-design", "--panel", str(hist), "--unit", "unit", "--time", "week", "--outcome", "sales",
            "--n-treated", "5", "--test-periods", "4")
    assert r.exit_code == 0, r.output
    assert "treatment" in r.output and "5 treatment / 5 control regions" in r.output
    r = run(app, "geo-design", "--panel", str(hist), "--unit", "unit", "--time", "week", "--outcome", "sales")
    assert r.exit_code == 2 and "--n-treated or --fraction" in r.output


def test_staggered_cluster_bootstrap_from_the_cli(app):
    """--cluster (one multiplier per cluster; here each county its own, as R did's default
    bootstrap) gives the published simple-ATT SE of about 0.012; an unknown column is exit 2."""
    r = run(app, "staggered", *MP, "--first-treat", "first.treat", "--cluster", "countyreal",
            "--multipliers", "rademacher", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    simple = next(row for row in d["overall"] if row["aggregation"] == "simple")
    assert simple["estimate"] == pytest.approx(-0.0400, abs=5e-4)
    assert 0.009 < simple["se"] < 0.015
    r = run(app, "staggered", *MP, "--first-treat", "first.treat", "--cluster", "state")
    assert r.exit_code == 2 and "cluster column 'state' is not in the panel" in r.output
