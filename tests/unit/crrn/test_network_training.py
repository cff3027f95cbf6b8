"""Training loop: loss on pads only, corruption, early stopping, a tiny model that learns."""

from dataclasses import replace

import pytest
import torch

from crrn.network_training import TrainConfig, corrupt, fit, masked_mse, step_loss
from crrn.nn.config import CRRNConfig
from crrn.nn.crrn import CRRN

TINY = CRRNConfig(
    hidden_channels=4, num_layers=1, kernel_size=3, attention_kernel=3, s_layers=1, mask_channel=True
)
CLEAN_ONLY = TrainConfig(
    noise_fraction=0.0, keep_prob=1.0, anomaly_board_prob=0.0, structured_prob=0.0, hide_fraction=0.0
)


def pad_mask(h: int = 8, w: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.rand(h, w, generator=torch.Generator().manual_seed(seed)) > 0.4


def test_masked_mse_by_hand():
    recon = torch.zeros(1, 1, 1, 2, 2)
    target = torch.tensor([[1.0, 2.0], [3.0, 100.0]]).view(1, 1, 1, 2, 2)
    mask = torch.tensor([[True, True], [False, False]])
    assert masked_mse(recon, target, mask).item() == pytest.approx((1 + 4) / 2)


def test_corrupt_with_everything_off_returns_the_clean_pads():
    x = torch.randn(2, 3, 2, 8, 8)
    mask = pad_mask()
    out, m_in = corrupt(x, mask, CLEAN_ONLY, torch.Generator().manual_seed(0))
    assert torch.equal(out, x * mask)
    assert torch.equal(m_in, mask.float().expand(2, 3, 1, 8, 8))


def test_corrupt_leaves_non_pad_cells_zero():
    cfg = TrainConfig(noise_fraction=1.0, anomaly_board_prob=1.0, hide_fraction=0.3)
    out, m_in = corrupt(torch.randn(2, 3, 2, 8, 8), pad_mask(), cfg, torch.Generator().manual_seed(0))
    assert (out[..., ~pad_mask()] == 0).all()
    assert (m_in[..., ~pad_mask()] == 0).all()


def test_anomaly_corruption_shifts_a_fraction_of_pads_with_one_sign_per_board():
    cfg = replace(
        CLEAN_ONLY,
        anomaly_board_prob=1.0,
        anomaly_max_ratio=0.5,
        anomaly_mu=(2.0, 5.0),
        anomaly_sigma=0.1,
        anomaly_volume_only_prob=0.0,
        anomaly_height_only_prob=0.0,
    )
    x = torch.zeros(64, 2, 2, 16, 16)
    mask = torch.ones(16, 16, dtype=torch.bool)
    out, _ = corrupt(x, mask, cfg, torch.Generator().manual_seed(0))
    shifted = out[:, :, 0] != 0  # (B, T, H, W)
    assert torch.equal(shifted, out[:, :, 1] != 0)  # same pads in both channels
    ratios = shifted.float().mean(dim=(-1, -2))
    assert ratios.max() <= 0.6
    assert ratios.mean() == pytest.approx(0.25, abs=0.05)  # U(0, 0.5) on average
    values = out[:, :, 0][shifted].abs()
    assert values.min() > 1.5
    assert values.max() < 5.5
    signs = torch.sign(out[:, :, 0]).flatten(2)
    for board in signs.flatten(0, 1):
        assert len(set(board[board != 0].tolist())) <= 1


def test_volume_only_anomalies_leave_the_height_channel_alone():
    # every board anomalous, 40 % of pads; with probability 1 the shift is on channel 0 only, with
    # probability 0.5 about half of the boards (of 256) also shift channel 1 at the same pads
    base = replace(
        CLEAN_ONLY,
        anomaly_board_prob=1.0,
        anomaly_max_ratio=0.8,
        anomaly_mu=(3.0, 3.0),
        anomaly_height_only_prob=0.0,
    )
    x = torch.zeros(64, 4, 2, 8, 8)
    mask = torch.ones(8, 8, dtype=torch.bool)
    out, _ = corrupt(x, mask, replace(base, anomaly_volume_only_prob=1.0), torch.Generator().manual_seed(0))
    assert (out[:, :, 0] != 0).any()
    assert (out[:, :, 1] == 0).all()
    out, _ = corrupt(x, mask, replace(base, anomaly_volume_only_prob=0.5), torch.Generator().manual_seed(0))
    vol_hit = (out[:, :, 0] != 0).flatten(2).any(-1)  # (B, T): board has a shifted pad
    height_hit = (out[:, :, 1] != 0).flatten(2).any(-1)
    assert not (height_hit & ~vol_hit).any()  # height never moves alone
    share_volume_only = (vol_hit & ~height_hit).sum() / vol_hit.sum()
    assert 0.4 < float(share_volume_only) < 0.6
    both = height_hit[..., None, None] & (out[:, :, 0] != 0)  # (B, T, H, W) pads of "both" boards
    assert torch.equal(out[:, :, 0][both], out[:, :, 1][both])  # same shift in both channels
    only_height = replace(base, anomaly_volume_only_prob=0.0, anomaly_height_only_prob=1.0)
    out, _ = corrupt(x, mask, only_height, torch.Generator().manual_seed(0))
    assert (out[:, :, 0] == 0).all()
    assert (out[:, :, 1] != 0).any()


def test_dropout_mask_is_resampled_per_step():
    cfg = replace(CLEAN_ONLY, keep_prob=0.5)
    x = torch.ones(1, 4, 2, 8, 8)
    out, _ = corrupt(x, torch.ones(8, 8, dtype=torch.bool), cfg, torch.Generator().manual_seed(0))
    zeros = out == 0
    assert not torch.equal(zeros[:, 0], zeros[:, 1])


def test_training_loss_counts_pad_cells_only():
    torch.manual_seed(0)
    model = CRRN(TINY).train()
    mask = pad_mask()
    clean = torch.randn(3, 3, 2, 8, 8)
    other = clean.clone()
    other[..., ~mask] = torch.randn_like(other[..., ~mask]) * 10
    cfg = TrainConfig()
    losses = []
    for data in (clean, other):
        torch.manual_seed(1)  # teacher forcing draws
        losses.append(step_loss(model, data, mask, cfg, 0.5, torch.Generator().manual_seed(2)).item())
    assert losses[0] == losses[1]


def smooth_windows(n: int, t: int = 3, size: int = 8) -> torch.Tensor:
    """Normal data with structure a model can learn: a fixed spatial pattern plus per-board offsets."""
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    pattern = torch.stack([torch.sin(xx / 2.0), torch.cos(yy / 3.0)])  # (2, H, W)
    offsets = torch.randn(n, t, 1, 1, 1, generator=g) * 0.5
    return pattern + offsets


def test_tiny_model_learns_a_tiny_dataset():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = CRRN(TINY)
    mask = pad_mask()
    cfg = replace(CLEAN_ONLY, epochs=40, batch_size=4, lr=1e-2, patience=40)
    result = fit(model, smooth_windows(8), smooth_windows(4), mask, cfg, progress=False)
    first, best = result.history[0].val_loss, result.best_val_loss
    assert best < 0.3 * first
    assert not model.training


def test_early_stopping_on_patience():
    cfg = replace(CLEAN_ONLY, epochs=20, batch_size=4, patience=2, min_delta=1e9)
    result = fit(CRRN(TINY), smooth_windows(8), None, pad_mask(), cfg, progress=False)
    assert (result.epochs, result.stopped_early, result.stop_reason) == (3, True, "patience")


def test_max_seconds_stops_after_the_first_batch():
    cfg = replace(CLEAN_ONLY, epochs=20, batch_size=4, max_seconds=0.0)
    result = fit(CRRN(TINY), smooth_windows(8), None, pad_mask(), cfg, progress=False)
    assert (result.epochs, result.stop_reason) == (1, "max_seconds")


def test_fit_rejects_a_mask_of_the_wrong_shape():
    with pytest.raises(ValueError, match="mask"):
        fit(CRRN(TINY), smooth_windows(8), None, pad_mask(8, 9), CLEAN_ONLY, progress=False)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("keep_prob", 1.5),
        ("epochs", 0),
        ("lr", 0.0),
        ("val_fraction", 1.0),
        ("anomaly_volume_only_prob", -0.1),
        ("anomaly_height_only_prob", 0.6),  # + volume-only 0.5 > 1
        ("min_delta", -1.0),
        ("anomaly_mu", (-1.0, 2.0)),
    ],
)
def test_train_config_names_bad_fields(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})


def test_structured_corruption_shifts_a_region_on_the_share_of_windows_and_stays_on_pads():
    mask = pad_mask(16, 16)
    cfg = replace(CLEAN_ONLY, structured_prob=0.5)
    x = torch.zeros(400, 4, 2, 16, 16)
    out, _ = corrupt(x, mask, cfg, torch.Generator().manual_seed(0))
    assert (out[..., ~mask] == 0).all()
    shifted = (out != 0).flatten(1).any(dim=1).float().mean().item()
    assert 0.40 <= shifted <= 0.55  # 0.5 of the windows, minus the rare region that misses every pad


def test_structured_prob_out_of_range_names_the_field():
    with pytest.raises(ValueError, match="structured_prob"):
        TrainConfig(structured_prob=1.5)
    with pytest.raises(ValueError, match="structured_mu"):
        TrainConfig(structured_mu=(6.0, 2.0))


def test_hide_suspects_hides_exactly_the_pads_the_corruption_moved() -> None:
    base = replace(
        CLEAN_ONLY,
        anomaly_board_prob=1.0,
        anomaly_max_ratio=0.5,
        anomaly_mu=(1.0, 3.0),
        structured_prob=1.0,
        hide_level=1.5,
    )
    clean = torch.randn(4, 3, 2, 8, 8, generator=torch.Generator().manual_seed(5))
    mask = pad_mask()
    shown, m_shown = corrupt(clean, mask, base, torch.Generator().manual_seed(0))
    hidden, m_hidden = corrupt(
        clean, mask, replace(base, hide_suspects_prob=1.0), torch.Generator().manual_seed(0)
    )
    # the same draws: nothing is zeroed (keep_prob 1), so `shown` is the corrupted window on the pads
    moved = ((shown - clean * mask)[:, :, :1].abs() >= 1.5) & mask  # (B, T, 1, H, W)
    assert moved.any()
    assert (~moved & mask).any()
    assert torch.equal(m_hidden, m_shown * (~moved).float())
    assert torch.equal(hidden, shown * m_hidden)


def test_hide_suspects_prob_zero_changes_nothing_and_bad_values_are_named() -> None:
    cfg = replace(CLEAN_ONLY, anomaly_board_prob=1.0, structured_prob=1.0)
    clean = torch.randn(2, 3, 2, 8, 8)
    a = corrupt(clean, pad_mask(), cfg, torch.Generator().manual_seed(0))
    b = corrupt(clean, pad_mask(), replace(cfg, hide_level=0.1), torch.Generator().manual_seed(0))
    assert torch.equal(a[0], b[0])
    assert torch.equal(a[1], b[1])
    with pytest.raises(ValueError, match="hide_suspects_prob"):
        TrainConfig(hide_suspects_prob=2.0)
    with pytest.raises(ValueError, match="hide_level"):
        TrainConfig(hide_level=0.0)
