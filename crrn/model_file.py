"""The model file: one file with everything needed to score boards, loaded without arbitrary pickle.

Contents: network config and weights, per recipe the layout (PadGrid), the normalization and the pads'
aperture groups (for the statistical baseline), thresholds per method (board outliers), the process-alarm
rule per method (`evidence`: limit, reference and each recipe's per-pad residual center and scale,
crrn/evidence.py), window length/hop, training metrics, versions (package, torch) and `version`, a content
hash of all of it.

Files written before process alarms existed have no `evidence` entry: they load with `evidence = {}` and
score board outliers only (the tracker is None; `spi-crrn calibrate` adds the rule). Their `version` is
unchanged, since an empty `evidence` is left out of the metadata.

File format: `torch.save({"format": FORMAT, "meta_json": str, "state_dict": {name: Tensor}})`. Loading
uses `torch.load(weights_only=True)`, whose unpickler accepts only tensors and plain containers: a file
holding any other pickled object is refused with `BundleError` before any of its code can run.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from crrn.evidence import EvidenceModel, EvidenceTracker
from crrn.layout import PadGrid
from crrn.normalization import PadNormalizer
from crrn.thresholds import Thresholds

if TYPE_CHECKING:
    from crrn.nn.crrn import CRRN

FORMAT = "spi-crrn.model.v2"
# v1 files hold the earlier network (BatchNorm S-coders, CSTM layer 1 fed zeros as the layer below). Their
# weights do not fit the v2 network (other norm parameters, a fusion that was never trained), so they are
# refused with the fix rather than loaded into a network they were not trained as.
OLD_FORMATS = {
    "spi-crrn.model.v1": "it was trained with the earlier network (BatchNorm S-coders, CSTM layer 1 fed "
    "zeros), which this version no longer runs",
}
MODEL_METHOD = "crrn"  # thresholds key of the network (whatever its variant)
METHODS = ("crrn", "statistical", "pad_zscore", "pad_zscore_board")


class BundleError(ValueError):
    """A model file that cannot be loaded (wrong format, unsafe content, inconsistent parts)."""


@dataclass(frozen=True, eq=False)
class RecipeModel:
    """What the bundle knows about one recipe, all in the layout's canonical pad order."""

    layout: PadGrid
    normalizer: PadNormalizer
    aperture_group: np.ndarray  # (P,) str, the pads' `shape` (aperture group)

    def __post_init__(self) -> None:
        p = self.layout.n_pads
        if self.normalizer.n_pads != p or self.aperture_group.shape != (p,):
            raise BundleError(
                f"recipe {self.layout.recipe_id}: layout has {p} pads, normalization "
                f"{self.normalizer.n_pads}, aperture groups {self.aperture_group.shape}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "layout": self.layout.to_dict(),
            "normalizer": self.normalizer.to_dict(),
            "aperture_group": self.aperture_group.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecipeModel:
        return cls(
            layout=PadGrid.from_dict(data["layout"]),
            normalizer=PadNormalizer.from_dict(data["normalizer"]),
            aperture_group=np.asarray(data["aperture_group"], dtype=str),
        )


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        pkg = version("spi-crrn")
    except PackageNotFoundError:
        pkg = "unknown"
    return {"spi_crrn": pkg, "torch": torch.__version__, "numpy": np.__version__}


@dataclass(eq=False)
class ModelBundle:
    config: dict[str, Any]  # CRRNConfig.to_dict()
    state_dict: dict[str, torch.Tensor]
    recipes: dict[str, RecipeModel]
    thresholds: dict[str, Thresholds]  # method -> thresholds ("crrn", "statistical", "pad_zscore")
    window_length: int
    window_hop: int = 1
    metrics: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=_versions)
    created_at: str = ""
    # two-pass scoring (crrn.reconstruction): pads whose first-pass |score| reaches this level are hidden
    # and reconstructed again from their context; None = one pass (models trained without hiding)
    hide_suspects_above: float | None = None
    # method -> process-alarm rule (crrn/evidence.py); empty in files calibrated before it existed
    evidence: dict[str, EvidenceModel] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for method, ev in self.evidence.items():
            for rid, scale in ev.recipes.items():
                recipe = self.recipes.get(rid)
                if recipe is None or scale.center.size != recipe.layout.n_pads:
                    raise BundleError(
                        f"evidence of {method}: recipe {rid} has {scale.center.size} pads, the model's "
                        f"layout {None if recipe is None else recipe.layout.n_pads}"
                    )

    # ------------------------------------------------------------------ content
    def meta(self) -> dict[str, Any]:
        """Everything but the weights, JSON-safe."""
        return (
            {
                "format": FORMAT,
                "config": self.config,
                "recipes": {rid: r.to_dict() for rid, r in sorted(self.recipes.items())},
                "thresholds": {m: t.to_dict() for m, t in sorted(self.thresholds.items())},
                "window_length": self.window_length,
                "window_hop": self.window_hop,
                "metrics": self.metrics,
                "versions": self.versions,
                "created_at": self.created_at,
            }
            | ({} if self.hide_suspects_above is None else {"hide_suspects_above": self.hide_suspects_above})
            | (
                {"evidence": {m: e.to_dict() for m, e in sorted(self.evidence.items())}}
                if self.evidence
                else {}
            )
        )

    @property
    def version(self) -> str:
        """Content hash (16 hex digits) of the metadata and the weights."""
        h = hashlib.sha256(json.dumps(self.meta(), sort_keys=True).encode())
        for name in sorted(self.state_dict):
            t = self.state_dict[name].detach().cpu().contiguous()
            h.update(name.encode())
            h.update(str(t.dtype).encode())
            h.update(str(tuple(t.shape)).encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        return h.hexdigest()[:16]

    def recipe(self, recipe_id: str) -> RecipeModel:
        try:
            return self.recipes[recipe_id]
        except KeyError:
            raise KeyError(
                f"recipe_id {recipe_id!r} is unknown to model {self.version} "
                f"(known: {sorted(self.recipes)}); "
                "train a model that includes this recipe"
            ) from None

    def thresholds_for(self, method: str) -> Thresholds:
        if method not in self.thresholds:
            raise KeyError(f"method {method!r} has no thresholds in this model; recalibrate the model")
        return self.thresholds[method]

    def evidence_tracker(self, method: str) -> EvidenceTracker | None:
        """A fresh process-alarm tracker of `method`, or None when the model has no process-alarm rule for
        it (a file calibrated before process alarms existed: recalibrate it with `spi-crrn calibrate`)."""
        model = self.evidence.get(method)
        if model is None:
            return None
        layouts = {rid: r.layout for rid, r in self.recipes.items()}
        return EvidenceTracker(model, layouts, self.version, method)

    # ------------------------------------------------------------------ model
    def build_model(self) -> CRRN:
        """The network with the stored weights, in eval mode on CPU."""
        from crrn.nn import CRRN, CRRNConfig

        model = CRRN(CRRNConfig.from_dict(self.config))
        model.load_state_dict(self.state_dict, strict=True)
        model.eval()
        return model

    # ------------------------------------------------------------------ file
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": FORMAT,
            "meta_json": json.dumps(self.meta(), sort_keys=True),
            "state_dict": {k: v.detach().cpu().contiguous() for k, v in self.state_dict.items()},
        }
        tmp = path.with_name(path.name + ".tmp")
        torch.save(payload, tmp)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ModelBundle:
        path = Path(path)
        if not path.is_file():
            raise BundleError(f"model file {path} does not exist; train one with `spi-crrn train`")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise BundleError(
                f"model file {path}: refused, it holds objects other than tensors and plain data "
                f"(safe loading, weights_only=True): {str(exc).splitlines()[0]}"
            ) from None
        except Exception as exc:  # corrupt archive, not a torch file, ...
            raise BundleError(f"model file {path}: not a readable spi-crrn model ({exc})") from None
        if isinstance(payload, dict) and payload.get("format") in OLD_FORMATS:
            raise BundleError(
                f"model file {path}: format {payload['format']!r} is no longer supported: "
                f"{OLD_FORMATS[payload['format']]}; retrain it with `spi-crrn train` (same data and options)"
            )
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise BundleError(f"model file {path}: format is not {FORMAT!r}; is this an spi-crrn model?")
        extra = sorted(set(payload) - {"format", "meta_json", "state_dict"})
        if extra:
            raise BundleError(f"model file {path}: unexpected entries {extra}")
        state = payload.get("state_dict")
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise BundleError(f"model file {path}: state_dict must map names to tensors")
        try:
            meta = json.loads(payload["meta_json"])
            return cls(
                config=dict(meta["config"]),
                state_dict=dict(state),
                recipes={rid: RecipeModel.from_dict(r) for rid, r in meta["recipes"].items()},
                thresholds={m: Thresholds.from_dict(t) for m, t in meta["thresholds"].items()},
                window_length=int(meta["window_length"]),
                window_hop=int(meta["window_hop"]),
                metrics=dict(meta["metrics"]),
                versions=dict(meta["versions"]),
                created_at=str(meta["created_at"]),
                hide_suspects_above=(
                    None if meta.get("hide_suspects_above") is None else float(meta["hide_suspects_above"])
                ),
                evidence={m: EvidenceModel.from_dict(e) for m, e in meta.get("evidence", {}).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BundleError(f"model file {path}: metadata is incomplete or invalid ({exc!r})") from None
