"""Validation throughput: `parse_inspection(raw_bytes)` end to end, JSON decoding included (the worker call).

The stream worker (`streams/pipeline/core.py`, `Pipeline.offer`) calls `parse_inspection(record.value,
limits)` on the Kafka value bytes; this times exactly that call on simulated boards (`simulate_fleet`):
2,000 and 50,000 pads without the optional real-line fields, and with them (barcode, stencil, panel
position, prints since cleaning, pads.component_ref, pads.spi_result; issue 13).

Figures, per board: MB/s of event JSON (target >= 150, issue 15) beside the same-run limit, the bare
decoder's MB/s on the same bytes (`msgspec.json.decode` to Python objects, no checks), so the ratio
says what validation costs beyond decoding; and events/s. Details add the stdlib `json.loads`, the
syntax-only pass (msgspec skipping every value), MB per CPU second of the timing thread (a steadier
reading on a shared machine) and the reference path (`parse_reference`: json.loads
with the duplicate-key hook, then the checks), which is what parse_inspection did before the fast path.

Run: spi-crrn bench validation [--quick] [--json [OUT]]    (--quick: under a minute)
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import _report
import msgspec

from crrn.sim.fleet import FleetSpec, simulate_fleet
from schemas.codec import inspection_to_json
from schemas.fast_decode import parse_fast
from schemas.inspection import BoardInspection
from schemas.validation import Limits, parse_inspection, parse_reference

TARGET_MB_S = ">= 150"
_SKIP_ALL = msgspec.json.Decoder(dict[str, msgspec.Raw])


def board(pads: int, real_line: bool) -> BoardInspection:
    simulated, _ = next(simulate_fleet(FleetSpec(pads=pads, boards_per_printer=1), seed=0))
    if real_line:
        return simulated
    core = replace(simulated.pads, component_ref=None, spi_result=None)
    return replace(
        simulated, pads=core, barcode=None, panel_position=None, stencil_id=None, prints_since_cleaning=None
    )


def timed(fn: Callable[[], object], repeats: int) -> dict[str, float]:
    """Median and best wall seconds of `repeats` calls (one warm-up call first), and the median CPU
    seconds of this thread (less sensitive to other processes on a shared machine)."""
    fn()
    gc.collect()
    times, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.thread_time()
        fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.thread_time() - start_cpu)
    wall = statistics.median(times)
    return {"median_s": wall, "best_s": min(times), "cpu_s": statistics.median(cpu), "repeats": repeats}


def measure(name: str, raw: bytes, repeats: int, reference_repeats: int) -> dict[str, Any]:
    mb = len(raw) / 1e6
    runs = {
        "parse_inspection": timed(lambda: parse_inspection(raw), repeats),
        "bare decoder (msgspec.json.decode)": timed(lambda: msgspec.json.decode(raw), repeats),
        "stdlib json.loads": timed(lambda: json.loads(raw), reference_repeats),
        "syntax only (msgspec, values skipped)": timed(lambda: _SKIP_ALL.decode(raw), repeats),
        "reference path (parse_reference)": timed(lambda: parse_reference(raw), reference_repeats),
    }
    for run in runs.values():
        run["ms"] = round(run["median_s"] * 1e3, 3)
        run["MB/s"] = round(mb / run["median_s"], 1)
        run["events/s"] = round(1 / run["median_s"], 1)
        run["MB/s cpu"] = round(mb / max(run["cpu_s"], 1e-9), 1)  # MB per CPU second of this thread
    return {
        "board": name,
        "pads": parse_inspection(raw).n_pads,
        "MB": round(mb, 3),
        "fast_path": parse_fast(raw, Limits()) is not None,
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _report.add_common_args(parser)
    args = parser.parse_args()
    report = _report.Report("validation", quick=args.quick)
    cases = [("pads2000", 2000, False), ("pads50000", 50_000, False), ("pads50000 real-line", 50_000, True)]
    if not args.quick:
        cases.insert(1, ("pads2000 real-line", 2000, True))
    rows = []
    for name, pads, real_line in cases:
        raw = inspection_to_json(board(pads, real_line))
        small = pads <= 5000
        repeats = (200 if small else 21) if not args.quick else (40 if small else 7)
        reference_repeats = max(3, repeats // 4) if args.quick else repeats // 2
        row = measure(name, raw, repeats, reference_repeats)
        rows.append(row)
        runs = row["runs"]
        note = "" if row["fast_path"] else "fast path declined: reference path timed"
        report.add(
            _report.Figure(
                f"validate {name} MB/s",
                runs["parse_inspection"]["MB/s"],
                "MB/s",
                limit=runs["bare decoder (msgspec.json.decode)"]["MB/s"],
                limit_name="bare decoder, same bytes",
                target=TARGET_MB_S,
                note=note,
            )
        )
        events = runs["parse_inspection"]["events/s"]
        report.add(_report.Figure(f"validate {name} events/s", events, "events/s"))
    report.details["boards"] = rows
    report.details["table"] = [
        {"board": row["board"], "what": what, **{k: run[k] for k in ("ms", "MB/s", "MB/s cpu", "events/s")}}
        for row in rows
        for what, run in row["runs"].items()
    ]
    for line in report.details["table"]:
        print(
            f"{line['board']:20s} {line['what']:38s} {line['ms']:9.2f} ms {line['MB/s']:8.1f} MB/s"
            f" ({line['MB/s cpu']:7.1f} MB per CPU second)"
        )
    report.finish(args.json)


if __name__ == "__main__":
    main()
