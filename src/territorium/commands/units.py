"""``territorium units build|show``: build geographic units and summarise them."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

LEVEL_HELP = "Unit level: state, county, zip, account or custom."


def _read_accounts(path: Path):
    import pandas as pd

    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype={"account_id": str})


def _build(level, states, polygon, file, id_column, name_column, crs, cache):
    from territorium.geo import build_units

    if level == "custom" and file is None:
        raise typer.BadParameter("--level custom needs --file (GeoJSON, GeoPackage or Shapefile)")
    if level == "account" and file is None:
        raise typer.BadParameter("--level account needs --file (CSV or Parquet with account_id, lon, lat)")
    try:
        accounts = _read_accounts(file) if level == "account" else None
        return build_units(
            level,
            states=states or None,
            polygon=polygon,
            accounts=accounts,
            custom=file if level == "custom" else None,
            id_column=id_column,
            name_column=name_column,
            crs=crs,
            cache=cache,
        )
    except (ValueError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _print_summary(s: dict, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    t = Table(title=title, show_header=False)
    t.add_column("", style="bold")
    t.add_column("", justify="right")
    t.add_row("level", s["level"])
    t.add_row("units", f"{s['units']:,}")
    t.add_row("edges", f"{s['edges']:,}")
    t.add_row("virtual edges", f"{s['virtual_edges']:,}")
    t.add_row("components", f"{s['components']} (without virtual edges: {s['components_without_virtual']})")
    t.add_row("mean degree", f"{s['degree_mean']}")
    a = s["area_km2"]
    t.add_row("area km² total", f"{a['total']:,.0f}")
    t.add_row("area km² min / median / max", f"{a['min']:,.2f} / {a['median']:,.1f} / {a['max']:,.0f}")
    t.add_row("CRS", s["crs"])
    con.print(t)
    if s["virtual"]:
        v = Table(title="Virtual edges (islands linked to keep the graph connected)")
        for c in ("from", "to", "km"):
            v.add_column(c, justify="right" if c == "km" else "left")
        for r in s["virtual"][:50]:
            v.add_row(f"{r['from_name']} ({r['from_id']})", f"{r['to_name']} ({r['to_id']})",
                      f"{r['distance_km']:,.0f}")
        con.print(v)
        if len(s["virtual"]) > 50:
            con.print(f"... and {len(s['virtual']) - 50} more (use --json)")
    other = [n for n in s["notes"] if not n.startswith("linked ")]
    for n in other[:20]:
        con.print(f"[dim]note:[/dim] {n}")
    if len(other) > 20:
        con.print(f"[dim]... and {len(other) - 20} more notes (use --json)[/dim]")


def _common(
    level: str, states: Optional[str], polygon: Optional[Path], file: Optional[Path],
    id_column: Optional[str], name_column: Optional[str], crs: str, cache: bool, as_json: bool,
    title: str,
) -> None:
    from rich.console import Console

    from territorium.geo import units_summary

    if as_json:
        units = _build(level, states, polygon, file, id_column, name_column, crs, cache)
    else:
        with Console(stderr=True).status(f"building {level} units ..."):
            units = _build(level, states, polygon, file, id_column, name_column, crs, cache)
    s = units_summary(units)
    if as_json:
        typer.echo(json.dumps(s, indent=1, default=str))
    else:
        _print_summary(s, title)


def register(app: typer.Typer) -> None:
    """Add the ``units`` command group to ``app``."""
    units_app = typer.Typer(help="Build and inspect geographic units (states, counties, ZIPs, custom).",
                            no_args_is_help=True)

    level_opt = typer.Option("county", "--level", "-l", help=LEVEL_HELP)
    states_opt = typer.Option(None, "--states", help="Comma-separated USPS codes, e.g. CA,NV,OR; CONUS for the 48 contiguous states and DC (default: all 50 states, DC and PR).")
    polygon_opt = typer.Option(None, "--polygon", help="Keep units whose point lies inside the polygons of this file.", exists=True, dir_okay=False)
    file_opt = typer.Option(None, "--file", help="Polygons for --level custom (GeoJSON, GeoPackage, Shapefile); accounts for --level account (CSV/Parquet: account_id, lon, lat).", exists=True, dir_okay=False)
    id_opt = typer.Option(None, "--id-column", help="Column of --file holding the unit id (default: unit_id, id or name, else the row number).")
    name_opt = typer.Option(None, "--name-column", help="Column of --file holding the unit name (default: name if present).")
    crs_opt = typer.Option("EPSG:5070", "--crs", help="Equal-area CRS for points, areas and cells (EPSG:3035 for Europe).")
    cache_opt = typer.Option(True, "--cache/--no-cache", help="Use the on-disk cache of built unit sets.")
    json_opt = typer.Option(False, "--json", help="Print the summary as JSON.")

    @units_app.command("build")
    def build(
        level: str = level_opt, states: Optional[str] = states_opt, polygon: Optional[Path] = polygon_opt,
        file: Optional[Path] = file_opt, id_column: Optional[str] = id_opt,
        name_column: Optional[str] = name_opt, crs: str = crs_opt, cache: bool = cache_opt,
        as_json: bool = json_opt,
    ) -> None:
        """Build units (geography only for now) and print a summary."""
        _common(level, states, polygon, file, id_column, name_column, crs, cache, as_json,
                f"{level} units built")

    @units_app.command("show")
    def show(
        level: str = level_opt, states: Optional[str] = states_opt, polygon: Optional[Path] = polygon_opt,
        file: Optional[Path] = file_opt, id_column: Optional[str] = id_opt,
        name_column: Optional[str] = name_opt, crs: str = crs_opt, as_json: bool = json_opt,
    ) -> None:
        """Summarise a unit set: count, edges, virtual edges with names, components, areas."""
        _common(level, states, polygon, file, id_column, name_column, crs, True, as_json,
                f"{level} units")

    app.add_typer(units_app, name="units")
