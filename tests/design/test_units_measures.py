"""Per-unit measures given by unit id: ``Units.with_measures`` aligns or refuses."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from territorium.geo.grid import grid_units


@pytest.fixture()
def u():
    return grid_units(3, 4)


def test_series_in_another_order_is_aligned_by_unit_id(u):
    rng = np.random.default_rng(3)
    vals = rng.uniform(1, 100, u.n)
    s = pd.Series(vals, index=u.ids)
    shuffled = s.sample(frac=1.0, random_state=1)
    assert not (shuffled.index == s.index).all()
    out = u.with_measures({"m": shuffled})
    np.testing.assert_allclose(out.measure("m"), vals)


def test_dataframe_indexed_by_unit_id_is_aligned(u):
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"a": rng.uniform(size=u.n), "b": rng.uniform(size=u.n)}, index=u.ids)
    out = u.with_measures(df.iloc[::-1])
    np.testing.assert_allclose(out.measure("a"), df["a"].to_numpy())
    np.testing.assert_allclose(out.measure("b"), df["b"].to_numpy())


def test_arrays_and_default_range_index_are_positional(u):
    vals = np.arange(u.n, dtype=float) * 2.5
    np.testing.assert_allclose(u.with_measures({"m": vals}).measure("m"), vals)
    np.testing.assert_allclose(u.with_measures(pd.DataFrame({"m": vals})).measure("m"), vals)


@pytest.mark.parametrize("case, match", [
    ("missing", "no value for 1 unit"),
    ("unknown", "unknown unit ids: nowhere"),
    ("repeated", "more than once"),
    ("int_index", "indexed by numbers"),
    ("short_array", "expected 12 values"),
    ("nan", "NaN"),
    ("text", "must be numbers"),
])
def test_bad_measure_input_is_refused_with_a_clear_error(u, case, match):
    s = pd.Series(np.ones(u.n), index=u.ids)
    bad = {
        "missing": s.iloc[1:],
        "unknown": pd.concat([s, pd.Series([1.0], index=["nowhere"])]),
        "repeated": pd.concat([s, s.iloc[:1]]),
        "int_index": pd.Series(np.ones(u.n), index=np.arange(u.n) + 100),
        "short_array": np.ones(u.n - 1),
        "nan": np.r_[np.ones(u.n - 1), np.nan],
        "text": np.array(["x"] * u.n, dtype=object),
    }[case]
    with pytest.raises(ValueError, match=match) as e:
        u.with_measures({"workload": bad})
    assert "'workload'" in str(e.value)
