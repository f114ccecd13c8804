"""Rep-home designs: the transport LP takes more candidate homes per unit when the nearest
ones cannot balance it (fixed centres do not move, so only more candidates help)."""
import numpy as np

from territorium.design import design
from territorium.geo.grid import grid_units


def _corridor():
    # a 60-unit corridor, equal workload (3 units a territory); 4 homes at the west end, 16 at
    # the east end: every unit west of the eastern homes has the same 12 nearest homes (4 west
    # + 8 east), which can hold 12 × 3.15 of its 44 units; all 20 homes balance it
    g = grid_units(60, 1)
    homes = [(5_000.0 + 10_000.0 * i, 5_000.0) for i in list(range(4)) + list(range(44, 60))]
    return g, homes


def test_fixed_centres_lp_grows_its_candidates_until_balanced():
    g, homes = _corridor()
    r = design(g, centers=homes, balance={"workload": 0.05}, seed=1, n_jobs=1, time_limit=3, polish=0)
    # the relaxation is reported only when the LP meets every tolerance without slack
    assert r.report.relaxation is not None and r.report.relaxation > 0
    one = design(g, centers=homes, balance={"workload": 0.05}, seed=1, n_jobs=1, time_limit=3, polish=0, lloyd=1)
    assert one.report.relaxation is None  # one solve with the 12 nearest homes needs slack
