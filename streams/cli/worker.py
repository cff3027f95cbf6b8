"""`spi-crrn worker` (the streaming worker) and `spi-crrn demo` (the end-to-end demo on local services)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("worker", help="run the streaming worker (Faust) until SIGINT/SIGTERM")
    p.add_argument("--model", default=None, help="model file (default: the active row of model_versions)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None, help="default: DEVICE or auto")
    p.add_argument("--max-batch", type=int, default=32, help="windows per forward pass (default 32)")
    p.add_argument("--max-in-flight", type=int, default=128, help="queued jobs before the consumer waits")
    p.add_argument(
        "--model-poll-s", type=float, default=5.0, help="seconds between checks for a promoted model"
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.set_defaults(func=cmd_worker)

    p = subparsers.add_parser(
        "demo", help="end-to-end demo: train (or reuse) a model, stream a fleet, summarize"
    )
    p.add_argument("--printers", type=int, default=4)
    p.add_argument("--boards", type=int, default=60, help="boards per printer")
    p.add_argument("--pads", type=int, default=400, help="pads per board")
    p.add_argument("--defect", default="squeegee_blade", help="defect of the last printer")
    p.add_argument("--amplitude", type=float, default=6.0, help="defect strength in pad std units")
    p.add_argument("--timeout-s", type=float, default=420.0, help="give up waiting for the worker after this")
    p.add_argument("--seed", type=int, default=None, help="simulation seed (default: new each run)")
    p.add_argument(
        "--from-csv",
        type=Path,
        default=None,
        metavar="DIR",
        help="write the fleet as Koh Young-style CSV exports into DIR and run `ingest csv DIR --watch` (#13)",
    )
    p.set_defaults(func=cmd_demo)


def cmd_worker(args: argparse.Namespace) -> int:
    import logging

    from crrn.model_file import BundleError
    from streams.app import PipelineWorker
    from streams.db import registry
    from streams.db.checkpoints import CheckpointStore
    from streams.db.engine import make_engine
    from streams.db.writer import ResultWriter
    from streams.kafka.admin import ensure_topics
    from streams.model_source import ModelSource, NoModelError
    from streams.settings import Settings

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    settings = Settings.from_env(device=args.device, model_path=args.model)
    ensure_topics(settings)
    engine = make_engine(settings.database_url)
    try:
        models = ModelSource(lambda: registry.active(engine), settings.device, settings.model_path)
    except (NoModelError, BundleError) as exc:
        logging.getLogger(__name__).error("%s", exc)
        return 2
    worker = PipelineWorker(
        settings,
        models,
        ResultWriter(engine),
        CheckpointStore(engine, settings.worker_id),
        max_batch=args.max_batch,
        max_in_flight=args.max_in_flight,
        model_poll_s=args.model_poll_s,
        ping_database=lambda: _ping(engine),
    )
    worker.run()
    return 0


def _ping(engine: Any) -> None:
    """`SELECT 1` on a fresh connection (for /readyz): raises when the database cannot be reached."""
    from sqlalchemy import text

    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def cmd_demo(args: argparse.Namespace) -> int:
    from streams.demo import DemoOptions, run_demo

    return run_demo(
        DemoOptions(
            printers=args.printers,
            boards=args.boards,
            pads=args.pads,
            defect=args.defect,
            amplitude=args.amplitude,
            timeout_s=args.timeout_s,
            seed=args.seed,
            from_csv=args.from_csv,
        )
    )
