"""What every `spi-crrn bench NAME` prints and writes: figures, each beside its limit and target.

A benchmark collects `Figure`s: a measured value, optionally the limit it could reach measured IN THE
SAME RUN (e.g. the convolution ceiling of this CPU, the bare consumer's rate) with their ratio, and the
target it is judged by (issue 15). `Report.finish()` prints one table and, with `--json [OUT]`, writes
the JSON (default `results/bench/NAME.json`).

    report = Report("model", quick=args.quick)
    report.add(Figure("cpu b8 pads2000 GFLOP/s", 12.3, "GFLOP/s", limit=20.1, limit_name="conv ceiling",
                      target=">= 0.5 of limit"))
    report.finish(args.json)

Targets are strings of one of these forms, checked by `Figure.met`:
    ">= X" / "<= X"                   on the value
    ">= X of limit" / "<= X of limit" on value / limit (the ratio)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parents[1] / "results" / "bench"
_TARGET = re.compile(r"^(>=|<=)\s*([0-9.eE+-]+)(\s+of limit)?$")


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    limit: float | None = None  # the same quantity's ceiling or reference, measured in this run
    limit_name: str = ""
    target: str = ""  # see the module docstring; "" = reported, not judged
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return None if self.limit in (None, 0) else self.value / self.limit  # type: ignore[operator]

    @property
    def met(self) -> bool | None:
        if not self.target:
            return None
        m = _TARGET.match(self.target.strip())
        if m is None:
            raise ValueError(f"Figure {self.name!r}: target {self.target!r} is not '>= X [of limit]'")
        op, bound, of_limit = m.group(1), float(m.group(2)), bool(m.group(3))
        x = self.ratio if of_limit else self.value
        if x is None:
            return False
        return x >= bound if op == ">=" else x <= bound

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "met": self.met}


@dataclass
class Report:
    bench: str
    quick: bool = False
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # tables behind the figures
    started: float = field(default_factory=time.monotonic)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def to_dict(self) -> dict[str, Any]:
        judged = [f.met for f in self.figures if f.met is not None]
        return {
            "bench": self.bench,
            "quick": self.quick,
            "machine": machine(),
            "seconds": round(time.monotonic() - self.started, 1),
            "figures": [f.to_dict() for f in self.figures],
            "targets_met": all(judged) if judged else None,
            "details": self.details,
        }

    def table(self) -> str:
        rows = [("figure", "value", "unit", "limit", "ratio", "target", "met")]
        for f in self.figures:
            rows.append(
                (
                    f.name,
                    _num(f.value),
                    f.unit,
                    "" if f.limit is None else f"{_num(f.limit)} ({f.limit_name})",
                    "" if f.ratio is None else f"{f.ratio:.3f}",
                    f.target,
                    {None: "", True: "yes", False: "NO"}[f.met],
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)

    def finish(self, json_path: str | None) -> dict[str, Any]:
        """Print the table; write the JSON when `json_path` is given ('' = the default path)."""
        out = self.to_dict()
        print(self.table())
        if json_path is not None:
            default = RESULTS / f"{self.bench}{'-quick' if self.quick else ''}.json"
            path = Path(json_path) if json_path else default
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(out, indent=1, default=str))
            print(f"wrote {path}")
        return out


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """--quick and --json [OUT], the same for every benchmark."""
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repeats (minutes)")
    parser.add_argument(
        "--json",
        nargs="?",
        const="",
        default=None,
        metavar="OUT",
        help="also write the results as JSON (default path: results/bench/NAME[-quick].json)",
    )


def machine() -> dict[str, Any]:
    import torch

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu or platform.processor(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "load_average_at_end": os.getloadavg(),
    }


def _num(x: float) -> str:
    if x == 0 or 0.01 <= abs(x) < 1e6:
        return f"{x:.3g}" if abs(x) < 100 else f"{x:,.0f}"
    return f"{x:.3e}"
