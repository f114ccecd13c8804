"""Import pipeline: read → map → validate → geocode → (store in one transaction).

:func:`read_file` does everything but the database and is what the tests of each rule use;
:func:`import_file` and :func:`import_directory` add the all-or-nothing write.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from territorium.data.cells import write_csv
from territorium.data import geocoding
from territorium.data.formats import (
    TABLE_ALIASES, Format, Mapping, detect_format, get_format, load_mapping,
)
from territorium.data.io import normalize_header, read_headers, read_raw
from territorium.data.problems import ERROR, WARNING, PROBLEM_COLUMNS, ImportFailed, ProblemLog
from territorium.data.schema import LINE_LEVEL, TABLES
from territorium.data.validate import validate_frame

__all__ = ["ImportResult", "DirectoryResult", "read_file", "import_file", "import_directory", "write_rejects"]

Progress = Callable[[str], None]


@dataclass
class ImportResult:
    """What one file gave.

    ``frames`` maps core-table name → typed rows ready to store (rejected rows left out);
    ``problems`` has the columns file, row, column, value, reason, severity.
    """

    file: Path
    table: str
    format: str
    rows_read: int
    rejected: int
    unplaced: int
    problems: pd.DataFrame
    frames: dict[str, pd.DataFrame]
    rejected_positions: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    encoding: str | None = None
    delimiter: str | None = None
    blank_rows: int = 0
    rejects_path: Path | None = None
    stored: bool = False

    @property
    def countries(self) -> dict[str, int]:
        """Rows kept per country (ISO code; '' = unknown), largest first; {} for tables
        without addresses (orders: by shipping country)."""
        col = {"accounts": "country", "customers": "country", "orders": "shipping_country"}.get(self.table)
        f = self.frames.get(self.table)
        if col is None or f is None or col not in f.columns:
            return {}
        vc = f[col].fillna("").astype(str).value_counts()
        return {str(k): int(v) for k, v in vc.items()}

    @property
    def outside_us(self) -> dict[str, int]:
        """Rows kept per country outside the US geography (not placed in US units); rows of
        unknown country (no address, or an ambiguous one: see the warnings) are not counted."""
        from territorium.data.address import US_POSTAL

        return {k: v for k, v in self.countries.items() if k and k not in US_POSTAL}

    @property
    def n_errors(self) -> int:
        return int((self.problems["severity"] == ERROR).sum())

    @property
    def n_warnings(self) -> int:
        return int((self.problems["severity"] == WARNING).sum())

    @property
    def ok(self) -> bool:
        """True when the file has no errors (warnings allowed)."""
        return self.n_errors == 0

    @property
    def imported(self) -> int:
        """Rows imported (or that would be, with ``skip_invalid``)."""
        if not self.stored:
            return 0
        return self.rows_read - self.rejected

    def summary(self) -> dict:
        return {
            "file": str(self.file), "table": self.table, "format": self.format,
            "rows_read": self.rows_read, "imported": self.imported, "rejected": self.rejected,
            "unplaced": self.unplaced, "errors": self.n_errors, "warnings": self.n_warnings,
            "stored": self.stored, "rejects_file": str(self.rejects_path) if self.rejects_path else None,
            "rows_stored": {k: int(len(v)) for k, v in self.frames.items()} if self.stored else {},
            "countries": self.countries, "outside_us": self.outside_us,
        }


@dataclass
class DirectoryResult:
    results: list[ImportResult]
    stored: bool

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def problems(self) -> pd.DataFrame:
        frames = [r.problems for r in self.results if len(r.problems)]
        return pd.concat(frames, ignore_index=True) if frames else _no_problems()


def _no_problems() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in PROBLEM_COLUMNS})


# --------------------------------------------------------------------------- reading
def read_file(
    path: str | Path,
    table: str,
    *,
    format: str | None = None,
    mapping: str | Path | Mapping | None = None,
    today: dt.date | None = None,
    sheet: str | int | None = None,
) -> ImportResult:
    """Read and validate one export without touching the database.

    Parameters
    ----------
    path : the file (CSV/TSV/TXT, XLSX or Parquet).
    table : core table or alias (``accounts``, ``deals``, ``orders``, ...).
    format : ``salesforce``, ``hubspot``, ``shopify``, ``generic``/``csv``; None detects it
        from the headers.
    mapping : YAML column mapping (path or loaded); implies the generic format unless given.
    today : reference date for "date in the future" (default: today, UTC).

    Raises
    ------
    ImportFailed
        When the file cannot be read at all or lacks a required column.
    """
    path = Path(path)
    today = today or dt.datetime.now(dt.timezone.utc).date()
    if table not in TABLE_ALIASES:
        raise ImportFailed(f"unknown table {table!r}; one of {', '.join(sorted(TABLE_ALIASES))}")
    table = TABLE_ALIASES[table]
    if isinstance(mapping, (str, Path)):
        mapping = load_mapping(mapping)
    if mapping is not None and mapping.table and mapping.table != table:
        raise ImportFailed(f"mapping is for table {mapping.table}, not {table}")
    if format == "csv" and table not in ("alignment", "territories"):
        format = "generic"
    if table in ("alignment", "territories") and format in (None, "generic"):
        format = "csv"

    if format is None and mapping is None:
        # read the header only to pick the format, then read the columns it needs
        fmt = detect_format(table, read_headers(path, sheet=sheet))
    else:
        fmt = get_format(table, format or (mapping.format if mapping else None) or "generic", mapping)
    raw = read_raw(path, wanted=fmt.all_headers(), sheet=sheet if sheet is not None else fmt.sheet)
    frame, source = _map_columns(raw.headers, raw.frame, fmt, path)
    if fmt.prepare is not None:
        frame = fmt.prepare(frame)
    missing = [c for c in fmt.derived if c not in frame.columns]
    if missing:
        raise ImportFailed(f"{path.name}: missing required column(s) for {fmt.table} ({fmt.name} format): "
                           f"{', '.join(missing)}; the file has: {', '.join(repr(h) for h in raw.headers[:15])}")
    if table == "customers" and "customer_id" not in source and "email" in source:
        source["customer_id"] = source["email"]  # older Shopify exports: the e-mail is the key
    log = ProblemLog(path.name, raw.rows)
    _line_problems(raw, log)
    if len(frame) == 0:
        log.add_file_problem("the file has a header but no data rows", severity=WARNING)

    if table == "orders":
        frames, unplaced = _orders(frame, source, log, today)
    elif table == "alignment":
        frames, unplaced = _alignment(frame, source, log, today)
    else:
        spec = TABLES[table]
        typed = validate_frame(spec, frame, log, source, today)
        if table == "activities":
            _planned_not_future(typed, log, source)
        unplaced = _geocode(table, typed, frame, source, log)
        frames = {table: typed}

    problems = log.frame()
    bad = log.error_positions()
    if table == "orders" and len(bad):
        # a bad line rejects its whole order
        codes = frames.pop("_codes")
        bad = np.flatnonzero(np.isin(codes, np.unique(codes[bad])))
    else:
        frames.pop("_codes", None)
    frames = _drop_rows(frames, bad, table, len(frame))
    return ImportResult(
        file=path, table=table, format=fmt.name, rows_read=len(frame), rejected=int(len(bad)),
        unplaced=unplaced, problems=problems.drop(columns="_pos"), frames=frames,
        rejected_positions=bad, encoding=raw.encoding, delimiter=raw.delimiter, blank_rows=raw.blank_rows,
    )


def _line_problems(raw, log: ProblemLog) -> None:
    """Rows the reader could not take as written (another encoding, malformed quotes):
    errors on those rows, so the row is rejected, never stored altered."""
    for row, shown, reason in raw.line_problems:
        m = raw.rows == row
        if m.any():
            log.add(m, None, shown, reason)
        elif row > 1:
            log.add_file_problem(f"line {row}: {reason} ({shown!r})")
        else:
            log.add_file_problem(f"header line: {reason} ({shown!r})")


def _map_columns(headers: list[str], df: pd.DataFrame, fmt: Format, path: Path):
    by_key = {normalize_header(c): c for c in df.columns}
    frame = pd.DataFrame(index=df.index)
    source: dict[str, str] = {}
    for canon, aliases in list(fmt.columns.items()) + list(fmt.helpers.items()):
        for a in aliases:
            c = by_key.get(normalize_header(a))
            if c is not None:
                frame[canon] = df[c]
                source[canon] = c
                break
    missing = [c for c in fmt.required() if c not in frame.columns]
    if missing:
        want = "; ".join(f"{c} (header {' or '.join(repr(a) for a in fmt.columns.get(c, fmt.helpers.get(c, ())))})"
                         for c in missing)
        shown = ", ".join(repr(h) for h in headers[:15]) + (" ..." if len(headers) > 15 else "")
        raise ImportFailed(
            f"{path.name}: missing required column(s) for {fmt.table} ({fmt.name} format): {want}. "
            f"The file has: {shown or 'no columns'}. Use --format or --mapping to say which column is which."
        )
    return frame, source


def _drop_rows(frames: dict[str, pd.DataFrame], bad: np.ndarray, table: str, n: int) -> dict[str, pd.DataFrame]:
    if not len(bad):
        return frames
    keep = np.ones(n, dtype=bool)
    keep[bad] = False
    out = {}
    for name, f in frames.items():
        if "_pos" in f.columns:
            f = f.loc[keep[f["_pos"].to_numpy()]]
        elif len(f) == n:
            f = f.loc[keep]
        out[name] = f.reset_index(drop=True)
    return out


# --------------------------------------------------------------------------- table specifics
def _planned_not_future(typed: pd.DataFrame, log: ProblemLog, source) -> None:
    """Future activity dates are fine for planned activities: drop those errors again."""
    # validate_frame already flagged future dates; planned ones are re-classified as fine
    status = typed["status"].fillna("").astype(str).str.lower()
    planned = status.str.contains("not started|planned|scheduled|open|in progress|deferred", regex=True)
    if not planned.any():
        return
    col = source.get("date", "date")
    pos = np.flatnonzero(planned.to_numpy())
    rows = set(log.rows[pos].tolist())
    for i, c in enumerate(log._chunks):
        m = (c["column"] == col) & c["reason"].astype(str).str.startswith("date is in the future") & c["row"].isin(rows)
        if m.any():
            log._chunks[i] = c.loc[~m]


def _geocode(table: str, typed: pd.DataFrame, frame: pd.DataFrame, source, log: ProblemLog) -> int:
    if table == "accounts":
        from territorium.data.address import US_POSTAL

        lat = typed["lat"].to_numpy(dtype=float, copy=True)
        lon = typed["lon"].to_numpy(dtype=float, copy=True)
        how = np.where(~np.isnan(lat) & ~np.isnan(lon), "input", None).astype(object)
        country = typed["country"].fillna("").astype(str).to_numpy(dtype=object)
        us = np.isin(country, list(US_POSTAL))
        zip_ = typed["zip"].fillna("").astype(str)
        city = typed["city"].fillna("").astype(str)
        state = typed["state"].fillna("").astype(str)
        need = how == None  # noqa: E711
        zlat, zlon = geocoding.zip_centroids(zip_)
        use = need & ~np.isnan(zlat)
        lat[use], lon[use], how[use] = zlat[use], zlon[use], "zip"
        # a city is looked up only where there is one: in its US state, or in its country
        need = (how == None) & (city != "").to_numpy()  # noqa: E711
        if need.any():
            usn = need & us & (state != "").to_numpy()
            clat, clon = geocoding.city_coordinates(city[usn], state[usn])
            p = np.flatnonzero(usn)
            ok = ~np.isnan(clat)
            lat[p[ok]], lon[p[ok]], how[p[ok]] = clat[ok], clon[ok], "city"
            fon = need & ~us & (country != "")
            wlat, wlon = geocoding.world_city_coordinates(city[fon], pd.Series(country[fon]))
            p = np.flatnonzero(fon)
            ok = ~np.isnan(wlat)
            lat[p[ok]], lon[p[ok]], how[p[ok]] = wlat[ok], wlon[ok], "city"
        need = how == None  # noqa: E711
        typed["lat"], typed["lon"], typed["geocode"] = lat, lon, how
        # the warning names the column whose value could not be placed, with that value
        has_zip, has_city, has_state = (zip_ != "").to_numpy(), (city != "").to_numpy(), (state != "").to_numpy()
        foreign = ~us & (country != "")
        m = need & ~foreign & has_zip
        log.add(m, source.get("zip", "zip"), zip_.to_numpy(), "cannot be placed: ZIP not in the US ZIP table "
                "and city/state not found", WARNING)
        m = need & ~foreign & ~has_zip & has_city
        log.add(m, source.get("city", "city"), city.to_numpy(),
                np.where(has_state, "cannot be placed: city not found in " + state.to_numpy(dtype=object),
                         "cannot be placed: a city without a state or ZIP"), WARNING)
        m = need & ~foreign & ~has_zip & ~has_city & has_state
        log.add(m, source.get("state", "state"), state.to_numpy(),
                "cannot be placed: only a state (no ZIP or city)", WARNING)
        m = need & foreign & has_city
        log.add(m, source.get("city", "city"), city.to_numpy(),
                "outside the US: city not found among the offline world cities, not placed", WARNING)
        return int(need.sum())
    if table == "reps":
        lat = typed["home_lat"].to_numpy(dtype=float, copy=True)
        lon = typed["home_lon"].to_numpy(dtype=float, copy=True)
        need = np.isnan(lat) | np.isnan(lon)
        zlat, zlon = geocoding.zip_centroids(typed["home_zip"].fillna(""))
        lat[need], lon[need] = zlat[need], zlon[need]
        typed["home_lat"], typed["home_lon"] = lat, lon
        miss = np.isnan(lat)
        log.add(miss, source.get("home_zip", "home_zip"), typed["home_zip"].to_numpy(),
                "rep home cannot be placed: no known home ZIP", WARNING)
        return int(miss.sum())
    return 0


def _orders(frame: pd.DataFrame, source, log: ProblemLog, today: dt.date):
    """Shopify-style orders: one row per line item, order-level fields on the first line."""
    n = len(frame)
    oid = frame["order_id"].str.strip()
    codes, uniques = pd.factorize(oid, use_na_sentinel=False)
    _, first_pos = np.unique(codes, return_index=True)
    first_mask = np.zeros(n, dtype=bool)
    first_mask[first_pos] = True

    # an order id appearing in two separate blocks is a duplicate order
    block_start = np.ones(n, dtype=bool)
    if n:
        block_start[1:] = codes[1:] != codes[:-1]
    later_block = block_start & ~first_mask & (oid != "").to_numpy()
    if later_block.any():
        first_row = log.rows[first_pos[codes]]
        reasons = np.array([f"duplicate order id (order already started on row {r})" for r in first_row[later_block]],
                           dtype=object)
        full = np.full(n, "", dtype=object)
        full[later_block] = reasons
        log.add(later_block, source.get("order_id", "order_id"), oid.to_numpy(), full)

    # order level: validated on each order's first line
    sub = log.sub(first_pos)
    order_cols = [c for c in frame.columns if c in TABLES["orders"].columns]
    head = frame.iloc[first_pos][order_cols].reset_index(drop=True)
    orders = validate_frame(TABLES["orders"], head, sub, source, today)
    orders["order_id"] = oid.iloc[first_pos].to_numpy()
    lat, lon = geocoding.zip_centroids(orders["shipping_zip"].fillna(""))
    orders["lat"], orders["lon"] = lat, lon
    orders["account_id"] = None
    orders["_pos"] = first_pos
    unplaced = int(np.isnan(lat).sum())
    from territorium.data.address import US_POSTAL

    abroad = ~orders["shipping_country"].fillna("").isin(list(US_POSTAL) + [""]).to_numpy()
    n_us = int((np.isnan(lat) & ~abroad).sum())
    if n_us:
        log.add_file_problem(f"{n_us} order(s) have no known shipping ZIP and cannot be placed on the map",
                             source.get("shipping_zip"), WARNING)

    # line level: every row
    line_frame = pd.DataFrame({"order_id": oid})
    for c in LINE_LEVEL:
        if c in frame.columns:
            line_frame["name" if c == "line_name" else c] = frame[c]
    lsource = dict(source)
    lsource["name"] = source.get("line_name", "name")
    lines = validate_frame(TABLES["order_lines"], line_frame, log, lsource, today)
    lines["line_no"] = pd.Series(codes).groupby(codes).cumcount().to_numpy() + 1
    lines["_pos"] = np.arange(n)
    return {"orders": orders, "order_lines": lines, "_codes": codes}, unplaced


def _alignment(frame: pd.DataFrame, source, log: ProblemLog, today: dt.date):
    align = validate_frame(TABLES["alignment"], frame, log, source, today)
    frames = {"alignment": align}
    if "_rep_id" in frame.columns or "_territory_name" in frame.columns:
        t = pd.DataFrame({
            "territory_id": align["territory_id"],
            "name": frame.get("_territory_name", pd.Series("", index=frame.index)).str.strip(),
            "rep_id": frame.get("_rep_id", pd.Series("", index=frame.index)).str.strip(),
            "_pos": np.arange(len(frame)),
        })
        t = t.loc[t["territory_id"].fillna("") != ""]
        frames["territories"] = t.replace({"": None})
    return frames, 0


def _finalize_territories(frames: dict[str, pd.DataFrame]) -> None:
    if "territories" in frames and "_pos" in frames["territories"].columns and "alignment" in frames:
        t = frames["territories"].drop(columns="_pos")
        frames["territories"] = t.groupby("territory_id", as_index=False, sort=True).first()


# --------------------------------------------------------------------------- rejects
def write_rejects(result: ImportResult, path: Path | None = None) -> Path | None:
    """Write the rejected rows, as they were in the file plus ``_row`` and ``_reasons``, to
    ``<input-stem>.rejects.csv`` next to the input. Returns the path (None if nothing rejected).

    The file is spreadsheet-safe (:func:`territorium.data.cells.write_csv`: a cell such as
    ``=HYPERLINK(...)`` gets a leading quote), and importing it again restores every value."""
    if not result.rejected:
        return None
    path = path or result.file.with_name(result.file.stem + ".rejects.csv")
    raw = read_raw(result.file)
    pos = result.rejected_positions
    out = raw.frame.iloc[pos].copy()
    rows = raw.rows[pos]
    p = result.problems
    p = p.loc[(p["severity"] == ERROR) & p["row"].notna()]
    reasons = (
        (p["column"].fillna("").astype(str).where(p["column"].fillna("") == "", p["column"].astype(str) + ": ")
         + p["reason"].astype(str)
         + np.where(p["value"].notna() & (p["value"].astype(str) != ""), " (" + p["value"].astype(str) + ")", ""))
        .groupby(p["row"].astype(np.int64)).agg("; ".join)
    )
    out.insert(0, "_row", rows)
    out.insert(1, "_reasons", pd.Series(rows).map(reasons).fillna("rejected with its order").to_numpy())
    write_csv(out, path, encoding="utf-8")
    result.rejects_path = path
    return path


# --------------------------------------------------------------------------- importing
def _finish_frames(result: ImportResult) -> dict[str, pd.DataFrame]:
    frames = dict(result.frames)
    _finalize_territories(frames)
    return {k: v.drop(columns=[c for c in v.columns if c.startswith("_")]) for k, v in frames.items()}


def import_file(
    path: str | Path,
    table: str,
    *,
    format: str | None = None,
    mapping: str | Path | Mapping | None = None,
    url: str | None = None,
    engine=None,
    replace: bool = False,
    skip_invalid: bool = False,
    today: dt.date | None = None,
    sheet: str | int | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Read, validate and store one file in one transaction.

    With errors and ``skip_invalid=False`` nothing is stored (``result.stored`` is False).
    With ``skip_invalid`` the good rows are stored and the rejects written next to the input.
    ``replace`` deletes the table's existing rows in the same transaction.
    """
    say = progress or (lambda msg: None)
    say(f"reading and checking {Path(path).name}")
    result = read_file(path, table, format=format, mapping=mapping, today=today, sheet=sheet)
    if not result.ok and not skip_invalid:
        return result
    if result.rejected:
        write_rejects(result)
    say(f"storing {result.rows_read - result.rejected} rows")
    from territorium.store import db

    eng = engine if engine is not None else db.engine(url)
    db.write_import(eng, [(result, _finish_frames(result))], replace=replace, progress=progress)
    result.stored = True
    return result


def read_manifest(directory: Path) -> list[dict]:
    import yaml

    mpath = directory / "manifest.yaml"
    if not mpath.exists():
        raise ImportFailed(f"{directory}: no manifest.yaml (a list of {{file, table, format}})")
    try:
        doc = yaml.safe_load(mpath.read_text(encoding="utf-8-sig"))
    except yaml.YAMLError as exc:
        raise ImportFailed(f"{mpath}: not valid YAML: {exc}") from None
    entries = doc.get("files", doc.get("imports")) if isinstance(doc, dict) else doc
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "file" in e and "table" in e for e in entries):
        raise ImportFailed(f"{mpath}: expected a list of entries with 'file' and 'table' (and optional 'format')")
    return entries


def import_directory(
    directory: str | Path,
    *,
    url: str | None = None,
    engine=None,
    replace: bool = False,
    skip_invalid: bool = False,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> DirectoryResult:
    """Import every file listed in ``DIR/manifest.yaml`` in ONE transaction.

    Any file with errors (without ``skip_invalid``) means nothing at all is stored.
    """
    directory = Path(directory)
    say = progress or (lambda msg: None)
    entries = read_manifest(directory)
    results = []
    for e in entries:
        say(f"reading and checking {e['file']} ({len(results) + 1}/{len(entries)})")
        mapping = e.get("mapping")
        if mapping:
            mapping = directory / mapping
        results.append(read_file(directory / e["file"], e["table"], format=e.get("format"), mapping=mapping,
                                 today=today, sheet=e.get("sheet")))
    if not all(r.ok for r in results) and not skip_invalid:
        return DirectoryResult(results, stored=False)
    for r in results:
        if r.rejected:
            write_rejects(r)
    say("storing")
    from territorium.store import db

    eng = engine if engine is not None else db.engine(url)
    db.write_import(eng, [(r, _finish_frames(r)) for r in results], replace=replace, progress=progress)
    for r in results:
        r.stored = True
    return DirectoryResult(results, stored=True)
