"""Two-pass reconstruction: which pads are suspected, and what the second pass sees."""

from __future__ import annotations

import pytest
import torch

from crrn.nn.config import CRRNConfig
from crrn.nn.crrn import CRRN
from crrn.reconstruction import reconstruct, suspects

TINY = CRRNConfig(
    hidden_channels=4, num_layers=1, kernel_size=3, attention_kernel=3, s_layers=1, mask_channel=True
)


def tiny(config: CRRNConfig = TINY) -> CRRN:
    torch.manual_seed(0)
    return CRRN(config).eval()


def test_suspects_by_hand() -> None:
    # one window of one board, 2 channels, 1 x 3 cells; the last cell is not a pad
    x = torch.tensor([[[[[2.0, -0.5, 9.0]], [[0.0, 5.0, 0.0]]]]])  # (1, 1, 2, 1, 3)
    rec = torch.tensor([[[[[0.4, 0.5, 0.0]], [[0.0, 0.0, 0.0]]]]])
    mask = torch.tensor([[True, True, False]])
    # volume |x - rec| = 1.6, 1.0, (9.0 off the pads); the height channel never counts
    assert suspects(x, rec, mask, 1.5).tolist() == [[[[True, False, False]]]]
    assert suspects(x, rec, mask, 1.0).tolist() == [[[[True, True, False]]]]


def test_no_level_is_one_pass_and_an_unreachable_level_hides_nothing() -> None:
    model = tiny()
    x = torch.randn(2, 3, 2, 6, 8, generator=torch.Generator().manual_seed(1))
    mask = torch.rand(6, 8, generator=torch.Generator().manual_seed(2)) > 0.3
    x = x * mask
    with torch.inference_mode():
        one = model(x, mask)
        torch.testing.assert_close(reconstruct(model, x, mask, None), one)
        # nothing reaches 1e9: pass 2 sees the same pads with a per-board mask of the same cells
        torch.testing.assert_close(reconstruct(model, x, mask, 1e9), one)


def test_hidden_pads_enter_the_second_pass_as_unknown_and_the_further_pass_wins() -> None:
    model = tiny()
    x = torch.randn(1, 3, 2, 6, 8, generator=torch.Generator().manual_seed(3))
    mask = torch.ones(6, 8, dtype=torch.bool)
    x[0, :, 0, 2, 3] = 50.0  # one pad far off on every board: suspected everywhere
    with torch.inference_mode():
        first = model(x, mask)
        hidden = suspects(x, first, mask, 10.0)
        assert hidden[0, :, 2, 3].all()
        assert int(hidden.sum()) == 3
        keep = torch.ones(1, 3, 1, 6, 8)
        keep[0, :, 0, 2, 3] = 0.0
        second = model(x * keep, keep)
        out = reconstruct(model, x, mask, 10.0)
        x2 = x.clone()
        x2[0, :, 0, 2, 3] = -50.0
        second2 = model(x2 * keep, keep)
    # the hidden pad's own value does not reach the second pass
    torch.testing.assert_close(second2, second)
    # per pad and board, all channels come from the pass whose volume lies further from the input
    d1 = (x[:, :, 0] - first[:, :, 0]).abs()
    d2 = (x[:, :, 0] - second[:, :, 0]).abs()
    assert (d1 != d2).any()
    expected = torch.where((d1 > d2)[:, :, None], first, second)
    torch.testing.assert_close(out, expected)
    score = (x - out)[:, :, 0].abs()
    torch.testing.assert_close(score, torch.maximum(d1, d2))


def test_hiding_needs_the_mask_channel() -> None:
    model = tiny(CRRNConfig(hidden_channels=4, num_layers=1, kernel_size=3, attention_kernel=3, s_layers=1))
    x = torch.zeros(1, 2, 2, 4, 4)
    with pytest.raises(ValueError, match="mask_channel"):
        reconstruct(model, x, torch.ones(4, 4, dtype=torch.bool), 1.5)


@pytest.mark.parametrize("level", [None, 0.3])
@pytest.mark.parametrize("newest", [1, 2, 4])
def test_newest_boards_only_equal_the_full_call_there(level: float | None, newest: int) -> None:
    # the decoder runs backwards in time: its first n steps never see the later ones
    model = tiny(CRRNConfig(**{**TINY.to_dict(), "num_layers": 2}))
    x = torch.randn(3, 4, 2, 6, 8, generator=torch.Generator().manual_seed(5))
    mask = torch.rand(6, 8, generator=torch.Generator().manual_seed(6)) > 0.3
    with torch.inference_mode():
        full = reconstruct(model, x, mask, level)  # (3, 4, 2, 6, 8)
        part = reconstruct(model, x, mask, level, newest=newest)
    assert part.shape == (3, newest, 2, 6, 8)
    torch.testing.assert_close(part, full[:, -newest:])
    if level is not None:  # the level hides something here, so both passes matter
        assert suspects(x, model(x, mask), mask, level).any()


def test_newest_out_of_range_names_the_argument() -> None:
    x = torch.zeros(1, 3, 2, 4, 4)
    with pytest.raises(ValueError, match="newest"):
        tiny()(x, None, newest=4)
    with pytest.raises(ValueError, match="newest"):
        tiny()(x, None, newest=0)
