"""Benchmark: CRRN forward time per board and training step time on this CPU.

Usage: .venv/bin/python benchmarks/bench_model.py [--threads 2] [--batch 8] [--T 10]
Prints one line per (config, grid): parameters, eval forward ms per board (a board = one window of T),
and one training step (corrupt + forward with teacher forcing + backward + Adam) per batch and per window.
"""

from __future__ import annotations

import argparse
import time

import torch

from crrn.network_training import TrainConfig, step_loss
from crrn.nn.config import CRRNConfig
from crrn.nn.crrn import CRRN


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--T", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}, T {args.T}")
    print(
        f"{'config':<8} {'grid':>6} {'params':>9} {'fwd ms/board':>13} "
        f"{'train s/batch':>14} {'train ms/window':>16}"
    )
    for name, cfg in (("cpu", CRRNConfig.cpu()), ("paper", CRRNConfig.paper())):
        for size in (32, 64):
            model = CRRN(cfg)
            x = torch.randn(args.batch, args.T, cfg.in_channels, size, size)
            mask = torch.rand(size, size) > 0.3
            model.eval()
            with torch.no_grad():
                fwd = timed(lambda: model(x, mask), args.repeats)  # noqa: B023
            model.train()
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            gen = torch.Generator().manual_seed(0)
            tcfg = TrainConfig()

            def train_step() -> None:
                loss = step_loss(model, x, mask, tcfg, 0.25, gen)  # noqa: B023
                opt.zero_grad()  # noqa: B023
                loss.backward()
                opt.step()  # noqa: B023

            step = timed(train_step, args.repeats)
            print(
                f"{name:<8} {size:>3}x{size:<2} {model.num_parameters():>9,} "
                f"{1000 * fwd / args.batch:>13.1f} {step:>14.2f} {1000 * step / args.batch:>16.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
