"""Two-pass reconstruction: hide the pads the first pass suspects and ask the network for their normal value.

A reconstruction network partly copies what it sees: a large, persistent regional defect (paste not
kneaded over half the board, paste removed along the squeegee trail) leaks into the reconstruction of
the very pads it affects, which shrinks their anomaly scores (docs/experiments.md, Experiment 2). So:

    pass 1:  R1 = model(X, mask)                      S1 = X - R1 on channel 0 (volume)
    suspect: |S1| >= level                            (B, T, H, W), per board of the window
    pass 2:  R2 = model(X * keep, keep)               keep = mask & ~suspect, (B, T, 1, H, W)

A hidden pad enters pass 2 as "unknown" (value 0 and mask channel 0), so its reconstruction comes from
its neighbours and the other boards only: it cannot copy the defect. The network learns this at training
time (`TrainConfig.hide_suspects_prob`: the pads a corruption moved by at least the same level are hidden
on a share of the windows, the loss stays against the clean window).

The result keeps, per pad and board, the pass whose volume reconstruction lies further from the input
(all channels of that pass), so the score is the larger-magnitude of `X - R1` and `X - R2`. Why both:
each pass has its own blind spot, measured on Experiment 2 (docs/experiments.md): pass 1 partly copies a
persistent regional defect, and pass 2, filling a region of up to half the board from its surroundings,
is pulled by a prior of its own (by ~0.3 pad std on such regions, the same sign for every defect). A pad
counts as anomalous when either view says so; the thresholds are calibrated on this combined score, so
the few normal pads where the two passes differ cost no extra false alarms at the calibrated rate.
Needs a network with the mask input channel (`CRRNConfig.mask_channel`); `level=None` is the plain
one-pass reconstruction. Costs two forward passes.

`newest=n` (what scoring uses: the n boards a window scores, 1 with hop 1) returns the reconstruction of
the newest n boards only, and the same values the full call gives there. Pass 1 still runs all T decoder
steps (pass 2 hides the suspects of every board of the window), pass 2 only the first n: with T = 10,
hop 1 and the `cpu` config that is about a quarter less work per board (docs/performance.md).
"""

from __future__ import annotations

import torch

from crrn.anomaly_map import VOLUME_CHANNEL
from crrn.nn.crrn import CRRN


def suspects(x: torch.Tensor, recon: torch.Tensor, mask: torch.Tensor, level: float) -> torch.Tensor:
    """(B, T, H, W) bool: pads whose volume |input - reconstruction| >= level. x, recon: (B, T, C, H, W)."""
    diff = (x[:, :, VOLUME_CHANNEL] - recon[:, :, VOLUME_CHANNEL].to(x.dtype)).abs()  # (B, T, H, W)
    return (diff >= level) & mask.to(torch.bool)[None, None]


def reconstruct(
    model: CRRN, x: torch.Tensor, mask: torch.Tensor, level: float | None, newest: int | None = None
) -> torch.Tensor:
    """Reconstruction (B, T, C, H, W) of windows x (B, T, C, H, W) on pad cells `mask` (H, W) bool, or
    of the `newest` n boards only, (B, n, C, H, W).

    `level` None: one pass. Else the two passes of the module docstring (the model must have been built
    with `mask_channel`, or it cannot tell a hidden pad from a pad of value 0).
    """
    if level is None:
        return model(x, mask, teacher_forcing=0.0, newest=newest)
    if not model.config.mask_channel:
        raise ValueError("hiding suspected pads needs a model with the mask input channel (mask_channel)")
    first = model(x, mask, teacher_forcing=0.0)  # (B, T, C, H, W): every board's suspects are needed
    hidden = suspects(x, first, mask, level)  # (B, T, H, W)
    keep = (mask.to(torch.bool)[None, None] & ~hidden)[:, :, None].to(x.dtype)  # (B, T, 1, H, W)
    second = model(x * keep, keep, teacher_forcing=0.0, newest=newest)  # (B, n, C, H, W)
    n = second.shape[1]
    x, first = x[:, -n:], first[:, -n:]
    v = VOLUME_CHANNEL
    further = (x[:, :, v] - first[:, :, v]).abs() > (x[:, :, v] - second[:, :, v]).abs()  # (B, n, H, W)
    return torch.where(further[:, :, None], first, second)


__all__ = ["reconstruct", "suspects"]
