"""Numba kernels for phase matching: score many trial cells against an observed peak list.

Pure arithmetic on C-contiguous float64 arrays; outputs are written into caller-allocated
arrays and an integer status is returned (0 = ok).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["score_cells", "two_theta_of"]


@njit(cache=True, nogil=True)
def two_theta_of(metric, h, k, l, wavelength):
    """2θ (degrees) of reflection (h, k, l) for reciprocal-metric coefficients ``metric`` (6,).

    Returns NaN when the reflection is unreachable (λ/2d > 1).
    """
    q2 = (metric[0] * h * h + metric[1] * k * k + metric[2] * l * l
          + 2.0 * (metric[3] * h * k + metric[4] * h * l + metric[5] * k * l))
    if q2 <= 0.0:
        return math.nan
    x = 0.5 * wavelength * math.sqrt(q2)
    if x >= 1.0:
        return math.nan
    return 2.0 * math.degrees(math.asin(x))


@njit(cache=True, nogil=True)
def _nearest_distance(sorted_pos, value):
    n = sorted_pos.size
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if sorted_pos[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    best = math.inf
    if lo < n:
        best = sorted_pos[lo] - value
    if lo > 0:
        best = min(best, value - sorted_pos[lo - 1])
    return best


@njit(cache=True, nogil=True)
def score_cells(metrics, hkl, weight, wavelength, tt_lo, tt_hi, peak_pos, tol, out):
    """Weighted completeness of each trial cell's reflections against observed peaks.

    Parameters
    ----------
    metrics : ndarray, shape (G, 6)
        Reciprocal-metric coefficients of G trial cells, Å⁻².
    hkl : ndarray, shape (K, 3)
        Reflection indices (float).
    weight : ndarray, shape (K,)
        Non-negative weight of each reflection.
    wavelength : float
        Å.
    tt_lo, tt_hi : float
        2θ window in which reflections count, degrees.
    peak_pos : ndarray, shape (P,)
        Observed peak positions, increasing, degrees.
    tol : float
        Gaussian matching tolerance (standard deviation), degrees.
    out : ndarray, shape (G,)
        Σ_k w_k exp(−Δ_k²/2tol²) / Σ_k w_k over reflections inside the window, with Δ_k
        the distance to the nearest observed peak.

    Returns
    -------
    int
        0 on success, 1 when there are no peaks.
    """
    g_n = metrics.shape[0]
    k_n = hkl.shape[0]
    if peak_pos.size == 0:
        for g in range(g_n):
            out[g] = 0.0
        return 1
    inv2 = 0.5 / (tol * tol)
    for g in range(g_n):
        num = 0.0
        den = 0.0
        for k in range(k_n):
            tt = two_theta_of(metrics[g], hkl[k, 0], hkl[k, 1], hkl[k, 2], wavelength)
            if not (tt >= tt_lo and tt <= tt_hi):
                continue
            d = _nearest_distance(peak_pos, tt)
            den += weight[k]
            if d < 4.0 * tol:
                num += weight[k] * math.exp(-d * d * inv2)
        out[g] = num / den if den > 0.0 else 0.0
    return 0


def _warmup() -> None:  # pragma: no cover - compile helper
    out = np.zeros(1)
    score_cells(np.ones((1, 6)), np.ones((1, 3)), np.ones(1), 1.0, 0.0, 90.0,
                np.array([10.0]), 0.1, out)
