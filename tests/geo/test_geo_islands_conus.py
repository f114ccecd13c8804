"""Island links follow the real ferries, and the contiguous-US shortcut for ``states``."""
from __future__ import annotations

import numpy as np
import pytest

from territorium.geo import build_units, virtual_edge_report
from territorium.geo.connect import connect_components
from territorium.geo.reference import CONTIGUOUS


def _virtual_pairs(u):
    rep = virtual_edge_report(u)
    return {frozenset(p) for p in zip(rep["from_id"], rep["to_id"])}


def test_marthas_vineyard_and_nantucket_link_to_cape_cod_not_newport():
    # With Rhode Island in the build, Newport County (46 km) is nearer to Martha's Vineyard
    # than Barnstable County (47 km); the ferries run to Woods Hole and Hyannis on Cape Cod.
    u = build_units("county", states=["MA", "RI"], cache=False)
    pairs = _virtual_pairs(u)
    assert frozenset({"25007", "25001"}) in pairs  # Dukes - Barnstable
    assert frozenset({"25019", "25001"}) in pairs  # Nantucket - Barnstable
    assert not any("44005" in p for p in pairs)  # nothing links to Newport County, RI
    assert any("Dukes County, MA (25007) to Barnstable County, MA (25001)" in n and "ferry" in n
               for n in u.notes)


def test_zip_islands_link_to_their_ferry_ports():
    u = build_units("zip", states=["MA", "RI"], cache=False)
    pairs = _virtual_pairs(u)
    assert frozenset({"02554", "02601"}) in pairs  # Nantucket - Hyannis
    assert frozenset({"02568", "02543"}) in pairs  # Vineyard Haven - Woods Hole


def test_same_state_preferred_over_a_slightly_nearer_unit_across_the_line():
    # a 3-unit line: island 0 (state A) is 10 km from unit 1 (state B) and 12 km from unit 2
    # (state A); 1 and 2 share a border.
    xy = np.array([[0.0, 0.0], [10_000.0, 0.0], [0.0, 12_000.0]])
    edges = np.array([[1, 2]])
    v, notes = connect_components(3, edges, xy, groups=["A", "B", "A"])
    assert {tuple(sorted(e)) for e in v.tolist()} == {(0, 2)}
    # without states, or when the same-state unit is much farther, the nearest wins
    v, _ = connect_components(3, edges, xy)
    assert {tuple(sorted(e)) for e in v.tolist()} == {(0, 1)}
    xy[2] = [0.0, 30_000.0]
    v, _ = connect_components(3, edges, xy, groups=["A", "B", "A"])
    assert {tuple(sorted(e)) for e in v.tolist()} == {(0, 1)}


@pytest.mark.parametrize("alias", ["CONUS", "lower 48", "Lower-48", "contiguous"])
def test_contiguous_us_alias(alias):
    from territorium.geo.build import _norm_states

    assert _norm_states(alias) == CONTIGUOUS
    assert len(CONTIGUOUS) == 49 and "DC" in CONTIGUOUS and not {"AK", "HI", "PR"} & set(CONTIGUOUS)
    assert _norm_states(f"{alias},AK") == tuple(sorted(CONTIGUOUS + ("AK",)))


def test_contiguous_us_county_build():
    u = build_units("county", states="CONUS", cache=False)
    assert u.n == 3108  # 3,142 county-equivalents of the 50 states + DC, less 29 in AK and 5 in HI
    assert set(u.table["state"]) == set(CONTIGUOUS)
    assert u.adjacency.n_components() == 1


def test_unknown_state_error_names_the_alias():
    with pytest.raises(ValueError, match="CONUS"):
        build_units("county", states="Narnia", cache=False)
