"""``territorium impact-report`` (commands/impact_demo.py) and the markdown/JSON it writes."""
from __future__ import annotations

import json

import pytest
import typer
import yaml
from typer.testing import CliRunner

from territorium.commands import impact_demo as cmd
from territorium.plan.impact import impact_markdown


def _app() -> typer.Typer:
    app = typer.Typer()
    cmd.register(app)

    @app.callback()
    def _main() -> None:
        pass

    return app


def test_report_files_and_summary(impact_cli, impact_demo):
    res, md, report = impact_cli
    text = md.read_text(encoding="utf-8")
    assert text.startswith("## Impact of the demo's planted interventions")
    for heading in ("### Staggered regional campaign", "### Visit programme",
                    "### Realignment hand-over dip"):
        assert heading in text
    truth = impact_demo[2]
    # the truth and the estimates appear as numbers in the tables
    sm = truth["campaign"]["realised"]["state_month"]["att_log"]
    assert f"| state × month (9 units) | {sm:+.3f} |" in text
    assert f"| truth (realised) | {truth['visits']['realised']['per_visit_usd']:,.0f} |" in text
    assert f"{report['visits']['dml']['estimate']:,.0f}" in text
    # plots beside the report, linked from it
    for kind in ("campaign", "visits", "realignment"):
        png = md.with_name(f"impact_{kind}.png")
        assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"
        assert f"]({png.name})" in text
    # the console summary says whether each interval covers the truth
    assert res.output.count("covers") == 3 and "MISSES" not in res.output
    # JSON round trip: the markdown is rendered from the same numbers
    assert impact_markdown(report) in text
    assert report["size"] == "medium" and report["seed"] == 7


def test_missing_truth_file_exit_2(impact_demo, tmp_path):
    _, url, _ = impact_demo
    out = tmp_path / "r.md"
    res = CliRunner().invoke(_app(), ["impact-report", "--truth", str(tmp_path / "nope.yaml"),
                                      "--out", str(out), "--database", url])
    assert res.exit_code == 2
    msg = " ".join(res.output.split())        # the console wraps long lines
    assert "nope.yaml not found" in msg
    assert not out.exists()


def test_truth_of_another_demo_exit_2(impact_demo, tmp_path):
    out_dir, url, truth = impact_demo
    other = dict(truth)
    other["realignment"] = dict(truth["realignment"])
    other["realignment"]["moved_accounts"] = [
        {**m, "account": "001XX" + m["account"][5:]} for m in truth["realignment"]["moved_accounts"]]
    bad = tmp_path / "truth.yaml"
    bad.write_text(yaml.safe_dump(other), encoding="utf-8")
    out = tmp_path / "r.md"
    res = CliRunner().invoke(_app(), ["impact-report", "--truth", str(bad), "--out", str(out),
                                      "--database", url, "--no-plots"])
    assert res.exit_code == 2
    assert "does not belong to the imported data" in " ".join(res.output.split())
    assert not out.exists()


def test_truth_without_a_section_exit_2(impact_demo, tmp_path):
    _, url, truth = impact_demo
    bad = tmp_path / "truth.yaml"
    bad.write_text(yaml.safe_dump({k: v for k, v in truth.items() if k != "campaign"}),
                   encoding="utf-8")
    res = CliRunner().invoke(_app(), ["impact-report", "--truth", str(bad), "--out",
                                      str(tmp_path / "r.md"), "--database", url, "--no-plots"])
    assert res.exit_code == 2 and "campaign" in res.output


def test_json_is_valid_and_without_objects(impact_cli):
    md = impact_cli[1]
    raw = md.with_suffix(".json").read_text(encoding="utf-8")
    assert "NaN" not in raw and "_results" not in raw
    data = json.loads(raw)
    assert [c["level"] for c in data["campaign"]] == ["state", "territory"]
    assert data["visits"]["covariates"][0] == "tier"


@pytest.mark.parametrize("bad", [["--learner", "xgboost"]])
def test_bad_option_values(impact_demo, tmp_path, bad):
    res = CliRunner().invoke(_app(), ["impact-report", "--out", str(tmp_path / "r.md"), *bad])
    assert res.exit_code == 2
