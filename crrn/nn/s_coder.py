"""S-Encoder and S-Decoder: the per-board spatial coders around the recurrent core.

S-Encoder: s_layers modules of Conv(stride 2) -> FrameNorm -> ReLU, (N, C_in, H, W) -> (N, Nc, H/2^s, W/2^s).
S-Decoder: s_layers modules of TransposedConv(stride 2) -> FrameNorm -> ReLU, the last one a bare
TransposedConv back to the input channels, (N, Nc, h, w) -> (N, C_out, h*2^s, w*2^s).

Normalization (a deliberate change from the paper's BatchNorm): FrameNorm = GroupNorm with ONE group,
i.e. each frame's features are normalized by their own mean and variance over (Nc, h, w), with a learned
per-channel scale and shift, and no running statistics. Why not BatchNorm: the S-Encoder encodes three
kinds of input, the T real frames, the decoder's inputs (per sample a ground-truth frame or the model's
own reconstruction, mixed inside one batch by scheduled sampling) and an all-zero frame, and T - 1 of
every T decoder calls are reconstructions, so BatchNorm's running statistics (used at scoring) would
describe mostly reconstructions and the zero frame, not the real frames they are applied to. One
BatchNorm per input kind does not work either: teacher forcing mixes kinds within one decoder call. A
per-frame norm computes the same thing in training and scoring, for a batch of one window, and cannot be
skewed by which kind of frame shares the batch. One group (not one per channel) keeps the channels'
relative levels, so a board-wide shift of the paste level is still visible to the network after
normalization. The S-Decoder uses the same norm for the same reasons (its batch mixes teacher-forced and
free-running steps in training, only free-running ones at scoring).

Padding: kernel k (odd) with padding k//2 halves an even size exactly, and the transposed conv with the
same padding plus output_padding=1 doubles it exactly, so encoder and decoder sizes always match. The
CRRN pads every grid to a multiple of 2**s_layers before the S-Encoder and crops after the S-Decoder;
this replaces the authors' "no padding, grids of 4k+1" scheme so that any H, W works.

The last S-Decoder module has neither norm nor ReLU: the output is a normalized measurement that
can be negative and whose scale is set by the data, not by a batch statistic.
"""

from __future__ import annotations

import torch
from torch import nn


def frame_norm(channels: int) -> nn.GroupNorm:
    """Per-frame normalization over (C, h, w), no running statistics (see the module docstring)."""
    return nn.GroupNorm(1, channels)


class SEncoder(nn.Module):
    def __init__(self, in_channels: int, hidden_channels: int, num_modules: int, kernel_size: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for _ in range(num_modules):
            layers += [
                # bias is redundant before the norm's learned shift
                nn.Conv2d(
                    channels, hidden_channels, kernel_size, stride=2, padding=kernel_size // 2, bias=False
                ),
                frame_norm(hidden_channels),
                nn.ReLU(inplace=True),
            ]
            channels = hidden_channels
        if num_modules == 0:  # no downsampling: still project to the hidden width
            layers.append(nn.Conv2d(in_channels, hidden_channels, kernel_size, padding=kernel_size // 2))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (N, C_in, H, W) with H, W multiples of 2**num_modules -> (N, Nc, H/2^s, W/2^s)
        return self.net(x)


class SDecoder(nn.Module):
    def __init__(self, hidden_channels: int, out_channels: int, num_modules: int, kernel_size: int) -> None:
        super().__init__()
        pad = kernel_size // 2
        layers: list[nn.Module] = []
        for _ in range(max(num_modules - 1, 0)):
            layers += [
                nn.ConvTranspose2d(
                    hidden_channels,
                    hidden_channels,
                    kernel_size,
                    stride=2,
                    padding=pad,
                    output_padding=1,
                    bias=False,
                ),
                frame_norm(hidden_channels),
                nn.ReLU(inplace=True),
            ]
        if num_modules >= 1:
            layers.append(
                nn.ConvTranspose2d(
                    hidden_channels, out_channels, kernel_size, stride=2, padding=pad, output_padding=1
                )
            )
        else:
            layers.append(nn.Conv2d(hidden_channels, out_channels, kernel_size, padding=pad))
        self.net = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        # h: (N, Nc, h, w) -> (N, C_out, h*2^s, w*2^s)
        return self.net(h)
