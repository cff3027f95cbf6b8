"""PNG figures of simulated SPI data (matplotlib, Agg backend).

- `normal_process.png` (like the paper's Fig. 2): (a) volume of three pads over prints, (b) the same pads
  normalized per pad, (c) mean normalized volume of the board over prints, cleanings marked, forward
  and backward prints in different colours.
- `defect_maps.png`: one board map per printer defect near the end of its ramp (normalized volume per
  pad, red = excess, blue = insufficient), with the defect's mask outlined.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from crrn.sim.defects import DefectSpec
from crrn.sim.fleet import FleetSpec, build_printers, simulate_fleet
from schemas.messages import DEFECT_TYPES


def normal_process_figure(path: Path, seed: int = 0, boards: int = 60, pads: int = 2000) -> Path:
    spec = FleetSpec(printers=1, pads=pads, boards_per_printer=boards, cleaning_interval=10)
    process = build_printers(spec, seed)[0].process
    pairs = list(simulate_fleet(spec, seed))
    volume = np.stack([b.pads.volume_pct for b, _ in pairs])  # (T, P)
    t = np.array([b.print_index for b, _ in pairs])
    phase = np.array([truth.cleaning_phase for _, truth in pairs])
    z = (volume - process.pad_mean) / process.pad_std  # (T, P) per-pad normalized
    rng = np.random.default_rng(seed)
    chosen = rng.choice(volume.shape[1], 3, replace=False)
    fig, axes = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    for p in chosen:
        axes[0].plot(t, volume[:, p], marker=".", label=pairs[0][0].pads.pad_id[p])
        axes[1].plot(t, z[:, p], marker=".")
    mean = z.mean(axis=1)
    axes[2].plot(t, mean, color="grey", lw=1)
    odd = t % 2 == 1
    axes[2].scatter(t[odd], mean[odd], color="tab:red", label="forward (odd)", zorder=3)
    axes[2].scatter(t[~odd], mean[~odd], color="tab:blue", label="backward (even)", zorder=3)
    for ax in axes:
        for clean in t[phase == 0]:
            ax.axvline(clean - 0.5, color="k", ls=":", lw=0.8)
    axes[0].set_ylabel("volume %")
    axes[0].legend(fontsize=8)
    axes[0].set_title("(a) three pads; dotted lines: stencil cleaning")
    axes[1].set_ylabel("normalized")
    axes[1].set_title("(b) the same pads normalized per pad")
    axes[2].set_ylabel("mean normalized")
    axes[2].set_title("(c) board mean: cleaning period and blade alternation")
    axes[2].legend(fontsize=8)
    axes[2].set_xlabel("print index")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def defect_maps_figure(path: Path, seed: int = 0, boards: int = 40, pads: int = 3000) -> Path:
    fig, axes = plt.subplots(1, len(DEFECT_TYPES), figsize=(4.2 * len(DEFECT_TYPES), 4))
    for ax, name in zip(axes, DEFECT_TYPES, strict=True):
        defect = DefectSpec(name, duration=boards, amplitude=4.0, sign=-1)
        spec = FleetSpec(printers=1, pads=pads, boards_per_printer=boards, defects=(defect,))
        process = build_printers(spec, seed)[0].process
        pairs = list(simulate_fleet(spec, seed))
        # Late forward print for most defects (squeegee acts on forward prints); early for no_kneading.
        k = 2 if name == "no_kneading" else (boards - 1 if pairs[-1][0].print_index % 2 == 1 else boards - 2)
        board, truth = pairs[k]
        z = (board.pads.volume_pct - process.pad_mean) / process.pad_std  # (P,)
        mask = truth.mask_of(name)
        ax.scatter(board.pads.x_mm, board.pads.y_mm, c=z, cmap="coolwarm", vmin=-5, vmax=5, s=4)
        ax.scatter(
            board.pads.x_mm[mask], board.pads.y_mm[mask], facecolors="none", edgecolors="k", s=10, lw=0.3
        )
        f = truth.defects[0].severity if truth.defects else 0.0
        ax.set_title(f"{name}\nprint {board.print_index}, f(t) = {f:+.2f}")
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        "normalized volume (red excess, blue insufficient); circled: defect mask; y = print direction"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def make_figures(output: str | Path, seed: int = 0) -> list[Path]:
    """Write all figures into `output` (created if needed); returns their paths."""
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    return [
        normal_process_figure(out / "normal_process.png", seed),
        defect_maps_figure(out / "defect_maps.png", seed),
    ]
