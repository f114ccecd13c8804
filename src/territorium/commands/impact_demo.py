"""``territorium impact-report``: the impact of the demo company's planted interventions.

Estimates the demo's staggered campaign (Callaway–Sant'Anna vs two-way fixed effects), visit
programme (double machine learning vs the naive regression) and realignment dip
(difference-in-differences) from the imported workspace, checks each against the
``truth.yaml`` that ``territorium demo`` wrote, and writes a markdown report (plus JSON and
plots beside it).
"""
from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer


class Learner(str, Enum):
    gbm = "gbm"
    rf = "rf"
    lasso = "lasso"


def impact_report_command(
    truth: Path = typer.Option(Path("demo_data/truth.yaml"), "--truth",
                               help="The truth file `territorium demo` wrote beside the exports."),
    out: Path = typer.Option(Path("out/impact.md"), "--out", "-o",
                             help="Markdown report to write; the JSON goes beside it (.json)."),
    plots: bool = typer.Option(True, "--plots/--no-plots",
                               help="Also write <out>_campaign.png, _visits.png, _realignment.png."),
    learner: Learner = typer.Option(Learner.gbm, "--learner",
                                    help="Learner of the double-ML nuisance models."),
    seed: int = typer.Option(0, "--seed", help="Seed of the cross-fitting splits."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of a summary."),
    database: Optional[str] = typer.Option(None, "--database",
                                           help="Database URL (default: sqlite file territorium.db here)."),
    force: bool = typer.Option(False, "--force", help="Replace existing output files that Territorium did not write."),
) -> None:
    """Estimate the demo's planted effects and check them against its truth file.

    The staggered campaign (Callaway–Sant'Anna vs TWFE), the visit programme (double ML vs
    naive regression) and the realignment dip (DiD)."""
    from rich.console import Console

    from territorium.plan.impact import demo_impact_report, report_json, write_impact_report
    from territorium.plan.workspace import Workspace, WorkspaceError

    err = Console(stderr=True)
    if not truth.is_file():
        err.print(f"[red]error:[/red] truth file {truth} not found: run `territorium demo` "
                  "(it writes truth.yaml beside the exports) and give its path with --truth")
        raise typer.Exit(2)
    from territorium.commands._outputs import OutputRefused, check_outputs, record_outputs

    outputs = [out, out.with_suffix(".json")]
    if plots:
        outputs += [out.with_name(f"{out.stem}_{k}.png") for k in ("campaign", "visits", "realignment")]
    try:
        ws = Workspace(database)
        check_outputs(outputs, inputs={"--truth": truth}, force=force, engine=ws.engine)
        with err.status("estimating the planted effects"):
            report = demo_impact_report(ws, truth, learner=learner.value,
                                        seed=seed, keep_results=plots)
    except OutputRefused as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    except (WorkspaceError, ValueError, KeyError) as exc:
        what = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
        err.print(f"[red]error:[/red] {truth}: {what}")
        raise typer.Exit(2) from None
    written = write_impact_report(report, out, plots=plots)
    record_outputs(written.values(), "impact-report")
    if as_json:
        typer.echo(json.dumps(report_json(report), indent=1))
        return
    con = Console()
    c = report["campaign"][0]
    cs, tw = c["callaway_santanna"], c["twfe"]
    con.print(f"[bold]Campaign[/bold] ({c['level']} × {c['freq']}): truth {c['truth']['att_log']:+.3f} log "
              f"points; Callaway–Sant'Anna {cs['estimate']:+.3f} [{cs['ci'][0]:+.3f}, {cs['ci'][1]:+.3f}] "
              f"{'covers' if cs['covers_truth'] else 'MISSES'} it; TWFE {tw['estimate']:+.3f}")
    v = report["visits"]
    con.print(f"[bold]Visits[/bold]: truth {v['truth']['per_visit_usd']:,.0f} USD per visit; DML "
              f"{v['dml']['estimate']:,.0f} [{v['dml']['ci'][0]:,.0f}, {v['dml']['ci'][1]:,.0f}] "
              f"{'covers' if v['dml']['covers_truth'] else 'MISSES'} it; naive {v['naive']['estimate']:,.0f}")
    r = report["realignment"]
    con.print(f"[bold]Realignment[/bold]: truth {r['truth']['att_usd']:+,.1f} USD per account-month; "
              f"DiD {r['did']['estimate']:+,.1f} [{r['did']['ci'][0]:+,.1f}, {r['did']['ci'][1]:+,.1f}] "
              f"{'covers' if r['did']['covers_truth'] else 'MISSES'} it")
    con.print("wrote " + ", ".join(str(p) for p in written.values()))


def register(app: typer.Typer) -> None:
    """Add the ``impact-report`` command to ``app``."""
    app.command("impact-report")(impact_report_command)
