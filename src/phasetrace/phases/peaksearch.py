"""Background estimate and a quick peak search used by phase identification.

These are deliberately simple, vectorised over scans, and independent of
:mod:`phasetrace.peaks` (whose profile fits are used when given).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d, median_filter, minimum_filter1d

__all__ = ["PeakList", "estimate_background", "find_peaks", "estimate_fwhm"]


@dataclass(frozen=True)
class PeakList:
    """Peaks of one scan.

    Attributes
    ----------
    position : ndarray, shape (P,)
        Centres, degrees 2θ, increasing.
    height : ndarray, shape (P,)
        Background-subtracted heights, counts.
    snr : ndarray, shape (P,)
        Height over the noise of the smoothed pattern.
    """

    position: np.ndarray
    height: np.ndarray
    snr: np.ndarray


def estimate_background(two_theta: np.ndarray, intensity: np.ndarray, *,
                        window_deg: float = 1.5, n_iter: int = 30) -> np.ndarray:
    """Smooth background under sharp peaks by iterative clipping (SNIP-like), per scan.

    Parameters
    ----------
    two_theta : ndarray, shape (N,)
        Degrees, increasing and (nearly) evenly spaced.
    intensity : ndarray, shape (S, N)
        Counts.
    window_deg : float
        Largest half-window, degrees; features broader than about twice this are background.
    n_iter : int
        Clipping iterations.

    Returns
    -------
    ndarray, shape (S, N)
    """
    y = np.where(np.isfinite(intensity), intensity, np.nanmedian(intensity))
    step = float(np.median(np.diff(two_theta)))
    half = max(int(window_deg / step), 2)
    base = gaussian_filter1d(y, 1.0, axis=1, mode="nearest")
    # decreasing-window SNIP on a square-root scale
    v = np.sqrt(np.maximum(base, 0.0))
    for w in np.unique(np.geomspace(half, 1, n_iter).astype(int))[::-1]:
        left = np.concatenate([np.repeat(v[:, :1], w, 1), v[:, :-w]], axis=1)
        right = np.concatenate([v[:, w:], np.repeat(v[:, -1:], w, 1)], axis=1)
        v = np.minimum(v, 0.5 * (left + right))
    bg = v**2
    return gaussian_filter1d(bg, max(half / 8, 1.0), axis=1, mode="nearest")


def estimate_fwhm(two_theta: np.ndarray, net: np.ndarray, *, n_peaks: int = 6) -> float:
    """Median full width at half maximum (degrees) of the strongest isolated peaks of a scan."""
    step = float(np.median(np.diff(two_theta)))
    y = gaussian_filter1d(np.nan_to_num(net), 1.0)
    widths = []
    work = y.copy()
    for _ in range(n_peaks):
        i = int(np.argmax(work))
        top = y[i]
        if top <= 0:
            break
        lo = i
        while lo > 0 and y[lo] > top / 2:
            lo -= 1
        hi = i
        while hi < y.size - 1 and y[hi] > top / 2:
            hi += 1
        widths.append((hi - lo) * step)
        work[max(lo - 2 * (i - lo), 0):hi + 2 * (hi - i) + 1] = -np.inf
    return float(np.median(widths)) if widths else 5 * step


def find_peaks(two_theta: np.ndarray, net: np.ndarray, sigma: np.ndarray, *,
               fwhm_deg: float, min_snr: float = 4.0) -> list[PeakList]:
    """Local maxima of the matched-filtered pattern above ``min_snr``.

    Parameters
    ----------
    two_theta : ndarray, shape (N,)
    net : ndarray, shape (S, N)
        Background-subtracted intensity.
    sigma : ndarray, shape (S, N)
        One-sigma noise of ``intensity``.
    fwhm_deg : float
        Typical peak width, degrees (sets the smoothing and the minimum separation).
    min_snr : float
        Detection threshold on the smoothed pattern, in noise units.

    Returns
    -------
    list of PeakList, one per scan
    """
    step = float(np.median(np.diff(two_theta)))
    s_pts = max(fwhm_deg / 2.355 / step * 0.6, 0.7)
    y = gaussian_filter1d(np.nan_to_num(net), s_pts, axis=1, mode="nearest")
    # noise of a Gaussian-smoothed sum: sigma / sqrt(2 sqrt(pi) s)
    noise = gaussian_filter1d(np.nan_to_num(sigma, nan=np.inf), s_pts, axis=1) / np.sqrt(
        2 * np.sqrt(np.pi) * s_pts)
    # correlated noise (binned or interpolated data) smooths less than the formula says:
    # when the robust spread of the smoothed net pattern is far above the formula (×1.5),
    # the given sigmas are not counting statistics and the spread is used instead
    half = max(int(round(0.5 * fwhm_deg / step)), 1)
    high_pass = y - median_filter(y, size=(1, 10 * half + 1), mode="nearest")
    robust = 1.4826 * np.median(np.abs(high_pass), axis=1, keepdims=True)
    typical = np.median(noise, axis=1, keepdims=True)
    noise = np.where(robust > 1.5 * typical, np.maximum(noise, robust), noise)
    snr = y / np.maximum(noise, 1e-12)
    half = max(int(round(0.5 * fwhm_deg / step)), 1)
    is_max = (y == maximum_filter1d(y, 2 * half + 1, axis=1)) & (snr > min_snr)
    # prominence over the local minimum on both sides (suppress shoulders of noise)
    local_min = minimum_filter1d(y, 8 * half + 1, axis=1)
    is_max &= (y - local_min) > min_snr * noise
    out = []
    for s in range(net.shape[0]):
        idx = np.flatnonzero(is_max[s])
        idx = idx[(idx > 0) & (idx < two_theta.size - 1)]
        ym, y0, yp = y[s, idx - 1], y[s, idx], y[s, idx + 1]
        den = ym - 2 * y0 + yp
        shift = np.where(den < 0, 0.5 * (ym - yp) / np.where(den < 0, den, -1.0), 0.0)
        pos = two_theta[idx] + np.clip(shift, -0.5, 0.5) * step
        out.append(PeakList(pos, y0, snr[s, idx]))
    return out

