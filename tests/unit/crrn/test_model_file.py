"""ModelBundle: round trip through a file, content version, and refusal of unsafe or foreign files."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from crrn.evidence import EvidenceModel, ResidualScale
from crrn.layout import PadGrid
from crrn.model_file import FORMAT, BundleError, ModelBundle, RecipeModel
from crrn.nn import CRRN, CRRNConfig
from crrn.normalization import PadNormalizer
from crrn.thresholds import Thresholds

TINY = CRRNConfig(hidden_channels=4, num_layers=1, kernel_size=3, attention_kernel=3, s_layers=1)


def tiny_bundle() -> ModelBundle:
    torch.manual_seed(0)
    model = CRRN(TINY)
    ids = np.array([f"p{i}" for i in range(6)])
    layout = PadGrid.fit("R1", ids, np.array([0, 1, 2, 0, 1, 2.0]), np.array([0, 0, 0, 1, 1, 1.0]))
    rng = np.random.default_rng(0)
    norm = PadNormalizer.fit(rng.normal(100, 5, size=(20, 2, 6)))
    recipe = RecipeModel(layout, norm, np.array(["A", "A", "B", "B", "A", "B"]))
    return ModelBundle(
        config=TINY.to_dict(),
        state_dict={k: v.clone() for k, v in model.state_dict().items()},
        recipes={"R1": recipe},
        thresholds={
            "crrn": Thresholds(2.0, -2.5),
            "statistical": Thresholds(3.0, -3.0),
            "pad_zscore": Thresholds(3.5, -3.5),
        },
        window_length=4,
        metrics={"note": "test"},
        created_at="2026-01-01T00:00:00+00:00",
    )


def test_round_trip(tmp_path: Path) -> None:
    b = tiny_bundle()
    path = b.save(tmp_path / "m.pt")
    b2 = ModelBundle.load(path)
    assert b2.version == b.version
    assert b2.config == b.config
    assert b2.window_length == 4
    assert b2.metrics == {"note": "test"}
    assert b2.thresholds == b.thresholds
    for k, v in b.state_dict.items():
        assert torch.equal(b2.state_dict[k], v)
    np.testing.assert_array_equal(b2.recipes["R1"].layout.flat_index, b.recipes["R1"].layout.flat_index)
    np.testing.assert_array_equal(b2.recipes["R1"].normalizer.scale, b.recipes["R1"].normalizer.scale)
    np.testing.assert_array_equal(b2.recipes["R1"].aperture_group, b.recipes["R1"].aperture_group)
    model = b2.build_model()
    assert not model.training
    x = torch.zeros(1, 4, 2, 2, 3)
    torch.testing.assert_close(model(x), b.build_model()(x))


def test_version_changes_with_weights_and_thresholds() -> None:
    b = tiny_bundle()
    v0 = b.version
    b.thresholds["crrn"] = Thresholds(2.1, -2.5)
    v1 = b.version
    name = next(iter(b.state_dict))
    b.state_dict[name] = b.state_dict[name] + 1
    assert len({v0, v1, b.version}) == 3


class Exploit:
    ran = False

    def __reduce__(self) -> tuple[Callable[[], None], tuple[()]]:
        return (Exploit._run, ())

    @staticmethod
    def _run() -> None:
        Exploit.ran = True


def test_pickled_object_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save(
        {"format": FORMAT, "meta_json": "{}", "state_dict": {"w": torch.zeros(1)}, "x": Exploit()}, path
    )
    with pytest.raises(BundleError, match="refused"):
        ModelBundle.load(path)
    assert not Exploit.ran


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch notes the foreign protocol first
def test_plain_pickle_and_foreign_files_are_refused(tmp_path: Path) -> None:
    p1 = tmp_path / "pickle.pt"
    p1.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(BundleError):
        ModelBundle.load(p1)
    assert not Exploit.ran
    p2 = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, p2)
    with pytest.raises(BundleError, match="format"):
        ModelBundle.load(p2)
    with pytest.raises(BundleError, match="does not exist"):
        ModelBundle.load(tmp_path / "missing.pt")


def test_unknown_recipe_and_method_are_named() -> None:
    b = tiny_bundle()
    with pytest.raises(KeyError, match="R9"):
        b.recipe("R9")
    del b.thresholds["statistical"]
    with pytest.raises(KeyError, match="statistical"):
        b.thresholds_for("statistical")


def test_hide_level_round_trips_and_is_absent_from_one_pass_models(tmp_path: Path) -> None:
    b = tiny_bundle()
    assert "hide_suspects_above" not in b.meta()  # older one-pass files keep their version
    v0 = b.version
    b.hide_suspects_above = 1.5
    assert b.version != v0
    loaded = ModelBundle.load(b.save(tmp_path / "m.pt"))
    assert loaded.hide_suspects_above == 1.5
    assert loaded.version == b.version


def test_process_alarm_rule_round_trips_and_older_files_load_without_it(tmp_path: Path) -> None:
    b = tiny_bundle()
    assert "evidence" not in b.meta()  # files calibrated before process alarms keep their version
    v0 = b.version
    old = ModelBundle.load(b.save(tmp_path / "old.pt"))
    assert old.evidence == {}
    assert old.evidence_tracker("crrn") is None  # board outliers only
    scale = ResidualScale(np.arange(6, dtype=np.float32) / 10, np.full(6, 0.5, np.float32))
    b.evidence = {"crrn": EvidenceModel(limit=7.5, recipes={"R1": scale}, details={"method": "gpd"})}
    assert b.version != v0
    loaded = ModelBundle.load(b.save(tmp_path / "m.pt"))
    assert loaded.version == b.version
    ev = loaded.evidence["crrn"]
    assert (ev.limit, ev.reference, ev.cap, ev.details) == (7.5, 1.0, 15.0, {"method": "gpd"})
    np.testing.assert_array_equal(ev.recipes["R1"].center, scale.center)
    np.testing.assert_array_equal(ev.recipes["R1"].scale, scale.scale)
    tracker = loaded.evidence_tracker("crrn")
    assert tracker is not None
    assert tracker.model_version == loaded.version


def test_a_process_rule_for_other_pads_is_refused() -> None:
    b = tiny_bundle()
    wrong = ResidualScale(np.zeros(5, np.float32), np.ones(5, np.float32))
    with pytest.raises(BundleError, match="recipe R1 has 5 pads"):
        ModelBundle(**{**b.__dict__, "evidence": {"crrn": EvidenceModel(3.0, {"R1": wrong})}})


def test_a_file_of_the_earlier_network_is_refused_with_the_fix(tmp_path: Path) -> None:
    # a v1 file as the earlier version wrote it: BatchNorm S-coder entries and cstm_bottom in the config
    b = tiny_bundle()
    meta = b.meta() | {"format": "spi-crrn.model.v1", "config": b.config | {"cstm_bottom": "zeros"}}
    state = b.state_dict | {"s_encoder.net.1.running_mean": torch.zeros(4)}
    path = tmp_path / "old.pt"
    torch.save({"format": "spi-crrn.model.v1", "meta_json": json.dumps(meta), "state_dict": state}, path)
    with pytest.raises(BundleError, match=r"model\.v1.*earlier network.*retrain it with `spi-crrn train`"):
        ModelBundle.load(path)


def test_the_saved_file_carries_the_current_format(tmp_path: Path) -> None:
    payload = torch.load(tiny_bundle().save(tmp_path / "m.pt"), weights_only=True)
    assert payload["format"] == FORMAT == "spi-crrn.model.v2"
