"""50,000-pad boards through the whole live pipeline: Kafka in, worker, PostgreSQL rows, alarms out.

Boards of this size are ~4.5 MB of JSON, above Kafka's default 1 MB message limit, and a board whose every
pad alarms gives an alarm message of several MB; the rows hold 50,000-value arrays. The model is an untrained
CRRNConfig.cpu() network with T=2 (built in a second, not trained), thresholds at the 0.5 % / 99.5 %
quantiles of its own scores and a process-alarm rule fitted on them, so the stream's alarms can be
compared with offline scoring of the same boards.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from crrn.evidence import EvidenceModel, ResidualScale
from crrn.layout import PadGrid
from crrn.model_file import ModelBundle, RecipeModel
from crrn.nn import CRRN, CRRNConfig
from crrn.normalization import PadNormalizer, board_values
from crrn.scoring import Scorer, windows_array
from crrn.sim.fleet import FleetSpec, simulate_fleet
from crrn.thresholds import Thresholds
from schemas.codec import inspection_to_json
from schemas.inspection import BoardInspection
from schemas.messages import alarm_id
from streams.settings import Settings
from tests.integration.pipeline.conftest import (
    offline_alarms,
    pipeline_on,
    read_topic,
    stored_alarms,
    with_excess_episode,
)

PADS = 50_000
WINDOW = 2
BOARDS = 4
DOUBLED = 3  # print_index of the board whose paste volume is doubled: every pad alarms


@pytest.fixture(scope="module")
def large_boards() -> list[BoardInspection]:
    boards = [
        b for b, _ in simulate_fleet(FleetSpec(printers=1, pads=PADS, boards_per_printer=BOARDS), seed=7)
    ]
    first = boards[0].print_index
    return with_excess_episode(boards, {boards[0].printer_id: (first + DOUBLED, first + DOUBLED)})


@pytest.fixture(scope="module")
def large_model(large_boards: list[BoardInspection], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained T=2 model of the 50,000-pad recipe (see the module docstring)."""
    import torch

    torch.manual_seed(0)
    cfg = CRRNConfig.cpu()
    normal = large_boards[:DOUBLED]
    b0 = normal[0]
    layout = PadGrid.from_board(b0)
    values = np.stack([board_values(b, layout.for_board(b)) for b in normal])  # (N, C, P)
    recipe = RecipeModel(layout, PadNormalizer.fit(values), np.asarray(b0.pads.shape))
    bundle = ModelBundle(
        config=cfg.to_dict(),
        state_dict=CRRN(cfg).state_dict(),
        recipes={b0.recipe_id: recipe},
        thresholds={m: Thresholds(1e9, -1e9) for m in ("crrn", "statistical", "pad_zscore")},
        window_length=WINDOW,
        hide_suspects_above=2.0,
    )
    x = windows_array(normal, recipe)[None]  # (1, N, C, H, W)
    scores = layout.from_grid(Scorer(bundle, device="cpu").array_score_fn(b0.recipe_id)(x))[0]  # (N, P)
    hi, lo = np.quantile(scores, [0.995, 0.005])
    th = Thresholds(float(max(hi, 1e-3)), float(min(lo, -1e-3)))
    evidence = EvidenceModel(8.0, {b0.recipe_id: ResidualScale.fit(scores)})
    bundle = dataclasses.replace(
        bundle, thresholds={m: th for m in bundle.thresholds}, evidence={"crrn": evidence}
    )
    return bundle.save(tmp_path_factory.mktemp("large") / "large.pt")


def test_50000_pad_boards_are_stored_and_alarmed(
    settings: Settings,
    fresh_database: object,
    large_boards: list[BoardInspection],
    large_model: Path,
    tmp_path: Path,
) -> None:
    raw = inspection_to_json(large_boards[0])
    assert len(raw) > 4 * 2**20, "the test's point: a board far above Kafka's default 1 MB message limit"
    offline, expected = offline_alarms(large_boards, large_model)
    doubled = next(s for s in offline if s.print_index == large_boards[DOUBLED].print_index)
    assert doubled.n_alarms > PADS // 2, "the doubled board alarms on most pads (a message of several MB)"

    with pipeline_on(settings, fresh_database.writer, large_model, tmp_path) as p:  # type: ignore[attr-defined]
        p.start_worker("w1")
        p.wait_assigned("w1")
        p.publish(large_boards)
        p.wait_rows(BOARDS, timeout_s=300.0)
        with p.engine.connect() as conn:
            rows = conn.execute(text("SELECT event_id, status, n_pads FROM board_inspections")).all()
            maps = conn.execute(
                text("SELECT cardinality(scores), cardinality(pad_ids) FROM anomaly_maps")
            ).all()
            measured = conn.execute(text("SELECT cardinality(volume_pct) FROM board_measurements")).all()
            layouts = conn.execute(text("SELECT n_pads, cardinality(x_mm) FROM pad_layouts")).all()
            evidence = conn.execute(
                text("SELECT printer_id, last_print_index, state->>'n_pads' FROM alarm_evidence_state")
            ).all()
        assert sorted(r[0] for r in rows) == sorted(b.event_id for b in large_boards)
        assert {(r[1], r[2]) for r in rows} == {("scored", PADS)}
        assert [tuple(m) for m in maps] == [(PADS, PADS)] * BOARDS
        assert [m[0] for m in measured] == [PADS] * BOARDS
        assert [tuple(r) for r in layouts] == [(PADS, PADS)]
        last = large_boards[-1]
        assert [tuple(r) for r in evidence] == [(last.printer_id, last.print_index, str(PADS))]

        assert stored_alarms(p.engine) == expected, "the stored alarms differ from offline scoring"
        messages = {}
        for _, _, _, value in read_topic(p.settings, p.settings.topic_alarms):
            msg = json.loads(value)
            messages[msg["alarm_id"]] = len(msg["pads"])
        assert messages == {alarm_id(s.event_id, s.model_version): s.n_alarms for s in offline if s.n_alarms}
        assert not read_topic(p.settings, p.settings.topic_dlq), "no board went to the dead-letter topic"
