"""Recurrent cells of the ST-coder: ConvLSTM (CRAE's cell) and CSTM (the paper's cell).

Layer l, step t, `*` convolution, `o` Hadamard product, x = H_t^{l-1}, (h, c) = (H_{t-1}^l, C_{t-1}^l):
    i = sigmoid(W_i * x + U_i * h + V_i o c)
    f = sigmoid(W_f * x + U_f * h + V_f o c)
    g = tanh   (W_g * x + U_g * h)
    C = f o m + i o g          ConvLSTM: m = c;  CSTM: m = W_1x1 * [c ; C_t^{l-1}]
    o = sigmoid(W_o * x + U_o * h + V_o o C)
    H = o o tanh(C)
W and U are one convolution over the concatenation [x ; h] (same maths, one kernel launch).

Speed (benchmarks/bench_model.py): the gate maths runs on small (B, Nc, h, w) tensors after every
convolution, so it is written with few kernels: `a + V o c` is one addcmul, and tanh is computed as
2 sigmoid(2x) - 1 (`tanh`, below): the same function to float rounding (|error| < 3e-7), and on this
CPU torch.sigmoid is ~4x cheaper than torch.tanh (124 vs 28 us on 8x16x17x24, one thread).

Peepholes V are per-channel, shape (Nc, 1, 1), broadcast over the grid: the same weights then serve
every recipe's grid size (a (Nc, H, W) peephole would tie the model to one grid). They start at zero
(a plain ConvLSTM) and are learned. Each gate's nonlinearity is applied exactly once.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


def tanh(x: torch.Tensor) -> torch.Tensor:
    """tanh(x) as 2 sigmoid(2x) - 1: equal to float rounding, several times faster on the CPU."""
    # mul out of place: sigmoid's backward needs its output; sub_ may then work in place
    return torch.sigmoid(x * 2.0).mul(2.0).sub_(1.0)


class CellState(NamedTuple):
    h: torch.Tensor  # (B, Nc, h, w) hidden state H
    c: torch.Tensor  # (B, Nc, h, w) cell state C


class ConvLSTMCell(nn.Module):
    def __init__(
        self, in_channels: int, hidden_channels: int, kernel_size: int, peephole: bool = True
    ) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        self.gates = nn.Conv2d(
            in_channels + hidden_channels, 4 * hidden_channels, kernel_size, padding=kernel_size // 2
        )
        assert self.gates.bias is not None
        with torch.no_grad():  # forget-gate bias 1: remember by default early in training
            self.gates.bias[hidden_channels : 2 * hidden_channels].fill_(1.0)
        self.v_i: nn.Parameter | None = None
        self.v_f: nn.Parameter | None = None
        self.v_o: nn.Parameter | None = None
        if peephole:
            self.v_i = nn.Parameter(torch.zeros(hidden_channels, 1, 1))
            self.v_f = nn.Parameter(torch.zeros(hidden_channels, 1, 1))
            self.v_o = nn.Parameter(torch.zeros(hidden_channels, 1, 1))

    def memory(self, c: torch.Tensor, c_below: torch.Tensor | None) -> torch.Tensor:
        """The memory the forget gate scales: C_{t-1}^l for a ConvLSTM."""
        return c

    def forward(self, x: torch.Tensor, state: CellState, c_below: torch.Tensor | None = None) -> CellState:
        # x: (B, C_in, h, w); state: (B, Nc, h, w) each; c_below: (B, Nc, h, w) or None (CSTM only)
        h, c = state
        a_i, a_f, a_g, a_o = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        if self.v_i is not None and self.v_f is not None:
            a_i = torch.addcmul(a_i, self.v_i, c)  # a_i + V_i o c
            a_f = torch.addcmul(a_f, self.v_f, c)
        i = torch.sigmoid(a_i)
        f = torch.sigmoid(a_f)
        g = tanh(a_g)
        c_new = torch.addcmul(f * self.memory(c, c_below), i, g)  # f o m + i o g
        if self.v_o is not None:
            a_o = torch.addcmul(a_o, self.v_o, c_new)
        o = torch.sigmoid(a_o)
        return CellState(o * tanh(c_new), c_new)


class CSTMCell(ConvLSTMCell):
    """ConvLSTM whose memory also receives the cell state of the layer below at the same step."""

    def __init__(
        self, in_channels: int, hidden_channels: int, kernel_size: int, peephole: bool = True
    ) -> None:
        super().__init__(in_channels, hidden_channels, kernel_size, peephole)
        self.fuse = nn.Conv2d(2 * hidden_channels, hidden_channels, kernel_size=1)
        with torch.no_grad():
            # Start as W_1x1 = [I, 0] (a ConvLSTM, long memory intact); the C_t^{l-1} half still gets
            # gradients (d/dW = grad * C_t^{l-1}) and learns the spatial flow.
            self.fuse.weight.zero_()
            self.fuse.weight[:, :hidden_channels, 0, 0].copy_(torch.eye(hidden_channels))
            assert self.fuse.bias is not None
            self.fuse.bias.zero_()

    def memory(self, c: torch.Tensor, c_below: torch.Tensor | None) -> torch.Tensor:
        if c_below is None:
            c_below = torch.zeros_like(c)
        return self.fuse(torch.cat([c, c_below], dim=1))  # (B, 2Nc, h, w) -> (B, Nc, h, w)


def make_cell(
    kind: str, in_channels: int, hidden_channels: int, kernel_size: int, peephole: bool
) -> ConvLSTMCell:
    if kind == "cstm":
        return CSTMCell(in_channels, hidden_channels, kernel_size, peephole)
    if kind == "convlstm":
        return ConvLSTMCell(in_channels, hidden_channels, kernel_size, peephole)
    raise ValueError(f"cell: expected 'cstm' or 'convlstm', got {kind!r}")
