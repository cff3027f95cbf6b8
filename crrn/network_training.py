"""Training loop for CRRN on windows of normal boards (a denoising reconstruction objective).

Each batch of clean windows (B, T, C, H, W) is corrupted on the pad cells only, the model reconstructs
it, and the loss is the MSE against the CLEAN windows over pad cells. Corruptions (all resampled for
every batch, board and element):
  - noise:    a fraction of pad elements gets N(0, noise_std^2)            (paper: denoising)
  - dropout:  each pad element is zeroed with probability 1 - keep_prob     (paper: zeroed inputs)
  - anomaly:  with probability anomaly_board_prob a board gets a random fraction U(0, anomaly_max_ratio)
              of its pads shifted by s * N(mu, anomaly_sigma^2), mu ~ U(anomaly_mu), one sign s per
              board (Experiment 1's injection), so the model learns to reconstruct normal values from
              context and not to copy outliers through, even at 50 % anomalous pads. With probability
              anomaly_volume_only_prob an anomalous board shifts the volume channel (0) only, with
              anomaly_height_only_prob the other channels only, else every channel: real defects and
              outside injections often change `volume_pct` alone, and a network that only ever saw
              joint volume+height shifts reads a volume-only shift as a board-level offset and moves
              every pad's reconstruction with it (docs/experiments.md); height-only shifts teach it not
              to predict a volume change from a height change alone
  - structured: with probability structured_prob a WINDOW gets one regional shift (a rectangle,
              ellipse, row/column stripe or edge band; on all T frames, on one print parity, or
              ramping), size s * U(structured_mu) (crrn.corruption.structured_shift). Printer defects
              are large, smooth, persistent regional shifts; a network that only saw random pads learns
              that regional variation is normal and reconstructs the defect, hiding it in the anomaly
              map (docs/experiments.md, Experiment 2). Synthetic corruption of normal boards: training
              still sees no defect run and no label
  - hiding:   a fraction of pads is zeroed and removed from the mask (only with config.mask_channel),
              so scoring can hide suspected pads and ask the model for their normal value.
  - suspects: on a `hide_suspects_prob` share of the windows, the pads whose volume the corruptions
              above moved by at least `hide_level` are hidden as well (value 0, mask 0): what the
              second pass of `crrn.reconstruction` does with the pads its first pass suspects. The
              target stays the clean window, so the network learns to fill a hidden region (up to half
              the board) with its normal values from the rest of the window.
Validation uses the same objective with one fixed, seeded corruption, so the numbers compare across
epochs (clean validation would reward the identity map). Early stopping on it; the best weights are
restored at the end. The validation loss of small CPU runs is noisy (it jumps by a third between
epochs), so patience defaults to 10 epochs and an epoch counts as an improvement only when it beats the
best by `min_delta` (relative, 0.5 %).
"""

from __future__ import annotations

import copy
import math
import random
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from crrn.corruption import structured_shift
from crrn.nn.crrn import CRRN


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-5
    grad_clip: float = 0.5
    teacher_forcing_start: float = 0.25  # eps of scheduled sampling at epoch 0 ...
    teacher_forcing_decay_epochs: int = 10  # ... decays linearly to 0 over this many epochs
    noise_fraction: float = 0.1
    noise_std: float = 1.0
    keep_prob: float = 0.9
    anomaly_board_prob: float = 0.5
    anomaly_max_ratio: float = 0.5
    anomaly_mu: tuple[float, float] = (2.0, 8.0)  # pad std units; outside injections are often > 5
    anomaly_sigma: float = 0.1
    anomaly_volume_only_prob: float = 0.5  # anomalous boards that shift channel 0 (volume) only
    anomaly_height_only_prob: float = 0.15  # anomalous boards that shift the other channels only
    structured_prob: float = 0.6  # windows with one structured regional shift (crrn.corruption)
    structured_mu: tuple[float, float] = (2.0, 6.0)  # its size range, pad std units
    hide_fraction: float = 0.0
    hide_suspects_prob: float = 0.0  # windows whose corrupted pads are hidden (crrn.reconstruction)
    hide_level: float = 1.5  # |volume shift| from which a corrupted pad counts as suspected
    patience: int = 10
    min_delta: float = 0.005  # relative improvement of the validation loss that resets patience
    val_fraction: float = 0.2  # used only when fit() gets no val set
    max_seconds: float | None = None
    seed: int = 0
    device: str | None = None  # None: CUDA if available, else CPU

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience", "teacher_forcing_decay_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name}: expected >= 1, got {getattr(self, name)}")
        for name in (
            "teacher_forcing_start",
            "noise_fraction",
            "keep_prob",
            "anomaly_board_prob",
            "anomaly_max_ratio",
            "anomaly_volume_only_prob",
            "anomaly_height_only_prob",
            "structured_prob",
            "hide_fraction",
            "hide_suspects_prob",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"TrainConfig.{name}: expected a value in [0, 1], got {getattr(self, name)}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"TrainConfig.val_fraction: expected a value in (0, 1), got {self.val_fraction}")
        if self.lr <= 0:
            raise ValueError(f"TrainConfig.lr: expected > 0, got {self.lr}")
        if not 0.0 <= self.anomaly_mu[0] <= self.anomaly_mu[1]:
            raise ValueError(
                f"TrainConfig.anomaly_mu: expected (low, high) with 0 <= low <= high, got {self.anomaly_mu}"
            )
        if not 0.0 <= self.structured_mu[0] <= self.structured_mu[1]:
            raise ValueError(
                "TrainConfig.structured_mu: expected (low, high) with 0 <= low <= high, "
                f"got {self.structured_mu}"
            )
        if self.anomaly_volume_only_prob + self.anomaly_height_only_prob > 1.0:
            raise ValueError(
                "TrainConfig.anomaly_volume_only_prob + anomaly_height_only_prob: expected <= 1, got "
                f"{self.anomaly_volume_only_prob} + {self.anomaly_height_only_prob}"
            )
        if self.hide_level <= 0:
            raise ValueError(f"TrainConfig.hide_level: expected > 0, got {self.hide_level}")
        if self.min_delta < 0:
            raise ValueError(f"TrainConfig.min_delta: expected >= 0, got {self.min_delta}")

    def teacher_forcing(self, epoch: int) -> float:
        return self.teacher_forcing_start * max(0.0, 1.0 - epoch / self.teacher_forcing_decay_epochs)


@dataclass(frozen=True)
class EpochStats:
    epoch: int
    train_loss: float
    val_loss: float
    teacher_forcing: float
    seconds: float


@dataclass(frozen=True)
class TrainResult:
    epochs: int  # epochs run (complete or cut by max_seconds)
    best_val_loss: float
    history: tuple[EpochStats, ...]
    seconds: float
    stopped_early: bool
    stop_reason: str  # "epochs", "patience" or "max_seconds"


def masked_mse(recon: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over pad cells. recon, target: (B, T, C, H, W); mask: (H, W) bool/float."""
    m = mask.to(recon.dtype)[None, None, None]  # (1, 1, 1, H, W)
    err = (recon.float() - target.float()) ** 2 * m
    return err.sum() / (m.sum() * recon.shape[0] * recon.shape[1] * recon.shape[2]).clamp_min(1.0)


def corrupt(
    clean: torch.Tensor, mask: torch.Tensor, cfg: TrainConfig, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Training corruption of clean windows (B, T, C, H, W) on pad cells `mask` (H, W).

    Returns (corrupted windows (B, T, C, H, W), input mask (B, T, 1, H, W) float, 0 on hidden pads).
    """
    B, T, C, H, W = clean.shape
    dev, dt = clean.device, clean.dtype

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator, device=dev, dtype=dt)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, device=dev, dtype=dt)

    pad = mask.to(device=dev, dtype=dt)[None, None, None]  # (1, 1, 1, H, W)
    x = clean.clone()
    # Gaussian noise on a fraction of elements
    x = x + (rand(B, T, C, H, W) < cfg.noise_fraction).to(dt) * randn(B, T, C, H, W) * cfg.noise_std
    # Experiment-1-style anomalies: per board a ratio, a sign and a magnitude
    board_hit = (rand(B, T, 1, 1, 1) < cfg.anomaly_board_prob).to(dt)
    ratio = rand(B, T, 1, 1, 1) * cfg.anomaly_max_ratio
    sign = torch.where(rand(B, T, 1, 1, 1) < 0.5, -1.0, 1.0).to(dt)
    lo, hi = cfg.anomaly_mu
    mu = lo + (hi - lo) * rand(B, T, 1, 1, 1)
    pads_hit = (rand(B, T, 1, H, W) < ratio).to(dt) * board_hit  # same pads in every channel
    # channels shifted per board: volume only (1, 0, ...), the others only (0, 1, ...) or all (1, 1, ...)
    kind = rand(B, T, 1, 1, 1)
    volume_only = (kind < cfg.anomaly_volume_only_prob).to(dt)  # (B, T, 1, 1, 1)
    height_only = (kind >= cfg.anomaly_volume_only_prob).to(dt) * (
        kind < cfg.anomaly_volume_only_prob + cfg.anomaly_height_only_prob
    ).to(dt)
    is_volume = torch.zeros(1, 1, C, 1, 1, device=dev, dtype=dt)
    is_volume[:, :, 0] = 1.0
    channels = is_volume * (1.0 - height_only) + (1.0 - is_volume) * (1.0 - volume_only)  # (B, T, C, 1, 1)
    x = x + pads_hit * channels * sign * (mu + cfg.anomaly_sigma * randn(B, T, 1, H, W))
    # structured regional shifts on some windows (skipped when off, so the random draws stay as before)
    if cfg.structured_prob > 0:
        x = x + structured_shift(
            (B, T, C, H, W),
            mask.to(device=dev, dtype=torch.bool),
            cfg.structured_prob,
            cfg.structured_mu,
            cfg.anomaly_sigma,
            cfg.anomaly_volume_only_prob,
            generator,
            dt,
        )
    # pads the corruptions moved (volume channel), before zeroing: (B, T, 1, H, W)
    moved = ((x - clean)[:, :, :1].abs() >= cfg.hide_level).to(dt) if cfg.hide_suspects_prob > 0 else None
    # zeroed input elements
    x = x * (rand(B, T, C, H, W) < cfg.keep_prob).to(dt)
    # hidden pads: zero value, mask 0
    input_mask = (rand(B, T, 1, H, W) >= cfg.hide_fraction).to(dt) * pad
    if moved is not None:  # the second pass of crrn.reconstruction: suspected pads are hidden
        window_hit = (rand(B, 1, 1, 1, 1) < cfg.hide_suspects_prob).to(dt)
        input_mask = input_mask * (1.0 - moved * window_hit)
    return x * input_mask, input_mask


def step_loss(
    model: CRRN,
    clean: torch.Tensor,
    pad_mask: torch.Tensor,
    cfg: TrainConfig,
    teacher_forcing: float,
    generator: torch.Generator,
    use_bf16: bool = False,
) -> torch.Tensor:
    """One training objective: corrupt clean windows (B, T, C, H, W), reconstruct, MSE on pads vs clean."""
    x_in, m_in = corrupt(clean, pad_mask, cfg, generator)
    with torch.autocast(clean.device.type, dtype=torch.bfloat16, enabled=use_bf16):
        recon = model(x_in, m_in, teacher_forcing=teacher_forcing)
    return masked_mse(recon, clean, pad_mask)


def _windows(data: Any) -> torch.Tensor:
    """A Tensor (N, T, C, H, W), a TensorDataset, or a Dataset whose items are a tensor or (tensor, ...)."""
    if isinstance(data, torch.Tensor):
        t = data
    elif isinstance(data, TensorDataset):
        t = data.tensors[0]
    elif isinstance(data, Dataset):
        items = [data[i] for i in range(len(data))]  # type: ignore[arg-type]
        t = torch.stack([it[0] if isinstance(it, tuple | list) else it for it in items])
    else:
        raise TypeError(
            f"train/val: expected a Tensor or Dataset of (N, T, C, H, W) windows, got {type(data)}"
        )
    if t.ndim != 5 or t.shape[0] == 0:
        raise ValueError(f"train/val: expected non-empty (N, T, C, H, W) windows, got {tuple(t.shape)}")
    return t.float()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def fit(
    model: CRRN,
    train: Any,
    val: Any | None,
    mask: torch.Tensor | np.ndarray,
    cfg: TrainConfig,
    progress: bool = True,
) -> TrainResult:
    """Train `model` in place on normal windows; returns the run's summary. See the module docstring."""
    from tqdm.auto import tqdm

    seed_everything(cfg.seed)
    device = torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    pad_mask = torch.as_tensor(mask, dtype=torch.bool)
    train_x = _windows(train)
    if pad_mask.ndim != 2 or tuple(pad_mask.shape) != tuple(train_x.shape[-2:]):
        raise ValueError(f"mask: expected (H, W) = {tuple(train_x.shape[-2:])}, got {tuple(pad_mask.shape)}")
    if val is None:
        n_val = max(1, math.ceil(len(train_x) * cfg.val_fraction))
        if n_val >= len(train_x):
            raise ValueError(f"train: {len(train_x)} windows are too few to split off a validation set")
        perm = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(cfg.seed))
        val_x, train_x = train_x[perm[:n_val]], train_x[perm[n_val:]]
    else:
        val_x = _windows(val)
        if val_x.shape[1:] != train_x.shape[1:]:
            raise ValueError(
                f"val: window shape {tuple(val_x.shape[1:])} != train {tuple(train_x.shape[1:])}"
            )

    model.to(device)
    pad_mask = pad_mask.to(device)
    use_bf16 = device.type == "cuda"
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loader = DataLoader(
        TensorDataset(train_x),
        batch_size=cfg.batch_size,
        shuffle=True,
        drop_last=len(train_x) > cfg.batch_size,  # no tiny last batch (equal steps per epoch)
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    # one fixed corruption of the validation windows, the same every epoch
    val_gen = torch.Generator(device=device).manual_seed(cfg.seed + 1)
    val_batches = []
    for chunk in val_x.split(cfg.batch_size):
        clean = chunk.to(device)
        val_batches.append((clean, *corrupt(clean, pad_mask, cfg, val_gen)))

    start = time.monotonic()
    history: list[EpochStats] = []
    best_val, best_state, bad_epochs = math.inf, copy.deepcopy(model.state_dict()), 0
    stop_reason = "epochs"
    bar = tqdm(range(cfg.epochs), disable=not progress, desc="train", unit="epoch")
    for epoch in bar:
        tf = cfg.teacher_forcing(epoch)
        model.train()
        total, batches = 0.0, 0
        for (clean_cpu,) in loader:
            loss = step_loss(model, clean_cpu.to(device), pad_mask, cfg, tf, gen, use_bf16)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            total, batches = total + loss.item(), batches + 1
            if cfg.max_seconds is not None and time.monotonic() - start > cfg.max_seconds:
                stop_reason = "max_seconds"
                break
        val_loss = evaluate(model, val_batches, pad_mask, use_bf16)
        history.append(EpochStats(epoch, total / max(batches, 1), val_loss, tf, time.monotonic() - start))
        bar.set_postfix(train=f"{total / max(batches, 1):.4f}", val=f"{val_loss:.4f}")
        if math.isinf(best_val) or val_loss < best_val * (1.0 - cfg.min_delta):
            best_val, best_state, bad_epochs = val_loss, copy.deepcopy(model.state_dict()), 0
        else:
            bad_epochs += 1
        if stop_reason == "max_seconds":
            break
        if bad_epochs >= cfg.patience:
            stop_reason = "patience"
            break
    bar.close()
    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(
        epochs=len(history),
        best_val_loss=best_val,
        history=tuple(history),
        seconds=time.monotonic() - start,
        stopped_early=stop_reason != "epochs",
        stop_reason=stop_reason,
    )


@torch.no_grad()
def evaluate(
    model: CRRN,
    batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    pad_mask: torch.Tensor,
    use_bf16: bool = False,
) -> float:
    """Mean denoising loss over (clean, corrupted, input mask) batches, eval mode, no teacher forcing."""
    model.eval()
    total, count = 0.0, 0
    for clean, x_in, m_in in batches:
        with torch.autocast(clean.device.type, dtype=torch.bfloat16, enabled=use_bf16):
            recon = model(x_in, m_in)
        total += masked_mse(recon, clean, pad_mask).item() * len(clean)
        count += len(clean)
    return total / count


__all__ = [
    "EpochStats",
    "TrainConfig",
    "TrainResult",
    "corrupt",
    "evaluate",
    "fit",
    "masked_mse",
    "step_loss",
]
