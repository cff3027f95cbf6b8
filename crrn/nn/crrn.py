"""CRRN: S-Encoder -> ST-Encoder -> ST-Decoder (backwards in time) -> S-Decoder.

forward(x (B, T, C, H, W), mask, teacher_forcing, newest) -> reconstruction (B, T, C, H, W), or of the
`newest` n boards only (B, n, C, H, W).

- Any grid: H, W are zero-padded (bottom/right) to a multiple of 2**s_layers and the output is cropped.
- Mask: 1 on cells that hold a (trusted) pad. Inputs are zeroed elsewhere, so values off the pads never
  reach the network; with config.mask_channel the mask is also an input channel, so a hidden pad (mask
  0) is "unknown", not "value 0". The output is not masked: compare it with the input on pad cells only.
- Decoder input of the step that produces X'_t is the frame of step t+1: the ground truth X_{t+1} with
  probability `teacher_forcing` (per sample and step), else the model's own X'_{t+1} (detached: it
  stands in for data). For t = T it is a zero frame with an all-zero mask channel: feeding X_T there
  would hand the decoder the very board it must reconstruct, anomalies included.
- Eval mode with teacher_forcing 0 (the default) or 1 is deterministic.
- `newest=n` runs only the first n decoder steps (boards T-n+1..T): the decoder goes backwards in time, so
  those outputs never depend on the steps after them and equal the full run's. Scoring with hop 1 needs
  one of T decoder steps (crrn/reconstruction.py); the encoder still runs over all T boards.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from crrn.nn.config import CRRNConfig
from crrn.nn.s_coder import SDecoder, SEncoder
from crrn.nn.st_coder import STEncoderDecoder


class CRRN(nn.Module):
    def __init__(self, config: CRRNConfig) -> None:
        super().__init__()
        self.config = config
        s_in = config.in_channels + (1 if config.mask_channel else 0)
        self.s_encoder = SEncoder(s_in, config.hidden_channels, config.s_layers, config.kernel_size)
        self.st = STEncoderDecoder(config)
        self.s_decoder = SDecoder(
            config.hidden_channels, config.in_channels, config.s_layers, config.kernel_size
        )

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _encode_frames(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # frames: (N, C, Hp, Wp) already zero off the pads; mask: (N or 1, 1, Hp, Wp) -> (N, Nc, h, w)
        if self.config.mask_channel:
            frames = torch.cat([frames, mask.expand(frames.shape[0], -1, -1, -1)], dim=1)
        return self.s_encoder(frames)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        teacher_forcing: float = 0.0,
        newest: int | None = None,
    ) -> torch.Tensor:
        if x.ndim != 5 or x.shape[2] != self.config.in_channels:
            raise ValueError(
                f"x: expected (B, T, {self.config.in_channels}, H, W), got {tuple(x.shape)}; "
                "stack windows of T boards with the configured in_channels"
            )
        if not 0.0 <= teacher_forcing <= 1.0:
            raise ValueError(f"teacher_forcing: expected a probability in [0, 1], got {teacher_forcing}")
        B, T, _, H, W = x.shape
        n = T if newest is None else newest
        if not 1 <= n <= T:
            raise ValueError(f"newest: expected a number of boards in [1, T={T}], got {newest}")
        m = _mask_5d(mask, x)  # (B|1, T|1, 1, H, W) float
        x = x * m

        mult = self.config.grid_multiple
        pad_h, pad_w = -H % mult, -W % mult
        x = F.pad(x, (0, pad_w, 0, pad_h))  # (B, T, C, Hp, Wp)
        m = F.pad(m, (0, pad_w, 0, pad_h))  # (B|1, T|1, 1, Hp, Wp)
        Hp, Wp = H + pad_h, W + pad_w

        m_bt = m.expand(B, T, 1, Hp, Wp)
        z = self._encode_frames(x.flatten(0, 1), m_bt.flatten(0, 1)).unflatten(0, (B, T))  # (B, T, Nc, h, w)
        memory = self.st.encode(z)
        states, c_top = memory.states, memory.c_top

        outs: list[torch.Tensor] = [x.new_zeros(0)] * T
        for t in reversed(range(T - n, T)):  # decoder steps T..T-n+1 (all T unless `newest`)
            if t == T - 1:
                frame, frame_mask = torch.zeros_like(x[:, t]), torch.zeros_like(m_bt[:, t])
            else:
                frame_mask = m_bt[:, t + 1]  # (B, 1, Hp, Wp)
                frame = outs[t + 1].detach() * frame_mask  # X'_{t+1}, on the pads only
                if teacher_forcing > 0.0:
                    theta = (torch.rand(B, 1, 1, 1, device=x.device) < teacher_forcing).to(x.dtype)
                    frame = theta * x[:, t + 1] + (1.0 - theta) * frame
            attention_t = memory.attention[t] if memory.attention is not None else None
            states, c_top = self.st.decode_step(
                self._encode_frames(frame, frame_mask), states, c_top, attention_t
            )
            outs[t] = self.s_decoder(states[-1].h)  # (B, C, Hp, Wp)
        return torch.stack(outs[T - n :], dim=1)[..., :H, :W]  # (B, n, C, H, W)


def _mask_5d(mask: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    """mask (H, W) | (B|1, 1, H, W) | (B|1, T|1, 1, H, W), bool or float -> float (B|1, T|1, 1, H, W)."""
    B, T, _, H, W = x.shape
    if mask is None:
        return x.new_ones(1, 1, 1, H, W)
    m = mask
    if m.ndim == 2:
        m = m[None, None, None]
    elif m.ndim == 4:
        m = m[:, None]
    ok = (
        m.ndim == 5
        and m.shape[0] in (1, B)
        and m.shape[1] in (1, T)
        and m.shape[2] == 1
        and tuple(m.shape[3:]) == (H, W)
    )
    if not ok:
        raise ValueError(
            f"mask: expected (H, W), (B|1, 1, H, W) or (B|1, T|1, 1, H, W) with H, W = {(H, W)}, "
            f"B = {B}, T = {T}; got {tuple(mask.shape)}"
        )
    return m.to(device=x.device, dtype=x.dtype)
