"""Named-parameter peak lineshapes (NumPy), the readable twins of ``_kernels.profiles``.

All functions take 2θ in degrees and return intensity (counts) for an
integrated ``area`` in counts·deg.  ``area`` is the area of the main (Kα1)
line; :func:`kalpha_doublet` adds the Kα2 copy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import gammaln

__all__ = [
    "gaussian", "lorentzian", "pseudo_voigt", "split_pseudo_voigt", "pearson7",
    "tch_pseudo_voigt", "tch_fwhm_eta", "caglioti_fwhm", "fit_caglioti", "kalpha2_position",
    "kalpha_doublet",
    "pseudo_voigt_height", "pearson7_height",
]

_AG = 4.0 * math.log(2.0)


def gaussian(x: Any, *, center: float, fwhm: float, area: float = 1.0) -> np.ndarray:
    """Area-normalised Gaussian of full width at half maximum ``fwhm`` (deg)."""
    x = np.asarray(x, dtype=float)
    return area * math.sqrt(_AG / math.pi) / fwhm * np.exp(-_AG * ((x - center) / fwhm) ** 2)


def lorentzian(x: Any, *, center: float, fwhm: float, area: float = 1.0) -> np.ndarray:
    """Area-normalised Lorentzian of full width at half maximum ``fwhm`` (deg)."""
    x = np.asarray(x, dtype=float)
    return area * (2.0 / (math.pi * fwhm)) / (1.0 + 4.0 * ((x - center) / fwhm) ** 2)


def pseudo_voigt(x: Any, *, center: float, fwhm: float, eta: float, area: float = 1.0) -> np.ndarray:
    """Pseudo-Voigt ``η L + (1-η) G`` with a common FWHM.

    Parameters
    ----------
    x : array_like, shape (n,)
        2θ, degrees.
    center, fwhm : float
        Peak position and full width at half maximum, degrees.
    eta : float
        Lorentzian fraction, 0 (Gaussian) to 1 (Lorentzian).
    area : float
        Integrated intensity, counts·deg.

    Returns
    -------
    ndarray, shape (n,)
        Intensity, counts.

    Examples
    --------
    >>> round(float(pseudo_voigt(30.0, center=30.0, fwhm=0.1, eta=0.5, area=1.0)[()]), 4)
    7.8803
    """
    return eta * lorentzian(x, center=center, fwhm=fwhm, area=area) + (1.0 - eta) * gaussian(
        x, center=center, fwhm=fwhm, area=area)


def pseudo_voigt_height(*, fwhm: float, eta: float, area: float) -> float:
    """Peak height (counts) of a pseudo-Voigt of the given FWHM (deg), η and area."""
    return area / fwhm * (eta * 2.0 / math.pi + (1.0 - eta) * math.sqrt(_AG / math.pi))


def split_pseudo_voigt(x: Any, *, center: float, fwhm: float, eta: float, asym: float,
                       area: float = 1.0) -> np.ndarray:
    """Split pseudo-Voigt: FWHM ``fwhm (1 - asym)`` below and ``fwhm (1 + asym)`` above ``center``.

    Both halves share the height of a symmetric pseudo-Voigt of FWHM ``fwhm``,
    so the integrated area is ``area`` for any ``asym`` in (-1, 1).
    """
    x = np.asarray(x, dtype=float)
    ks = np.where(x < center, 1.0 - asym, 1.0 + asym)
    out = np.empty_like(x)
    for side in (1.0 - asym, 1.0 + asym):
        m = ks == side
        out[m] = side * pseudo_voigt(x[m], center=center, fwhm=fwhm * side, eta=eta, area=area)
    return out


def pearson7(x: Any, *, center: float, fwhm: float, m: float, area: float = 1.0) -> np.ndarray:
    """Pearson VII ``h (1 + 4 (2^{1/m} - 1) ((x - center)/fwhm)²)^{-m}`` of integrated ``area``.

    ``m = 1`` is a Lorentzian; ``m → ∞`` tends to a Gaussian; ``m`` must exceed 0.5.
    """
    x = np.asarray(x, dtype=float)
    return pearson7_height(fwhm=fwhm, m=m, area=area) * (
        1.0 + 4.0 * (2.0 ** (1.0 / m) - 1.0) * ((x - center) / fwhm) ** 2) ** (-m)


def pearson7_height(*, fwhm: float, m: float, area: float) -> float:
    """Peak height (counts) of a Pearson VII of FWHM ``fwhm`` (deg), exponent ``m`` and area."""
    k = 2.0 ** (1.0 / m) - 1.0
    norm = math.sqrt(math.pi) * math.exp(gammaln(m - 0.5) - gammaln(m)) / (2.0 * math.sqrt(k))
    return area / (fwhm * norm)


def tch_fwhm_eta(*, fwhm_g: float, fwhm_l: float) -> tuple[float, float]:
    """Thompson–Cox–Hastings total FWHM (deg) and η from Gaussian and Lorentzian FWHMs (deg).

    References
    ----------
    .. [1] Thompson, Cox & Hastings, J. Appl. Cryst. 20 (1987) 79–83.
    """
    g, lo = fwhm_g, fwhm_l
    f = (g ** 5 + 2.69269 * g ** 4 * lo + 2.42843 * g ** 3 * lo ** 2 + 4.47163 * g ** 2 * lo ** 3
         + 0.07842 * g * lo ** 4 + lo ** 5) ** 0.2
    q = lo / f
    return f, 1.36603 * q - 0.47719 * q ** 2 + 0.11116 * q ** 3


def tch_pseudo_voigt(x: Any, *, center: float, fwhm_g: float, fwhm_l: float,
                     area: float = 1.0) -> np.ndarray:
    """Pseudo-Voigt whose FWHM and η follow from Γ_G and Γ_L (deg) by TCH."""
    f, eta = tch_fwhm_eta(fwhm_g=fwhm_g, fwhm_l=fwhm_l)
    return pseudo_voigt(x, center=center, fwhm=f, eta=eta, area=area)


def caglioti_fwhm(two_theta: Any, *, u: float, v: float, w: float) -> np.ndarray:
    """Caglioti width ``√(U tan²θ + V tanθ + W)`` (deg) at 2θ (deg); U, V, W in deg²."""
    t = np.tan(np.deg2rad(np.asarray(two_theta, dtype=float) / 2.0))
    return np.sqrt(np.maximum(u * t * t + v * t + w, 0.0))


def fit_caglioti(two_theta: Any, fwhm: Any, *, fwhm_esd: Any = None) -> tuple[float, float, float]:
    """Least-squares Caglioti parameters ``(U, V, W)`` (deg²) from peak widths.

    Parameters
    ----------
    two_theta, fwhm : array_like, shape (n,)
        Peak positions and FWHMs, degrees; non-finite pairs are ignored.
    fwhm_esd : array_like, shape (n,), optional
        FWHM esds (deg) used as weights (``σ(FWHM²) = 2 FWHM σ(FWHM)``).

    Returns
    -------
    tuple of float
        ``U, V, W`` such that ``FWHM² = U tan²θ + V tanθ + W``.

    Examples
    --------
    >>> tt = np.array([20.0, 40.0, 60.0, 80.0])
    >>> [round(v, 6) for v in fit_caglioti(tt, caglioti_fwhm(tt, u=0.01, v=-0.004, w=0.003))]
    [0.01, -0.004, 0.003]
    """
    tt = np.asarray(two_theta, dtype=float)
    f = np.asarray(fwhm, dtype=float)
    w = np.ones_like(f) if fwhm_esd is None else 1.0 / np.maximum(2 * f * np.asarray(fwhm_esd, float), 1e-12)
    ok = np.isfinite(tt) & np.isfinite(f) & np.isfinite(w)
    t = np.tan(np.deg2rad(tt[ok] / 2.0))
    design = np.column_stack([t * t, t, np.ones_like(t)]) * w[ok, None]
    if ok.sum() < 3:
        return (math.nan, math.nan, math.nan)
    u, v, ww = np.linalg.lstsq(design, f[ok] ** 2 * w[ok], rcond=None)[0]
    return float(u), float(v), float(ww)


def kalpha2_position(center: Any, *, wavelength_A: float, wavelength2_A: float) -> np.ndarray:
    """2θ (deg) of the Kα2 line of a Kα1 reflection at ``center`` (deg); NaN if unreachable."""
    s = wavelength2_A / wavelength_A * np.sin(np.deg2rad(np.asarray(center, dtype=float) / 2.0))
    with np.errstate(invalid="ignore"):
        return np.rad2deg(2.0 * np.arcsin(np.where(s < 1.0, s, np.nan)))


def kalpha_doublet(shape: Callable[..., np.ndarray], x: Any, *, center: float, area: float,
                   wavelength_A: float, wavelength2_A: float, kalpha2_ratio: float,
                   **shape_params: float) -> np.ndarray:
    """Kα1 line plus its Kα2 copy (same widths, ``kalpha2_ratio`` × area).

    Parameters
    ----------
    shape : callable
        One of the lineshapes above, e.g. :func:`pseudo_voigt`.
    x : array_like, shape (n,)
        2θ, degrees.
    center, area : float
        Kα1 position (deg) and Kα1 area (counts·deg).
    wavelength_A, wavelength2_A : float
        λ(Kα1) and λ(Kα2), Å.
    kalpha2_ratio : float
        I(Kα2)/I(Kα1).
    **shape_params
        Remaining keyword parameters of ``shape`` (``fwhm``, ``eta`` ...).
    """
    c2 = float(kalpha2_position(center, wavelength_A=wavelength_A, wavelength2_A=wavelength2_A))
    out = shape(x, center=center, area=area, **shape_params)
    if kalpha2_ratio > 0 and math.isfinite(c2):
        out = out + shape(x, center=c2, area=area * kalpha2_ratio, **shape_params)
    return out
