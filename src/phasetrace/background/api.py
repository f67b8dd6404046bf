"""Background estimation on a stack Dataset."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import xarray as xr

from ..schema import INTENSITY, SCAN, TWO_THETA, validate_stack
from .methods import background_array

__all__ = ["estimate_background"]


def estimate_background(
    ds: xr.Dataset,
    *,
    method: str = "snip",
    decimate: int | str = "auto",
    progress: bool | Callable[[int, int], None] = False,
    **options: Any,
) -> xr.Dataset:
    """Estimate the background of every scan of a stack.

    Parameters
    ----------
    ds : xarray.Dataset
        A stack (dims ``scan``, ``two_theta``; variable ``intensity``).
    method : str
        Background method (see :data:`phasetrace.background.methods.METHODS`);
        default ``"snip"``.
    decimate : int or "auto"
        Point-averaging factor for SNIP / rolling ball (see
        :func:`~phasetrace.background.methods.background_array`).
    progress : bool or callable
        ``callable(done, total)`` called after each scan.
    **options
        Options of the pybaselines method (e.g. ``max_half_window`` in points).

    Returns
    -------
    xarray.Dataset
        A copy of ``ds`` with a new variable ``background`` (scan, two_theta),
        counts; ``attrs["background_method"]`` records the method.  ``ds`` is
        not modified.

    Raises
    ------
    SchemaError
        ``ds`` is not a stack.
    ConfigError
        Unknown method or option.

    Examples
    --------
    >>> import numpy as np
    >>> from phasetrace.schema import make_stack
    >>> x = np.linspace(10, 60, 501)
    >>> ds = make_stack(x, 100 + x + 500 * np.exp(-((x - 30) / 0.1) ** 2))
    >>> out = estimate_background(ds)
    >>> out["background"].dims
    ('scan', 'two_theta')
    """
    validate_stack(ds, require_wavelength=False)
    y = ds[INTENSITY].transpose(SCAN, TWO_THETA).values
    bg = background_array(ds[TWO_THETA].values, y, method=method, decimate=decimate,
                          progress=progress, **options)
    out = ds.copy()
    out["background"] = ((SCAN, TWO_THETA), bg, {"units": ds[INTENSITY].attrs.get("units", "counts"),
                                                  "method": method})
    out.attrs["background_method"] = method
    return out
