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


def scoped(plan, territories: set[str]):
    """The export plan cut to ``territories`` (a rep's or a manager's part): units, their
    polygons, territories and accounts outside it are left out, and so is the hierarchy."""
    from dataclasses import replace

    import numpy as np

    keep = plan.units["territory"].astype(str).isin(territories).to_numpy()
    geometry = None if plan.geometry is None else np.asarray(plan.geometry, dtype=object)[keep]
    tt = plan.territories[plan.territories["territory_id"].astype(str).isin(territories)].reset_index(drop=True)
    acc = plan.accounts[plan.accounts["territory_id"].astype(str).isin(territories)].reset_index(drop=True)
    return replace(plan, units=plan.units[keep].reset_index(drop=True), territories=tt, accounts=acc,
                   geometry=geometry, hierarchy=None)


def export_stored(eng, ref: str | int, fmt: str, out: Path, *, scope: set[str] | None = None,
                  hierarchy: str = "state", version: int | None = None) -> tuple[list[Path], list[str]]:
    """Export a stored plan as ``territorium export`` does from its files (``fmt``: one of
    ``exporting.FORMATS``), cut to ``scope`` when given; returns (files written, notes)."""
    from territorium.plan.exporting import build_plan, export
    from territorium.plan.workspace import Workspace

    with plan_files(eng, ref, version=version) as pf:
        plan = build_plan(Workspace(engine=eng), alignment=pf.alignment, assignment=pf.staffing,
                          hierarchy="none" if scope is not None else hierarchy, level=pf.info.unit_level,
                          model_name=pf.info.name)
        notes = pf.notes + plan.notes
    if scope is not None:
        plan = scoped(plan, scope)
    return export(plan, fmt, out, model_name=plan.model_name), notes
