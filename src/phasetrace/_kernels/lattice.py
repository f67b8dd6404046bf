"""Numba kernels for whole-pattern lattice refinement (windowed pseudo-Voigt design matrix).

The line shape is the one shared with peak fitting (:func:`phasetrace._kernels.profiles.pv_unit`).

Pure arithmetic on C-contiguous float64 arrays; outputs are caller-allocated (zeroed) and an
integer status is returned (0 = ok).
"""

from __future__ import annotations

from numba import njit

from .profiles import pv_unit

__all__ = ["pv_design"]


@njit(cache=True, nogil=True)
def pv_design(x, centres, fwhm, weight, eta, dfac, cutoff, col0, phi, d_centre, d_fwhm, d_eta):
    """Add unit-area pseudo-Voigt columns and their derivatives, within windows.

    Parameters
    ----------
    x : ndarray, shape (N,)
        Increasing 2θ grid, degrees.
    centres : ndarray, shape (K,)
        Peak centres, degrees.
    fwhm : ndarray, shape (K,)
        Full widths at half maximum, degrees (> 0).
    weight : float
        Multiplier of this set of lines (1 for Kα1, I2/I1 for Kα2).
    eta : float
        Lorentzian fraction, 0–1.
    dfac : ndarray, shape (K,)
        Factor applied to the centre derivative (∂centre/∂centre of the first line).
    cutoff : float
        Half window in units of fwhm.
    col0 : int
        Column of the first peak in the output arrays.
    phi, d_centre, d_fwhm, d_eta : ndarray, shape (N, M), M ≥ col0 + K
        Accumulated in place: value, ∂/∂centre, ∂/∂fwhm, ∂/∂η.

    Returns
    -------
    int
        0 on success, 1 if a width is not positive.
    """
    n = x.size
    for k in range(centres.size):
        j = col0 + k
        w = fwhm[k]
        if not w > 0.0:
            return 1
        c = centres[k]
        lo_val = c - cutoff * w
        lo, hi = 0, n
        while lo < hi:
            mid = (lo + hi) // 2
            if x[mid] < lo_val:
                lo = mid + 1
            else:
                hi = mid
        for i in range(lo, n):
            dx = x[i] - c
            if dx > cutoff * w:
                break
            val, dc, dw, de = pv_unit(dx, w, eta)
            phi[i, j] += weight * val
            d_centre[i, j] += weight * dfac[k] * dc
            d_fwhm[i, j] += weight * dw
            d_eta[i, j] += weight * de
    return 0
