"""The normal printing process of one solder paste printer on one recipe, plus defects acting on it.

Volume of pad p on the print with index t (all arrays `(P,)`, vectorized over pads):

    volume_pct = mu_p + sigma_p * z_t,p  (+ defects, clipped at 0)
    z_t,p = drift(phase_t)                            stencil cleaning every K prints: a sawtooth from
                                                      +cleaning_drift right after cleaning to -cleaning_drift
          + dir_t * (blade_offset + blade_gradient * y'_p)   blade alternation, dir = +1 forward (odd t),
                                                      -1 backward (even t); y' in [-1, 1] along the print
          + b_t                                       whole-board variation, AR(1) over prints
          + S_t(x_p, y_p)                             smooth spatial field (random Fourier modes, AR(1))
          + u_t,package(p)                            shared by the pads of one package on one board
          + e_t,p                                     independent noise

mu_p depends on the aperture group (transfer efficiency grows with aperture area) and on the pad's place
in its package (e.g. corner pads of a QFP); sigma_p = mu_p * cv(group). Only `e` is private to a pad:
the other terms are shared with neighbours or the rest of the board, so context predicts part of each
pad's deviation (what the CRRN can exploit and a per-pad history z-score cannot).

`pad_mean` = mu_p and `pad_std` = sigma_p * sqrt(E[z^2]) are the exact normal mean and std of each
pad's volume (no defects); defect amplitudes are in units of `pad_std`.
Height and area share the volume: area_pct = 100 r^0.5 e^a, height_um = stencil_um r^0.5 e^-a with
r = volume_pct / 100, so volume_pct = area_pct * height_um / stencil_um.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crrn.sim.defects import DefectSpec, defect_mask, severity
from crrn.sim.recipes import Recipe
from crrn.sim.truth import SOURCE_NATURAL, ActiveDefect, GroundTruth, defect_bit


@dataclass(frozen=True)
class PrinterConfig:
    """Knobs of the normal process; the variance terms are in z units (see the module docstring)."""

    cleaning_interval: int = 10  # K
    cleaning_drift: float = 0.6
    blade_offset: float = 0.4
    blade_gradient: float = 0.3
    board_sd: float = 0.3
    board_ar: float = 0.6
    spatial_sd: float = 0.45
    spatial_ar: float = 0.5
    spatial_wavelength_mm: float = 50.0
    spatial_modes: int = 8
    package_sd: float = 0.4
    noise_sd: float = 0.5
    natural_defect_rate: float = 1e-4
    natural_defect_size: float = 6.0  # in pad std units
    stencil_um: float = 120.0
    area_log_sd: float = 0.03
    offset_board_um: float = 10.0
    offset_pad_um: float = 8.0

    def __post_init__(self) -> None:
        if self.cleaning_interval < 2:
            raise ValueError(f"cleaning_interval={self.cleaning_interval}: use 2 prints or more")


@dataclass(frozen=True, eq=False)
class PrintedBoard:
    """Raw per-pad results of one print, arrays `(P,)`, before they become an event."""

    print_index: int
    forward: bool
    volume_pct: np.ndarray
    height_um: np.ndarray
    area_pct: np.ndarray
    offset_x_um: np.ndarray
    offset_y_um: np.ndarray
    truth: GroundTruth


class PrinterProcess:
    """Stateful generator of prints for one printer and recipe; call `print_board` with rising indices."""

    def __init__(
        self, recipe: Recipe, config: PrinterConfig, seed: int, defects: tuple[DefectSpec, ...] = ()
    ) -> None:
        self.recipe = recipe
        self.config = config
        self.rng = np.random.default_rng([seed, 0x9217])
        layout_rng = np.random.default_rng([recipe.seed, 0x5714])  # same recipe -> same stencil effects
        self.pad_mean, self.sigma = _nominal(recipe, layout_rng)
        c = config
        self.y_rel = 2.0 * (recipe.y_mm - recipe.y_mm.min()) / max(float(np.ptp(recipe.y_mm)), 1e-9) - 1.0
        k = np.arange(c.cleaning_interval)
        self.drift = c.cleaning_drift * (1.0 - 2.0 * k / (c.cleaning_interval - 1))  # (K,)
        self.phase0 = int(self.rng.integers(c.cleaning_interval))
        t = np.arange(2 * c.cleaning_interval)  # one full period of (cleaning phase, blade) pairs
        drift_dir = float(
            np.mean(self.drift[(t + self.phase0) % c.cleaning_interval] * np.where(t % 2, 1, -1))
        )
        blade = c.blade_offset + c.blade_gradient * self.y_rel  # (P,)
        z_var = (
            float(np.mean(self.drift**2))
            + blade**2
            + 2.0 * blade * drift_dir
            + c.board_sd**2
            + c.spatial_sd**2
            + c.package_sd**2
            + c.noise_sd**2
        )
        self.pad_std = self.sigma * np.sqrt(z_var)  # (P,)
        _, self.package_index = np.unique(recipe.package_id, return_inverse=True)  # (P,)
        self.n_packages = int(self.package_index.max()) + 1
        self.basis = _fourier_basis(recipe, c, self.rng)  # (P, 2M)
        self.board_state = float(self.rng.normal(0.0, c.board_sd))
        self.spatial_state = self.rng.normal(
            0.0, c.spatial_sd / np.sqrt(c.spatial_modes), 2 * c.spatial_modes
        )
        self.defects = defects
        # Masks use their own stream, so a run with defects has the same normal noise as one without.
        mask_rng = np.random.default_rng([seed, 0xDEF])
        self.defect_masks = {spec: defect_mask(spec.name, recipe, mask_rng) for spec in defects}

    def cleaning_phase(self, print_index: int) -> int:
        return (print_index + self.phase0) % self.config.cleaning_interval

    def print_board(self, print_index: int, event_id: str) -> PrintedBoard:
        """One print: vectorized over pads; advances the AR(1) states."""
        c, rng, P = self.config, self.rng, self.recipe.n_pads
        forward = print_index % 2 == 1
        direction = 1.0 if forward else -1.0
        phase = self.cleaning_phase(print_index)
        a_b = np.sqrt(1.0 - c.board_ar**2)
        self.board_state = c.board_ar * self.board_state + a_b * rng.normal(0.0, c.board_sd)
        a_s = np.sqrt(1.0 - c.spatial_ar**2)
        sd_mode = c.spatial_sd / np.sqrt(c.spatial_modes)
        self.spatial_state = c.spatial_ar * self.spatial_state + a_s * rng.normal(
            0.0, sd_mode, self.spatial_state.shape
        )
        z = (
            self.drift[phase]
            + direction * (c.blade_offset + c.blade_gradient * self.y_rel)
            + self.board_state
            + self.basis @ self.spatial_state
            + rng.normal(0.0, c.package_sd, self.n_packages)[self.package_index]
            + rng.normal(0.0, c.noise_sd, P)
        )  # (P,)
        volume = self.pad_mean + self.sigma * z
        labels = np.zeros(P, dtype=np.int8)
        sources = np.zeros(P, dtype=np.uint8)
        active: list[ActiveDefect] = []
        for spec, mask in self.defect_masks.items():  # a few defects, each vectorized over pads
            f = severity(spec, print_index, forward)
            if f == 0.0:
                continue
            active.append(ActiveDefect(spec.name, f, spec.amplitude))
            volume = volume + mask * (f * spec.amplitude) * self.pad_std
            labels[mask] = 1 if f > 0 else -1
            sources[mask] |= defect_bit(spec.name)
        natural = rng.random(P) < c.natural_defect_rate
        if natural.any():
            sign = np.where(rng.random(P) < 0.5, 1.0, -1.0)
            volume = volume + natural * sign * c.natural_defect_size * self.pad_std
            labels[natural] = sign[natural].astype(np.int8)
            sources[natural] |= SOURCE_NATURAL
        volume = np.maximum(volume, 0.0)
        root = np.sqrt(volume / 100.0)
        split = np.exp(rng.normal(0.0, c.area_log_sd, P))
        shift = rng.normal(0.0, c.offset_board_um, 2)
        truth = GroundTruth(event_id, labels, sources, tuple(active), phase)
        return PrintedBoard(
            print_index=print_index,
            forward=forward,
            volume_pct=volume,
            height_um=c.stencil_um * root / split,
            area_pct=100.0 * root * split,
            offset_x_um=shift[0] + rng.normal(0.0, c.offset_pad_um, P),
            offset_y_um=shift[1] + rng.normal(0.0, c.offset_pad_um, P),
            truth=truth,
        )


def _nominal(recipe: Recipe, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(P,) nominal volume % and its process scale sigma_p from aperture group and place in package."""
    groups, group_index = np.unique(recipe.shape, return_inverse=True)
    area = recipe.size_x_mm * recipe.size_y_mm  # (P,) mm^2
    efficiency = 0.82 + 0.22 * np.tanh(area / 0.6)  # bigger apertures release more paste
    group_offset = rng.normal(0.0, 0.04, groups.size)[group_index]
    place_coef = rng.uniform(-0.12, 0.12, groups.size)[group_index]  # corner / outer pads differ
    stencil = rng.normal(0.0, 0.015, recipe.n_pads)  # fixed per-aperture deviation of this stencil
    mean = 100.0 * (efficiency + group_offset + place_coef * recipe.place_in_package**2 + stencil)
    cv = 0.05 + 0.04 * (1.0 - np.tanh(area / 0.6))  # small apertures vary more
    return mean, mean * cv


def _fourier_basis(recipe: Recipe, c: PrinterConfig, rng: np.random.Generator) -> np.ndarray:
    """(P, 2M) cos/sin of M random plane waves with wavelengths in [1, 3] x spatial_wavelength_mm."""
    M = c.spatial_modes
    wavelength = c.spatial_wavelength_mm * rng.uniform(1.0, 3.0, M)
    angle = rng.uniform(0.0, np.pi, M)
    kx, ky = 2 * np.pi / wavelength * np.cos(angle), 2 * np.pi / wavelength * np.sin(angle)
    phase = np.outer(recipe.x_mm, kx) + np.outer(recipe.y_mm, ky) + rng.uniform(0, 2 * np.pi, M)  # (P, M)
    return np.concatenate([np.cos(phase), np.sin(phase)], axis=1)
