"""What a command may overwrite: the output-path guard of the CLI.

The rule (docs/cli-errors in docs/storage.md, "Output files"):

1. A command never writes over one of its own inputs (``export --alignment a.csv --out a.csv``,
   ``design --from X --out X``), compared by real path, so also through symlinks and ``..``.
   ``--force`` does not change that: the command would destroy what it is reading.
2. A file that was imported into the workspace (the ``source_file`` of ``import_batches``,
   e.g. the CRM export) is not replaced without ``--force``.
3. Any other existing file is replaced only if Territorium wrote it there before and nobody
   changed it since: each output folder keeps a small ledger, ``.territorium-written.json``
   (file name → size, modification time, command). Anything else needs ``--force``.
   So ``make demo`` re-writes ``out/`` on every run, while a hand-edited ``out/plan.csv`` or
   a user's own spreadsheet is never replaced silently.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Iterable, Mapping

LEDGER = ".territorium-written.json"

__all__ = ["LEDGER", "OutputRefused", "check_outputs", "record_outputs", "imported_files"]


class OutputRefused(Exception):
    """An output would replace an input or a file Territorium did not write (message for the user)."""


def _real(p: str | os.PathLike) -> Path:
    return Path(os.path.realpath(os.path.expanduser(str(p))))


def _ledger(folder: Path) -> dict:
    try:
        data = json.loads((folder / LEDGER).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _stamp(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def written_by_territorium(path: Path) -> bool:
    """``path`` (a real path) is in its folder's ledger with the same size and mtime."""
    entry = _ledger(path.parent).get(path.name)
    if not isinstance(entry, dict):
        return False
    try:
        now = _stamp(path)
    except OSError:
        return False
    return entry.get("size") == now["size"] and entry.get("mtime_ns") == now["mtime_ns"]


def imported_files(engine) -> dict[Path, str]:
    """Real paths of the files imported into the workspace → 'TABLE file imported on DATE'.

    Relative source paths are resolved against the working directory and the SQLite file's
    folder (imports are usually run from the project folder)."""
    import sqlalchemy as sa

    out: dict[Path, str] = {}
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                'SELECT source_file, "table", created_at FROM import_batches')).fetchall()
    except Exception:  # no workspace tables yet: nothing imported
        return out
    bases = [Path.cwd()]
    db = getattr(engine.url, "database", None)
    if engine.dialect.name == "sqlite" and db not in (None, "", ":memory:"):
        bases.append(Path(db).parent)
    for source, table, created in rows:
        if not source:
            continue
        p = Path(source).expanduser()
        for cand in ([p] if p.is_absolute() else [b / p for b in bases]):
            day = str(created)[:10] if created is not None else "?"
            out.setdefault(_real(cand), f"the {table} file imported into the workspace on {day}")
    return out


def check_outputs(outputs: Iterable[str | os.PathLike | None], *, inputs: Mapping[str, object] = (),
                  force: bool = False, engine=None) -> None:
    """Refuse (:class:`OutputRefused`) before anything is computed or written.

    ``inputs``: option name → path or list of paths read by the command.
    ``engine``: the workspace, for the files imported into it (rule 2).
    """
    ins: list[tuple[str, Path, Path]] = []
    for label, value in dict(inputs).items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if v is not None and str(v):
                ins.append((label, Path(v), _real(v)))
    imported: dict[Path, str] | None = None
    for out in outputs:
        if out is None:
            continue
        real = _real(out)
        for label, given, real_in in ins:
            if real == real_in:
                same = "" if str(given) == str(out) else f" (the same file as {given})"
                raise OutputRefused(f"{out} is an input of this command ({label}{same}): refusing to write "
                                    "over it; choose another output path")
        _check_writable(Path(out), real)
        if not real.is_file():
            continue
        if force:
            continue
        if engine is not None:
            if imported is None:
                imported = imported_files(engine)
            if real in imported:
                raise OutputRefused(f"{out} is {imported[real]}: refusing to replace it (use --force to "
                                    "overwrite it anyway, or choose another output path)")
        if not written_by_territorium(real):
            raise OutputRefused(f"{out} exists and was not written by Territorium (or was changed since): "
                                "refusing to replace it; use --force to overwrite it, or choose another "
                                "output path")


def _check_writable(out: Path, real: Path) -> None:
    """Fail before the work, not after it: a file where a folder must be, a folder that
    cannot be written."""
    if real.is_dir():
        raise OutputRefused(f"{out} is a folder; a file name was expected")
    for parent in real.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputRefused(f"cannot write {out}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise OutputRefused(f"cannot write {out}: the folder {parent} is not writable")
            break


def record_outputs(paths: Iterable[str | os.PathLike | None], command: str) -> None:
    """Note ``paths`` (just written) in their folders' ledgers, so the next run may replace them."""
    by_folder: dict[Path, list[Path]] = {}
    for p in paths:
        if p is None:
            continue
        real = _real(p)
        if real.is_file():
            by_folder.setdefault(real.parent, []).append(real)
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    for folder, files in by_folder.items():
        ledger = _ledger(folder)
        for f in files:
            ledger[f.name] = {**_stamp(f), "command": command, "written_at": now}
        tmp = folder / f"{LEDGER}.{os.getpid()}.tmp"
        try:
            tmp.write_text(json.dumps(ledger, indent=1, sort_keys=True), encoding="utf-8")
            tmp.replace(folder / LEDGER)
        except OSError:  # the outputs are written; only the next run's check is affected
            tmp.unlink(missing_ok=True)
