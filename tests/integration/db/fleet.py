"""Demo-like stored data without Kafka or a trained model: a simulated fleet through the real writer.

Printers from the seeded simulator (one develops a defect), each board scored by the simple per-pad
z-score against the printer's known normal pad mean and std (a stand-in for the CRRN's scores: signed,
in pad std units), alarms at fixed limits, one raised defect event for the defective printer, all
written by `ResultWriter` in batches like the worker's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from crrn.scoring import BoardScores
from crrn.sim.defects import DefectSpec
from crrn.sim.fleet import FleetSpec, build_printers, simulate_fleet
from schemas.inspection import BoardInspection
from schemas.messages import DefectEvent, Thresholds
from streams.db.writer import ResultWriter
from streams.pipeline.records import SourceRef
from streams.pipeline.results import BoardRecord, ResultBatch, alarm_message

THRESHOLDS = Thresholds(excessive=4.0, insufficient=-4.0)
MODEL = "zscore-test"


@dataclass(frozen=True)
class Fleet:
    boards: list[BoardInspection]
    printers: list[str]
    defective: str
    defect: str
    pads: int


def simulate(
    now: datetime, printers: int = 3, pads: int = 300, boards: int = 30, defect: str = "squeegee_blade"
) -> Fleet:
    """The fleet's boards, the last one a few seconds before `now` (so they fall in the last hour)."""
    defective = f"P{printers:02d}"
    spec = FleetSpec(
        printers=printers,
        pads=pads,
        boards_per_printer=boards,
        start=now - timedelta(seconds=23.5 * boards),  # ~23 s a board: 20 s cycles, 30 s cleaning per 10
        defects=(
            DefectSpec(
                defect, start_index=boards // 3, duration=boards // 3, amplitude=8.0, printer_id=defective
            ),
        ),
    )
    out = [b for b, _ in simulate_fleet(spec, 11)]
    return Fleet(out, sorted({b.printer_id for b in out}), defective, defect, pads)


def write(
    writer: ResultWriter, fleet: Fleet, now: datetime, batch: int = 16, process_printer: str | None = None
) -> None:
    """Score every board, then store the fleet in batches; the defective printer gets a raised defect.
    With `process_printer`, that printer's last board also carries one process alarm (evidence over
    boards) on its first pad that is not a board outlier."""
    spec = FleetSpec(printers=len(fleet.printers), pads=fleet.pads)
    normal = {p.printer_id: (p.process.pad_mean, p.process.pad_std) for p in build_printers(spec, 11)}
    last_of = {b.printer_id: b for b in fleet.boards}
    records = []
    alarms = []
    for i, b in enumerate(fleet.boards):
        mean, std = normal[b.printer_id]
        score = ((b.pads.volume_pct - mean) / std).astype(np.float32)  # (P,)
        code = np.where(score >= THRESHOLDS.excessive, 1, np.where(score <= THRESHOLDS.insufficient, -1, 0))
        s = BoardScores(b, score, code.astype(np.int8), MODEL, "pad_zscore", THRESHOLDS)
        if b.printer_id == process_printer and b is last_of[b.printer_id]:
            process = np.zeros(b.n_pads, np.int8)
            process[int(np.flatnonzero(code == 0)[0])] = 1
            s = BoardScores(
                b,
                score,
                np.where(code != 0, code, process).astype(np.int8),
                MODEL,
                "pad_zscore",
                THRESHOLDS,
                process=process,
                evidence=np.where(process != 0, 9.0, 0.0).astype(np.float32),
                evidence_boards=np.where(process != 0, 6, 0).astype(np.int32),
                evidence_limit=8.0,
            )
        records.append(BoardRecord(b, SourceRef("spi.inspections", 0, i), "scored", s))
        msg = alarm_message(s)
        if msg is not None:
            alarms.append(msg)
    last = [b for b in fleet.boards if b.printer_id == fleet.defective]
    defect = DefectEvent(
        event_key=f"{fleet.defective}-{fleet.defect}-raised-{last[-1].event_id}",
        printer_id=fleet.defective,
        defect=fleet.defect,  # type: ignore[arg-type]
        state="raised",
        probability=0.93,
        first_event_id=last[len(last) // 2].event_id,
        last_event_id=last[-1].event_id,
        first_print_index=last[len(last) // 2].print_index,
        last_print_index=last[-1].print_index,
        model_version=MODEL,
        emitted_at=now,
    )
    for start in range(0, len(records), batch):
        chunk = records[start : start + batch]
        ids = {r.board.event_id for r in chunk}
        writer.write(
            ResultBatch(
                boards=chunk,
                alarms=[a for a in alarms if a.event_id in ids],
                defects=[defect] if start + batch >= len(records) else [],
            )
        )
