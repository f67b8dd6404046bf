"""Pawley refinement (free intensity per reflection) of one background-subtracted scan.

A thin front end of the whole-pattern engine (:func:`phasetrace.refine.refine_pattern` in
``"pawley"`` mode): the cells, zero shift, per-phase Caglioti widths and pseudo-Voigt mixing
are refined together with one non-negative intensity per reflection and a linear background,
by the Levenberg–Marquardt solver shared with the peak engine.  Use it for phases without a
trustworthy structure; :func:`phasetrace.lattice.analyse_phases` uses structure-aware
(Rietveld) intensities by default.
"""

from __future__ import annotations

import math

import numpy as np

from ..phases.reference import ReferencePhase
from ..refine import RefineOptions, RefineResult, refine_pattern

__all__ = ["pawley_refine"]


def pawley_refine(
    two_theta: np.ndarray, net: np.ndarray, sigma: np.ndarray,
    phases: list[ReferencePhase], free0: list[np.ndarray], *,
    wavelength_A: float, wavelength2_A: float = math.nan, kalpha2_ratio: float = 0.0,
    fwhm_deg: float, zero0: float = 0.0, max_zero_deg: float = 0.5, max_nfev: int = 60,
    free_bounds: list[np.ndarray | None] | None = None, warm: dict | None = None,
) -> RefineResult:
    """Refine cells, zero shift and widths of ``phases`` against one background-subtracted scan.

    Parameters
    ----------
    two_theta, net, sigma : ndarray, shape (N,)
        Degrees, background-subtracted intensity (NaN points ignored) and its σ.
    phases, free0 :
        Phases present and their starting free cell parameters (Å, degrees).
    wavelength_A, wavelength2_A, kalpha2_ratio : float
        Primary and second wavelength (Å; NaN if monochromatic) and I2/I1.
    fwhm_deg : float
        Starting peak width, degrees.
    zero0, max_zero_deg : float
        Starting zero shift and its bound (±), degrees (transmission geometry: no
        displacement term).
    max_nfev : int
        Jacobian evaluations allowed.
    free_bounds : list of (ndarray (n_free, 2) or None), optional
        Per phase, bounds replacing its lattice range.
    warm : dict, optional
        :func:`phasetrace.refine.warm_start` of a neighbouring scan's result.

    Returns
    -------
    RefineResult
        ``status`` says whether the values may be used (:class:`RefineStatus`).

    Raises
    ------
    FitError
        When no reflection is in range or too few points are usable.
    """
    options = RefineOptions(intensities="pawley", geometry="transmission", n_background=2,
                            zero0=zero0, max_zero_deg=max_zero_deg, max_iter=max_nfev)
    return refine_pattern(two_theta, net, sigma, np.zeros_like(np.asarray(net, float)), phases,
                          free0, wavelength_A=wavelength_A, wavelength2_A=wavelength2_A,
                          kalpha2_ratio=kalpha2_ratio, fwhm_deg=fwhm_deg, options=options,
                          free_bounds=free_bounds, warm=warm)
