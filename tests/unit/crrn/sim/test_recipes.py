"""Recipes: exact pad counts, unique ids, no overlapping pads, deterministic in the seed."""

from __future__ import annotations

import numpy as np
import pytest

from crrn.sim.recipes import make_recipe


@pytest.mark.parametrize("n_pads", [200, 1500])
def test_pad_count_ids_and_bounds(n_pads: int) -> None:
    r = make_recipe(3, n_pads)
    assert r.n_pads == n_pads
    assert np.unique(r.pad_id).size == n_pads
    assert (r.x_mm - r.size_x_mm / 2 >= 0).all()
    assert (r.x_mm + r.size_x_mm / 2 <= r.width_mm).all()
    assert (r.y_mm - r.size_y_mm / 2 >= 0).all()
    assert (r.y_mm + r.size_y_mm / 2 <= r.height_mm).all()
    assert ((r.place_in_package >= 0) & (r.place_in_package <= 1)).all()


def test_pads_never_overlap() -> None:
    r = make_recipe(5, 1500)
    # Pairwise axis-aligned rectangle overlap test, (P, P).
    gap_x = np.abs(r.x_mm[:, None] - r.x_mm[None, :]) - (r.size_x_mm[:, None] + r.size_x_mm[None, :]) / 2
    gap_y = np.abs(r.y_mm[:, None] - r.y_mm[None, :]) - (r.size_y_mm[:, None] + r.size_y_mm[None, :]) / 2
    overlap = (gap_x < 0) & (gap_y < 0)
    np.fill_diagonal(overlap, False)
    assert not overlap.any()


def test_same_seed_same_recipe_different_seed_different() -> None:
    a, b, c = make_recipe(1, 500), make_recipe(1, 500), make_recipe(2, 500)
    assert np.array_equal(a.x_mm, b.x_mm)
    assert np.array_equal(a.pad_id, b.pad_id)
    assert not np.array_equal(a.x_mm, c.x_mm)


def test_pad_count_out_of_range_is_rejected() -> None:
    with pytest.raises(ValueError, match="between 200 and 50000"):
        make_recipe(1, 100)
