"""Every CSV a planner opens in a spreadsheet is formula-safe, not only the exports: the design
alignment, the staffing files, plan comparisons and audit exports, potential and forecasts,
alerts (issue 13). The service readers give the exact names back."""
from __future__ import annotations

import numpy as np
import pandas as pd

from territorium.data.cells import write_csv
from territorium.plan._files import read_table

EVIL = '=HYPERLINK("http://evil.example","T")'


def test_write_csv_neutralises_text_and_the_readers_restore_it(tmp_path):
    df = pd.DataFrame({"territory": [EVIL, "+1 555", "@SUM(A1)", "plain", "'kept"], "amount": [-5.0, 1.0, 2.0, 3.0, 4.0]})
    p = tmp_path / "x.csv"
    write_csv(df, p)
    raw = p.read_text().splitlines()
    assert all(not line.split(",")[0].lstrip('"').startswith(("=", "+", "@", "-")) for line in raw[1:])
    assert "-5.0" in raw[1]                      # numbers stay numbers
    back = read_table(p)
    assert back["territory"].tolist() == df["territory"].tolist()


def test_design_alignment_output_is_spreadsheet_safe(tmp_path):
    from territorium.design import design
    from territorium.geo.grid import grid_units
    from territorium.plan.designing import write_alignment
    from territorium.plan.workspace import UnitLoad

    u = grid_units(4, 3)
    u = u.with_measures({"workload": np.ones(u.n)})
    r = design(u, 2, balance={"workload": 0.2}, seed=1, time_limit=5)
    load = UnitLoad(u, pd.DataFrame(), 0, 0, (None, None))
    out = tmp_path / "plan.csv"
    write_alignment(load, r, [EVIL, "T2"], out)
    text = out.read_text()
    assert "'=HYPERLINK" in text and "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text
    assert set(read_table(out)["territory"]) == {EVIL, "T2"}
