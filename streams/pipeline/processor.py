"""The inference thread's work on one batch of jobs: skip what is stored, score, diagnose, publish, store.

Pure core: the result store, the publisher and the model come in through the ports of
`streams/pipeline/ports.py` (PostgreSQL, Kafka and the model file in production; in-memory fakes in
tests/unit/streams/pipeline/test_processor.py).

Order per batch (what makes the guarantees):
1. drop jobs of partitions this worker no longer owns (their offsets are not committed; the new owner
   redoes them);
2. ask the store which boards it holds already (replay after a crash or a rebalance) and drop them:
   they are neither scored, nor published, nor written again;
3. score the remaining windows in one `Scorer.score_windows` call (batched across printers);
4. diagnose: read the defect policy's stored state of every printer with new scores (one query), import
   it into the policy (never trusting memory, which may be stale after a partition moved), feed the new
   scores in print order and export the state after them;
5. write the batch in one transaction (idempotent on event id), with the policy states (only moving
   forward), and -- inside it, once every row was accepted -- publish the alarm and defect messages and
   wait for the broker's acknowledgement, then commit;
6. a batch the store refuses for its content (`PermanentStoreError`: a value PostgreSQL cannot hold) is
   split until the offending boards are found: they go to the dead-letter topic with the store's reason
   and their source offset, the rest is stored (and published) as usual. Any other store error (database
   down, connection reset) propagates: the executor retries the whole batch, without end and without
   loss. One bad board never stops the other printers.
Only then does the loop mark the jobs' offsets durable. A crash between publish and commit republishes
the same alarms (same alarm_id) and defect events (same event_key: the stored policy state is still the
one from before the batch) on replay; a crash anywhere else republishes nothing. Because each policy state is
stored in the transaction of the boards it has seen, a restarted or new owner continues every printer's
diagnosis exactly where the stored boards end: a defect episode spanning a crash is raised once.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from crrn.scoring import BoardScores
from crrn.windowing import Window
from schemas.codec import inspection_to_json
from schemas.errors import InvalidEvent
from schemas.messages import DeadLetter, DefectEvent
from streams.pipeline.errors import PermanentStoreError
from streams.pipeline.jobs import BoardJob, DefectPolicy, StatefulDefectPolicy
from streams.pipeline.ports import Models, Publish, ResultStore
from streams.pipeline.results import BoardRecord, DiagnosisStateRow, ResultBatch, alarm_message, split_batch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutputTopics:
    alarms: str
    defects: str
    dead_letters: str = ""  # where boards the store refuses go ("" = the alarm topic's name + ".dlq")

    @property
    def dlq(self) -> str:
        return self.dead_letters or f"{self.alarms}.dlq"


class BatchProcessor:
    """`process(jobs)` for the BatchExecutor; see the module docstring for the order of effects."""

    def __init__(
        self,
        models: Models,
        store: ResultStore,
        publish: Publish,
        topics: OutputTopics,
        is_current: Callable[[BoardJob], bool],
        defect_policy: DefectPolicy | None = None,
    ) -> None:
        """`defect_policy` overrides the policy that comes with the model (`models.defect_policy`)."""
        self.models = models
        self.store = store
        self.publish = publish
        self.topics = topics
        self.is_current = is_current
        self.defect_policy = defect_policy
        self.boards_written = 0
        self.boards_skipped = 0
        self.boards_refused = 0
        self._clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def _score(self, windows: list[Window]) -> dict[str, BoardScores]:
        """Scores by event_id; a window that cannot be scored (e.g. a recipe the model lacks) is left out."""
        scorer = self.models.scorer
        try:
            return {s.event_id: s for s in scorer.score_windows(windows)}
        except Exception:
            if len(windows) == 1:
                log.exception(
                    "window of printer %s cannot be scored; its boards are stored unscored",
                    windows[0].printer_id,
                )
                return {}
        out: dict[str, BoardScores] = {}
        for w in windows:  # find the window(s) that fail; score the others
            out.update(self._score([w]))
        return out

    @staticmethod
    def _import(policy: StatefulDefectPolicy, printer_id: str, row: DiagnosisStateRow | None) -> None:
        """Put the stored state (None: no row) into the policy; one it cannot use means a fresh start."""
        try:
            taken = policy.import_state(printer_id, None if row is None else row.state)
        except ValueError:
            log.exception("stored diagnosis state of printer %s is unreadable: starting afresh", printer_id)
            taken = policy.import_state(printer_id, None)
        if row is not None and not taken:
            log.info(
                "diagnosis state of printer %s (model %s) not used: starting afresh",
                printer_id,
                row.model_version,
            )

    def _diagnose(
        self, policy: DefectPolicy, scores_by_printer: dict[str, list[BoardScores]], batch: ResultBatch
    ) -> list[DefectEvent]:
        """Step 4: each printer's new scores through the policy; its state after them goes into `batch`."""
        stateful = policy if isinstance(policy, StatefulDefectPolicy) else None
        stored = {} if stateful is None else self._diagnosis_states(sorted(scores_by_printer))
        events: list[DefectEvent] = []
        for printer_id, printer_scores in scores_by_printer.items():
            printer_scores.sort(key=lambda s: s.print_index)
            row = stored.get(printer_id)
            if row is not None:  # boards up to there were diagnosed (by another owner, in a race)
                printer_scores = [s for s in printer_scores if s.print_index > row.last_print_index]
                if not printer_scores:
                    continue
            try:
                if stateful is not None:
                    self._import(stateful, printer_id, row)
                events.extend(policy(printer_scores))
                state = None if stateful is None else stateful.export_state(printer_id)
            except Exception:
                log.exception("defect diagnosis of printer %s failed for this batch", printer_id)
                continue
            if state is not None:
                batch.diagnosis_states.append(
                    DiagnosisStateRow(
                        printer_id, str(state["model_version"]), int(state["last_print_index"]), state
                    )
                )
        return events

    def process(self, jobs: list[BoardJob]) -> None:
        jobs = [j for j in jobs if self.is_current(j)]
        if not jobs:
            return
        candidates = [b.event_id for j in jobs if j.window is not None for b in j.window.new_boards]
        candidates += [u.board.event_id for j in jobs for u in j.unscored]
        stored = self._stored_event_ids(candidates)
        windows = [
            j.window
            for j in jobs
            if j.window is not None and any(b.event_id not in stored for b in j.window.new_boards)
        ]
        scores = self._score(windows) if windows else {}

        batch = ResultBatch()
        new_scores_by_printer: dict[str, list[BoardScores]] = {}
        done: set[str] = set(stored)
        for j in jobs:
            if j.window is not None:
                for board, source in zip(j.window.new_boards, j.window_sources, strict=True):
                    if board.event_id in done:
                        continue
                    done.add(board.event_id)
                    s = scores.get(board.event_id)
                    if s is None:
                        batch.boards.append(BoardRecord(board, source, "unscored"))
                        continue
                    batch.boards.append(BoardRecord(board, source, "scored", s))
                    message = alarm_message(s)
                    if message is not None:
                        batch.alarms.append(message)
                    new_scores_by_printer.setdefault(board.printer_id, []).append(s)
            for u in j.unscored:
                if u.board.event_id not in done:
                    done.add(u.board.event_id)
                    batch.boards.append(u)

        policy = self.defect_policy or self.models.defect_policy
        if policy is not None and new_scores_by_printer:
            batch.defects.extend(self._diagnose(policy, new_scores_by_printer, batch))

        refused: list[tuple[BoardRecord, str]] = []
        self._store(batch, refused)
        if refused:
            self.publish([self._dead_letter(record, reason) for record, reason in refused])
            self.boards_refused += len(refused)
        self.boards_written += len(batch.boards) - len(refused)
        self.boards_skipped += len(stored)

    # ------------------------------------------------------------------ storing (step 5 and 6)
    def _records(self, batch: ResultBatch) -> list[tuple[str, bytes, bytes]]:
        records = [(self.topics.alarms, a.printer_id.encode(), a.to_json()) for a in batch.alarms]
        records += [(self.topics.defects, e.printer_id.encode(), e.to_json()) for e in batch.defects]
        return records

    def _store(self, batch: ResultBatch, refused: list[tuple[BoardRecord, str]]) -> None:
        """Publish and store `batch` in one transaction; when the store refuses it for its content, split
        it until the offending boards are found (they go to `refused`) and store the rest.

        The messages are published inside the store's transaction, after it accepted every row and before
        it commits (`before_commit`): a refused part publishes nothing, and a crash between publish and
        commit only republishes the same alarm ids and defect keys on replay."""
        records = self._records(batch)
        try:
            self.store.write(batch, before_commit=(lambda: self.publish(records)) if records else None)
            return
        except PermanentStoreError as exc:
            parts = split_batch(batch)
            if parts is None:
                if batch.boards:  # one board and its alarm: this board is what the store refuses
                    log.error("board %s refused by the store: %s", batch.boards[0].board.event_id, exc.reason)
                    refused.append((batch.boards[0], exc.reason))
                else:  # a printer's defect events / diagnosis state alone
                    log.error("diagnosis rows refused by the store (not stored): %s", exc.reason)
                return
        for part in parts:
            self._store(part, refused)

    def _dead_letter(self, record: BoardRecord, reason: str) -> tuple[str, bytes, bytes]:
        problem = f"refused by the result store ({reason}); correct the value at the source and send it again"
        src = record.source
        letter = DeadLetter.from_error(
            inspection_to_json(record.board), InvalidEvent("event", problem),
            src.topic, src.partition, src.offset, self._clock(),
        )  # fmt: skip
        return self.topics.dlq, record.board.printer_id.encode("utf-8", "replace"), letter.to_json()

    def _stored_event_ids(self, event_ids: list[str]) -> set[str]:
        """The store's lookup; ids it cannot even look up (refused content) count as not stored, so the
        write finds and refuses their boards."""
        try:
            return self.store.stored_event_ids(event_ids)
        except PermanentStoreError:
            out: set[str] = set()
            for event_id in event_ids:
                with contextlib.suppress(PermanentStoreError):
                    out |= self.store.stored_event_ids([event_id])
            return out

    def _diagnosis_states(self, printer_ids: list[str]) -> dict[str, DiagnosisStateRow]:
        try:
            return self.store.diagnosis_states(printer_ids)
        except PermanentStoreError:
            out: dict[str, DiagnosisStateRow] = {}
            for printer_id in printer_ids:
                with contextlib.suppress(PermanentStoreError):
                    out.update(self.store.diagnosis_states([printer_id]))
            return out
