"""Input preparation shared by peak finding and fitting (background, σ, doublet)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import xarray as xr

from ..background.methods import background_array
from ..errors import ConfigError, SchemaError
from ..schema import INTENSITY, INTENSITY_SIGMA, SCAN, TWO_THETA

__all__ = ["resolve_background", "resolve_sigma", "resolve_doublet", "stack_arrays"]


def stack_arrays(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """2θ grid (deg) and intensity (scan, two_theta) as C-contiguous float64 arrays.

    Non-finite intensities (±inf, e.g. dead or saturated pixels) become NaN, the
    missing-data marker every later step masks.
    """
    x = np.ascontiguousarray(ds[TWO_THETA].values, dtype=float)
    y = np.array(ds[INTENSITY].transpose(SCAN, TWO_THETA).values, dtype=float, order="C")
    y[~np.isfinite(y)] = np.nan
    return x, y


def resolve_sigma(ds: xr.Dataset, y: np.ndarray) -> np.ndarray:
    """One-sigma errors: ``intensity_sigma`` if present, else √max(I, 1); non-positive → NaN."""
    if INTENSITY_SIGMA in ds:
        s = np.asarray(ds[INTENSITY_SIGMA].transpose(SCAN, TWO_THETA).values, dtype=float)
    else:
        s = np.sqrt(np.maximum(y, 1.0))
    return np.where(np.isfinite(s) & (s > 0), s, np.nan)


def resolve_background(ds: xr.Dataset, y: np.ndarray, background: Any,
                       method: str = "snip") -> np.ndarray:
    """Background array (scan, two_theta) from ``"auto"``, ``None`` or a DataArray/array.

    ``"auto"`` uses an existing ``background`` variable of ``ds`` if there is
    one, otherwise estimates it with :func:`~phasetrace.background.methods.background_array`.
    ``None`` gives zeros (each fit window still has its own linear background).
    """
    x = ds[TWO_THETA].values
    if background is None:
        return np.zeros_like(y)
    if isinstance(background, str):
        if background != "auto":
            raise ConfigError(f"background={background!r}; expected 'auto', None or a DataArray (scan, two_theta)")
        if "background" in ds:
            return np.asarray(ds["background"].transpose(SCAN, TWO_THETA).values, dtype=float)
        return background_array(x, y, method=method)
    if isinstance(background, xr.DataArray):
        bg = background.broadcast_like(ds[INTENSITY]).transpose(SCAN, TWO_THETA).values
    else:
        bg = np.asarray(background, dtype=float)
        if bg.ndim == 1:
            bg = np.broadcast_to(bg, y.shape)
    if bg.shape != y.shape:
        raise SchemaError(f"background has shape {bg.shape}; expected {y.shape} (scan, two_theta)")
    return np.ascontiguousarray(bg, dtype=float)


def resolve_doublet(ds: xr.Dataset, doublet: Any) -> tuple[float, float]:
    """``(λ₂/λ₁, I₂/I₁)`` for the fit; ``(1, 0)`` for a single line.

    ``"auto"`` uses a doublet when ``wavelength2_A`` is finite and
    ``kalpha2_ratio > 0``; ``True`` requires those attributes.
    """
    wl = float(ds.attrs.get("wavelength_A", math.nan))
    wl2 = float(ds.attrs.get("wavelength2_A", math.nan))
    k2 = float(ds.attrs.get("kalpha2_ratio", 0.0) or 0.0)
    have = math.isfinite(wl) and wl > 0 and math.isfinite(wl2) and wl2 > 0 and k2 > 0
    if doublet == "auto":
        return (wl2 / wl, k2) if have else (1.0, 0.0)
    if doublet is True:
        if not have:
            raise ConfigError(
                f"doublet=True needs attrs wavelength_A, wavelength2_A and kalpha2_ratio > 0; got "
                f"{wl}, {wl2}, {k2} (set them, e.g. from resolve_wavelength('CuKa'))")
        return wl2 / wl, k2
    if doublet is False:
        return 1.0, 0.0
    raise ConfigError(f"doublet={doublet!r}; expected 'auto', True or False")
