"""S-Encoder / S-Decoder sizes and the last module's form."""

import pytest
import torch
from torch import nn

from crrn.nn.s_coder import SDecoder, SEncoder


@pytest.mark.parametrize(
    ("modules", "kernel", "size"), [(2, 5, (16, 24)), (2, 3, (4, 8)), (3, 3, (8, 16)), (1, 5, (2, 6))]
)
def test_encoder_halves_and_decoder_doubles_exactly(modules, kernel, size):
    enc, dec = SEncoder(2, 6, modules, kernel), SDecoder(6, 2, modules, kernel)
    x = torch.randn(3, 2, *size)
    z = enc(x)
    assert z.shape == (3, 6, size[0] // 2**modules, size[1] // 2**modules)
    assert dec(z).shape == x.shape


def test_encoder_modules_are_conv_bn_relu():
    kinds = [type(m) for m in SEncoder(2, 4, 2, 3).net]
    assert kinds == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU] * 2


def test_decoder_last_module_is_a_bare_transposed_conv():
    kinds = [type(m) for m in SDecoder(4, 2, 2, 3).net]
    assert kinds == [nn.ConvTranspose2d, nn.BatchNorm2d, nn.ReLU, nn.ConvTranspose2d]


def test_decoder_output_can_be_negative():
    torch.manual_seed(0)
    assert (SDecoder(4, 2, 2, 3)(torch.randn(2, 4, 3, 3)) < 0).any()
