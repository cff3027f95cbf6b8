"""Time and memory of every stage of a board's path against its pad count, and the fitted growth.

Issue 15: the cost of a board must be linear in its pads, with no quadratic step anywhere. For boards of
200, 1,000, 5,000, 20,000 and 50,000 pads (the simulator's recipes) this times, one board or one window
at a time, each stage the worker runs:

    encode        schemas.codec.inspection_to_json (what a producer sends)
    validate      schemas.validation.parse_inspection of those bytes
    layout        crrn.layout.PadGrid.from_board (fitting a recipe's grid; training / a new recipe)
    grid          crrn.scoring.windows_array: normalization + grid of one window of T boards
    model         the network on one window (Scorer.array_score_fn: two passes, hide_suspects_above=2)
    maps          scores grid -> the newest board's per-pad scores in its pad order + board outliers
    evidence      crrn.evidence.EvidenceTracker on that board (steady state: the printer already fed)
    state         the evidence state exported as the JSON the writer stores, and imported again
    alarm         streams.pipeline.results.alarm_message + its JSON (what goes to the alarm topic)
    rows          the writer's rows of one board (streams/db/writer.py: board, anomaly map, layout,
                  measurements, pad alarms) with the binary real[] encoding; psycopg's encoding of the
                  text arrays (pad ids) and the database itself are not in it (see --live)

The model is untrained (CRRNConfig.cpu(), T=10, hide_suspects_above=2.0 like deployed models; its
thresholds are the 0.5 % / 99.5 % quantiles of its own scores of the newest board, so 1 % of the pads
alarm at every size).
Memory: the tracemalloc peak of the stage (Python + numpy allocations), and for the model the growth of
the peak RSS during one forward pass (torch allocations are not traced), measured in a fresh process with
glibc's mmap threshold fixed at 256 KiB (so freed blocks are returned and the peak is the pass's own;
after a warm-up pass). Growth: the slope k of log(value) = a + k log(pads) over the sizes, and the slope
between the two largest sizes alone (where fixed costs no longer hide a super-linear term); the target
of both is <= 1.15 (linear, with noise). The model's cost follows the grid's cells, ~3.8 per pad at
50,000 pads (7 at 200: small boards are sparser), so its k in pads is below its k in cells.

Also: the model stage per board against T (5, 10, 20) and against windows per forward pass (1, 8, 32:
printers scored together) at --sweep-pads, and, with the local services (`--live`, the default;
`--no-live` skips it), one 50,000-pad board through the whole live pipeline: a worker subprocess on
private topics and a scratch database, the seconds from publishing the board that completes a T=2
window to its row in PostgreSQL, and its alarm on the alarm topic.

Run: spi-crrn bench scaling [--quick] [--json [OUT]] [--no-live] [--sizes 200 1000 ...]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import _report
import numpy as np
import torch
from _live import Worker
from _report import Figure, Report

from crrn.anomaly_map import alarms
from crrn.board_scores import BoardScores
from crrn.evidence import EvidenceModel, EvidenceTracker, ResidualScale
from crrn.layout import PadGrid
from crrn.model_file import ModelBundle, RecipeModel
from crrn.nn import CRRN, CRRNConfig
from crrn.normalization import PadNormalizer, board_values
from crrn.scoring import Scorer, windows_array
from crrn.sim.fleet import FleetSpec, simulate_fleet
from crrn.thresholds import Thresholds
from schemas.codec import inspection_to_json
from schemas.inspection import BoardInspection
from schemas.validation import parse_inspection
from streams.db.arrays import Float4Array, encode_float4_array
from streams.db.writer import (
    anomaly_map_params,
    board_params,
    layout_key,
    layout_params,
    measurement_params,
    pad_alarm_params,
    pad_context,
    state_params,
)
from streams.pipeline.records import SourceRef
from streams.pipeline.results import BoardRecord, PrinterStateRow, alarm_message

SIZES = (200, 1_000, 5_000, 20_000, 50_000)
LINEAR = "<= 1.15"
T_DEFAULT = 10
HIDE_LEVEL = 2.0
STAGES = ("encode", "validate", "layout", "grid", "model", "maps", "evidence", "state", "alarm", "rows")
RSS_STAGES = {"model"}  # memory from the peak RSS (torch allocations are invisible to tracemalloc)


# ------------------------------------------------------------------------------------------ inputs
def simulated_boards(pads: int, count: int, printer: str = "P1") -> list[BoardInspection]:
    """`count` consecutive boards of one simulated printer, recipe of `pads` pads (seed 1)."""
    spec = FleetSpec(printers=1, pads=pads, boards_per_printer=count)
    boards = [b for b, _ in simulate_fleet(spec, seed=1)]
    return [dataclasses.replace(b, printer_id=printer) for b in boards]


def untrained_bundle(boards: Sequence[BoardInspection], T: int, calibrate: bool = True) -> ModelBundle:
    """A ModelBundle of the boards' recipe with an untrained CRRNConfig.cpu() network and a process-alarm
    rule, calibrated on its own scores of the first T boards: thresholds at the 0.5 % / 99.5 % quantiles
    of the newest board's (so the alarm stages handle 1 % of the pads at every size), the residual scale
    fitted on all T, limit 8. `calibrate` False: no alarms, residual scale 1, and no forward pass."""
    torch.manual_seed(0)
    cfg = CRRNConfig.cpu()
    b0 = boards[0]
    layout = PadGrid.from_board(b0)
    values = np.stack([board_values(b, layout.for_board(b)) for b in boards])  # (N, C, P)
    recipe = RecipeModel(layout, PadNormalizer.fit(values), np.asarray(b0.pads.shape))
    p = layout.n_pads
    evidence = EvidenceModel(
        5.0, {b0.recipe_id: ResidualScale(np.zeros(p, np.float32), np.ones(p, np.float32))}
    )
    loose = Thresholds(1e9, -1e9)  # replaced below, once the scores are known
    bundle = ModelBundle(
        config=cfg.to_dict(),
        state_dict=CRRN(cfg).state_dict(),
        recipes={b0.recipe_id: recipe},
        thresholds={m: loose for m in ("crrn", "statistical", "pad_zscore")},
        window_length=T,
        hide_suspects_above=HIDE_LEVEL,
        evidence={"crrn": evidence},
    )
    if not calibrate:
        return bundle
    x = windows_array(boards[:T], recipe)[None]  # (1, T, C, H, W)
    scores = layout.from_grid(Scorer(bundle, device="cpu").array_score_fn(b0.recipe_id)(x))  # (1, T, P)
    hi, lo = np.quantile(scores[0, -1], [0.995, 0.005])  # the newest board: 1 % of its pads alarm
    th = Thresholds(float(max(hi, 1e-3)), float(min(lo, -1e-3)))
    fitted = EvidenceModel(8.0, {b0.recipe_id: ResidualScale.fit(scores[0])})  # process alarms: rare
    return dataclasses.replace(
        bundle, thresholds={m: th for m in bundle.thresholds}, evidence={"crrn": fitted}
    )


# ------------------------------------------------------------------------------------------ measuring
def timed(fn: Callable[[], object], min_runs: int, min_s: float, max_runs: int = 50) -> float:
    """Median seconds of `fn` over at least `min_runs` runs and `min_s` seconds (after one warm-up run)."""
    fn()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < min_runs or (time.perf_counter() - started < min_s and len(times) < max_runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def peak_rss_growth(fn: Callable[[], object]) -> float | None:
    """Bytes the process's peak RSS rose above its RSS while `fn` ran (None: the peak cannot be reset)."""
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux)
    except OSError:
        return None
    before = _status_kib("VmRSS")
    fn()
    return float(max(_status_kib("VmHWM") - before, 0) * 1024)


def model_peak_rss(pads: int, T: int, windows: int) -> float:
    """Peak RSS growth (bytes) of one forward pass of `windows` windows of T boards of `pads` pads, measured
    in a fresh process whose allocator returns every block >= 256 KiB to the system when freed (glibc's
    M_MMAP_THRESHOLD fixed): in this process, freed memory that the allocator keeps would hide the peak."""
    cmd = [sys.executable, __file__, "--model-memory", str(pads), str(T), str(windows)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"model memory child failed: {out.stderr[-2000:]}")
    return float(json.loads(out.stdout.strip().splitlines()[-1])["peak_growth_bytes"])


def _model_memory_child(pads: int, T: int, windows: int) -> None:
    import ctypes

    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-3, 256 * 1024)  # M_MMAP_THRESHOLD: fixed, so large blocks are unmapped when freed
    libc.mallopt(-1, 128 * 1024)  # M_TRIM_THRESHOLD: return the heap's free top to the system
    torch.set_num_threads(1)
    boards = simulated_boards(pads, T)
    bundle = untrained_bundle(boards, T, calibrate=False)
    fn = Scorer(bundle, device="cpu").array_score_fn(boards[0].recipe_id)
    one = windows_array(boards, bundle.recipe(boards[0].recipe_id))  # (T, C, H, W)
    x = np.broadcast_to(one, (windows, *one.shape)).copy()  # (B, T, C, H, W)
    del boards
    fn(x)  # warm-up: torch's and oneDNN's one-time allocations
    growth = peak_rss_growth(lambda: fn(x))
    print(json.dumps({"peak_growth_bytes": growth}))


def traced_peak(fn: Callable[[], object]) -> float:
    """Peak bytes allocated (and traced: Python objects, numpy arrays) while `fn` ran."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start, _ = tracemalloc.get_traced_memory()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return float(peak - start)


def slope(pads: Sequence[float], values: Sequence[float]) -> float | None:
    """k of log(value) = a + k log(pads) over the points with value > 0 (None with fewer than 2)."""
    pts = [(p, v) for p, v in zip(pads, values, strict=True) if v > 0]
    if len(pts) < 2:
        return None
    x = np.log([p for p, _ in pts])
    y = np.log([v for _, v in pts])
    return float(np.polyfit(x, y, 1)[0])


# ------------------------------------------------------------------------------------------ stages
@dataclasses.dataclass
class SizeCase:
    """Everything the stages of one pad count work on (built once, outside the timings)."""

    pads: int
    boards: list[BoardInspection]
    bundle: ModelBundle
    scorer: Scorer
    raw: bytes = b""
    x: np.ndarray | None = None  # (1, T, C, H, W)
    grid_scores: np.ndarray | None = None  # (1, T, H, W)
    scores: BoardScores | None = None  # the newest board's, board outliers only
    tracker: EvidenceTracker | None = None
    tracked: list[BoardScores] = dataclasses.field(default_factory=list)  # boards with later indexes
    fed: int = 0
    final: BoardScores | None = None  # the newest board after the evidence tracker (with process alarms)

    @property
    def recipe(self) -> RecipeModel:
        return self.bundle.recipe(self.boards[0].recipe_id)


def build_case(pads: int, T: int) -> SizeCase:
    boards = simulated_boards(pads, T)
    bundle = untrained_bundle(boards, T)
    case = SizeCase(pads, boards, bundle, Scorer(bundle, device="cpu"))
    case.raw = inspection_to_json(boards[-1])
    case.x = windows_array(boards, case.recipe)[None]
    case.grid_scores = case.scorer.array_score_fn(boards[0].recipe_id)(case.x)
    case.scores = newest_scores(case)
    case.tracker = bundle.evidence_tracker("crrn")
    assert case.tracker is not None
    s = case.scores
    case.tracked = [  # the same scores at later print indexes, so each call is a new board (no replay)
        dataclasses.replace(s, board=dataclasses.replace(s.board, print_index=s.board.print_index + i))
        for i in range(1, 400)
    ]
    case.final = case.tracker([case.tracked[0]])[0]
    case.fed = 1
    return case


def newest_scores(case: SizeCase) -> BoardScores:
    """Scores grid (1, T, H, W) -> BoardScores of the window's newest board (as Scorer._board_scores)."""
    assert case.grid_scores is not None
    recipe = case.recipe
    canonical = recipe.layout.from_grid(case.grid_scores)[0, -1]  # (P,) canonical pad order
    board = case.boards[-1]
    order = recipe.layout.for_board(board)
    score = np.empty(canonical.shape[0], dtype=np.float32)
    score[order] = canonical
    th = case.scorer.thresholds
    return BoardScores(board, score, alarms(score, th), case.scorer.model_version, "crrn", th)


def evidence_step(case: SizeCase) -> list[BoardScores]:
    assert case.tracker is not None
    s = case.tracked[case.fed % len(case.tracked)]
    if case.fed % len(case.tracked) == 0:  # wrapped around: start the printer again
        case.tracker.import_state(s.printer_id, None)
    case.fed += 1
    return case.tracker([s])


def state_round_trip(case: SizeCase) -> bool:
    assert case.tracker is not None
    pid = case.boards[0].printer_id
    state = case.tracker.export_state(pid)
    assert state is not None
    row = PrinterStateRow("evidence", pid, str(state["model_version"]), int(state["last_print_index"]), state)
    text = state_params(row)["state"]
    return case.tracker.import_state(pid, json.loads(text))


def stored_rows(case: SizeCase) -> int:
    """The writer's rows of the newest board, as `ResultWriter._write` builds them, real[] encoded."""
    s = case.final
    assert s is not None
    record = BoardRecord(s.board, SourceRef("t", 0, 1), "scored", s)
    message = alarm_message(s)
    n = 0
    board_params(record)
    amap = anomaly_map_params(record)
    assert amap is not None
    key = layout_key(s.board)
    layout = layout_params(s.board)
    measure = measurement_params(record, key)
    for row in (amap, layout, measure):
        for value in row.values():
            if isinstance(value, Float4Array):
                n += len(encode_float4_array(value.values))
    if message is not None:
        n += len(pad_context(pad_alarm_params(message), {s.event_id: s.board}))
    return n


def stage_fns(case: SizeCase) -> dict[str, Callable[[], object]]:
    board = case.boards[-1]
    rid = board.recipe_id
    score_fn = case.scorer.array_score_fn(rid)
    return {
        "encode": lambda: inspection_to_json(board),
        "validate": lambda: parse_inspection(case.raw),
        "layout": lambda: PadGrid.from_board(board),
        "grid": lambda: windows_array(case.boards, case.recipe),
        "model": lambda: score_fn(case.x),  # type: ignore[arg-type]
        "maps": lambda: newest_scores(case),
        "evidence": lambda: evidence_step(case),
        "state": lambda: state_round_trip(case),
        "alarm": lambda: None if (m := alarm_message(case.final)) is None else m.to_json(),  # type: ignore[arg-type]
        "rows": lambda: stored_rows(case),
    }


def measure_sizes(sizes: Sequence[int], T: int, quick: bool) -> dict[int, dict[str, dict[str, float]]]:
    """{pads: {stage: {"s": seconds, "mem": bytes, "traced": bytes, "rss": bytes}}}."""
    min_runs, min_s = (1, 0.05) if quick else (3, 0.5)
    out: dict[int, dict[str, dict[str, float]]] = {}
    for pads in sizes:
        t0 = time.perf_counter()
        case = build_case(pads, T)
        row: dict[str, dict[str, float]] = {}
        for name, fn in stage_fns(case).items():
            seconds = timed(fn, min_runs if name != "model" else 1, min_s)
            traced = traced_peak(fn) if name not in RSS_STAGES else 0.0
            rss = model_peak_rss(pads, T, 1) if name in RSS_STAGES else peak_rss_growth(fn)
            mem = (rss or 0.0) if name in RSS_STAGES else traced
            row[name] = {"s": seconds, "mem": mem, "traced": traced, "rss": -1.0 if rss is None else rss}
        alarm = alarm_message(case.final)  # type: ignore[arg-type]
        row["_facts"] = {
            "grid_cells": float(case.recipe.layout.height * case.recipe.layout.width),
            "json_bytes": float(len(case.raw)),
            "alarmed_pads": float(0 if alarm is None else len(alarm.pads)),
            "alarm_bytes": float(0 if alarm is None else len(alarm.to_json())),
        }
        out[pads] = row
        total = sum(v["s"] for k, v in row.items() if not k.startswith("_"))
        print(f"  {pads:>6} pads: stages {total * 1e3:8.1f} ms in all ({time.perf_counter() - t0:.1f} s)")
        del case
        gc.collect()
    return out


def model_sweeps(pads: int, Ts: Sequence[int], windows: Sequence[int], quick: bool) -> dict[str, Any]:
    """The model stage per board against T (one window) and against windows per pass (T=10)."""
    min_s = 0.05 if quick else 0.5
    boards = simulated_boards(pads, max(*Ts, T_DEFAULT))
    out: dict[str, Any] = {"pads": pads, "T": {}, "windows": {}}
    for T in Ts:
        bundle = untrained_bundle(boards[:T], T)
        fn = Scorer(bundle, device="cpu").array_score_fn(boards[0].recipe_id)
        x = windows_array(boards[:T], bundle.recipe(boards[0].recipe_id))[None]
        s = timed(lambda: fn(x), 1, min_s)  # noqa: B023
        rss = model_peak_rss(pads, T, 1)
        out["T"][T] = {"s_per_board": s / T, "s_per_window": s, "rss_bytes": rss}
    bundle = untrained_bundle(boards[:T_DEFAULT], T_DEFAULT)
    scorer = Scorer(bundle, device="cpu")
    fn = scorer.array_score_fn(boards[0].recipe_id)
    one = windows_array(boards[:T_DEFAULT], bundle.recipe(boards[0].recipe_id))  # (T, C, H, W)
    for b in windows:
        x = np.broadcast_to(one, (b, *one.shape)).copy()  # (B, T, C, H, W)
        s = timed(lambda: fn(x), 1, min_s)  # noqa: B023
        rss = model_peak_rss(pads, T_DEFAULT, b)
        out["windows"][b] = {"s_per_board": s / (b * T_DEFAULT), "s_per_pass": s, "rss_bytes": rss}
    return out


# ------------------------------------------------------------------------------------------ live
def live_window(pads: int, timeout_s: float) -> dict[str, Any]:
    """One `pads`-pad board completing a T=2 window, through a worker on private topics and a scratch
    database of the local services: seconds from publish to its row in PostgreSQL (warm worker)."""
    import psycopg
    from psycopg import sql
    from sqlalchemy import text

    from streams.db.engine import libpq_url, make_engine
    from streams.db.migrations import upgrade
    from streams.kafka.admin import ensure_topics
    from streams.kafka.publish import publish_boards
    from streams.settings import Settings

    base = Settings.from_env()
    admin = base.database_admin_url or base.database_url
    run = uuid.uuid4().hex[:8]
    name = f"spi_crrn_bench_{run}"
    with psycopg.connect(libpq_url(admin), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    engine = None
    worker: Worker | None = None
    tmp = Path(tempfile.mkdtemp(prefix="spi-crrn-bench-scaling-"))
    try:
        admin_db = make_engine(admin).url.set(database=name).render_as_string(hide_password=False)
        upgrade(admin_db, "head")
        writer_db = (
            make_engine(base.database_url).url.set(database=name).render_as_string(hide_password=False)
        )
        s = base.with_(
            database_url=writer_db,
            topic_inspections=f"bench-{run}.inspections",
            topic_alarms=f"bench-{run}.alarms",
            topic_defects=f"bench-{run}.defects",
            topic_dlq=f"bench-{run}.dlq",
            topic_partitions=1,
            worker_id=f"bench-{run}",
        )
        ensure_topics(s)
        boards = simulated_boards(pads, 4)
        model = untrained_bundle(boards[:2], 2).save(tmp / "model.pt")
        worker = Worker(s, model, "--threads", "2", "--device", "cpu", env={"METRICS_PORT": "0"})
        engine = db = make_engine(writer_db)

        def stored() -> set[str]:
            with db.connect() as c:
                return {r[0] for r in c.execute(text("SELECT event_id FROM board_inspections"))}

        def wait(what: Callable[[], bool], label: str) -> float:
            t0 = time.monotonic()
            while not what():
                worker.check_alive()
                if time.monotonic() - t0 > timeout_s:
                    raise TimeoutError(f"{label}: nothing after {timeout_s:.0f} s; {worker.log_tail()}")
                time.sleep(0.05)
            return time.monotonic() - t0

        worker.wait_assigned(timeout_s)
        asyncio.run(publish_boards(s, boards[:2]))  # warm-up: the first window scores both boards
        wait(lambda: len(stored()) >= 2, "first window")
        seconds = []
        for i, board in enumerate(boards[2:], start=3):
            t0 = time.monotonic()
            asyncio.run(publish_boards(s, [board]))
            wait(lambda: len(stored()) >= i, f"board {i}")  # noqa: B023
            seconds.append(time.monotonic() - t0)
        with db.connect() as c:
            maps = c.execute(text("SELECT count(*) FROM anomaly_maps")).scalar_one()
            alarm_rows = c.execute(text("SELECT count(*) FROM pad_alarms")).scalar_one()
        return {
            "pads": pads,
            "json_bytes": len(inspection_to_json(boards[-1])),
            "publish_to_stored_s": seconds,
            "anomaly_maps": int(maps),
            "pad_alarm_rows": int(alarm_rows),
        }
    finally:
        if worker is not None:
            worker.stop()
        if engine is not None:
            engine.dispose()
        with psycopg.connect(libpq_url(admin), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# ------------------------------------------------------------------------------------------ report
def add_growth(report: Report, table: dict[int, dict[str, dict[str, float]]]) -> None:
    """Per stage: k of time and memory over all sizes and between the two largest, time at the largest."""
    pads = sorted(table)
    big = pads[-2:] if len(pads) >= 2 else []
    for stage in STAGES:
        for quantity, unit in (("s", "time"), ("mem", "memory")):
            note = "" if quantity == "s" else ("peak RSS" if stage in RSS_STAGES else "tracemalloc peak")
            for span in (pads, big):
                k = slope(span, [table[p][stage][quantity] for p in span]) if span else None
                if k is None:
                    continue
                label = "all sizes" if span is pads else f"{span[0]}-{span[1]} pads"
                report.add(Figure(f"{stage} {unit} growth k ({label})", k, "", target=LINEAR, note=note))
        report.add(Figure(f"{stage} time at {pads[-1]} pads", table[pads[-1]][stage]["s"] * 1e3, "ms"))
    cells = [table[p]["_facts"]["grid_cells"] for p in pads]
    for quantity, unit in (("s", "time"), ("mem", "memory")):  # the network's cost follows the grid's cells
        k = slope(cells, [table[p]["model"][quantity] for p in pads])
        if k is not None:
            report.add(Figure(f"model {unit} growth k against grid cells (all sizes)", k, "", target=LINEAR))


def add_alarm_size(report: Report, facts: dict[str, float], pads: int) -> None:
    """Bytes per alarmed pad of the alarm message, and how many alarmed pads the message limit holds."""
    if not facts["alarmed_pads"]:
        return
    from streams.settings import Settings

    per_pad = facts["alarm_bytes"] / facts["alarmed_pads"]
    limit = Settings.from_env().kafka_max_message_bytes
    report.add(Figure("alarm message bytes per alarmed pad", per_pad, "B"))
    report.add(
        Figure(
            "most alarmed pads in one alarm message",
            limit / per_pad,
            "pads",
            limit=float(pads),
            limit_name="pads of the largest board",
            target=">= 1 of limit",
            note=f"KAFKA_MAX_MESSAGE_BYTES={limit} / bytes per alarmed pad (>= 1: every pad may alarm)",
        )
    )


def add_sweeps(report: Report, sw: dict[str, Any]) -> None:
    """Model time per board at T=20 against T=5, and with the most windows per pass against one."""
    pads, by_t, by_w = sw["pads"], sw["T"], sw["windows"]
    report.add(
        Figure(
            f"model per board T=20 ({pads} pads)",
            by_t[20]["s_per_board"],
            "s",
            limit=by_t[5]["s_per_board"],
            limit_name="T=5",
            target="<= 1.15 of limit",
        )
    )
    most = max(by_w)
    report.add(
        Figure(
            f"model per board, {most} windows per pass ({pads} pads)",
            by_w[most]["s_per_board"],
            "s",
            limit=by_w[1]["s_per_board"],
            limit_name="1 window",
            target="<= 1.15 of limit",
        )
    )
    rss = by_w[most]["rss_bytes"]
    if rss:
        report.add(
            Figure(
                f"model peak RSS per window, {most} per pass ({pads} pads)",
                rss / most / 2**20,
                "MiB",
                note="a forward pass holds windows per pass x pads x T of activations",
            )
        )


def add_live(report: Report, live: dict[str, Any]) -> None:
    if "publish_to_stored_s" not in live:
        return
    runs = live["publish_to_stored_s"]
    report.add(
        Figure(
            f"live publish-to-stored, one {live['pads']}-pad window",
            min(runs),
            "s",
            note=f"warm worker, T=2, {live['json_bytes'] / 2**20:.1f} MiB of JSON; runs {runs}",
        )
    )


def main() -> None:
    if sys.argv[1:2] == ["--model-memory"]:  # the child process of model_peak_rss
        _model_memory_child(*(int(a) for a in sys.argv[2:5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _report.add_common_args(parser)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="pad counts")
    parser.add_argument("--T", type=int, default=T_DEFAULT, help="window length of the per-size stages")
    parser.add_argument(
        "--sweep-pads",
        type=int,
        nargs="+",
        default=None,
        help="pad counts of the T / windows-per-pass sweeps (default 5000 50000; quick: 5000)",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument(
        "--live",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also one --live-pads window through the live pipeline (local services; default on)",
    )
    parser.add_argument("--live-pads", type=int, default=50_000)
    parser.add_argument("--live-timeout-s", type=float, default=240.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    report = Report("scaling", quick=args.quick)

    print("per-stage time and memory against pads:")
    table = measure_sizes(args.sizes, args.T, args.quick)
    report.details["stages"] = {str(p): row for p, row in table.items()}
    add_growth(report, table)
    biggest = max(table)
    worker_stages = [k for k in STAGES if k not in ("layout", "encode")]
    report.add(
        Figure(
            f"worker stages per board at {biggest} pads",
            sum(table[biggest][k]["s"] for k in worker_stages),
            "s",
            note="validate..rows for one new board in a T-window (layout and encode are not the worker's)",
        )
    )
    add_alarm_size(report, table[biggest]["_facts"], biggest)

    report.details["model_sweeps"] = []
    for pads in args.sweep_pads or ([5_000] if args.quick else [5_000, 50_000]):
        windows = (1, 8, 32) if pads <= 20_000 else (1, 8)  # 32 x 50,000-pad windows: ~5 GB in one pass
        print(f"model stage sweeps at {pads} pads (T 5/10/20, windows per pass {windows})")
        sweep = model_sweeps(pads, (5, 10, 20), windows, args.quick)
        report.details["model_sweeps"].append(sweep)
        add_sweeps(report, sweep)

    if args.live:
        print(f"live pipeline: one {args.live_pads}-pad window (local Kafka + PostgreSQL)")
        try:
            live = live_window(args.live_pads, args.live_timeout_s)
        except Exception as exc:  # the services may be down: say so, keep the other figures
            live = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"  live run failed: {live['error'][:500]}")
        report.details["live"] = live
        add_live(report, live)
    report.finish(args.json)


if __name__ == "__main__":
    main()
