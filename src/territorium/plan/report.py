"""The plan report: one self-contained HTML file (images inline) and the same page as PDF.

Sections: the map (territories coloured so that neighbours differ, boundaries, rep homes),
the balance table per territory and the balance indices, the latest complete period's
commerce and field KPIs with a revenue chart, the alerts, and the changes since an earlier
plan (units and accounts that change territory, revenue moving). The PDF is WeasyPrint's
rendering of the HTML, so both always say the same.
"""
from __future__ import annotations

import base64
import datetime as dt
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from territorium.plan.kpis import (KpiJobError, PlacedData, commerce_table, field_table, health_tables, place,
                                   placed_targets)

__all__ = ["ReportJob", "Report", "build_report", "write_report"]

PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f",
           "#bab0ac"]


@dataclass(frozen=True)
class ReportJob:
    alignment: Path | None = None
    assignment: tuple[Path, ...] = ()
    quotas: Path | None = None
    since: Path | None = None          # the previous plan's alignment, for "changes since"
    rules: tuple = ()                  # parsed alert rules
    level: str = "zip"
    period: str = "month"
    title: str = "Territory plan report"
    asof: dt.date | None = None
    targets: str = "plan"              # balance against the capacity targets ("plan", when known) or the mean


@dataclass
class Report:
    html: str
    sections: list[str]
    notes: list[str] = field(default_factory=list)


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def territory_colours(unit_terr: np.ndarray, edges: np.ndarray, k: int) -> np.ndarray:
    """A palette index per territory such that neighbouring territories differ (greedy
    colouring of the territory graph, largest first).

    >>> territory_colours(np.array([0, 1, 2]), np.array([[0, 1], [1, 2], [0, 2]]), 3).tolist()
    [0, 1, 2]
    """
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(range(k))
    a, b = unit_terr[edges[:, 0]], unit_terr[edges[:, 1]]
    diff = (a != b) & (a >= 0) & (b >= 0)
    g.add_edges_from(zip(a[diff].tolist(), b[diff].tolist()))
    col = nx.greedy_color(g, strategy="largest_first")
    return np.array([col[i] for i in range(k)], dtype=np.int64)


def map_image(data: PlacedData, reps: pd.DataFrame | None = None) -> str | None:
    """The plan on a map as a PNG data URL (None without polygons)."""
    import geopandas as gpd
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    units = data.load.units
    if units.geometry is None:
        return None
    terr = data.plan.units["territory"].astype(str).to_numpy()
    labels = sorted(set(terr))
    idx = pd.Series(np.arange(len(labels)), index=labels)
    ut = idx.reindex(terr).to_numpy()
    colours = territory_colours(ut, units.adjacency.edges(), len(labels))
    g = gpd.GeoDataFrame({"territory": terr}, geometry=np.asarray(units.geometry), crs="EPSG:4326")
    g["colour"] = [PALETTE[colours[i] % len(PALETTE)] for i in ut]
    fig, ax = plt.subplots(figsize=(8, 7))
    g.plot(ax=ax, color=g["colour"], linewidth=0)
    from territorium.plan.exporting import dissolve_holes

    g["geometry"] = g.geometry.make_valid()
    dissolved = g.dissolve("territory")
    # no sliver holes between the units' polygons on the boundary lines
    dissolved["geometry"] = dissolve_holes(dissolved.index.to_numpy(), dissolved.geometry.to_numpy(),
                                           g["territory"].to_numpy(), g.geometry.to_numpy())
    dissolved.boundary.plot(ax=ax, color="#222222", linewidth=0.6)
    for t, pt in zip(dissolved.index, dissolved.geometry.representative_point()):
        ax.annotate(str(t), (pt.x, pt.y), fontsize=6, ha="center", va="center", color="#111111")
    if reps is not None and len(reps) and {"home_lat", "home_lon"} <= set(reps.columns):
        r = reps.dropna(subset=["home_lat", "home_lon"])
        ax.scatter(r["home_lon"].astype(float), r["home_lat"].astype(float), s=10, marker="^", color="black",
                   label="rep homes", zorder=3)
        ax.legend(loc="lower right", fontsize=7)
    ax.set_axis_off()
    ax.set_title(f"{len(labels)} territories, {units.n:,} {units.level} units", fontsize=10)
    return _png(fig)


def revenue_chart(commerce: pd.DataFrame, top: int = 6) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = commerce.copy()
    c["period"] = pd.to_datetime(c["period"])
    total = c.groupby("period")["revenue"].sum()
    best = c.groupby("territory")["revenue"].sum().nlargest(top).index
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.2))
    a1.plot(total.index, total.to_numpy() / 1e3, color="#4e79a7")
    a1.set_title("Revenue, all territories (thousands)", fontsize=9)
    for t in best:
        s = c[c["territory"] == t].set_index("period")["revenue"]
        a2.plot(s.index, s.to_numpy() / 1e3, label=str(t), linewidth=1)
    a2.set_title(f"Revenue of the {len(best)} largest territories (thousands)", fontsize=9)
    a2.legend(fontsize=6, ncol=2)
    for a in (a1, a2):
        a.tick_params(labelsize=7)
    fig.autofmt_xdate()
    return _png(fig)


def changes_since(data: PlacedData, previous: Path) -> tuple[pd.DataFrame, dict]:
    """Per territory: units and accounts gained and lost, and revenue moving, against an
    earlier alignment file of the same unit set."""
    from territorium.plan.exporting import ExportError, align_units

    try:
        prev, prev_labels, _ = align_units(None, data.load.units, previous)
    except ExportError as exc:
        raise KpiJobError(f"--since: {exc}") from None
    before = np.asarray(prev_labels, dtype=object)[prev]
    now = data.plan.units["territory"].astype(str).to_numpy(dtype=object)
    moved = before != now
    acc = data.accounts
    upos = data.load.accounts["unit"].to_numpy(np.int64)
    ok = upos >= 0
    a_before = np.where(ok, before[np.maximum(upos, 0)], None)
    a_now = np.where(ok, now[np.maximum(upos, 0)], None)
    rev = acc["revenue_12m"].to_numpy(float) if "revenue_12m" in acc.columns else np.zeros(len(acc))
    a_moved = ok & (a_before != a_now)
    terr = sorted(set(now) | set(before))
    rows = []
    for t in terr:
        rows.append({
            "territory": t,
            "units_gained": int(((now == t) & moved).sum()), "units_lost": int(((before == t) & moved).sum()),
            "accounts_gained": int((a_moved & (a_now == t)).sum()), "accounts_lost": int((a_moved & (a_before == t)).sum()),
            "revenue_gained": float(rev[a_moved & (a_now == t)].sum()),
            "revenue_lost": float(rev[a_moved & (a_before == t)].sum()),
        })
    df = pd.DataFrame(rows)
    df = df[(df.drop(columns="territory") != 0).any(axis=1)]
    summary = {"units_moved": int(moved.sum()), "accounts_moved": int(a_moved.sum()),
               "revenue_moved": float(rev[a_moved].sum()), "accounts": int(ok.sum())}
    return df, summary


def _table(df: pd.DataFrame, pct: Sequence[str] = (), cls: str = "") -> str:
    def cell(col, v):
        if v is None or (isinstance(v, float) and v != v):
            return ""
        if col in pct:
            t = f"{float(v):.1%}"
            return "0.0%" if t == "-0.0%" else t   # a territory 0.02 % under its target
        if isinstance(v, (float, np.floating)):
            return f"{v:,.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:,.2f}"
        if isinstance(v, pd.Timestamp):
            return str(v.date())
        return str(v)

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell(c, v))}</td>" for c, v in zip(df.columns, row)) + "</tr>"
                   for row in df.itertuples(index=False))
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


CSS = """
body { font-family: 'DejaVu Sans', Arial, sans-serif; font-size: 10pt; color: #222; margin: 1.5em; }
h1 { font-size: 16pt; margin-bottom: 0.2em; } h2 { font-size: 12.5pt; margin-top: 1.4em; border-bottom: 1px solid #ccc; }
.meta { color: #666; } img { max-width: 100%; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 8pt; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: right; }
th { background: #f2f2f2; } td:first-child, th:first-child { text-align: left; }
.alert-critical { color: #b00020; } .note { color: #666; font-size: 8.5pt; }
@page { size: A4; margin: 12mm; }
"""


def build_report(ws, job: ReportJob, *, data: PlacedData | None = None, progress=None) -> Report:
    from territorium.plan.alerts import AlertJob, alerts_frame, run_alerts

    say = progress or (lambda msg: None)
    data = data or place(ws, alignment=job.alignment, assignment=job.assignment, level=job.level, progress=say)
    asof = pd.Timestamp(job.asof) if job.asof else data.data_end
    notes = list(data.notes)
    sections: list[str] = []
    parts = [f"<h1>{html.escape(job.title)}</h1>",
             f'<p class="meta">Alignment: {html.escape(str(job.alignment or "the imported alignment"))} · '
             f"{len(data.plan.territories)} territories · data to {asof.date() if asof is not None else 'n/a'} · "
             f"written {dt.date.today().isoformat()} by Territorium</p>"]
    say("drawing the map")
    reps = ws.table("reps")
    img = map_image(data, reps)
    if img:
        parts.append(f'<h2>Map</h2><img alt="territory map" src="{img}">')
        sections.append("map")
    say("balance")
    shares, used = placed_targets(data, job.targets)
    balance, capacity = health_tables(data, reference=(shares, used))
    tt = data.plan.territories
    cols = [c for c in ("territory_id", "rep_name", "account_count", "revenue", "potential", "workload")
            if c in tt.columns]
    bt = tt[cols].rename(columns={"territory_id": "territory", "rep_name": "rep"}).copy()
    if shares is not None:
        from territorium.plan.targets import label_shares

        bt["target_share"] = label_shares(shares, bt["territory"].astype(str).tolist())
    if "workload" in bt.columns:
        want = bt["target_share"] * bt["workload"].sum() if shares is not None else bt["workload"].mean()
        bt["workload_dev"] = bt["workload"] / want - 1
    if capacity is not None:
        bt["load"] = bt["territory"].astype(str).map(capacity.set_index("territory")["load"])
    vs = ("<p class=\"meta\">Balance vs capacity target: each territory against its share of the reps' capacity "
          "(max deviation, CV and Gini of total / target; workload_dev from its target).</p>" if used == "capacity"
          else "<p class=\"meta\">Balance vs mean: each territory against the mean.</p>")
    parts.append("<h2>Balance</h2>" + vs + _table(balance.drop(columns="reference"), pct=("max_dev",))
                 + _table(bt, pct=("target_share", "workload_dev", "load")))
    sections.append("balance")
    say("KPIs")
    end = asof
    com = commerce_table(data, ["territory"], job.period, end=end) if end is not None else None
    if com is not None and len(com):
        from territorium.analytics.kpi import _period_ends

        done = com[_period_ends(job.period, com["period"]) <= end]
        last = (done if len(done) else com)["period"].max()
        show = com[com["period"] == last][["territory", "orders", "revenue", "aov", "customers", "new_customers",
                                           "repeat_purchase_rate", "refund_rate"]]
        parts.append(f"<h2>KPIs, {job.period} from {pd.Timestamp(last).date()}</h2>"
                     + _table(show, pct=("repeat_purchase_rate", "refund_rate")))
        parts.append(f'<img alt="revenue chart" src="{revenue_chart(done if len(done) else com)}">')
        fs = field_table(data, ["territory"], job.period, end=end)
        if fs is not None and len(fs):
            fl = fs[fs["period"] == last]
            keep = [c for c in ("territory", "pipeline", "won_amount", "win_rate", "visits", "coverage", "load")
                    if c in fl.columns]
            parts.append(_table(fl[keep], pct=("win_rate", "coverage", "load")))
        sections.append("kpis")
    if job.rules:
        say("alerts")
        run = run_alerts(ws, AlertJob(rules=tuple(job.rules), alignment=job.alignment, assignment=job.assignment,
                                      quotas=job.quotas, level=job.level, asof=job.asof, targets=job.targets),
                         data=data)
        af = alerts_frame(run.alerts)
        if len(af):
            parts.append(f"<h2>Alerts ({len(af)})</h2>" + _table(af[["severity", "rule", "group", "value", "since"]]))
        else:
            parts.append(f"<h2>Alerts</h2><p>None of the {len(run.evaluated)} rules fired.</p>")
        notes += run.notes
        sections.append("alerts")
    if job.since is not None:
        say("changes since the previous plan")
        ch, summ = changes_since(data, job.since)
        parts.append("<h2>Changes since the previous plan</h2>"
                     f"<p>{summ['units_moved']:,} units and {summ['accounts_moved']:,} of {summ['accounts']:,} accounts "
                     f"change territory, with {summ['revenue_moved']:,.0f} of last year's revenue "
                     f"(previous plan: {html.escape(str(job.since))}).</p>" + _table(ch))
        sections.append("changes")
    if notes:
        parts.append("<h2>Notes</h2>" + "".join(f'<p class="note">{html.escape(n)}</p>' for n in dict.fromkeys(notes)))
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(job.title)}</title>"
            f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>")
    return Report(page, sections, notes)


def write_report(report: Report, html_path: Path | None, pdf_path: Path | None) -> list[Path]:
    """Write the HTML and/or the PDF (WeasyPrint), each beside its target and moved into place."""
    files = []
    if html_path is not None:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = html_path.with_name(html_path.name + ".tmp")
        tmp.write_text(report.html, encoding="utf-8")
        tmp.replace(html_path)
        files.append(html_path)
    if pdf_path is not None:
        import logging

        from weasyprint import HTML

        logging.getLogger("weasyprint").setLevel(logging.ERROR)
        logging.getLogger("fontTools").setLevel(logging.ERROR)
        pdf_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = pdf_path.with_name(pdf_path.name + ".tmp")
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)   # "HarfBuzz-Subset will be required"
            HTML(string=report.html).write_pdf(tmp)
        tmp.replace(pdf_path)
        files.append(pdf_path)
    return files
