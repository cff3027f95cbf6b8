"""The printer-defect classifier: a small ResNet-style CNN trained from scratch on binarized anomaly maps.

Input `(B, 2, S, S)`: channel 0 the excessive map, channel 1 the insufficient map of one window, each cell
the fraction of the window's boards whose pooled cell passed the calibrated threshold (see
`crrn.diagnosis.features`). Output `(B, n_classes)` logits; `torch.sigmoid` gives independent
per-defect probabilities (multi-label: several defects may be present at once).

Where a defect appears on the board matters (clamp defects sit at the edges, a blade crack is a stripe
along the print direction), and global pooling alone would lose absolute position, so the network appends
two fixed coordinate channels (x and y in [-1, 1]) to its input (CoordConv). Weights are stored as a plain
dict of tensors and primitives so that `torch.load(weights_only=True)` can read them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

DEFECT_CLASSES: tuple[str, ...] = ("squeegee_blade", "support", "removed_paste", "no_kneading", "clamp")
"""Output order of the classifier; names match `crrn.sim`'s defect names."""

CLASSIFIER_FORMAT = "spi-crrn.defect-classifier.v1"


@dataclass(frozen=True)
class ClassifierConfig:
    """Shape of the classifier network. `input_size` is S of the `(B, 2, S, S)` input."""

    input_size: int = 32
    width: int = 16  # channels of the first stage; stages double it
    n_stages: int = 3  # stage k has width * 2**k channels and stride 2 for k > 0
    blocks_per_stage: int = 1
    classes: tuple[str, ...] = DEFECT_CLASSES

    def __post_init__(self) -> None:
        if self.input_size < 2 ** (self.n_stages - 1):
            raise ValueError(
                f"input_size={self.input_size} is too small for n_stages={self.n_stages}: "
                f"use at least {2 ** (self.n_stages - 1)}"
            )
        if self.width < 1 or self.n_stages < 1 or self.blocks_per_stage < 1:
            raise ValueError("width, n_stages and blocks_per_stage must be >= 1")
        if not self.classes or len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes must be non-empty and unique, got {self.classes}")

    @property
    def n_classes(self) -> int:
        return len(self.classes)


class ResidualBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus a (projected) shortcut, then ReLU.

    `(B, Ci, H, W) -> (B, Co, H/s, W/s)`.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class DefectClassifier(nn.Module):
    """`(B, 2, S, S)` binarized excessive/insufficient maps -> `(B, n_classes)` logits."""

    def __init__(self, config: ClassifierConfig | None = None) -> None:
        super().__init__()
        self.config = config or ClassifierConfig()
        size, width = self.config.input_size, self.config.width
        axis = torch.linspace(-1.0, 1.0, size)
        yy, xx = torch.meshgrid(axis, axis, indexing="ij")
        self.register_buffer("coords", torch.stack([xx, yy])[None], persistent=False)  # (1, 2, S, S)
        self.stem = nn.Sequential(
            nn.Conv2d(4, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)
        )
        blocks: list[nn.Module] = []
        channels = width
        for stage in range(self.config.n_stages):
            out_channels = width * 2**stage
            for index in range(self.config.blocks_per_stage):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(ResidualBlock(channels, out_channels, stride))
                channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(2 * channels, self.config.n_classes)  # avg- and max-pooled features

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        size = self.config.input_size
        if maps.ndim != 4 or maps.shape[1] != 2 or maps.shape[2:] != (size, size):
            raise ValueError(
                f"classifier input must have shape (B, 2, {size}, {size}), got {tuple(maps.shape)}: "
                "build it with crrn.diagnosis.features"
            )
        coords_buffer: torch.Tensor = self.coords  # type: ignore[assignment]
        coords = coords_buffer.expand(maps.shape[0], -1, -1, -1)  # (B, 2, S, S)
        h = self.blocks(self.stem(torch.cat([maps, coords], dim=1)))  # (B, C, s, s)
        pooled = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)  # (B, 2C)
        return self.head(pooled)  # (B, n_classes)

    @torch.no_grad()
    def probabilities(self, maps: torch.Tensor) -> torch.Tensor:
        """Per-defect probabilities `(B, n_classes)` in eval mode (the caller's mode is restored)."""
        was_training = self.training
        self.eval()
        try:
            return torch.sigmoid(self(maps))
        finally:
            self.train(was_training)


def classifier_path_for(model_path: str | Path) -> Path:
    """Where the classifier of a CRRN model file lives: `MODEL.classifier.pt` beside `MODEL`."""
    path = Path(model_path)
    return path.with_name(path.name + ".classifier.pt")


@dataclass(frozen=True)
class StoredClassifier:
    """A loaded classifier with the metadata written beside its weights."""

    model: DefectClassifier
    metadata: dict[str, Any]

    @property
    def crrn_model_version(self) -> str:
        return str(self.metadata["crrn_model_version"])


def save_classifier(path: str | Path, model: DefectClassifier, metadata: dict[str, Any]) -> Path:
    """Write weights, config and `metadata` (must name `crrn_model_version`) to `path`."""
    if "crrn_model_version" not in metadata:
        raise ValueError("metadata must name 'crrn_model_version': the CRRN model this classifier reads")
    config = asdict(model.config)
    config["classes"] = list(model.config.classes)
    payload = {
        "format": CLASSIFIER_FORMAT,
        "config": config,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metadata": metadata,
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(target)
    return target


def load_classifier(path: str | Path, expect_crrn_version: str | None = None) -> StoredClassifier:
    """Load safely (`weights_only=True`); with `expect_crrn_version`, refuse a classifier of another CRRN."""
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(
            f"no defect classifier at {source}: train one with `spi-crrn train-classifier --model MODEL`"
        )
    payload = torch.load(source, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != CLASSIFIER_FORMAT:
        raise ValueError(f"{source} is not a defect classifier file (format {CLASSIFIER_FORMAT})")
    raw = dict(payload["config"])
    raw["classes"] = tuple(raw["classes"])
    model = DefectClassifier(ClassifierConfig(**raw))
    model.load_state_dict(payload["state_dict"])
    model.eval()
    metadata = dict(payload["metadata"])
    if expect_crrn_version is not None and metadata.get("crrn_model_version") != expect_crrn_version:
        raise ValueError(
            f"classifier {source} was trained on CRRN model_version {metadata.get('crrn_model_version')!r}, "
            f"but the model is {expect_crrn_version!r}: retrain it with `spi-crrn train-classifier`"
        )
    return StoredClassifier(model=model, metadata=metadata)
