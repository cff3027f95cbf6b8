"""Benchmark: CRRN scoring throughput (boards/s), FLOPs per board and FLOP/s against this machine's ceiling.

Usage: spi-crrn bench model [--quick] [--json [OUT]] [--threads 2] [--T 10] [--level 1.5] [--profile]
                            [--memory-format model|nchw|channels_last] [--pads N ...] [--batches B ...]

What is timed is what the scorer does per board (crrn/scoring.py Scorer._network_scores): one window of
T boards through `crrn.reconstruction.reconstruct(model, x, mask, level)` (two passes when `level` is
set, as in the deployed models) under torch.inference_mode, fp32 on the CPU, bf16 autocast on CUDA.
With hop 1 one window is scored per new board, so boards/s = windows/s = batch / seconds per call.
Both the full call and newest=1 (pass 2 decodes only the newest board, the same values; what the scorer
calls with hop 1) are timed; newest=1 is the deployed figure.

Configs: `cpu` and `paper` (CRRNConfig.cpu()/paper()); the paper config gets mask_channel=True, which two
passes need (+1 input channel of the first convolution). --quick runs it up to 2,000 pads only; any call
predicted (from the smaller batches) to take longer than the budget is skipped and listed as such.
Grids: PadGrid.from_board of one simulated board per pad count (crrn.sim.fleet, seed 0), random pad
values N(0, 1) on the pads; random weights (the work does not depend on them).
FLOPs: crrn.nn.flops.FlopCounter (2 x MACs of the convolutions, counted during the warm-up call).
Ceiling: the fastest of a few large dense 3x3 convolutions (NCHW and channels_last), same device, dtype
and threads, measured in the same run. Target: the `cpu` config at batch >= 8 reaches >= 0.5 of it.
Times are the best of the repeats (the least disturbed by other processes on a shared machine; with
2 threads on 2 busy cores every small op waits for a descheduled thread, so run it on an idle machine).
--profile: torch.profiler's top ops of one deployed call (details.profile); --memory-format
channels_last converts the model's weights (NHWC convolutions), to compare with the default NCHW.
Also: one training step (corrupt + forward with teacher forcing + backward + Adam) per batch.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import Any

import _report
import torch
from _report import Figure, Report

from crrn.layout import PadGrid
from crrn.network_training import TrainConfig, step_loss
from crrn.nn.config import CRRNConfig
from crrn.nn.crrn import CRRN
from crrn.nn.flops import FlopCounter
from crrn.reconstruction import reconstruct
from crrn.sim.fleet import FleetSpec, simulate_fleet

CONFIGS: dict[str, Callable[[], CRRNConfig]] = {"cpu": CRRNConfig.cpu, "paper": CRRNConfig.paper}
CEILING_SHAPES = ((8, 128, 64, 64), (8, 256, 32, 32), (8, 64, 64, 64))  # (N, C, H, W), C -> C, 3x3
TARGET_CONFIG, TARGET_MIN_BATCH = "cpu", 8


@dataclass(frozen=True)
class Plan:
    pads: tuple[int, ...]
    batches: tuple[int, ...]
    budget_s: float  # a (config, pads, batch) whose predicted call time exceeds this is skipped
    min_repeats: int
    min_time_s: float  # keep repeating until this much was timed (or max_repeats)
    max_repeats: int
    train: tuple[tuple[str, int], ...]  # (config, pads) of the training-step rows
    max_pads: tuple[tuple[str, int], ...] = ()  # (config, largest pad count it is run at)


FULL = Plan(
    pads=(400, 2000, 20000),
    batches=(1, 2, 4, 8, 16, 32, 64),
    budget_s=30.0,
    min_repeats=3,
    min_time_s=3.0,
    max_repeats=20,
    train=(("cpu", 400), ("cpu", 2000), ("paper", 400)),
)
QUICK = Plan(
    pads=(400, 2000, 20000),
    batches=(1, 8, 32),
    budget_s=2.5,
    min_repeats=2,
    min_time_s=0.5,
    max_repeats=5,
    train=(("cpu", 400),),
    max_pads=(("paper", 2000),),  # the paper config at 20,000 pads takes seconds per board
)


def grid_for(pads: int) -> tuple[int, int, torch.Tensor]:
    """(H, W, mask (H, W) bool) of the layout fitted on one simulated board with `pads` pads."""
    board, _ = next(simulate_fleet(FleetSpec(pads=pads, boards_per_printer=1), seed=0))
    layout = PadGrid.from_board(board)
    return layout.height, layout.width, torch.from_numpy(layout.mask.copy())


def timed(fn: Callable[[], object], plan: Plan, sync: Callable[[], None]) -> tuple[float, int]:
    """(best seconds per call, calls timed); the caller has already warmed `fn` up."""
    best, n, spent = float("inf"), 0, 0.0
    while n < plan.min_repeats or (spent < plan.min_time_s and n < plan.max_repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        dt = time.perf_counter() - t0
        best, n, spent = min(best, dt), n + 1, spent + dt
    return best, n


def conv_ceiling(
    device: torch.device, dtype: torch.dtype, plan: Plan, sync: Callable[[], None]
) -> tuple[float, list[dict[str, Any]]]:
    """Best FLOP/s of large dense 3x3 convolutions (both memory formats) and the table of all tried."""
    rows: list[dict[str, Any]] = []
    for n, c, h, w in CEILING_SHAPES:
        for fmt in (torch.contiguous_format, torch.channels_last):
            conv = torch.nn.Conv2d(c, c, 3, padding=1, bias=False).to(device=device, dtype=dtype)
            conv = conv.to(memory_format=fmt)
            x = torch.randn(n, c, h, w, device=device, dtype=dtype).contiguous(memory_format=fmt)
            with torch.inference_mode():
                conv(x)
                best, reps = timed(lambda: conv(x), plan, sync)  # noqa: B023
            flops = 2 * n * c * c * 9 * h * w
            rows.append(
                {
                    "shape": f"{n}x{c}x{h}x{w} -> {c}, 3x3",
                    "format": _fmt_name(fmt),
                    "ms": round(1e3 * best, 3),
                    "GFLOP/s": round(flops / best / 1e9, 1),
                    "repeats": reps,
                }
            )
    return max(r["GFLOP/s"] for r in rows) * 1e9, rows


def _fmt_name(fmt: torch.memory_format) -> str:
    return "channels_last" if fmt == torch.channels_last else "nchw"


def score_calls(
    model: CRRN, level: float | None
) -> dict[str, Callable[[torch.Tensor, torch.Tensor], object]]:
    """The reconstruct calls to time: 'full' (all T boards) and 'newest1' (the deployed one, hop 1)."""
    return {
        "full": lambda x, m: reconstruct(model, x, m, level),
        "newest1": lambda x, m: reconstruct(model, x, m, level, newest=1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _report.add_common_args(parser)
    parser.add_argument("--threads", type=int, default=2, help="torch threads for model and ceiling")
    parser.add_argument("--T", type=int, default=10, help="boards per window")
    parser.add_argument(
        "--level",
        type=float,
        default=1.5,
        help="hide-suspects level of pass 2 (the trained default); < 0: one pass",
    )
    parser.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=["cpu", "paper"])
    parser.add_argument("--pads", type=int, nargs="+", help="pad counts (default 400 2000 20000)")
    parser.add_argument("--batches", type=int, nargs="+", help="windows per call")
    parser.add_argument("--budget-s", type=float, help="skip calls predicted to take longer than this")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile one deployed call (cpu config, batch 8, 2,000 pads): top ops",
    )
    parser.add_argument(
        "--memory-format",
        choices=("model", "nchw", "channels_last"),
        default="model",
        help="convert the model's weights (default: as the model builds them)",
    )
    args = parser.parse_args()

    plan = QUICK if args.quick else FULL
    plan = replace(
        plan,
        pads=tuple(args.pads or plan.pads),
        batches=tuple(sorted(args.batches or plan.batches)),
        budget_s=args.budget_s or plan.budget_s,
    )
    level = None if args.level < 0 else args.level
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cuda = device.type == "cuda"
    dtype = torch.bfloat16 if cuda else torch.float32

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def autocast() -> AbstractContextManager[Any]:
        return torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext()

    report = Report("model", quick=args.quick)
    report.details["setup"] = {
        "device": str(device),
        "dtype": str(dtype).removeprefix("torch."),
        "threads": args.threads,
        "T": args.T,
        "level": level,
        "memory_format": args.memory_format,
        "timing": "best of repeats",
        "plan": {"pads": plan.pads, "batches": plan.batches, "budget_s": plan.budget_s},
    }
    ceiling, ceiling_rows = conv_ceiling(device, dtype, plan, sync)
    report.details["ceiling"] = ceiling_rows
    print(
        f"conv ceiling {ceiling / 1e9:.0f} GFLOP/s ({device}, {report.details['setup']['dtype']}, "
        f"{args.threads} threads)",
        flush=True,
    )

    grids = {p: grid_for(p) for p in plan.pads}
    rows: list[dict[str, Any]] = []
    for cfg_name in args.configs:
        torch.manual_seed(0)
        cfg = CONFIGS[cfg_name]()
        if level is not None and not cfg.mask_channel:  # the two-pass scorer needs the mask channel
            cfg = replace(cfg, mask_channel=True)
            report.details["setup"][f"{cfg_name} config"] = "with mask_channel=True (two passes need it)"
        model = CRRN(cfg).eval().to(device)
        if args.memory_format != "model":
            fmt = torch.channels_last if args.memory_format == "channels_last" else torch.contiguous_format
            model = model.to(memory_format=fmt)
        for pads in plan.pads:
            if pads > dict(plan.max_pads).get(cfg_name, pads):
                continue
            H, W, mask_cpu = grids[pads]
            mask = mask_cpu.to(device)
            for variant, call in score_calls(model, level).items():
                per_board_s: float | None = None
                for batch in plan.batches:
                    row: dict[str, Any] = {
                        "config": cfg_name,
                        "pads": pads,
                        "grid": f"{H}x{W}",
                        "variant": variant,
                        "batch": batch,
                    }
                    if per_board_s is not None and per_board_s * batch > plan.budget_s:
                        row["skipped"] = f"~{per_board_s * batch:.0f} s per call > budget {plan.budget_s:g} s"
                        rows.append(row)
                        continue
                    gen = torch.Generator().manual_seed(batch)
                    x = (torch.randn(batch, args.T, cfg.in_channels, H, W, generator=gen) * mask_cpu).to(
                        device
                    )
                    with torch.inference_mode(), autocast():
                        t0 = time.perf_counter()
                        with FlopCounter(model) as fc:  # the warm-up call
                            call(x, mask)
                        sync()
                        warm_s = time.perf_counter() - t0
                        if warm_s > plan.budget_s:  # slow: one call after the warm-up is the measurement
                            once = replace(plan, min_repeats=1, min_time_s=0.0)
                            best, reps = timed(lambda: call(x, mask), once, sync)  # noqa: B023
                        else:
                            best, reps = timed(lambda: call(x, mask), plan, sync)  # noqa: B023
                    per_board_s = min(best / batch, per_board_s or float("inf"))
                    flops_board = fc.total / batch
                    row.update(
                        {
                            "boards/s": round(batch / best, 2),
                            "ms/call": round(1e3 * best, 2),
                            "GFLOP/board": round(flops_board / 1e9, 4),
                            "GFLOP/s": round(fc.total / best / 1e9, 2),
                            "of ceiling": round(fc.total / best / ceiling, 3),
                            "repeats": reps,
                            "norm elements/board": fc.norm_elements // batch,
                        }
                    )
                    rows.append(row)
                    print(_row_line(row), flush=True)
        del model
    report.details["scoring"] = rows
    if args.profile:
        report.details["profile"] = profile_rows(args, level, grids, device)
    train = tuple((c, p) for c, p in plan.train if c in args.configs)
    report.details["training"] = training_rows(replace(plan, train=train), grids, device, sync)
    add_figures(report, rows, ceiling)
    report.finish(args.json)


def profile_rows(
    args: argparse.Namespace,
    level: float | None,
    grids: dict[int, tuple[int, int, torch.Tensor]],
    device: torch.device,
) -> list[dict[str, Any]]:
    """Where a deployed call's time goes: torch.profiler self time per op and input shape (top 15)."""
    from torch.profiler import ProfilerActivity, profile

    pads = 2000 if 2000 in grids else min(grids)
    H, W, mask = grids[pads]
    torch.manual_seed(0)
    model = CRRN(CRRNConfig.cpu()).eval().to(device)
    if args.memory_format == "channels_last":
        model = model.to(memory_format=torch.channels_last)
    x = (torch.randn(8, args.T, 2, H, W) * mask).to(device)
    m = mask.to(device)
    with torch.inference_mode():
        reconstruct(model, x, m, level, newest=1)
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            reconstruct(model, x, m, level, newest=1)
    events = prof.key_averages(group_by_input_shape=True)
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    top = sorted(events, key=lambda e: -e.self_cpu_time_total)[:15]
    print(f"profile: cpu config, {pads} pads, batch 8, newest=1: {total / 1e3:.0f} ms self time", flush=True)
    return [
        {
            "op": e.key,
            "input shapes": str(e.input_shapes)[:120],
            "calls": e.count,
            "self ms": round(e.self_cpu_time_total / 1e3, 2),
            "share": round(e.self_cpu_time_total / total, 3),
        }
        for e in top
    ]


def training_rows(
    plan: Plan,
    grids: dict[int, tuple[int, int, torch.Tensor]],
    device: torch.device,
    sync: Callable[[], None],
) -> list[dict[str, Any]]:
    """One training step per batch of 8 windows of T=10 (crrn.network_training.step_loss + Adam)."""
    out: list[dict[str, Any]] = []
    batch, T = 8, 10
    for cfg_name, pads in plan.train:
        if pads not in grids:
            continue
        H, W, mask = grids[pads]
        torch.manual_seed(0)
        cfg = CONFIGS[cfg_name]()
        model = CRRN(cfg).to(device).train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        gen = torch.Generator(device=device).manual_seed(0)
        tcfg = TrainConfig()
        x = (torch.randn(batch, T, cfg.in_channels, H, W) * mask).to(device)
        m = mask.to(device)

        def step() -> None:
            loss = step_loss(model, x, m, tcfg, 0.25, gen, use_bf16=device.type == "cuda")  # noqa: B023
            opt.zero_grad()  # noqa: B023
            loss.backward()
            opt.step()  # noqa: B023

        step()
        best, reps = timed(step, replace(plan, min_repeats=2, min_time_s=0.0, max_repeats=2), sync)
        out.append(
            {
                "config": cfg_name,
                "pads": pads,
                "grid": f"{H}x{W}",
                "batch": batch,
                "T": T,
                "params": model.num_parameters(),
                "s/step": round(best, 3),
                "ms/window": round(1e3 * best / batch, 1),
                "repeats": reps,
            }
        )
        print(f"train {cfg_name} {pads} pads: {best:.2f} s per step of {batch} windows", flush=True)
    return out


def add_figures(report: Report, rows: list[dict[str, Any]], ceiling: float) -> None:
    """Per config and pad count: deployed boards/s at batch 1 and 8, GFLOP/s at batch >= 8 vs the ceiling."""
    done = [r for r in rows if "skipped" not in r]
    variants = {r["variant"] for r in done}
    deployed = "newest1" if "newest1" in variants else "full"
    for r in done:
        if r["variant"] != deployed:
            continue
        name = f"{r['config']} {r['pads']} pads b{r['batch']}"
        if r["batch"] in (1, 8):
            report.add(Figure(f"{name} boards/s", r["boards/s"], "boards/s", note=f"reconstruct {deployed}"))
        if r["batch"] >= TARGET_MIN_BATCH:
            judged = r["config"] == TARGET_CONFIG
            report.add(
                Figure(
                    f"{name} GFLOP/s",
                    r["GFLOP/s"],
                    "GFLOP/s",
                    limit=round(ceiling / 1e9, 1),
                    limit_name="conv ceiling",
                    target=">= 0.5 of limit" if judged else "",
                )
            )


def _row_line(r: dict[str, Any]) -> str:
    return (
        f"{r['config']:<6} {r['pads']:>6} pads {r['grid']:>8} {r['variant']:<8} b{r['batch']:<3} "
        f"{r['boards/s']:>9.2f} boards/s {r['GFLOP/board']:>8.3f} GFLOP/board "
        f"{r['GFLOP/s']:>7.1f} GFLOP/s ({r['of ceiling']:.2f} of ceiling)"
    )


if __name__ == "__main__":
    main()
