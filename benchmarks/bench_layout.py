"""Benchmark PadGrid.fit / to_grid / from_grid / for_board on simulated recipes and random layouts.

Run: .venv/bin/python benchmarks/bench_layout.py [--pads 1000 5000 50000]
Prints one line per case: grid shape, cells per pad, largest displacement, and times (median of runs).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from crrn.layout import PadGrid


def _timed(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _layouts(n: int) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(n)
    out = {}
    try:
        from crrn.sim.recipes import make_recipe

        r = make_recipe(1, n)
        out["sim-recipe"] = (r.pad_id, r.x_mm, r.y_mm)
    except ImportError:
        pass
    ids = np.array([f"p{i}" for i in range(n)])
    out["uniform"] = (ids, rng.uniform(0, 300, n), rng.uniform(0, 200, n))
    side = int(np.ceil(np.sqrt(n)))
    r_, c_ = np.divmod(np.arange(n), side)
    out["regular"] = (ids, c_ * 0.5 + rng.uniform(-0.04, 0.04, n), r_ * 0.5 + rng.uniform(-0.04, 0.04, n))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pads", type=int, nargs="+", default=[1000, 5000, 50000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        f"{'layout':<11} {'pads':>6} {'grid':>11} {'cells/pad':>9} {'max_disp':>8} "
        f"{'fit_s':>7} {'to_grid_ms':>10} {'from_grid_ms':>12} {'for_board_ms':>12}"
    )
    for n in args.pads:
        for name, (ids, x, y) in _layouts(n).items():
            fit_s = _timed(lambda: PadGrid.fit("R", ids, x, y), args.repeat)  # noqa: B023
            g = PadGrid.fit("R", ids, x, y)
            vals = np.random.default_rng(0).normal(size=(10, 2, n)).astype(np.float32)  # (T, C, P)
            grid = g.to_grid(vals)
            t_to = _timed(lambda: g.to_grid(vals), args.repeat)  # noqa: B023
            t_from = _timed(lambda: g.from_grid(grid), args.repeat)  # noqa: B023

            class _Pads:  # minimal stand-in with shuffled pad ids for for_board
                pad_id = ids[np.random.default_rng(1).permutation(n)]

            class _Board:
                recipe_id = "R"
                board_id = "b"
                event_id = "e"
                pads = _Pads

            t_fb = _timed(lambda: g.for_board(_Board), args.repeat)  # type: ignore[arg-type]  # noqa: B023
            print(
                f"{name:<11} {n:>6} {g.shape!s:>11} {g.height * g.width / n:>9.2f} "
                f"{g.max_displacement:>8} {fit_s:>7.3f} {t_to * 1e3:>10.2f} {t_from * 1e3:>12.2f} "
                f"{t_fb * 1e3:>12.2f}"
            )


if __name__ == "__main__":
    main()
