"""Simulator -> Kafka -> worker -> PostgreSQL and the alarm topic, checked against offline scoring and the
simulator's ground truth; malformed events end in the dead-letter topic and the worker keeps going."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sqlalchemy import text

from crrn.model_file import ModelBundle
from schemas.codec import inspection_to_dict
from schemas.messages import DeadLetter, PadAlarm, alarm_id
from tests.integration.pipeline.conftest import (
    Pipeline,
    fleet_with_truth,
    offline_alarms,
    read_topic,
    stored_alarms,
)

pytestmark = pytest.mark.integration


def malformed(good: dict) -> list[bytes]:
    nan_board = json.loads(json.dumps(good))
    nan_board["event_id"] = "nan-board"
    nan_board["pads"]["volume_pct"][3] = float("nan")
    missing = {k: v for k, v in good.items() if k != "printer_id"}
    missing["event_id"] = "no-printer"
    return [b"\x00not json at all", json.dumps(missing).encode(), json.dumps(nan_board).encode()]


def test_stream_matches_offline_scoring_and_dead_letters(pipeline: Pipeline) -> None:
    pairs = fleet_with_truth(printers=2, boards=20, first_print_index=1, inject_ratio=0.05)
    boards = [b for b, _ in pairs]
    bad = malformed(inspection_to_dict(boards[0]))
    worker = pipeline.start_worker("w1")
    pipeline.wait_assigned("w1")

    pipeline.publish(boards[:10])
    pipeline.publish_raw(bad, key=boards[0].printer_id.encode())
    pipeline.publish(boards[10:])
    pipeline.wait_rows(len(boards))

    assert worker.poll() is None, "the worker died on malformed input"
    stored = pipeline.stored()
    assert sorted(e for e, _ in stored) == sorted(b.event_id for b in boards)
    assert {s for _, s in stored} == {"scored"}

    # Offline scoring of the same events with the same model: the code behind `spi-crrn score`.
    bundle = ModelBundle.load(pipeline.model)
    offline, expected = offline_alarms(boards, pipeline.model)
    assert len(offline) == len(boards)
    assert expected, "the injected anomalies should raise alarms offline"
    db_alarms = stored_alarms(pipeline.engine)
    with pipeline.engine.connect() as conn:
        maps = {r.event_id: np.asarray(r.scores) for r in conn.execute(text("SELECT * FROM anomaly_maps"))}
        versions = {
            r.model_version for r in conn.execute(text("SELECT model_version FROM board_inspections"))
        }
    assert db_alarms == expected
    assert versions == {bundle.version}
    for s in offline:
        np.testing.assert_allclose(maps[s.event_id], s.score, atol=1e-5)

    # The alarm topic: one message per board with alarms, stable ids, the same pads as offline.
    messages = [
        PadAlarm.from_dict(json.loads(v))
        for _, _, _, v in read_topic(pipeline.settings, pipeline.settings.topic_alarms)
    ]
    assert sorted(m.event_id for m in messages) == sorted({e for e, _, _, _ in expected})
    assert all(m.alarm_id == alarm_id(m.event_id, bundle.version) for m in messages)
    assert {(m.event_id, p.pad_id, p.kind, p.alarm_type) for m in messages for p in m.pads} == expected

    # Ground truth: most alarms fall on pads the simulator made anomalous.
    truth = {t.event_id: (b, t) for b, t in pairs}
    hits = sum(
        1 for e, pid, _, _ in expected if truth[e][1].labels[list(truth[e][0].pads.pad_id).index(pid)] != 0
    )
    assert hits / len(expected) > 0.5

    # Dead letters: each bad record with its reason, original bytes and source position.
    letters = [
        DeadLetter.from_dict(json.loads(v))
        for _, _, _, v in read_topic(pipeline.settings, pipeline.settings.topic_dlq)
    ]
    assert sorted(letter.original for letter in letters) == sorted(bad)
    by_original = {letter.original: letter for letter in letters}
    assert by_original[bad[0]].error_field == "event"
    assert by_original[bad[1]].error_field == "printer_id"
    assert by_original[bad[2]].error_field.startswith("pads.volume_pct")
    assert all(letter.source_topic == pipeline.settings.topic_inspections for letter in letters)
    assert len({(letter.source_partition, letter.source_offset) for letter in letters}) == 3
