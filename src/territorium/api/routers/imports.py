"""Imports over the API: a CRM or shop export uploaded as a multipart form, read and checked
by the same all-or-nothing importer as ``territorium import KIND``; a file with any error
stores nothing and answers 422 with the problem table (file, row, column, value, reason)."""
from __future__ import annotations

import datetime as dt
import tempfile
from typing import Literal

from fastapi import APIRouter, File, Form, HTTPException, Path, Request, UploadFile
from fastapi.responses import JSONResponse

from territorium.api.deps import CurrentUser, Eng, require
from territorium.api.uploads import save_upload, upload_limit
from territorium.import_kinds import IMPORT_KINDS
from territorium.plan.access import EDITORS

router = APIRouter(prefix="/api/imports", tags=["imports"])

Kind = Literal[tuple(IMPORT_KINDS)]  # type: ignore[valid-type]
#: problems returned in one answer (the count says how many there were)
MAX_PROBLEMS = 1000


def _records(problems, limit: int) -> list[dict]:
    head = problems.head(limit)
    out = []
    for r in head.astype(object).where(head.notna(), None).to_dict("records"):
        row = r.get("row")
        out.append({"file": r.get("file"), "row": None if row is None else int(row), "column": r.get("column"),
                    "value": None if r.get("value") is None else str(r.get("value")), "reason": r.get("reason"),
                    "severity": r.get("severity")})
    return out


def _summary(result, name: str) -> dict:
    s = result.summary()
    s["file"] = name   # never the server's temporary path
    return s


@router.get("", summary="The kinds of file the import accepts")
def import_kinds(user: CurrentUser) -> list[dict]:
    return [{"kind": k, "table": t, "description": d} for k, (t, d) in IMPORT_KINDS.items()]


@router.post("/{kind}", status_code=201, dependencies=[require(*EDITORS)],
             summary="Import one export file (all or nothing)",
             responses={413: {"description": "the file is larger than the server's limit"},
                        422: {"description": "problems found; nothing was imported"}})
def import_upload(request: Request, user: CurrentUser, eng: Eng,
                  kind: Kind = Path(..., description="what the file holds (as `territorium import KIND`)"),
                  file: UploadFile = File(..., description="the export: .csv/.tsv/.txt, .xlsx or .parquet"),
                  mapping: UploadFile | None = File(None, description="YAML column mapping (implies generic)"),
                  format: Literal["salesforce", "hubspot", "shopify", "generic"] | None = Form(
                      None, description="default: detected from the headers"),
                  sheet: str | None = Form(None, max_length=100, description="Excel sheet name or index"),
                  replace: bool = Form(False, description="replace the table's rows (same transaction)"),
                  today: dt.date | None = Form(None, description="reference date for 'in the future'")):
    """Read, check and store the file in one transaction, as ``territorium import KIND FILE``.
    Any error row: 422 with ``problems`` (file, row, column, value, reason) and nothing stored;
    warnings come back with the 201."""
    from territorium.data import ImportFailed, import_file
    from territorium.store import StoreError

    table = IMPORT_KINDS[kind][0]
    limit = upload_limit(request)
    name = file.filename or f"{kind}.csv"
    with tempfile.TemporaryDirectory(prefix="territorium-import-") as d:
        path = save_upload("file", file, d, limit)
        mpath = save_upload("mapping", mapping, d, limit) if mapping is not None else None
        sheet_arg = int(sheet) if sheet is not None and sheet.isdigit() else sheet
        try:
            result = import_file(path, table, format=format, mapping=mpath, engine=eng, replace=replace,
                                 today=today, sheet=sheet_arg)
        except ImportFailed as exc:
            msg = str(exc).replace(f"{d}/file/", "").replace(f"{d}/mapping/", "").replace(d, "")
            return JSONResponse(status_code=422, content={"detail": msg, "stored": False, "problems": [
                {"file": name, "row": p.row, "column": p.column, "value": p.value, "reason": p.reason,
                 "severity": p.severity} for p in exc.problems][:MAX_PROBLEMS]})
        except StoreError as exc:
            msg = str(exc).replace("--replace", "replace=true")
            # ids stored already (SQLAlchemy's or the driver's IntegrityError): the data conflicts
            if type(exc.__context__).__name__ == "IntegrityError":
                raise HTTPException(409, msg) from None
            raise HTTPException(503, msg, headers={"Retry-After": "2"}) from None
        problems = result.problems.assign(file=name) if len(result.problems) else result.problems
        errors = problems[problems["severity"] == "error"] if len(problems) else problems
        warnings = problems[problems["severity"] == "warning"] if len(problems) else problems
        body = {"stored": result.stored, "kind": kind, "table": table, "summary": _summary(result, name),
                "errors": int(len(errors)), "warnings": int(len(warnings)),
                "problems": _records(errors, MAX_PROBLEMS) + _records(warnings, MAX_PROBLEMS - min(len(errors), MAX_PROBLEMS))}
    if not result.stored:
        first = body["problems"][0] if body["problems"] else {}
        body["detail"] = (f"{len(errors)} problem(s) in {name}; nothing was imported"
                          + (f" (first: row {first.get('row')}, column {first.get('column')}: {first.get('reason')})"
                             if first else ""))
        return JSONResponse(status_code=422, content=body)
    return body
