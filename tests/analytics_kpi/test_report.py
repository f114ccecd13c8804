"""`territorium report` on the small demo: a self-contained HTML page and a PDF whose pages,
rendered to images, show the map; the PDF's text holds the tables; the changes against an
earlier plan are counted right."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from _cli import command_app
from territorium.commands import report as report_cmd

runner = CliRunner()


@pytest.fixture(scope="module")
def report_files(demo_small, tmp_path_factory):
    from territorium.plan.workspace import Workspace

    _, url = demo_small
    d = tmp_path_factory.mktemp("report")
    u = Workspace(url).load_units("county").units.table
    al = pd.DataFrame({"unit_id": u["unit_id"], "territory": ["S_" + n.split(", ")[-1] for n in u["name"]]})
    al.to_csv(d / "now.csv", index=False)
    # the previous plan: the first three counties of NJ belonged to NY's territory
    prev = al.copy()
    nj = np.flatnonzero(prev["territory"].to_numpy() == "S_NJ")[:3]
    prev.loc[nj, "territory"] = "S_NY"
    prev.to_csv(d / "before.csv", index=False)
    rules = d / "rules.yaml"
    rules.write_text("alerts:\n  - name: any visits\n    metric: visits\n    by: territory\n    period: month\n"
                     "    above: 0\n")
    r = runner.invoke(command_app(report_cmd), [
        "report", "--units", "county", "--alignment", str(d / "now.csv"), "--since", str(d / "before.csv"),
        "--rules", str(rules), "--html", str(d / "r.html"), "--pdf", str(d / "r.pdf"), "--database", url])
    assert r.exit_code == 0, r.output
    return d, r.output, len(nj), url


def test_html_is_self_contained_with_every_section(report_files):
    d, out, n_moved, _ = report_files
    page = (d / "r.html").read_text()
    assert "sections: map, balance, kpis, alerts, changes" in out
    assert not re.search(r'(src|href)="(https?:)?//', page)           # nothing fetched from outside
    assert page.count('src="data:image/png;base64,') == 2            # map + revenue chart
    for h in ("<h2>Map</h2>", "<h2>Balance</h2>", "<h2>KPIs, month from", "<h2>Alerts", "Changes since"):
        assert h in page
    m = re.search(r"<p>(\d+) units and (\d+) of ([\d,]+) accounts change territory", page)
    assert m and int(m.group(1)) == n_moved


def test_pdf_pages_show_the_map_and_the_tables(report_files):
    import pypdfium2 as pdfium
    from pypdf import PdfReader

    d, _, _, _ = report_files
    pdf = pdfium.PdfDocument(str(d / "r.pdf"))
    assert len(pdf) >= 2
    img = np.asarray(pdf[0].render(scale=1.0).to_pil().convert("RGB"))
    # the map: several territory colours of the palette fill large areas of page 1
    from territorium.plan.report import PALETTE

    rgb = [tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in PALETTE[:4]]
    px = img.reshape(-1, 3).astype(int)
    shares = [np.mean(np.abs(px - np.array(c)).sum(1) < 30) for c in rgb]
    assert sum(s > 0.01 for s in shares) >= 3, shares
    text = " ".join(p.extract_text() for p in PdfReader(str(d / "r.pdf")).pages)
    assert "Balance" in text and "S_NY" in text and "S_NJ" in text and "Changes since the previous plan" in text


def test_report_errors_are_one_line(report_files, tmp_path):
    d, _, _, url = report_files
    r = runner.invoke(command_app(report_cmd), ["report", "--units", "county", "--alignment", str(d / "now.csv"),
                                                "--period", "fortnight", "--html", str(tmp_path / "x.html"),
                                                "--database", url])
    assert r.exit_code == 2 and "--period: 'fortnight'" in r.output and "Traceback" not in r.output
