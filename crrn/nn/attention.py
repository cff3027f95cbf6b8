"""ST-Attention: a 1-channel map from each encoder hidden state, a shortcut to the decoder.

    A_t = tanh(W_A * E_t)      (B, Nc, h, w) -> (B, 1, h, w)
    encoder passes E_t + rep(A_t) on to step t+1; the decoder subtracts the same A_t at step t.
rep() is broadcasting over the channel axis. One STAttention per layer (the paper writes E_t without a
layer index; per-layer maps let every layer of the decoder get its own shortcut).
"""

from __future__ import annotations

import torch
from torch import nn

from crrn.nn.cells import tanh


class STAttention(nn.Module):
    def __init__(self, hidden_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(hidden_channels, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        # e: (B, Nc, h, w) -> A: (B, 1, h, w), broadcast over Nc where it is added or subtracted
        return tanh(self.conv(e))
