"""The defect classifier: shapes, safe save/load with the CRRN version, and that it can learn position."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from crrn.diagnosis.classifier import (
    DEFECT_CLASSES,
    ClassifierConfig,
    DefectClassifier,
    classifier_path_for,
    load_classifier,
    save_classifier,
)


def test_output_is_one_logit_per_defect() -> None:
    torch.manual_seed(0)
    model = DefectClassifier(ClassifierConfig(input_size=16, width=4))
    assert model(torch.rand(3, 2, 16, 16)).shape == (3, len(DEFECT_CLASSES))
    probs = model.probabilities(torch.rand(3, 2, 16, 16))
    assert ((probs > 0) & (probs < 1)).all()
    assert model.training  # probabilities() restores the caller's mode


def test_wrong_input_shape_is_rejected_with_the_expected_shape() -> None:
    model = DefectClassifier(ClassifierConfig(input_size=16, width=4))
    with pytest.raises(ValueError, match=r"\(B, 2, 16, 16\)"):
        model(torch.rand(3, 1, 16, 16))


def test_config_rejects_too_small_input() -> None:
    with pytest.raises(ValueError, match="input_size"):
        ClassifierConfig(input_size=2, n_stages=3)


def test_save_and_load_round_trip_and_version_check(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = DefectClassifier(ClassifierConfig(input_size=16, width=4)).eval()
    x = torch.rand(2, 2, 16, 16)
    path = save_classifier(
        classifier_path_for(tmp_path / "m.pt"), model, {"crrn_model_version": "v1", "note": "x"}
    )
    assert path.name == "m.pt.classifier.pt"
    stored = load_classifier(path, expect_crrn_version="v1")
    assert stored.crrn_model_version == "v1"
    assert torch.allclose(stored.model(x), model(x))
    with pytest.raises(ValueError, match="model_version"):
        load_classifier(path, expect_crrn_version="v2")
    with pytest.raises(ValueError, match="crrn_model_version"):
        save_classifier(tmp_path / "bad.pt", model, {})


def test_it_learns_a_position_only_task() -> None:
    """Same blob, left edge vs right edge: only absolute position separates the two classes."""
    torch.manual_seed(0)
    n, size = 64, 16
    x = torch.zeros(n, 2, size, size)
    y = torch.zeros(n, 2)
    for i in range(n):
        row = int(torch.randint(0, size - 4, ()))
        col = 0 if i % 2 == 0 else size - 2
        x[i, 0, row : row + 4, col : col + 2] = 1.0
        y[i, i % 2] = 1.0
    model = DefectClassifier(ClassifierConfig(input_size=size, width=8, classes=("left", "right")))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
        loss.backward()
        opt.step()
    accuracy = ((model.probabilities(x) > 0.5).float() == y).all(dim=1).float().mean()
    assert accuracy > 0.95


class _Exploit:
    """Unpickling it would run `_run` (a file that tries to execute code on load)."""

    ran = False

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return (_Exploit._run, ())

    @staticmethod
    def _run() -> None:
        _Exploit.ran = True


def test_classifier_file_with_a_pickled_object_is_refused_without_running_it(tmp_path: Path) -> None:
    import pickle

    model = DefectClassifier(ClassifierConfig(input_size=16, width=4))
    path = save_classifier(tmp_path / "c.pt", model, {"crrn_model_version": "v1", "window_length": 3})
    payload = torch.load(path, weights_only=True)
    payload["metadata"]["x"] = _Exploit()
    torch.save(payload, path)
    with pytest.raises(pickle.UnpicklingError):
        load_classifier(path)
    assert not _Exploit.ran
