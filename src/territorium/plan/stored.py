"""A stored plan as the file inputs of the file-based jobs (quota, export, routing, alerts).

Those jobs read an alignment (``unit_id, territory``) and a staffing file (``territory, rep``),
as the command line writes them. :func:`plan_files` writes a stored plan's version into a
private temporary folder with :func:`territorium.plan.plans.export_plan` and says whether its
staffing can be used: only when every rep it names is an imported rep (the jobs look reps up
by id); otherwise the jobs match reps to territories themselves and a note says why.
"""
from __future__ import annotations

import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pandas as pd

__all__ = ["PlanFiles", "plan_files"]


@dataclass(frozen=True)
class PlanFiles:
    """Files of one stored plan version (valid inside the :func:`plan_files` block)."""

    info: object                  # plans.PlanInfo
    version: int
    alignment: Path
    staffing: Path | None         # None: no reps, or reps that are not imported
    territories: pd.DataFrame     # the plan's territories (hierarchy, quota, reps)
    notes: list[str] = field(default_factory=list)


@contextmanager
def plan_files(eng, ref: str | int, *, version: int | None = None) -> Iterator[PlanFiles]:
    """Write plan ``ref`` (at ``version``, default the current one) as files; removed afterwards."""
    from territorium.plan import plans
    from territorium.plan.workspace import Workspace

    c = plans.plan_content(eng, ref, version, units=False)
    with tempfile.TemporaryDirectory(prefix="territorium-plan-") as tmp:
        files = plans.export_plan(eng, c.info.id, Path(tmp), version=c.version)
        staff = pd.read_csv(files["staffing"], dtype=str)
        reps = set(staff["rep_id"].dropna()) if "rep_id" in staff.columns else set()
        notes = []
        use = False
        if reps:
            known = set(Workspace(engine=eng).table("reps")["rep_id"].astype(str))
            use = reps <= known
            if not use:
                notes.append(f"the plan's reps {', '.join(sorted(reps - known)[:5])} are not in the imported reps: "
                             "its staffing is not used (reps matched to territories by current ownership)")
        yield PlanFiles(c.info, c.version, files["alignment"], files["staffing"] if use else None, c.territories,
                        notes)
