"""S-Encoder and S-Decoder: the per-board spatial coders around the recurrent core.

S-Encoder: s_layers modules of Conv(stride 2) -> BatchNorm -> ReLU, (N, C_in, H, W) -> (N, Nc, H/2^s, W/2^s).
S-Decoder: s_layers modules of TransposedConv(stride 2) -> BatchNorm -> ReLU, the last one a bare
TransposedConv back to the input channels, (N, Nc, h, w) -> (N, C_out, h*2^s, w*2^s).

Padding: kernel k (odd) with padding k//2 halves an even size exactly, and the transposed conv with the
same padding plus output_padding=1 doubles it exactly, so encoder and decoder sizes always match. The
CRRN pads every grid to a multiple of 2**s_layers before the S-Encoder and crops after the S-Decoder;
this replaces the authors' "no padding, grids of 4k+1" scheme so that any H, W works.

The last S-Decoder module has neither BatchNorm nor ReLU: the output is a normalized measurement that
can be negative and whose scale is set by the data, not by a batch statistic.
"""

from __future__ import annotations

import torch
from torch import nn


class SEncoder(nn.Module):
    def __init__(self, in_channels: int, hidden_channels: int, num_modules: int, kernel_size: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for _ in range(num_modules):
            layers += [
                # bias is redundant before BatchNorm
                nn.Conv2d(
                    channels, hidden_channels, kernel_size, stride=2, padding=kernel_size // 2, bias=False
                ),
                nn.BatchNorm2d(hidden_channels),
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
                nn.BatchNorm2d(hidden_channels),
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
