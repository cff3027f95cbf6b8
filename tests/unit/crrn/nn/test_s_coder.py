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


def test_encoder_modules_are_conv_norm_relu_without_running_statistics():
    net = SEncoder(2, 4, 2, 3).net
    assert [type(m) for m in net] == [nn.Conv2d, nn.GroupNorm, nn.ReLU] * 2
    assert all(m.num_groups == 1 for m in net if isinstance(m, nn.GroupNorm))
    assert list(net.buffers()) == []  # nothing learned from the batches it saw


def test_decoder_last_module_is_a_bare_transposed_conv():
    kinds = [type(m) for m in SDecoder(4, 2, 2, 3).net]
    assert kinds == [nn.ConvTranspose2d, nn.GroupNorm, nn.ReLU, nn.ConvTranspose2d]


def test_a_frame_is_encoded_the_same_whatever_shares_its_batch_and_in_train_or_eval():
    # the reason for the per-frame norm: a real frame's code must not depend on the reconstructions or
    # the zero frame encoded with it, nor differ between training and scoring
    torch.manual_seed(0)
    enc = SEncoder(2, 4, 2, 3)
    real = torch.randn(1, 2, 8, 8)
    others = torch.cat([torch.zeros(1, 2, 8, 8), 5 * torch.randn(3, 2, 8, 8)])
    enc.train()
    in_batch = enc(torch.cat([real, others]))[:1]
    enc.eval()
    torch.testing.assert_close(in_batch, enc(real))


def test_per_frame_norm_keeps_a_board_wide_level_shift_visible():
    # one group over all channels: a level shift of the whole frame changes the code (a per-channel norm
    # would remove each channel's mean, and with it most of such a shift)
    torch.manual_seed(0)
    enc = SEncoder(2, 4, 1, 3).eval()
    mask = (torch.rand(1, 1, 8, 8) > 0.3).float()
    x = torch.randn(1, 2, 8, 8) * mask
    assert (enc(x + 2.0 * mask) - enc(x)).abs().max() > 0.1


def test_decoder_output_can_be_negative():
    torch.manual_seed(0)
    assert (SDecoder(4, 2, 2, 3)(torch.randn(2, 4, 3, 3)) < 0).any()
