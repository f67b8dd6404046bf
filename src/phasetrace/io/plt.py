"""Bruker GADDS ``.plt`` (PLOTSO) 1-D integrations.

Header lines start with ``!@!``; ``!@!!Wavelengths  avg  Kα1  Kα2`` gives the
wavelengths (the Kα2/Kα1 ratio follows from the average), then two columns
2θ (deg), counts.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import xarray as xr

from ..errors import ReaderError
from ._common import build_stack, check_file, ratio_from_average, read_bytes
from ._registry import register
from .text import decode_text, parse_columns

__all__ = ["read"]

_WAVES = re.compile(r"wavelengths?\s*[:=]?\s*([\d.]+)(?:\s+([\d.]+))?(?:\s+([\d.]+))?", re.IGNORECASE)


@register("plt", extensions=(".plt",), description="Bruker GADDS PLOTSO .plt")
def read(path: str | Path, *, wavelength_A: float | None = None) -> xr.Dataset:
    """Read a GADDS ``.plt`` file into a one-scan stack.

    Parameters
    ----------
    path : str or Path
        ``.plt`` file.
    wavelength_A : float, optional
        Unused (the header carries the wavelengths).

    Returns
    -------
    xarray.Dataset
        One-scan stack with Kα1, Kα2 (Å) and their ratio from the header.

    Raises
    ------
    ReaderError
        Not a PLOTSO file, or the text-reader errors.
    """
    p = check_file(path)
    text = decode_text(p, read_bytes(p))
    if not text.lstrip().startswith("!@!"):
        raise ReaderError(f"{p}: not a GADDS PLOTSO .plt file (no '!@!' header)")
    header, cols = parse_columns(p, text)
    wl = None
    for line in header:
        m = _WAVES.search(line)
        if m:
            vals = [float(g) for g in m.groups() if g]
            if len(vals) == 3:
                avg, l1, l2 = vals
                ratio = ratio_from_average(l1, l2, avg)
                wl = (l1, l2, 0.5 if math.isnan(ratio) else ratio)
            else:
                wl = (vals[-1], math.nan, 0.0)
            break
    sigma = cols[:, 2] if cols.shape[1] >= 3 else None
    return build_stack(p, cols[:, 0], cols[:, 1], sigma, source_format="plt", wavelength=wl,
                       radiation="CuKa" if wl and abs(wl[0] - 1.5406) < 1e-3 else "")
