"""The realignment's articulation cache (State.connected_without with art_cache) answers as
the BFS does, on plans with territories in several pieces and after moves."""
from __future__ import annotations

import numpy as np

from territorium.design._problem import build_problem
from territorium.design._search import State
from territorium.geo.grid import grid_units


def _bfs_answers(st: State) -> list[bool]:
    st.art_cache = False
    return [st.connected_without(u) for u in range(st.P.n)]


def _cached_answers(st: State) -> list[bool]:
    st.art_cache = True
    return [st.connected_without(u) for u in range(st.P.n)]


def test_cache_agrees_with_bfs_through_random_moves():
    units = grid_units(9, 9, seed=5)
    k = 4
    rng = np.random.default_rng(7)
    # a random plan (territories in many pieces, with holes and thin bridges)
    a = rng.integers(0, k, units.n)
    P = build_problem(units, k, balance={"account_count": 0.5}, current=a)
    st = State(P, a, np.zeros((k, 2)))
    assert st.art_cache  # on for realignment (a current plan)
    n_false = 0
    for step in range(60):
        bfs = _bfs_answers(st)
        assert _cached_answers(st) == bfs, f"step {step}"
        n_false += bfs.count(False)
        # move a random unit to a random neighbour's territory (cache entries dropped)
        u = int(rng.integers(units.n))
        nb = units.adjacency.neighbors(u)
        st.move(u, int(st.a[nb[rng.integers(len(nb))]]))
    assert n_false > 100  # the plans had many cut vertices to get right
