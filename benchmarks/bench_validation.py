"""Time parse_inspection on one 50,000-pad board (JSON bytes in, BoardInspection out); prints medians.

Run: .venv/bin/python benchmarks/bench_validation.py
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable

from crrn.sim.fleet import FleetSpec, simulate_fleet
from schemas.codec import inspection_to_dict, inspection_to_json
from schemas.validation import parse_inspection


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    board, _ = next(simulate_fleet(FleetSpec(pads=50_000, boards_per_printer=1), seed=0))
    raw = inspection_to_json(board)
    as_dict = inspection_to_dict(board)
    t_json = median_seconds(lambda: json.loads(raw), 7)
    t_bytes = median_seconds(lambda: parse_inspection(raw), 7)
    t_dict = median_seconds(lambda: parse_inspection(as_dict), 7)
    print(f"board: {board.n_pads} pads, {len(raw) / 1e6:.2f} MB of JSON")
    print(f"json.loads alone:                 {t_json * 1e3:8.1f} ms (median of 7)")
    print(f"parse_inspection(bytes):          {t_bytes * 1e3:8.1f} ms (median of 7)")
    print(f"parse_inspection(dict of lists):  {t_dict * 1e3:8.1f} ms (median of 7)")


if __name__ == "__main__":
    main()
