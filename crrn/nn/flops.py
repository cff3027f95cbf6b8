"""FLOPs a network's dense layers execute, counted from the layers themselves while it runs.

    with FlopCounter(model) as fc:
        model(x)                # any number of calls, e.g. both passes of crrn.reconstruction
    fc.total                    # FLOPs of the Conv2d / ConvTranspose2d / Linear layers = 2 x MACs

Convention (the usual one, e.g. of the papers' "GFLOPs" tables): one multiply-accumulate = 2 FLOPs,
bias additions are not counted, zero padding taps are counted (the kernels execute them).
    Conv2d           MACs = N * C_out * H_out * W_out * (C_in / groups) * kh * kw
    ConvTranspose2d  MACs = N * C_in  * H_in  * W_in  * (C_out / groups) * kh * kw
                     (every input cell scatters a kh x kw patch to every output channel; taps landing in
                     the cropped border are counted too)
    Linear           MACs = (elements of the input / in_features) * in_features * out_features

Not counted, and reported separately where it is cheap to know: GroupNorm (`norm_elements`, the elements
it normalizes, ~5-8 FLOPs each) and every elementwise op that is not a module (the LSTM gates' sigmoid,
tanh and products, additions, concatenation, padding). For the CRRN these are a few per cent of the
convolutions' FLOPs (16+ channels, 3x3+ kernels), so `total` is the work that a convolution ceiling
measures, which is what benchmarks/bench_model.py compares it with.
"""

from __future__ import annotations

from collections import defaultdict
from types import TracebackType
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle


def conv2d_macs(module: nn.Conv2d, out: torch.Tensor) -> int:
    """MACs of one Conv2d call with output `out` (N, C_out, H_out, W_out)."""
    n, c_out, h_out, w_out = _nchw(out)
    kh, kw = module.kernel_size
    return n * c_out * h_out * w_out * (module.in_channels // module.groups) * kh * kw


def conv_transpose2d_macs(module: nn.ConvTranspose2d, inp: torch.Tensor) -> int:
    """MACs of one ConvTranspose2d call with input `inp` (N, C_in, H_in, W_in)."""
    n, c_in, h_in, w_in = _nchw(inp)
    kh, kw = module.kernel_size
    return n * c_in * h_in * w_in * (module.out_channels // module.groups) * kh * kw


def linear_macs(module: nn.Linear, inp: torch.Tensor) -> int:
    """MACs of one Linear call with input `inp` (..., in_features)."""
    rows = inp.numel() // module.in_features
    return rows * module.in_features * module.out_features


def _nchw(t: torch.Tensor) -> tuple[int, int, int, int]:
    if t.ndim == 3:  # unbatched (C, H, W)
        return 1, t.shape[0], t.shape[1], t.shape[2]
    if t.ndim != 4:
        raise ValueError(f"FlopCounter: expected a (N, C, H, W) or (C, H, W) tensor, got {tuple(t.shape)}")
    n, c, h, w = t.shape
    return n, c, h, w


class FlopCounter:
    """Forward hooks on every Conv2d / ConvTranspose2d / Linear / GroupNorm of `model` while in `with`."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.by_type: dict[str, int] = defaultdict(int)  # layer type -> FLOPs (2 x MACs)
        self.calls: dict[str, int] = defaultdict(int)  # layer type -> forward calls
        self.norm_elements = 0  # elements normalized by GroupNorm layers (not in `total`)
        self._handles: list[RemovableHandle] = []

    @property
    def total(self) -> int:
        """FLOPs of the dense layers (2 x MACs), all calls since the counter was entered."""
        return sum(self.by_type.values())

    def __enter__(self) -> FlopCounter:
        for module in self.model.modules():
            if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear | nn.GroupNorm):
                self._handles.append(module.register_forward_hook(self._hook))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, module: nn.Module, args: tuple[Any, ...], out: torch.Tensor) -> None:
        inp = args[0]
        name = type(module).__name__
        if isinstance(module, nn.GroupNorm):
            self.norm_elements += inp.numel()
            return
        if isinstance(module, nn.ConvTranspose2d):  # before Conv2d: not a subclass, but be explicit
            macs = conv_transpose2d_macs(module, inp)
        elif isinstance(module, nn.Conv2d):
            macs = conv2d_macs(module, out)
        else:
            assert isinstance(module, nn.Linear)
            macs = linear_macs(module, inp)
        self.by_type[name] += 2 * macs
        self.calls[name] += 1


__all__ = ["FlopCounter", "conv2d_macs", "conv_transpose2d_macs", "linear_macs"]
