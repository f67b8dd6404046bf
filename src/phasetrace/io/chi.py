"""Fit2D / pyFAI ``.chi`` files: four header lines (title, x label, y label, point count), then columns.

The x label says whether x is 2θ (``2-Theta Angle (Degrees)``) or Q
(``Q (nm-1)``, ``Q (Angstrom-1)``); Q needs a wavelength to become 2θ.
"""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from ..errors import ReaderError
from ._common import check_file, read_bytes
from ._registry import register
from .text import classify_axis, decode_text, parse_columns, stack_from_columns

__all__ = ["read"]


@register("chi", extensions=(".chi",), description="Fit2D/pyFAI .chi")
def read(path: str | Path, *, wavelength_A: float | None = None) -> xr.Dataset:
    """Read a Fit2D ``.chi`` pattern into a one-scan stack.

    Parameters
    ----------
    path : str or Path
        ``.chi`` file.
    wavelength_A : float, optional
        Wavelength (Å) to convert a Q axis to 2θ (``.chi`` headers carry none).

    Returns
    -------
    xarray.Dataset
        One-scan stack (wavelength NaN unless the header gives one).

    Raises
    ------
    ReaderError
        Header shorter than four lines, a radial/pixel x axis, or the text-reader errors.
    """
    p = check_file(path)
    text = decode_text(p, read_bytes(p))
    lines = text.splitlines()
    if len(lines) < 5:
        raise ReaderError(f"{p}: {len(lines)} lines; a .chi file has 4 header lines then data")
    header, cols = parse_columns(p, text, skip=4)
    x_label = lines[1].strip()
    low = x_label.lower()
    if any(word in low for word in ("radial", "pixel", "mm")) and "theta" not in low:
        raise ReaderError(f"{p}: x axis is {x_label!r}; expected 2-Theta (degrees) or Q")
    if "q" not in low.split("(")[0] and "theta" not in low and "2th" not in low:
        raise ReaderError(f"{p}: unrecognised x axis label {x_label!r}; expected 2-Theta or Q")
    label = x_label if classify_axis(x_label) else "2theta"  # "2-Theta Angle (Radians)" → converted
    return stack_from_columns(p, header, cols, source_format="chi", wavelength_A=wavelength_A, x_label=label)
