"""A drifting operando-like stack built from textbook formulas (no phasetrace code).

Peaks are pseudo-Voigt (Thompson, Cox & Hastings 1987 notation): a normalised
mix ``η L + (1 − η) G`` of a Lorentzian ``L = (2/πΓ) / (1 + 4 (x − x₀)²/Γ²)`` and
a Gaussian ``G = (2/Γ) √(ln 2/π) exp(−4 ln 2 (x − x₀)²/Γ²)`` of one FWHM Γ, times
an area.  Counts are Poisson around peaks plus a sloped background.  Centres
follow a charge/discharge-like path ``c₀ + D sin(π t)`` (t = 0 … 1 over the
stack) so that each peak moves by up to ``D`` and comes back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DriftStack", "pseudo_voigt_textbook", "drifting_stack"]


def pseudo_voigt_textbook(x, center, fwhm, eta, area):
    """Area-normalised pseudo-Voigt (η L + (1 − η) G with one FWHM) times ``area``."""
    u = (np.asarray(x, dtype=float) - center) / fwhm
    lor = (2.0 / (np.pi * fwhm)) / (1.0 + 4.0 * u * u)
    gau = (2.0 / fwhm) * np.sqrt(np.log(2.0) / np.pi) * np.exp(-4.0 * np.log(2.0) * u * u)
    return area * (eta * lor + (1.0 - eta) * gau)


@dataclass(frozen=True)
class DriftStack:
    """Counts and truth of a drifting stack."""

    two_theta: np.ndarray      # (n_points,) deg
    counts: np.ndarray         # (n_scans, n_points)
    centers: np.ndarray        # (n_scans, n_peaks) true centres, deg
    areas: np.ndarray          # (n_scans, n_peaks) true areas (0 where a peak is absent)
    fwhm: np.ndarray           # (n_peaks,) deg
    eta: np.ndarray            # (n_peaks,)


def drifting_stack(n_scans: int = 1000, n_peaks: int = 20, n_points: int = 3000, *,
                   max_drift: float = 0.4, vanish: tuple[int, int, int] | None = None,
                   seed: int = 0) -> DriftStack:
    """Stack of ``n_peaks`` peaks whose centres drift by up to ``max_drift`` deg.

    Drift amplitudes are drawn in ``[0.25, 1] × max_drift`` with random sign, the
    largest one is set to exactly ``max_drift``; peaks stay ≥ 1.2° apart in every
    scan (separate fit windows).  ``vanish = (peak, first, last)`` sets that
    peak's area to zero over scans ``first … last`` (a phase that disappears and
    comes back).
    """
    rng = np.random.default_rng(seed)
    x = np.linspace(10.0, 70.0, n_points)
    t = np.linspace(0.0, 1.0, n_scans)[:, None]
    while True:
        c0 = np.linspace(13.0, 67.0, n_peaks) + rng.uniform(-0.3, 0.3, n_peaks)
        amp = rng.uniform(0.25, 1.0, n_peaks) * max_drift * rng.choice([-1.0, 1.0], n_peaks)
        amp[np.argmax(np.abs(amp))] = np.sign(amp[np.argmax(np.abs(amp))]) * max_drift
        centers = c0 + amp * np.sin(np.pi * t)
        if np.min(np.diff(centers, axis=1)) >= 1.2:
            break
    fwhm = rng.uniform(0.08, 0.15, n_peaks)
    eta = rng.uniform(0.2, 0.8, n_peaks)
    area = rng.uniform(20.0, 80.0, n_peaks)
    areas = np.tile(area, (n_scans, 1))
    if vanish is not None:
        q, a, b = vanish
        areas[a:b + 1, q] = 0.0
    bg = 200.0 + 1.5 * (70.0 - x)
    model = np.tile(bg, (n_scans, 1))
    for q in range(n_peaks):
        model += pseudo_voigt_textbook(x[None, :], centers[:, q:q + 1], fwhm[q], eta[q],
                                       areas[:, q:q + 1])
    counts = rng.poisson(model).astype(float)
    return DriftStack(x, counts, centers, areas, fwhm, eta)
