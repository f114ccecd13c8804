"""Reading raw input files (CSV, Excel, Parquet) into frames of strings.

Every value is read as text, so validation sees what the user typed ("$1,200", "02134",
"45%") and can name it in a problem. The encoding (UTF-8, UTF-8 with BOM, Windows-1252 and
what ``charset-normalizer`` recognises) and the delimiter (``,``, ``;``, tab, ``|``) are
detected. Blank lines are kept while parsing so each row keeps the number a spreadsheet
would show (header = row 1), then dropped.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from territorium.data.cells import restore_frame
from territorium.data.problems import ImportFailed

__all__ = ["RawTable", "read_raw", "read_headers", "detect_encoding", "detect_delimiter", "normalize_header"]

DELIMITERS = (",", ";", "\t", "|")
CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
PARQUET_SUFFIXES = {".parquet", ".pq"}


@dataclass
class RawTable:
    """A file read as text.

    Attributes
    ----------
    frame : DataFrame
        One column per header, all values ``str`` ('' when empty); blank rows removed.
    rows : ndarray
        Spreadsheet row number of each frame row (header is row 1).
    path : Path
    format : str
        ``csv``, ``excel`` or ``parquet``.
    encoding, delimiter : str or None
        What was detected (CSV only).
    blank_rows : int
        Blank lines skipped.
    """

    frame: pd.DataFrame
    rows: np.ndarray
    path: Path
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    blank_rows: int = 0
    headers: list[str] = field(default_factory=list)
    #: rows that cannot be read as they were written: (row, start of the line, reason)
    line_problems: list[tuple[int, str, str]] = field(default_factory=list)


def normalize_header(name: object) -> str:
    """Header key used for matching: BOM/quotes stripped, whitespace collapsed, lower case."""
    s = str(name).replace("\ufeff", "").strip().strip('"').strip()
    return " ".join(s.split()).lower()


def detect_encoding(data: bytes) -> str:
    """``utf-8-sig`` when the bytes decode as UTF-8 (BOM or not), else a best guess.

    Windows-1252 (Excel's "CSV" on Western Windows) wins over other single-byte guesses,
    which charset detectors cannot tell apart on short files; ``charset-normalizer`` is
    trusted for multi-byte encodings (UTF-16, Shift-JIS, GB18030, ...).
    """
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "utf-16"
    try:
        data.decode("utf-8")
        return "utf-8-sig"
    except UnicodeDecodeError:
        pass
    guess = None
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data[:200_000]).best()
        guess = best.encoding if best is not None else None
    except Exception:  # pragma: no cover - detector failure is not fatal
        guess = None
    multibyte = ("utf_16", "utf_32", "shift_jis", "cp932", "euc", "gb", "big5", "cp949", "johab", "hz")
    if guess and guess.lower().startswith(multibyte) and _decodes(data, guess):
        return guess
    if _decodes(data, "cp1252"):
        return "cp1252"
    if guess and _decodes(data, guess):
        return guess
    return "latin-1"


def _decodes(data: bytes, enc: str) -> bool:
    try:
        data.decode(enc)
        return True
    except UnicodeDecodeError:
        return False


def detect_delimiter(sample: str) -> str:
    """The delimiter that splits the header line into the most fields (ties: ``,``)."""
    first = next((ln for ln in sample.splitlines() if ln.strip()), "")
    best, best_n = ",", 0
    for d in DELIMITERS:
        try:
            n = len(next(csv.reader([first], delimiter=d)))
        except (csv.Error, StopIteration):
            n = 0
        if n > best_n:
            best, best_n = d, n
    return best


def _usecols(headers: list[str], wanted: set[str] | None):
    if wanted is None:
        return None
    return [h for h in headers if normalize_header(h) in wanted]


def read_raw(path: str | Path, wanted: set[str] | None = None, sheet: str | int | None = None) -> RawTable:
    """Read ``path`` as text.

    Parameters
    ----------
    path : path to a ``.csv``/``.txt``/``.tsv``, ``.xlsx`` or ``.parquet`` file.
    wanted : normalised header names to keep (see :func:`normalize_header`); None keeps all.
    sheet : Excel sheet name or index (default: the first sheet).

    Raises
    ------
    ImportFailed
        The file does not exist, cannot be read, or is not a table.
    """
    path = Path(path)
    if not path.exists():
        raise ImportFailed(f"{path}: file not found")
    if path.is_dir():
        raise ImportFailed(f"{path}: is a directory, expected a file")
    suffix = path.suffix.lower()
    try:
        if suffix in EXCEL_SUFFIXES:
            return _read_excel(path, wanted, sheet)
        if suffix in PARQUET_SUFFIXES:
            return _read_parquet(path, wanted)
        return _read_csv(path, wanted)
    except ImportFailed:
        raise
    except (OSError, ValueError, pd.errors.ParserError, UnicodeError) as exc:
        raise ImportFailed(f"{path.name}: cannot read as {_kind(suffix)}: {exc}") from None
    except Exception as exc:  # openpyxl/pyarrow raise their own types for corrupt files
        raise ImportFailed(f"{path.name}: cannot read as {_kind(suffix)}: {type(exc).__name__}: {exc}") from None


def read_headers(path: str | Path, sheet: str | int | None = None) -> list[str]:
    """The header names only (cheap: the first 64 KiB of a CSV, the first row of a sheet,
    a Parquet schema). Raises :class:`ImportFailed` like :func:`read_raw`."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.exists() or path.is_dir() or suffix in EXCEL_SUFFIXES:
        return read_raw(path, wanted=set(), sheet=sheet).headers
    try:
        if suffix in PARQUET_SUFFIXES:
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        with open(path, "rb") as fh:
            data = fh.read(65536)
    except Exception as exc:
        raise ImportFailed(f"{path.name}: cannot read as {_kind(suffix)}: {exc}") from None
    if b"\x00" in data[:4096] and data[:2] not in (b"\xff\xfe", b"\xfe\xff"):
        raise ImportFailed(f"{path.name}: not a text file (is it an Excel or Parquet file with a .csv name?)")
    text = data.decode(detect_encoding(data), errors="replace").lstrip("\ufeff").lstrip("\r\n")
    if not text.strip():
        raise ImportFailed(f"{path.name}: file is empty")
    line = text.split("\n", 1)[0].rstrip("\r")
    return [h.strip() for h in next(csv.reader([line], delimiter=detect_delimiter(line)))]


def _kind(suffix: str) -> str:
    if suffix in EXCEL_SUFFIXES:
        return "an Excel workbook"
    if suffix in PARQUET_SUFFIXES:
        return "a Parquet file"
    return "CSV"


def _read_csv(path: Path, wanted: set[str] | None) -> RawTable:
    data = path.read_bytes()
    if not data.lstrip(b"\xef\xbb\xbf \t\r\n"):
        raise ImportFailed(f"{path.name}: file is empty")
    if b"\x00" in data[:4096] and data[:2] not in (b"\xff\xfe", b"\xfe\xff"):
        raise ImportFailed(f"{path.name}: not a text file (is it an Excel or Parquet file with a .csv name?)")
    encoding = detect_encoding(data)
    line_problems: list[tuple[int, str, str]] = []
    source: bytes | str = data
    if encoding != "utf-8-sig" and not encoding.lower().startswith("utf"):
        mixed = _mixed_encoding(data)
        if mixed is not None:
            encoding, source, line_problems = mixed
    head = (source[:65536] if isinstance(source, str) else data[:65536].decode(encoding, errors="replace"))
    head = head.lstrip("\ufeff")
    # leading blank lines before the header are rows too
    stripped = head.lstrip("\r\n")
    lead = head[: len(head) - len(stripped)].count("\n")
    delimiter = detect_delimiter(stripped)
    header_line = next(csv.reader([stripped.split("\n", 1)[0].rstrip("\r")], delimiter=delimiter))
    headers = [h.strip() for h in header_line]
    usecols = _usecols(headers, wanted)
    if not encoding.lower().startswith("utf_16") and encoding.lower() != "utf-16":
        line_problems += _malformed_quotes(data, delimiter, encoding)
    # pandas decodes the bytes itself: no second copy of the file as text (mixed files aside)
    df = pd.read_csv(
        io.BytesIO(data) if isinstance(source, bytes) else io.StringIO(source),
        sep=delimiter,
        encoding=encoding if isinstance(source, bytes) else None,
        skiprows=lead,
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        skip_blank_lines=False,
        usecols=(lambda c: c.strip() in usecols) if usecols is not None else None,
        engine="c",
        on_bad_lines="error",
    )
    del data
    df.columns = [str(c).replace("\ufeff", "").strip() for c in df.columns]
    rows = np.arange(len(df), dtype=np.int64) + 2 + lead
    return _finish(df, rows, path, "csv", headers, encoding=encoding, delimiter=delimiter,
                   line_problems=line_problems)


def _line_starts(data: bytes) -> np.ndarray:
    nl = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    return np.concatenate([[0], nl + 1])


def _shown(line: bytes, encoding: str) -> str:
    t = line.decode(encoding, errors="replace").rstrip("\r\n")
    return t if len(t) <= 60 else t[:57] + "..."


def _mixed_encoding(data: bytes):
    """A file that is not UTF-8 as a whole but has UTF-8 lines: (encoding of the majority,
    the text decoded that way, problems naming the other lines), or None when no line is
    UTF-8 (a plain Windows-1252 / Latin-1 file).

    Counting is per line with non-ASCII bytes: lines that decode as UTF-8 against lines that
    do not. Decoding the whole file one way would garble the other lines without a word.
    Row numbers are line numbers (header = row 1), which is the spreadsheet row for files
    without line breaks inside quoted values.
    """
    lines = data.split(b"\n")
    utf8, other = [], []
    for i, ln in enumerate(lines):
        if ln.isascii():
            continue
        try:
            ln.decode("utf-8")
            utf8.append(i)
        except UnicodeDecodeError:
            other.append(i)
    if not utf8 or not other:
        return None
    if len(utf8) >= len(other):
        enc, bad = "utf-8", other
        why = ("not UTF-8 like the rest of the file (Windows-1252?): re-save the file as UTF-8 "
               "or fix this row")
        minority = "cp1252" if _decodes(b"".join(lines[i] for i in other), "cp1252") else "latin-1"
    else:
        enc, bad = ("cp1252" if all(_decodes(lines[i], "cp1252") for i in other) else "latin-1"), utf8
        why = ("UTF-8 text in a file that is mostly Windows-1252: it would be garbled; re-save the "
               "file in one encoding or fix this row")
        minority = "utf-8"
    # every line in its own encoding: the rows named stay readable (and the rejects file
    # written from them says what the user wrote), the others are decoded by the majority
    own = set(bad)
    text = "\n".join(ln.decode(minority if i in own else enc, errors="replace") for i, ln in enumerate(lines))
    probs = [(i + 1, _shown(lines[i], minority), why) for i in bad]
    return enc, text.lstrip("\ufeff"), probs


def _malformed_quotes(data: bytes, delimiter: str, encoding: str) -> list[tuple[int, str, str]]:
    """Rows with a quoted value whose inner quotes are not doubled (``"Joe "The Barber" Salon"``).

    CSV parsers repair such a value silently (``Joe The Barber" Salon"``); it is a problem
    with its row instead. A quote that opens a value (after a delimiter or at the start of a
    line) and closes before anything but a delimiter, a line end or a second quote is found
    with one regular-expression pass over the bytes. The opening quote must be followed by
    at least one character other than a quote: inside a well-formed quoted value every quote
    is doubled, so a delimiter there is followed by ``""`` (``"=HYPERLINK(""a"",""T"")"``)
    and is not taken for the start of a value.
    """
    d = re.escape(delimiter.encode())
    pat = re.compile(rb'(?m)(?:^|' + d + rb')"[^"\r\n]+"(?!' + d + rb'|"|\r|\n|$)')
    # candidates first, with array operations: a quote with an ordinary byte on both sides
    # (a closing quote followed by text, or a bare quote inside an unquoted value)
    arr = np.frombuffer(data, dtype=np.uint8)
    q = np.flatnonzero(arr == 34)
    q = q[(q > 0) & (q < len(arr) - 1)]
    if len(q) == 0:
        return []
    special = np.zeros(256, dtype=bool)
    special[[34, 10, 13, ord(delimiter)]] = True
    cand = q[~special[arr[q - 1]] & ~special[arr[q + 1]]]
    if len(cand) == 0:
        return []
    starts = _line_starts(data)
    lines = np.unique(np.searchsorted(starts, cand, side="right") - 1)
    out = []
    for i in lines.tolist():
        end = starts[i + 1] if i + 1 < len(starts) else len(data)
        if not pat.search(data[starts[i]:end]):
            continue
        out.append((i + 1, _shown(data[starts[i]:end], encoding if encoding != "utf-8-sig" else "utf-8"),
                    'malformed quotes: a quote inside a quoted value must be doubled (""); '
                    "the row cannot be read as written"))
    return out


def _finish(df: pd.DataFrame, rows: np.ndarray, path: Path, fmt: str, headers: list[str], **kw) -> RawTable:
    if df.columns.duplicated().any():
        dup = sorted(set(df.columns[df.columns.duplicated()]))
        raise ImportFailed(f"{path.name}: duplicate column headers: {', '.join(dup)}")
    for c in df.columns:
        col = df[c]
        if col.dtype != object and not pd.api.types.is_string_dtype(col):
            col = col.astype(str)
        df[c] = col.fillna("").astype(str)
    if len(df.columns):
        blank = np.ones(len(df), dtype=bool)
        for c in df.columns:
            blank &= (df[c].str.strip() == "").to_numpy()
    else:
        blank = np.zeros(len(df), dtype=bool)
    n_footer = _report_footer(df, blank)
    if n_footer:
        df = df.iloc[: len(df) - n_footer]
        rows = rows[: len(rows) - n_footer]
        blank = blank[: len(blank) - n_footer]
    n_blank = int(blank.sum())
    if n_blank:
        keep = ~blank
        df = df.loc[keep].reset_index(drop=True)
        rows = rows[keep]
    if fmt == "csv":
        # undo the quote our exports put before cells a spreadsheet would run as formulas
        restore_frame(df)
    return RawTable(df, rows, path, fmt, blank_rows=n_blank, headers=headers, **kw)


_FOOTER = re.compile(r"^(copyright \(c\)|confidential information|generated by:)", re.I)


def _report_footer(df: pd.DataFrame, blank: np.ndarray) -> int:
    """Rows of a Salesforce report footer at the end of the file ("Copyright (c) ...
    salesforce.com", "Confidential Information", "Generated By: ..."), 0 if there is none.

    The footer is the trailing block of rows with at most the first cell filled.
    """
    if len(df) == 0 or len(df.columns) < 2:
        return 0
    tail = df.iloc[-20:]
    rest_empty = np.ones(len(tail), dtype=bool)
    for c in tail.columns[1:]:
        rest_empty &= (tail[c].str.strip() == "").to_numpy()
    n = 0
    while n < len(tail) and rest_empty[len(tail) - 1 - n]:
        n += 1
    if n == 0:
        return 0
    first = tail.iloc[len(tail) - n:, 0].str.strip().str.strip('"')
    return n if first.str.match(_FOOTER).any() else 0


def _read_excel(path: Path, wanted: set[str] | None, sheet) -> RawTable:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        ws = wb[sheet] if isinstance(sheet, str) else wb.worksheets[sheet or 0]
        it = ws.iter_rows(values_only=True)
        header = None
        lead = 0
        for r in it:
            if r is not None and any(v not in (None, "") for v in r):
                header = [("" if v is None else str(v)).strip() for v in r]
                break
            lead += 1
        if header is None:
            raise ImportFailed(f"{path.name}: the sheet is empty")
        records = [list(r) for r in it]
    finally:
        wb.close()
    width = len(header)
    records = [(r + [None] * width)[:width] for r in records]
    df = pd.DataFrame(records, columns=header, dtype=object)
    df = df.map(_excel_text) if len(df) else df.astype(str)
    usecols = _usecols(header, wanted)
    if usecols is not None:
        df = df[[c for c in df.columns if c in usecols]]
    rows = np.arange(len(df), dtype=np.int64) + 2 + lead
    return _finish(df, rows, path, "excel", header)


def _excel_text(v) -> str:
    import datetime as dt

    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def _read_parquet(path: Path, wanted: set[str] | None) -> RawTable:
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    headers = list(schema.names)
    usecols = _usecols(headers, wanted)
    table = pq.read_table(path, columns=usecols)
    df = table.to_pandas()
    for c in df.columns:
        col = df[c]
        if pd.api.types.is_datetime64_any_dtype(col):
            df[c] = col.dt.strftime("%Y-%m-%d %H:%M:%S").fillna("")
        elif pd.api.types.is_float_dtype(col):
            # whole floats (ZIPs, counts stored as float) lose their ".0"
            df[c] = col.astype("string").str.replace(r"\.0$", "", regex=True).fillna("")
        elif pd.api.types.is_bool_dtype(col):
            df[c] = col.map({True: "true", False: "false"}).fillna("")
        else:
            df[c] = col.astype(object).where(col.notna(), "").astype(str)
    rows = np.arange(len(df), dtype=np.int64) + 2
    return _finish(df, rows, path, "parquet", headers)
