"""Which model the worker scores with (the pipeline core's `Models` port): a file given on the command
line, or the registry's active version.

`ModelSource.refresh()` (called periodically from the inference thread) polls `model_versions` and swaps in
a newly promoted version without restarting: the next batch is scored with it. A model whose window
length or hop differs from the running one is refused (the open windows were built for the old one).

When a defect classifier lies beside the model file (`MODEL.classifier.pt`, `spi-crrn train-classifier`),
its per-printer decision policy (crrn/diagnosis/policy.py) is loaded with the model and swapped with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from crrn.model_file import ModelBundle
from crrn.scoring import Scorer
from streams.db.registry import ModelRecord
from streams.pipeline.jobs import DefectPolicy

log = logging.getLogger(__name__)


def load_defect_policy(model_path: Path, bundle: ModelBundle) -> DefectPolicy | None:
    """The diagnosis policy of a model file, or None when it has no classifier beside it."""
    from crrn.diagnosis.classifier import classifier_path_for
    from crrn.diagnosis.policy import DefectPolicy as PrinterDefectPolicy

    if not classifier_path_for(model_path).is_file():
        log.info("no defect classifier beside %s: printer defects are not diagnosed", model_path)
        return None
    try:
        policy = PrinterDefectPolicy.from_model(model_path, bundle)
    except Exception as exc:
        log.error("defect classifier of %s not loaded: %s", model_path, exc)
        return None
    log.info("printer-defect diagnosis on (classifier of model %s)", bundle.version)
    return policy


class NoModelError(RuntimeError):
    """Neither --model PATH nor an active row in model_versions."""


class ModelSource:
    """The current Scorer, and hot swap on promotion."""

    def __init__(
        self,
        active_record: Callable[[], ModelRecord | None],
        device: str,
        model_path: str = "",
    ) -> None:
        self._active_record = active_record
        self._device = device
        self._seen_active: str | None = None
        if model_path:
            path = Path(model_path)
            bundle = ModelBundle.load(path)
            record = self._safe_active()
            self._seen_active = None if record is None else record.version
        else:
            record = self._safe_active()
            if record is None:
                raise NoModelError(
                    "no model: pass --model PATH, or register and promote one with "
                    "`spi-crrn models register PATH` and `spi-crrn models promote VERSION`"
                )
            path = Path(record.path)
            bundle = ModelBundle.load(path)
            self._seen_active = record.version
        self.scorer = Scorer(bundle, device=device)
        self.defect_policy = load_defect_policy(path, bundle)
        self.evidence = bundle.evidence_tracker(self.scorer.method)  # process alarms (None: model has none)
        self.window_length = bundle.window_length
        self.window_hop = bundle.window_hop
        log.info(
            "scoring with model %s (%s, T=%d, hop=%d)",
            self.version,
            self.scorer.device,
            self.window_length,
            self.window_hop,
        )

    @property
    def version(self) -> str:
        return self.scorer.model_version

    def _safe_active(self) -> ModelRecord | None:
        try:
            return self._active_record()
        except Exception as exc:
            log.warning("could not read the active model version: %s", exc)
            return None

    def refresh(self) -> bool:
        """Swap to the active registry version if it changed since the last poll; True when swapped."""
        record = self._active_record()
        if record is None or record.version == self._seen_active:
            return False
        self._seen_active = record.version
        if record.version == self.version:
            return False
        bundle = ModelBundle.load(Path(record.path))
        if (bundle.window_length, bundle.window_hop) != (self.window_length, self.window_hop):
            log.error(
                "model %s has T=%d, hop=%d but the worker runs T=%d, hop=%d: not swapped; restart the worker",
                record.version,
                bundle.window_length,
                bundle.window_hop,
                self.window_length,
                self.window_hop,
            )
            return False
        old = self.version
        self.scorer = Scorer(bundle, device=self._device)
        self.defect_policy = load_defect_policy(Path(record.path), bundle)
        self.evidence = bundle.evidence_tracker(self.scorer.method)
        log.info("model swapped: %s -> %s", old, self.version)
        return True
