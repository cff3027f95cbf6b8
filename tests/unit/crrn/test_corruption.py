"""Structured training shifts: shape, pads only, seeded, the share of corrupted windows, one region."""

import pytest
import torch

from crrn.corruption import structured_shift


def pad_mask(h: int = 16, w: int = 24, seed: int = 0) -> torch.Tensor:
    return torch.rand(h, w, generator=torch.Generator().manual_seed(seed)) > 0.3


def shift(prob: float = 1.0, seed: int = 0, b: int = 64, volume_only_prob: float = 0.0, mask=None):
    mask = pad_mask() if mask is None else mask
    h, w = mask.shape
    return structured_shift(
        (b, 6, 2, h, w), mask, prob, (2.0, 6.0), 0.1, volume_only_prob, torch.Generator().manual_seed(seed)
    )


def test_shape_and_zero_off_the_pads():
    s = shift()
    assert s.shape == (64, 6, 2, 16, 24)
    assert (s[..., ~pad_mask()] == 0).all()


def test_seeded_determinism():
    assert torch.equal(shift(seed=3), shift(seed=3))
    assert not torch.equal(shift(seed=3), shift(seed=4))


def test_prob_zero_gives_no_shift():
    assert (shift(prob=0.0) == 0).all()


def test_share_of_corrupted_windows_follows_prob():
    # 2,000 windows at prob 0.3: binomial sd ~0.01, so 0.25-0.35 fails only for a broken draw
    # (a window can draw an empty region when a thin stripe misses every pad, so use a full mask)
    s = shift(prob=0.3, b=2000, mask=torch.ones(16, 24, dtype=torch.bool))
    share = (s != 0).flatten(1).any(dim=1).float().mean().item()
    assert 0.25 <= share <= 0.35


def test_one_region_and_one_sign_per_window_with_sizes_in_range():
    s = shift(b=200, mask=torch.ones(16, 24, dtype=torch.bool))
    vol = s[:, :, 0]  # (B, T, H, W)
    for w in range(len(s)):
        nz = vol[w][vol[w] != 0]
        if nz.numel() == 0:
            continue
        assert (nz > 0).all() or (nz < 0).all()  # one sign: |size| >= 2 dwarfs sigma = 0.1
        assert nz.abs().max() <= 6.0 + 1.0  # size <= 6 plus noise (10 sigma)
        # the region is the same cells on every frame the shift acts on
        frames = vol[w] != 0  # (T, H, W)
        active = frames.flatten(1).any(dim=1)
        assert torch.equal(frames[active], frames[active][:1].expand_as(frames[active]))
    area = (vol != 0).any(dim=1).float().mean(dim=(-1, -2))
    assert area.max() <= 0.65  # the largest shape (a 0.8 x 0.8 rectangle) covers 64 % of the grid
    assert area.max() >= 0.2  # large regions occur


def test_volume_only_windows_leave_the_other_channels_alone():
    s = shift(volume_only_prob=1.0)
    assert (s[:, :, 1] == 0).all()
    assert (s[:, :, 0] != 0).any()
    both = shift(volume_only_prob=0.0)
    assert torch.equal(both[:, :, 0] != 0, both[:, :, 1] != 0)


def test_sizes_cover_the_range_and_both_signs():
    s = shift(b=500, mask=torch.ones(8, 8, dtype=torch.bool))[:, :, 0]
    means = torch.stack([v[v != 0].mean() for v in s if (v != 0).any()])
    assert (means > 0).any()
    assert (means < 0).any()
    # a ramp can shrink a window's shift toward 0; persistent/parity windows keep |size| in [2, 6]
    assert means.abs().max() <= 6.1
    assert means.abs().max() >= 5.0


def test_bad_probability_is_not_silently_accepted():
    with pytest.raises(ValueError, match="prob"):
        shift(prob=1.5)
