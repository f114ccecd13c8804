"""A stored plan exported as ``territorium export`` writes it, as a download: one file as
itself, several (CSV with its unit file, Salesforce load files) as a ZIP. Managers and reps get
the part of the plan they may see (their territories' units, polygons and accounts)."""
from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Query, Response

from territorium.api.deps import VisiblePlanSummary, Eng
from territorium.plan import plans

router = APIRouter(prefix="/api/plans", tags=["exports"])

#: API format name → the export engine's name
FORMATS = {"csv": "csv", "geojson": "geojson", "kml": "kml", "xlsx": "excel", "salesforce": "salesforce",
           "hubspot": "hubspot", "gpkg": "gpkg"}
MEDIA = {".csv": "text/csv", ".geojson": "application/geo+json", ".kml": "application/vnd.google-earth.kml+xml",
         ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
         ".gpkg": "application/geopackage+sqlite3", ".zip": "application/zip"}


def _download(files: list[Path], stem: str) -> tuple[bytes, str]:
    if len(files) == 1:
        return files[0].read_bytes(), f"{stem}{files[0].suffix}" if files[0].suffix else files[0].name
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in files:
            z.write(f, f.name)
    return buf.getvalue(), f"{stem}.zip"


@router.get("/{name}/export", summary="Download the plan as CSV, GeoJSON, KML, Excel or Salesforce load files",
            response_class=Response,
            responses={200: {"description": "the file (Content-Disposition: attachment)",
                             "content": {m: {} for m in MEDIA.values()}}})
def export_plan(loaded: VisiblePlanSummary, eng: Eng,
                format: Literal[tuple(FORMATS)] = Query("csv"),  # type: ignore[valid-type]
                hierarchy: str = Query("state", pattern=r"^(state|none|adjacency:\d{1,3})$",
                                       description="levels above the territories (whole plans only)")):
    """The plan's alignment and staffing through the export engine; the notes of the export
    come back in the ``X-Territorium-Notes`` header."""
    from territorium.plan.exporting import ExportError
    from territorium.plan.stored import export_stored
    from territorium.plan.workspace import WorkspaceError

    info = loaded.content.info
    with tempfile.TemporaryDirectory(prefix="territorium-export-") as d:
        try:
            files, notes = export_stored(eng, info.id, FORMATS[format], Path(d) / "out", scope=loaded.scope,
                                         hierarchy=hierarchy)
        except (ExportError, WorkspaceError, ValueError) as exc:   # as `territorium export`
            raise plans.PlanError(str(exc).replace(d, "")) from None
        body, filename = _download([Path(f) for f in files], f"{info.name}-v{info.version}-{format}")
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in filename)
    media = MEDIA.get(Path(safe).suffix, "application/octet-stream")
    return Response(content=body, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{safe}"',
        "X-Territorium-Notes": "; ".join(notes)[:2000].encode("ascii", "replace").decode()})
