"""Powder patterns from reflection lists: instrument, profiles, background, noise (numpy).

A scan is the sum over phases of scale × weight × LP × preferred orientation ×
pseudo-Voigt(2θ − 2θ_hkl; FWHM from Caglioti), for Kα1 and (optionally) Kα2,
plus a smooth background; counts are then Poisson-sampled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..schema import d_to_two_theta
from .structures import Reflections, d_spacings

__all__ = ["Instrument", "PhaseContribution", "pseudo_voigt", "calculate_pattern", "add_noise"]


@dataclass(frozen=True)
class Instrument:
    """Diffractometer and cell settings of the simulator.

    Attributes
    ----------
    wavelength_A : float
        Primary wavelength (Kα1), Å.
    wavelength2_A : float
        Kα2 wavelength, Å, or NaN for a monochromatic beam.
    kalpha2_ratio : float
        I(Kα2)/I(Kα1) (0.5 for Cu; 0 without Kα2).
    caglioti_u, caglioti_v, caglioti_w : float
        FWHM² = U tan²θ + V tanθ + W, deg².
    eta : float
        Pseudo-Voigt Lorentzian share (0 Gaussian … 1 Lorentzian).
    zero_shift_deg : float
        Added to every peak position, deg 2θ.
    po_march_r : float
        March–Dollase parameter for preferred orientation along c* (1 = none;
        < 1 enhances 00l, as for platelets lying flat in reflection geometry).
    background : tuple of float
        (flat level, decaying amplitude, decay length in deg 2θ, hump amplitude,
        hump centre deg, hump FWHM deg) in counts: b0 + b1·exp(−2θ/τ) + Gaussian hump
        (electrolyte/window scattering).
    """

    wavelength_A: float
    wavelength2_A: float = math.nan
    kalpha2_ratio: float = 0.0
    caglioti_u: float = 0.03
    caglioti_v: float = -0.01
    caglioti_w: float = 0.02
    eta: float = 0.5
    zero_shift_deg: float = 0.0
    po_march_r: float = 1.0
    background: tuple[float, ...] = (60.0, 400.0, 8.0, 80.0, 22.0, 8.0)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.wavelength_A) and 0.05 <= self.wavelength_A <= 5.0):
            raise ConfigError(f"wavelength_A={self.wavelength_A!r}: expected 0.05–5 Å")
        if not 0.0 <= self.eta <= 1.0:
            raise ConfigError(f"eta={self.eta!r}: expected a Lorentzian share between 0 and 1")
        if self.po_march_r <= 0:
            raise ConfigError(f"po_march_r={self.po_march_r!r}: expected a positive March–Dollase parameter")
        if len(self.background) != 6:
            raise ConfigError(f"background has {len(self.background)} values; expected 6 (see Instrument)")

    def fwhm_deg(self, two_theta_deg: np.ndarray) -> np.ndarray:
        """Instrumental FWHM (deg 2θ) at the given positions (Caglioti), floored at 0.01°."""
        t = np.tan(np.deg2rad(np.asarray(two_theta_deg) / 2.0))
        f2 = self.caglioti_u * t * t + self.caglioti_v * t + self.caglioti_w
        return np.sqrt(np.maximum(f2, 1e-4))


@dataclass(frozen=True)
class PhaseContribution:
    """One phase in one scan: its reflections, current cell and scale.

    ``cell`` is (a, b, c Å; α, β, γ °); ``scale`` multiplies the normalised
    reflection weights (counts × deg of integrated intensity); ``size_fwhm_deg``
    adds sample broadening (deg 2θ at 2θ = 0, scaled by 1/cos θ).
    """

    reflections: Reflections
    cell: tuple[float, float, float, float, float, float]
    scale: float
    size_fwhm_deg: float = 0.0


def pseudo_voigt(x: np.ndarray, center: np.ndarray, fwhm: np.ndarray, eta: float) -> np.ndarray:
    """Area-normalised pseudo-Voigt, shape (m, n) for centres (m,) and grid x (n,), 1/deg."""
    dx = x[None, :] - center[:, None]
    hw = fwhm[:, None] / 2.0
    gauss = np.sqrt(math.log(2) / math.pi) / hw * np.exp(-math.log(2) * (dx / hw) ** 2)
    lorentz = hw / math.pi / (dx * dx + hw * hw)
    return eta * lorentz + (1.0 - eta) * gauss


def _lp(two_theta: np.ndarray) -> np.ndarray:
    th = np.deg2rad(two_theta / 2.0)
    return (1 + np.cos(2 * th) ** 2) / (np.sin(th) ** 2 * np.cos(th))


def _lines(inst: Instrument) -> list[tuple[float, float]]:
    lines = [(inst.wavelength_A, 1.0)]
    if math.isfinite(inst.wavelength2_A) and inst.kalpha2_ratio > 0:
        lines.append((inst.wavelength2_A, inst.kalpha2_ratio))
    return lines


def _phase_pattern(two_theta: np.ndarray, contrib: PhaseContribution, inst: Instrument) -> np.ndarray:
    refl = contrib.reflections
    d = d_spacings(refl.hkl, contrib.cell)
    r = inst.po_march_r
    po = (r * r * refl.cos2_phi + (1 - refl.cos2_phi) / r) ** -1.5
    out = np.zeros_like(two_theta)
    lo, hi = two_theta[0] - 2.0, two_theta[-1] + 2.0
    for wavelength, ratio in _lines(inst):
        pos = d_to_two_theta(d, wavelength) + inst.zero_shift_deg
        ok = np.isfinite(pos) & (pos > lo) & (pos < hi)
        if not ok.any():
            continue
        p = pos[ok]
        fwhm = np.hypot(inst.fwhm_deg(p), contrib.size_fwhm_deg / np.cos(np.deg2rad(p / 2)))
        height = contrib.scale * ratio * refl.weight[ok] * po[ok] * _lp(p)
        out += height @ pseudo_voigt(two_theta, p, fwhm, inst.eta)
    return out


def calculate_pattern(two_theta: np.ndarray, phases: Sequence[PhaseContribution], inst: Instrument) -> np.ndarray:
    """Noise-free counts on the grid ``two_theta`` (n,), deg: peaks plus background.

    Parameters
    ----------
    two_theta : ndarray, shape (n,)
        Increasing 2θ grid, deg.
    phases : sequence of PhaseContribution
    inst : Instrument

    Returns
    -------
    ndarray, shape (n,)
        Expected counts (≥ 0).
    """
    tt = np.asarray(two_theta, dtype=float)
    b0, b1, tau, h, hc, hw = inst.background
    total = b0 + b1 * np.exp(-tt / tau) + h * np.exp(-4 * math.log(2) * ((tt - hc) / hw) ** 2)
    for contrib in phases:
        total = total + _phase_pattern(tt, contrib, inst)
    return np.maximum(total, 0.0)


def add_noise(expected: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Poisson counts and their σ = √max(N, 1) for expected counts (any shape)."""
    counts = rng.poisson(np.maximum(expected, 0.0)).astype(float)
    return counts, np.sqrt(np.maximum(counts, 1.0))
