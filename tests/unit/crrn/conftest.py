"""Fixtures for the data-path tests: BoardInspection objects built directly (seeded numpy), no simulator."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from schemas.inspection import BoardInspection, PadArrays

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_board(
    print_index: int,
    *,
    printer_id: str = "P1",
    recipe_id: str = "R1",
    n_pads: int = 12,
    event_id: str | None = None,
    seed: int | None = None,
    order: np.ndarray | None = None,
    volume: np.ndarray | None = None,
) -> BoardInspection:
    """A board whose pads sit on a 3-column block (pitch 1 mm); groups alternate "A"/"B"."""
    rng = np.random.default_rng(seed if seed is not None else print_index)
    k = np.arange(n_pads)
    pad_id = np.array([f"pad{i:03d}" for i in k])
    x = (k % 3).astype(np.float64)
    y = (k // 3).astype(np.float64)
    shape = np.where(k % 2 == 0, "A", "B")
    nominal = 100.0 + 5.0 * (k % 4)
    vol = nominal + rng.normal(0, 3, n_pads) if volume is None else np.asarray(volume, dtype=np.float64)
    height = 120.0 + rng.normal(0, 4, n_pads)
    idx = np.arange(n_pads) if order is None else np.asarray(order)
    pads = PadArrays(
        pad_id=pad_id[idx],
        x_mm=x[idx],
        y_mm=y[idx],
        size_x_mm=np.full(n_pads, 0.5),
        size_y_mm=np.full(n_pads, 0.5),
        shape=shape[idx],
        volume_pct=np.maximum(vol, 0)[idx],
        height_um=np.maximum(height, 0)[idx],
        area_pct=np.full(n_pads, 100.0),
    )
    return BoardInspection(
        event_id=event_id or f"{printer_id}-{recipe_id}-{print_index}",
        line_id="L1",
        printer_id=printer_id,
        inspector_id="SPI1",
        recipe_id=recipe_id,
        board_id=f"B-{printer_id}-{print_index}",
        print_index=print_index,
        inspected_at=T0 + timedelta(seconds=20 * print_index),
        pads=pads,
    )


@pytest.fixture(scope="session")
def board_factory() -> Callable[..., BoardInspection]:
    """`make_board(print_index, printer_id=, recipe_id=, n_pads=, event_id=, seed=, order=, volume=)`."""
    return make_board
