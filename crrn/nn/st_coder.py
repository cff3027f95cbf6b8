"""ST-Encoder-Decoder: stacked recurrent cells over time, with the optional ST-Attention shortcut.

    encoder  E_t^l = Cell(E_t^{l-1}, E_{t-1}^l)     t = 1..T, E_t^0 = S-Encoder(X_t)
    decoder  D_t^l = Cell(D_t^{l-1}, D_{t+1}^l)     t = T..1, starting from the encoder's last state
With attention, per layer l: A_t^l = tanh(W_A^l * E_t^l); the encoder hands E_t^l + A_t^l to step t+1
(E_t^l itself goes up to layer l+1), the decoder's output D_t^l = D̂_t^l - A_t^l goes both up and on.

The decoder starts from the state the encoder would hand to step T+1 (E_T + A_T, C_T): subtracting A_T
at decoder step T then gives back E_T, which is why the paper adds in the encoder and subtracts in the
decoder. The caller (CRRN) drives the decoder one step at a time because each step's input depends on
the previous step's reconstruction (scheduled sampling).

Spatiotemporal memory flow (CSTM only; the paper leaves C_t^0, the "layer below" of layer 1, open):
layer 1 fuses the TOP layer's cell state of the previous step, the zigzag of PredRNN's ST-LSTM, so the
memory climbs the stack within a step and comes back to the bottom at the next one:
    encoder  C_t^0 := C_{t-1}^L                  t = 2..T   (t = 1: zeros, there is no previous step)
    decoder  C_t^0 := C_{t+1}^L (decoder's own)  t = T-1..1 (t = T: the encoder's C_T^L)
    layers l >= 2: C_t^{l-1} is the layer below at the same step, as in the paper.
All of these are (B, Nc, h, w). Feeding zeros instead (the earlier choice) made layer 1's fusion weights
for the layer below, W_1x1[:, Nc:], receive no gradient at all (d/dW = grad * C_t^0 = 0): dead weights.
With the zigzag they only miss the gradient of encoder step 1. The ConvLSTM (CRAE) has no fusion and
ignores the memory from below.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from crrn.nn.attention import STAttention
from crrn.nn.cells import CellState, make_cell
from crrn.nn.config import CRRNConfig


class EncoderMemory(NamedTuple):
    states: list[CellState]  # per layer, what the encoder hands on after step T: (E_T^l [+ A_T^l], C_T^l)
    attention: list[list[torch.Tensor]] | None  # [t][l] -> A_t^l (B, 1, h, w); None without attention
    c_top: torch.Tensor  # (B, Nc, h, w) C_T^L, the zigzag input of decoder step T


class STEncoderDecoder(nn.Module):
    def __init__(self, config: CRRNConfig) -> None:
        super().__init__()
        nc, k = config.hidden_channels, config.kernel_size

        def stack() -> nn.ModuleList:
            return nn.ModuleList(
                make_cell(config.cell, nc, nc, k, config.peephole) for _ in range(config.num_layers)
            )

        self.encoder = stack()
        self.decoder = stack()
        self.attention = (
            nn.ModuleList(STAttention(nc, config.attention_kernel) for _ in range(config.num_layers))
            if config.attention
            else None
        )
        self.hidden_channels = nc

    def encode(self, z: torch.Tensor) -> EncoderMemory:
        # z: (B, T, Nc, h, w) S-Encoder features of X_1..X_T
        B, T, _, h, w = z.shape
        zeros = z.new_zeros(B, self.hidden_channels, h, w)
        states = [CellState(zeros, zeros) for _ in self.encoder]
        c_top = zeros
        maps: list[list[torch.Tensor]] = []
        for t in range(T):
            below_h, below_c = z[:, t], c_top  # C_t^0 := C_{t-1}^L (zeros at t = 1)
            maps_t: list[torch.Tensor] = []
            for layer, cell in enumerate(self.encoder):
                s = cell(below_h, states[layer], below_c)
                below_h, below_c = s.h, s.c  # E_t^l goes up without the attention term
                if self.attention is not None:
                    a = self.attention[layer](s.h)  # (B, 1, h, w)
                    maps_t.append(a)
                    s = CellState(s.h + a, s.c)  # Ê_t^l = E_t^l + rep(A_t^l), handed to step t+1
                states[layer] = s
            c_top = states[-1].c
            maps.append(maps_t)
        return EncoderMemory(states, maps if self.attention is not None else None, c_top)

    def decode_step(
        self,
        z_t: torch.Tensor,
        states: list[CellState],
        c_top: torch.Tensor,
        attention_t: list[torch.Tensor] | None,
    ) -> tuple[list[CellState], torch.Tensor]:
        # z_t: (B, Nc, h, w) S-Encoder features of this step's input frame; states: from step t+1
        # attention_t: the encoder's A_t^l per layer, or None. Returns (new states, C_t^L).
        below_h, below_c = z_t, c_top  # C_t^0 := C_{t+1}^L, at step T the encoder's C_T^L
        new_states: list[CellState] = []
        for layer, cell in enumerate(self.decoder):
            s = cell(below_h, states[layer], below_c)
            if attention_t is not None:
                s = CellState(s.h - attention_t[layer], s.c)  # D_t^l = D̂_t^l - rep(A_t^l)
            new_states.append(s)
            below_h, below_c = s.h, s.c
        return new_states, new_states[-1].c
