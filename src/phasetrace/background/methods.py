"""Background estimation on plain arrays (wraps :mod:`pybaselines`).

One :class:`pybaselines.Baseline` object is built per 2θ grid and reused for
every scan of a stack (pybaselines' own performance advice).  The same
parameters are used for every scan so that the background is consistent along
the stack.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from pybaselines import Baseline
from scipy.signal import find_peaks, peak_widths

from ..errors import ConfigError, SchemaError

__all__ = ["METHODS", "background_array", "typical_fwhm", "default_half_window"]

logger = logging.getLogger(__name__)

#: supported methods -> pybaselines method name.
METHODS = {"snip": "snip", "arpls": "arpls", "asls": "asls", "aspls": "aspls",
           "modpoly": "modpoly", "imodpoly": "imodpoly", "rolling_ball": "rolling_ball"}


def _pattern_widths(y: np.ndarray) -> np.ndarray:
    """Widths (points) at half prominence of the ≤ 15 most prominent peaks of one pattern."""
    good = np.isfinite(y)
    if good.sum() < 5:
        return np.empty(0)
    y = np.where(good, y, np.nanmin(y))
    noise = float(np.median(np.abs(np.diff(y)))) / 0.954 + 1e-12
    idx, props = find_peaks(y, prominence=8 * noise)
    if idx.size == 0:
        return np.empty(0)
    top = idx[np.argsort(props["prominences"])[::-1][:15]]
    return peak_widths(y, top, rel_height=0.5)[0]


def typical_fwhm(two_theta: np.ndarray, intensity: np.ndarray) -> float:
    """Typical peak FWHM (deg) of a pattern or stack, from its most prominent peaks.

    Parameters
    ----------
    two_theta : ndarray, shape (n,)
        Increasing 2θ grid, degrees.
    intensity : ndarray, shape (n,) or (n_scans, n)
        Pattern(s); for a stack, up to 9 evenly spaced scans are measured
        individually (a median pattern would smear drifting peaks).

    Returns
    -------
    float
        Median FWHM (deg) of the 15 most prominent peaks of each pattern
        measured, at least 2 grid steps; 5 grid steps if no peak stands out.
    """
    x = np.asarray(two_theta, dtype=float)
    y = np.asarray(intensity, dtype=float)
    rows = y[None, :] if y.ndim == 1 else y[np.unique(np.linspace(0, y.shape[0] - 1,
                                                                  min(y.shape[0], 9)).astype(int))]
    step = float(np.median(np.diff(x)))
    widths = np.concatenate([_pattern_widths(r) for r in rows] + [np.empty(0)])
    if widths.size == 0:
        return 5 * step
    return float(max(np.median(widths), 2.0) * step)


def default_half_window(two_theta: np.ndarray, intensity: np.ndarray) -> int:
    """SNIP half-window (points): about 8 typical FWHM, at least 10 and at most n/4 points."""
    x = np.asarray(two_theta, dtype=float)
    step = float(np.median(np.diff(x)))
    hw = int(round(8.0 * typical_fwhm(x, intensity) / step))
    return int(min(max(hw, 10), max(x.size // 4, 10)))


def _fill_nan(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN points (edges held)."""
    good = np.isfinite(y)
    if good.all():
        return y
    return np.interp(x, x[good], y[good])


_WINDOWED = {"snip": "max_half_window", "rolling_ball": "half_window"}


def _bin(a: np.ndarray, q: int) -> np.ndarray:
    """Means of ``q`` consecutive values along the last axis (the last bin padded with edge values)."""
    if q == 1:
        return a
    nb = -(-a.shape[-1] // q)
    pad = nb * q - a.shape[-1]
    if pad:
        a = np.concatenate([a, np.repeat(a[..., -1:], pad, axis=-1)], axis=-1)
    return a.reshape(a.shape[:-1] + (nb, q)).mean(axis=-1)


def _decimation(method: str, x: np.ndarray, intensity: np.ndarray, decimate: int | str) -> int:
    """Binning factor for window-based methods: ``"auto"`` keeps ≥ 2.5 points per typical FWHM."""
    if method not in _WINDOWED:
        return 1
    if decimate == "auto":
        step = float(np.median(np.diff(x)))
        return max(1, int(typical_fwhm(x, intensity) / step / 2.5))
    if isinstance(decimate, bool) or not isinstance(decimate, (int, np.integer)) or decimate < 1:
        raise ConfigError(f"decimate={decimate!r}; expected 'auto' or a positive integer")
    return int(decimate)


def _method_kwargs(method: str, x: np.ndarray, intensity: np.ndarray,
                   options: dict[str, Any], q: int) -> dict[str, Any]:
    """Defaults per method, overridden by the user's options (windows in original points)."""
    kw: dict[str, Any] = {}
    if method in _WINDOWED:
        key = _WINDOWED[method]
        hw = options.get(key, default_half_window(x, intensity))
        kw[key] = max(1, int(round(hw / q)))
        if method == "snip":
            # the binning already averages q points; smooth inside SNIP only without it
            kw.update(decreasing=True, smooth_half_window=1 if q == 1 else 0)
    elif method in ("arpls", "asls", "aspls"):
        kw["lam"] = 1e7 * (x.size / 3000.0) ** 4
    elif method in ("modpoly", "imodpoly"):
        kw["poly_order"] = 4
    kw.update({k: v for k, v in options.items() if k != _WINDOWED.get(method)})
    return kw


def background_array(
    two_theta: Any,
    intensity: Any,
    *,
    method: str = "snip",
    decimate: int | str = "auto",
    progress: bool | Callable[[int, int], None] = False,
    **options: Any,
) -> np.ndarray:
    """Background of each scan of a stack.

    Parameters
    ----------
    two_theta : array_like, shape (n_points,)
        Strictly increasing 2θ grid, degrees.
    intensity : array_like, shape (n_scans, n_points) or (n_points,)
        Intensities (counts); NaN points are bridged by linear interpolation.
    method : str
        One of :data:`METHODS` (default ``"snip"``).
    decimate : int or "auto"
        For the window-based methods (SNIP, rolling ball): average ``decimate``
        neighbouring points before estimating and interpolate the result back
        (the background is smooth on the scale of a few FWHM).  ``"auto"``
        keeps at least 2.5 points per typical FWHM; 1 disables it.  SNIP time
        falls roughly as ``decimate²``.
    progress : bool or callable
        ``callable(done, total)`` is called after each scan.
    **options
        Passed to the pybaselines method (e.g. ``max_half_window`` for SNIP,
        in points of the original grid; ``lam`` for arPLS).  Unset ones get
        grid-aware defaults: SNIP half-window ≈ 8 typical FWHM of the stack's
        median pattern.

    Returns
    -------
    ndarray, shape like ``intensity``
        Background (counts); all-NaN scans give an all-NaN background.

    Raises
    ------
    ConfigError
        Unknown method or option.
    SchemaError
        Shapes that do not match.

    Examples
    --------
    >>> x = np.linspace(10, 60, 501)
    >>> y = 100 + x + 500 * np.exp(-((x - 30) / 0.1) ** 2)
    >>> bg = background_array(x, y)
    >>> bool(abs(bg[200] - 130) < 5)
    True
    """
    x = np.asarray(two_theta, dtype=float)
    y = np.asarray(intensity, dtype=float)
    one = y.ndim == 1
    y2 = y[None, :] if one else y
    if y2.ndim != 2 or y2.shape[1] != x.size:
        raise SchemaError(f"intensity has shape {y.shape}; expected (n_scans, {x.size}) to match two_theta")
    if method not in METHODS:
        raise ConfigError(f"unknown background method {method!r}; expected one of {sorted(METHODS)}")
    q = _decimation(method, x, y2, decimate)
    xb = _bin(x, q)
    fitter = Baseline(x_data=xb)
    func = getattr(fitter, METHODS[method])
    named = {k for k, v in inspect.signature(func).parameters.items()
             if v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL)} - {"data"}
    unknown = sorted(set(options) - named)
    if unknown:
        raise ConfigError(f"background method {method!r} rejected options {unknown}; "
                          f"it accepts {sorted(named)}")
    kw = _method_kwargs(method, x, y2, options, q)
    out = np.full(y2.shape, math.nan)
    for i, row in enumerate(y2):
        if np.isfinite(row).sum() >= 3:
            try:
                est = func(_bin(_fill_nan(row, x), q), **kw)[0]
            except TypeError as err:
                raise ConfigError(f"background method {method!r} rejected options {sorted(options)}: {err}") from err
            out[i] = est if q == 1 else np.interp(x, xb, est)
        if callable(progress):
            progress(i + 1, y2.shape[0])
    logger.debug("background %s with %s (decimate %d) on %d scans", method, kw, q, y2.shape[0])
    return out[0] if one else out
