"""The normal process: cleaning period and blade alternation in the board mean; context carries signal."""

from __future__ import annotations

import numpy as np

from crrn.sim.fleet import FleetSpec, build_printers, simulate_fleet


def _normalized(spec: FleetSpec, seed: int) -> tuple[np.ndarray, np.ndarray]:
    process = build_printers(spec, seed)[0].process
    pairs = list(simulate_fleet(spec, seed))
    volume = np.stack([b.pads.volume_pct for b, _ in pairs])  # (T, P)
    t = np.array([b.print_index for b, _ in pairs])
    return (volume - process.pad_mean) / process.pad_std, t


def test_pad_mean_and_std_match_the_simulated_data() -> None:
    z, _ = _normalized(FleetSpec(pads=300, boards_per_printer=400), seed=4)
    assert abs(float(z.mean())) < 0.1  # per-pad mean is exact up to sampling noise
    assert 0.85 < float(z.std(axis=0).mean()) < 1.15


def test_cleaning_period_and_blade_alternation() -> None:
    K = 8
    z, t = _normalized(FleetSpec(pads=300, boards_per_printer=320, cleaning_interval=K), seed=1)
    mean = z.mean(axis=1)  # (T,) board mean
    # Blades: forward (odd) prints sit above backward (even) prints by ~2 * blade_offset.
    assert mean[t % 2 == 1].mean() - mean[t % 2 == 0].mean() > 0.4
    # Cleaning: after removing the blade term, the periodogram peaks at period K.
    resid = mean - np.where(t % 2 == 1, mean[t % 2 == 1].mean(), mean[t % 2 == 0].mean())
    power = np.abs(np.fft.rfft(resid - resid.mean())) ** 2
    freqs = np.fft.rfftfreq(resid.size)
    assert abs(1.0 / freqs[np.argmax(power[1:]) + 1] - K) < 0.5


def test_neighbours_carry_information() -> None:
    """Pads of one package share part of their deviation (context helps; a history z-score can't use it)."""
    spec = FleetSpec(pads=400, boards_per_printer=200)
    printer = build_printers(spec, 2)[0]
    z, _ = _normalized(spec, 2)
    z = z - z.mean(axis=1, keepdims=True)  # remove the board-wide part
    pkg = printer.recipe.package_id
    same = pkg[:, None] == pkg[None, :]
    np.fill_diagonal(same, False)
    corr = np.corrcoef(z.T)
    assert corr[same].mean() > 0.2
