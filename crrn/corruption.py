"""Spatially structured training shifts: regional anomalies the network must learn NOT to reconstruct.

The random-pad corruption of `crrn.network_training.corrupt` (Experiment 1's injection) teaches the network to
rebuild isolated outliers from their neighbours. Printer defects (Experiment 2) look different: a large,
contiguous region (a blob, a stripe along the print direction, the board's edges) shifted by the same
amount on every board of the window, or on every second board (one squeegee blade). A network that only
ever saw random pads learns that shared regional variation is normal and reconstructs such a region,
which hides the defect in the anomaly map. These shifts are added to some training windows while the
loss stays against the CLEAN window, so the network learns to output the normal board under them.

They are synthetic corruptions of normal boards: training still uses normal data only, no defect run
and no defect label (the shapes are generic, not the simulator's defect masks).

Per corrupted window (everything drawn once per window, vectorized over the batch):
  - shape: rectangle, ellipse (3-64 % of the grid), a row or column stripe (4-20 % of the grid),
    or an edge band (the first and/or last rows or columns, 5-15 % of the grid side each);
  - fill: every pad in the region, or (half of the windows) a random U(0.3, 1) share of them;
  - time: the same shift on all T frames, on the frames of one parity only, or ramping linearly
    between two levels in U(0, 1) (a growing or fading defect);
  - size: sign * U(mu) + N(0, sigma^2) per pad, one sign per window; channels: volume (channel 0) only
    with probability `volume_only_prob`, else every channel.
"""

from __future__ import annotations

import torch

N_SHAPES = 5  # rectangle, ellipse, row stripe, column stripe, edge band


def structured_shift(
    shape: tuple[int, int, int, int, int],
    mask: torch.Tensor,
    prob: float,
    mu: tuple[float, float],
    sigma: float,
    volume_only_prob: float,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Additive shift (B, T, C, H, W) for windows of `shape`: a structured region on a `prob` share of
    the windows, zero elsewhere and on non-pad cells (`mask` (H, W) bool)."""
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"structured prob: expected a value in [0, 1], got {prob}")
    if not 0.0 <= mu[0] <= mu[1]:
        raise ValueError(f"structured mu: expected (low, high) with 0 <= low <= high, got {mu}")
    B, T, C, H, W = shape
    dev = mask.device

    def rand(*s: int) -> torch.Tensor:
        return torch.rand(*s, generator=generator, device=dev, dtype=dtype)

    rows = (torch.arange(H, device=dev, dtype=dtype) + 0.5) / H  # (H,) cell centres in [0, 1]
    cols = (torch.arange(W, device=dev, dtype=dtype) + 0.5) / W  # (W,)
    r = rows[None, :, None]  # (1, H, 1)
    c = cols[None, None, :]  # (1, 1, W)

    def b(v: torch.Tensor) -> torch.Tensor:  # (B,) -> (B, 1, 1)
        return v[:, None, None]

    # rectangle / ellipse: half-sizes give an area of ~3-64 % of the grid
    hr, hc = 0.1 + 0.3 * rand(B), 0.1 + 0.3 * rand(B)  # half height / half width, (B,)
    cr, cc = rand(B), rand(B)  # centres, (B,)
    rect = ((r - b(cr)).abs() <= b(hr)) & ((c - b(cc)).abs() <= b(hc))  # (B, H, W)
    ellipse = ((r - b(cr)) / b(hr)) ** 2 + ((c - b(cc)) / b(hc)) ** 2 <= 1.0
    # stripes: a band of rows or of columns, 4-20 % of the grid, full length
    half = 0.02 + 0.08 * rand(B)
    row_stripe = ((r - b(cr)).abs() <= b(half)).expand(B, H, W)
    col_stripe = ((c - b(cc)).abs() <= b(half)).expand(B, H, W)
    # edge band: first and/or last rows (or columns), 5-15 % of the side each
    depth = 0.05 + 0.10 * rand(B)
    which = (rand(B) * 3).long()  # 0: low edge, 1: high edge, 2: both
    low, high = b((which != 1).to(dtype)), b((which != 0).to(dtype))
    along_rows = b(rand(B) < 0.5)

    def band(u: torch.Tensor) -> torch.Tensor:
        return ((u < b(depth)) & (low > 0)) | ((u > 1.0 - b(depth)) & (high > 0))

    edge = torch.where(along_rows, band(r).expand(B, H, W), band(c).expand(B, H, W))

    kind = (rand(B) * N_SHAPES).long()  # (B,)
    shapes = torch.stack([rect, ellipse, row_stripe, col_stripe, edge], dim=1)  # (B, 5, H, W)
    region = shapes.gather(1, kind[:, None, None, None].expand(B, 1, H, W))[:, 0]  # (B, H, W)
    # fill: all pads of the region, or a random share of them
    fill = torch.where(rand(B) < 0.5, torch.ones(B, device=dev, dtype=dtype), 0.3 + 0.7 * rand(B))
    region = region & (rand(B, H, W) < b(fill)) & mask.to(dev)[None]
    hit = rand(B) < prob  # (B,) windows that get a structured shift
    region = region & b(hit)

    # time profile (B, T): persistent, one parity, or a linear ramp between two levels
    t = torch.arange(T, device=dev, dtype=dtype)[None]  # (1, T)
    parity = ((t.long() % 2) == (rand(B) < 0.5).long()[:, None]).to(dtype)  # (B, T)
    a, z = rand(B, 1), rand(B, 1)
    ramp = a + (z - a) * t / max(T - 1, 1)  # (B, T)
    profile_kind = rand(B, 1)
    profile = torch.where(
        profile_kind < 0.5, torch.ones_like(ramp), torch.where(profile_kind < 0.75, parity, ramp)
    )

    lo, hi = mu
    sign = torch.where(rand(B) < 0.5, -1.0, 1.0).to(dtype)
    size = sign * (lo + (hi - lo) * rand(B))  # (B,)
    volume_only = (rand(B) < volume_only_prob).to(dtype)  # (B,)
    channels = torch.ones(B, C, device=dev, dtype=dtype)
    channels[:, 1:] = 1.0 - volume_only[:, None]  # (B, C)

    amount = size[:, None, None, None, None] + sigma * torch.randn(
        B, T, 1, H, W, generator=generator, device=dev, dtype=dtype
    )  # (B, T, 1, H, W)
    return (
        amount
        * profile[:, :, None, None, None]  # (B, T, 1, 1, 1)
        * channels[:, None, :, None, None]  # (B, 1, C, 1, 1)
        * region[:, None, None].to(dtype)  # (B, 1, 1, H, W)
    )


__all__ = ["structured_shift"]
