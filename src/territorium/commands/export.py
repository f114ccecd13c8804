"""``territorium export``: the plan to Salesforce, HubSpot, CSV, GeoJSON, GeoPackage, KML, Excel."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer


def export_command(
    fmt: List[str] = typer.Option(["csv"], "--format", help="salesforce, hubspot, csv, geojson, gpkg, kml or excel; repeat for several (or 'all')."),
    alignment: Optional[Path] = typer.Option(None, "--alignment", help="Alignment (unit_id|zip, territory), e.g. out/designed.csv. Default: the imported alignment."),
    assignment: Optional[List[Path]] = typer.Option(None, "--assignment", help="Reps: territory → rep_id rows (several per territory with head counts; team_id + members for teams) and/or account_id → rep_id rows (e.g. out/assignment.csv, its _accounts.csv, out/routed.csv). Repeat to combine a territory file with its accounts file."),
    hierarchy: str = typer.Option("state", "--hierarchy", help="Levels above the territories: state, adjacency:N, none, or a CSV (territory, area, region | node, parent)."),
    units: str = typer.Option("zip", "--units", help="Unit level of the alignment: zip, county or state."),
    model_name: str = typer.Option("Territorium plan", "--model-name", help="Salesforce territory model name."),
    kml_engine: str = typer.Option("auto", "--kml-engine", help="KML writer: auto (GDAL when available), gdal or etree."),
    ids_from: Optional[Path] = typer.Option(None, "--ids-from", help="Salesforce: folder of Data Loader success files (or Id, DeveloperName exports) of the files loaded so far; fills the ids into the next load files."),
    salesforce_access: str = typer.Option("Edit,Edit,Read", "--salesforce-access", help="Salesforce Territory2 access levels: account (Read, Edit, All), opportunity and case (None, Read, Edit)."),
    out: Path = typer.Option(Path("out/export"), "--out", help="Folder (salesforce; default file names for the others) or file."),
    as_json: bool = typer.Option(False, "--json", help="Print the written files as JSON."),
    database: Optional[str] = typer.Option(None, "--database", help="Database URL (default: sqlite file territorium.db here)."),
    force: bool = typer.Option(False, "--force", help="Replace existing files that Territorium did not write (never this command's inputs)."),
) -> None:
    """Export the plan back to the CRM and to maps and spreadsheets.

    Salesforce Enterprise Territory Management insert files in load order (types, model,
    territories level by level, user and account associations; run again with --ids-from
    after each Data Loader insert to fill in the ids), a HubSpot company-owner import, a generic
    account → territory → rep CSV (+ unit alignment), territory polygons as GeoJSON,
    GeoPackage and KML, and an Excel workbook with one sheet per territory.
    """
    from rich.console import Console

    from territorium.commands._outputs import check_outputs, record_outputs
    from territorium.plan.exporting import FORMATS, ExportError, build_plan, export
    from territorium.plan.workspace import Workspace, WorkspaceError

    console = Console(stderr=as_json)
    formats = []
    for f in fmt:
        for x in f.split(","):
            x = x.strip().lower()
            if x == "all":
                formats += list(FORMATS)
            elif x:
                if x not in FORMATS:
                    console.print(f"[red]error:[/red] --format {x!r}: use one of {', '.join(FORMATS)} or all")
                    raise typer.Exit(2)
                formats.append(x)
    formats = list(dict.fromkeys(formats))
    written = {}
    try:
        ws = Workspace(database)
        check_outputs(_targets(formats, out), force=force, engine=ws.engine,
                      inputs={"--alignment": alignment, "--assignment": list(assignment or []),
                              "--hierarchy": hierarchy if hierarchy.lower().endswith(".csv") else None})
        with console.status("loading the plan", spinner="dots") as st:
            plan = build_plan(ws, alignment=alignment, assignment=assignment, hierarchy=hierarchy, level=units,
                              model_name=model_name)
            for f in formats:
                st.update(f"writing {f}")
                target = out / "salesforce" if f == "salesforce" and len(formats) > 1 else out
                written[f] = [str(p) for p in export(plan, f, target, model_name=model_name, kml_engine=kml_engine,
                                                     ids_from=ids_from, salesforce_access=salesforce_access)]
    except (ExportError, WorkspaceError, ValueError, FileNotFoundError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    record_outputs([p for paths in written.values() for p in paths], "export")
    if as_json:
        typer.echo(json.dumps({"files": written, "territories": len(plan.territories),
                               "accounts": int(plan.accounts["territory_id"].notna().sum()), "notes": plan.notes},
                              indent=1))
        return
    tt = plan.territories
    console.print(f"plan: {len(tt)} territories, {int(plan.accounts['territory_id'].notna().sum()):,} accounts, "
                  f"{tt['rep_id'].notna().sum()} with a rep"
                  + (f", hierarchy depth {plan.hierarchy.depth}" if plan.hierarchy is not None else ""))
    for f, paths in written.items():
        console.print(f"{f}: " + ", ".join(paths))
    for n in plan.notes:
        console.print(f"[dim]note:[/dim] {n}")


#: The file names ``plan.exporting.export`` gives each format in a folder (Salesforce's depend
#: on the stage of its staged import, so only its inputs are checked, not existing files).
_DEFAULT_NAMES = {"hubspot": "hubspot_companies.csv", "csv": "accounts_territories.csv",
                  "geojson": "territories.geojson", "gpkg": "territories.gpkg", "kml": "territories.kml",
                  "excel": "territories.xlsx"}


def _targets(formats: list[str], out: Path) -> list[Path]:
    folder = out.is_dir() or not out.suffix
    return [out / _DEFAULT_NAMES[f] if folder else out for f in formats if f in _DEFAULT_NAMES]


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
