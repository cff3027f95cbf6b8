"""`spi-crrn bench NAME [ARGS...]`: run one of the benchmark scripts in `benchmarks/` (they print numbers).

Benchmarks hold every speed and memory claim of the project; tests never time anything. Each script is
also runnable on its own (`python benchmarks/bench_NAME.py --help`).
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"


def available() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in BENCH_DIR.glob("bench_*.py"))


def register(subparsers: argparse._SubParsersAction) -> None:
    names = available()
    bench = subparsers.add_parser(
        "bench",
        help="run a benchmark that prints measured numbers",
        description=f"Run benchmarks/bench_NAME.py. Available: {', '.join(names) or 'none found'}.",
    )
    bench.add_argument("name", choices=names, help="which benchmark")
    bench.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the benchmark")
    bench.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    script = BENCH_DIR / f"bench_{args.name}.py"
    saved, saved_path = sys.argv, list(sys.path)
    sys.argv = [str(script), *args.args]
    sys.path.insert(0, str(BENCH_DIR))  # as `python benchmarks/bench_NAME.py` would: `import _report`
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv, sys.path[:] = saved, saved_path
    return 0
