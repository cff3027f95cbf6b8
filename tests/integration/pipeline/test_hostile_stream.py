"""300 hostile events through the live worker on the real broker (#12), interleaved with the good boards
of two printers: the worker never crashes, each hostile record is on the dead-letter topic with its
reason and source offset, and the good boards are stored and alarmed exactly as offline scoring of the
good boards alone gives. The worker runs with a database password and a SASL password set; neither
may appear in its (debug) log."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import uuid

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from schemas.codec import inspection_to_dict, inspection_to_json
from schemas.messages import MAX_DEAD_LETTER_ORIGINAL_BYTES, DeadLetter, PadAlarm
from tests.hostile_events import hostile_records, too_many_pads
from tests.integration.pipeline.conftest import (
    Pipeline,
    fleet_with_truth,
    offline_alarms,
    read_topic,
    stored_alarms,
    wait_for,
)

pytestmark = pytest.mark.integration

HOSTILE = 300
POISONED_PRINTER = "P-poison"


def send_all(pipeline: Pipeline, records: list[tuple[bytes | None, bytes | None]]) -> list[tuple[int, int]]:
    """Publish (key, value) records in order, acks=all; return each one's (partition, offset)."""
    from aiokafka import AIOKafkaProducer

    from streams.kafka.connection import MAX_MESSAGE_BYTES

    async def send() -> list[tuple[int, int]]:
        producer = AIOKafkaProducer(
            bootstrap_servers=pipeline.settings.kafka_bootstrap_servers,
            acks="all",
            max_request_size=MAX_MESSAGE_BYTES,
        )
        await producer.start()
        try:
            out = []
            for key, value in records:
                meta = await producer.send_and_wait(pipeline.settings.topic_inspections, value, key=key)
                out.append((meta.partition, meta.offset))
            return out
        finally:
            await producer.stop()

    return asyncio.run(send())


def test_hostile_events_become_dead_letters_and_good_boards_are_untouched(pipeline: Pipeline) -> None:
    pairs = fleet_with_truth(printers=2, boards=20, first_print_index=1, inject_ratio=0.05)
    boards = [b for b, _ in pairs]
    rng = random.Random(12)

    # The reproduction first: twelve boards of one printer with a NUL in board_id.
    poisoned = inspection_to_dict(boards[0]) | {"printer_id": POISONED_PRINTER}
    hostile: list[tuple[str, bytes | None, bytes | None]] = []
    for i in range(12):
        event = poisoned | {"event_id": f"poison-{i}", "board_id": f"B\x00{i}"}
        hostile.append(("nul_board_id", POISONED_PRINTER.encode(), json.dumps(event).encode()))
    hostile.append(("too_many_pads", POISONED_PRINTER.encode(), too_many_pads(poisoned)))
    # A 13 MB record: valid size for the broker, but its dead letter must be cut to fit the same limit.
    huge = poisoned | {"event_id": "poison-huge", "board_id": "B\x00huge", "filler": "f" * 13_000_000}
    hostile.append(("nul_board_id", POISONED_PRINTER.encode(), json.dumps(huge).encode()))
    # Then the generator's mix, each a twin of a good board (same event id unless the kind changes it),
    # under its printer's key (the same partition as the good boards), another key, or none.
    for board in rng.sample(boards, len(boards)):
        for kind, value in hostile_records(inspection_to_dict(board), rng, (HOSTILE - 14) // len(boards)):
            key = rng.choice([board.printer_id.encode(), b"\x00key\xff", None if value else b""])
            hostile.append((kind, key, value))
    while len(hostile) < HOSTILE:
        kind, value = hostile_records(inspection_to_dict(boards[-1]), rng, 1)[0]
        hostile.append((kind, boards[-1].printer_id.encode(), value))

    # Interleave: the good boards keep their order; hostile records fall between them at random.
    slots = sorted(rng.randrange(len(boards) + 1) for _ in hostile)
    records: list[tuple[bytes | None, bytes | None]] = []
    is_hostile: list[bool] = []
    h = 0
    for i, board in enumerate([*boards, None]):
        while h < len(hostile) and slots[h] == i:
            records.append(hostile[h][1:])
            is_hostile.append(True)
            h += 1
        if board is not None:
            records.append((board.printer_id.encode(), inspection_to_json(board)))
            is_hostile.append(False)

    # The worker, with secrets set: a database password (or the one the URL already has) and SASL.
    url = make_url(pipeline.settings.database_url)
    db_secret = url.password or f"db-{uuid.uuid4().hex}"
    sasl_secret = f"sasl-{uuid.uuid4().hex}"
    env = pipeline.env() | {
        "DATABASE_URL": url.set(password=db_secret).render_as_string(hide_password=False),
        "KAFKA_SASL_USERNAME": "spi",
        "KAFKA_SASL_PASSWORD": sasl_secret,
        "KAFKA_SASL_MECHANISM": "PLAIN",  # unused on this PLAINTEXT broker, but set and parsed
    }
    log_path = pipeline.logs / "hostile.log"
    with log_path.open("ab") as log:
        cmd = [
            sys.executable, "-c", "from streams.cli.main import main; main()", "-v",
            "worker", "--model", str(pipeline.model), "--threads", "1", "--device", "cpu", "--max-batch", "8",
        ]  # fmt: skip
        worker = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    pipeline.workers.append(worker)
    pipeline.wait_assigned("hostile")

    positions = send_all(pipeline, records)
    hostile_at = {pos: value for pos, value, bad in zip(positions, records, is_hostile, strict=True) if bad}
    assert len(hostile_at) == HOSTILE

    pipeline.wait_rows(len(boards), timeout_s=120)
    settings = pipeline.settings

    def letters() -> list[DeadLetter]:
        return [
            DeadLetter.from_dict(json.loads(v)) for _, _, _, v in read_topic(settings, settings.topic_dlq)
        ]

    wait_for(lambda: len(letters()) >= HOSTILE, 60, f"fewer than {HOSTILE} dead letters")
    assert worker.poll() is None, "the worker died on hostile input"

    # Every hostile record is a dead letter, once, at its own source offset with its bytes and reason.
    got = letters()
    by_source = {(d.source_partition, d.source_offset): d for d in got}
    assert len(got) == len(by_source) == HOSTILE
    assert set(by_source) == set(hostile_at)
    for pos, (_, value) in hostile_at.items():
        letter = by_source[pos]
        value = value or b""
        if len(value) > MAX_DEAD_LETTER_ORIGINAL_BYTES:
            assert letter.original == value[:MAX_DEAD_LETTER_ORIGINAL_BYTES]
            assert (letter.error_field, "original truncated" in letter.problem) == ("board_id", True)
        else:
            assert letter.original == value
        assert letter.source_topic == settings.topic_inspections
        assert letter.error_field
        assert letter.problem
    nul = [by_source[pos] for pos, (_, v) in hostile_at.items() if v is not None and b"B\\u0000" in v]
    assert len(nul) == 13
    assert {(d.error_field, "U+0000" in d.problem) for d in nul} == {("board_id", True)}

    # The good boards: stored once each, scored, alarmed exactly as offline scoring of them alone.
    stored = pipeline.stored()
    assert sorted(e for e, _ in stored) == sorted(b.event_id for b in boards)
    assert {s for _, s in stored} == {"scored"}
    offline, expected = offline_alarms(boards, pipeline.model)
    assert expected, "the injected anomalies should raise alarms offline"
    db_alarms = stored_alarms(pipeline.engine)
    with pipeline.engine.connect() as conn:
        maps = {r.event_id: np.asarray(r.scores) for r in conn.execute(text("SELECT * FROM anomaly_maps"))}
        printers = {r[0] for r in conn.execute(text("SELECT printer_id FROM printers"))}
    assert db_alarms == expected
    assert printers == {b.printer_id for b in boards}
    for s in offline:
        np.testing.assert_allclose(maps[s.event_id], s.score, atol=1e-5)
    messages = [
        PadAlarm.from_dict(json.loads(v)) for _, _, _, v in read_topic(settings, settings.topic_alarms)
    ]
    assert {(m.event_id, p.pad_id, p.kind, p.alarm_type) for m in messages for p in m.pads} == expected

    # No secret in the worker's debug log; the validator never raised anything but InvalidEvent.
    log_text = log_path.read_text(errors="replace")
    assert "partitions assigned" in log_text
    assert db_secret not in log_text
    assert sasl_secret not in log_text
    assert "validator raised" not in log_text
