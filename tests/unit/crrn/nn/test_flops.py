"""FlopCounter: hand-counted multiply-accumulates of tiny layers and of a tiny CRRN."""

import pytest
import torch
from torch import nn

from crrn.nn import CRRN, CRRNConfig
from crrn.nn.flops import FlopCounter
from crrn.reconstruction import reconstruct


def count(module: nn.Module, x: torch.Tensor) -> FlopCounter:
    with FlopCounter(module) as fc:
        module(x)
    return fc


def test_conv2d_same_padding() -> None:
    # out (1, 3, 4, 5); each output cell: 2 input channels x 3 x 3 taps (border taps on zeros count)
    # MACs = 3 * 4 * 5 * 2 * 9 = 1080 -> 2160 FLOPs
    fc = count(nn.Conv2d(2, 3, 3, padding=1), torch.randn(1, 2, 4, 5))
    assert fc.total == 2160
    assert fc.calls["Conv2d"] == 1


def test_conv2d_stride2_batch2() -> None:
    # in (2, 3, 8, 6) -> out (2, 4, 4, 3); MACs = 2 * 4 * 4 * 3 * (3 * 9) = 2592 -> 5184 FLOPs
    fc = count(nn.Conv2d(3, 4, 3, stride=2, padding=1), torch.randn(2, 3, 8, 6))
    assert fc.total == 5184


def test_conv2d_groups() -> None:
    # 2 groups of 2 -> 3 channels, 1x1: each output cell reads 2 inputs; MACs = 6 * 2 * 2 * 2 = 48
    fc = count(nn.Conv2d(4, 6, 1, groups=2), torch.randn(1, 4, 2, 2))
    assert fc.total == 96


def test_conv_transpose2d() -> None:
    # in (1, 4, 3, 5) -> out (1, 2, 6, 10); every input cell scatters a 3x3 patch to each of the
    # 2 output channels: MACs = 4 * 3 * 5 * 2 * 9 = 1080 -> 2160 FLOPs
    layer = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)
    with FlopCounter(layer) as fc:
        out = layer(torch.randn(1, 4, 3, 5))
    assert out.shape == (1, 2, 6, 10)
    assert fc.total == 2160
    assert fc.calls["ConvTranspose2d"] == 1


def test_linear_and_groupnorm() -> None:
    # Linear 5 -> 3 on (2, 4, 5): 8 rows x 15 MACs = 120 -> 240 FLOPs; GroupNorm counted apart
    net = nn.Sequential(nn.Linear(5, 3), nn.GroupNorm(1, 4))
    fc = count(net, torch.randn(2, 4, 5))
    assert fc.total == 240
    assert fc.norm_elements == 2 * 4 * 3


def test_hooks_removed_after_exit() -> None:
    layer = nn.Conv2d(1, 1, 1)
    with FlopCounter(layer) as fc:
        layer(torch.randn(1, 1, 2, 2))
    layer(torch.randn(1, 1, 2, 2))
    assert fc.total == 2 * 4
    assert not layer._forward_hooks


# One layer, 4 hidden channels, 3x3, one stride-2 module, CSTM + attention, mask channel.
TINY = CRRNConfig(
    hidden_channels=4, num_layers=1, kernel_size=3, attention_kernel=3, s_layers=1, mask_channel=True
)


def tiny_crrn_macs(B: int, T: int, H: int, W: int, n: int | None = None) -> int:
    """MACs of one CRRN forward of TINY by hand (decoding the newest n boards); H, W even."""
    n = T if n is None else n
    cells = (H // 2) * (W // 2)
    nc, k2 = 4, 9
    s_enc = nc * cells * 3 * k2  # Conv2d (2 values + mask) -> 4, 3x3, stride 2, per frame
    gates = 4 * nc * cells * 2 * nc * k2  # Conv2d [x ; h] (8) -> 4 gates x 4, 3x3, per step
    fuse = nc * cells * 2 * nc  # CSTM's 1x1 over [c ; c_below] (8) -> 4, per step
    attn = 1 * cells * nc * k2  # Conv2d 4 -> 1, 3x3, per encoder step
    s_dec = nc * cells * 2 * k2  # ConvTranspose2d 4 -> 2, 3x3, stride 2, scatter count per step
    # S-encoder: T frames + n decoder inputs; cell: T encoder + n decoder steps; attention: encoder only
    return B * ((T + n) * s_enc + (T + n) * (gates + fuse) + T * attn + n * s_dec)


def test_tiny_crrn_by_hand() -> None:
    torch.manual_seed(0)
    model = CRRN(TINY).eval()
    B, T, H, W = 2, 3, 6, 8
    x = torch.randn(B, T, 2, H, W)
    mask = torch.ones(H, W, dtype=torch.bool)
    with torch.inference_mode(), FlopCounter(model) as fc:
        model(x, mask)
    # hidden grid 3 x 4 = 12 cells: S-enc 1296, gates 13824, fuse 384, attention 432, S-dec 864 MACs
    # per frame/step; B = 2: 2 * (6*1296 + 6*(13824+384) + 3*432 + 3*864) = 193,824 MACs
    assert tiny_crrn_macs(B, T, H, W) == 2 * (6 * 1296 + 6 * (13824 + 384) + 3 * 432 + 3 * 864) == 193_824
    assert fc.total == 2 * tiny_crrn_macs(B, T, H, W)
    assert fc.norm_elements == B * 2 * T * 4 * (H // 2) * (W // 2)  # the S-encoder's GroupNorm


@pytest.mark.parametrize(("level", "passes"), [(None, 1), (1.5, 2)])
def test_reconstruct_counts_both_passes(level: float | None, passes: int) -> None:
    torch.manual_seed(0)
    model = CRRN(TINY).eval()
    x = torch.randn(1, 3, 2, 6, 8)
    mask = torch.ones(6, 8, dtype=torch.bool)
    with torch.inference_mode(), FlopCounter(model) as fc:
        reconstruct(model, x, mask, level)
    assert fc.total == passes * 2 * tiny_crrn_macs(1, 3, 6, 8)


def test_reconstruct_newest_decodes_n_steps_in_pass_2() -> None:
    torch.manual_seed(0)
    model = CRRN(TINY).eval()
    x = torch.randn(1, 3, 2, 6, 8)
    mask = torch.ones(6, 8, dtype=torch.bool)
    with torch.inference_mode(), FlopCounter(model) as fc:
        reconstruct(model, x, mask, 1.5, newest=1)
    # pass 1 decodes all 3 boards, pass 2 the newest only: 3 encoder steps + 1 decoder step
    pass2 = 3 * 1296 + 1296 + 4 * (13824 + 384) + 3 * 432 + 864
    assert tiny_crrn_macs(1, 3, 6, 8, n=1) == pass2
    assert fc.total == 2 * (tiny_crrn_macs(1, 3, 6, 8) + pass2)
