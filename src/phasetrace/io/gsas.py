"""GSAS powder data files (``.gsa``, ``.gsas``, ``.fxye``) for constant-wavelength data.

A title line and ``#`` comment lines (APS 11-BM writes ``# Calibrated wavelength``,
``# Temp (K)``, ``# Scan time``) precede one or more ``BANK`` records::

    BANK 1 12799 12799 CONS 50.000000 0.200000 0 0 FXYE

Supported data layouts: ``FXYE`` (x, y, σ per line), ``ESD`` (pairs y, σ in
8-character fields, x from ``CONS start step``) and ``STD`` (``(i2, f6.0)``
count/intensity fields).  2θ is in centidegrees in all of them.  Several banks
on the same grid become several scans.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import ReaderError
from ._common import (build_stack, check_file, header_datetime, header_temperature_K, header_wavelength,
                      read_bytes)
from ._registry import register
from .text import decode_text

__all__ = ["read"]

logger = logging.getLogger(__name__)


def _floats(path: Path, lineno: int, tokens: list[str]) -> list[float]:
    try:
        return [float(t) for t in tokens]
    except ValueError:
        raise ReaderError(f"{path}: line {lineno}: non-numeric GSAS data {' '.join(tokens)[:60]!r}") from None


def _fixed_fields(line: str, width: int) -> list[str]:
    line = line.rstrip("\r\n")
    return [line[i:i + width] for i in range(0, len(line), width) if line[i:i + width].strip()]


def _fxye(path: Path, lines: list[tuple[int, str]]) -> np.ndarray:
    """FXYE rows (x, y, σ) → array (n, 3); bulk parse, with a line-by-line pass to name a bad line."""
    try:
        values = np.array(" ".join(ln for _, ln in lines).split(), dtype=float)
        if lines and values.size == 3 * len(lines):
            return values.reshape(-1, 3)
    except ValueError:
        pass
    rows = [_floats(path, n, ln.split()) for n, ln in lines]
    if not rows or any(len(r) < 3 for r in rows):
        raise ReaderError(f"{path}: FXYE bank needs 3 columns (2θ, I, σ) on every line")
    return np.array([r[:3] for r in rows])


def _parse_bank(path: Path, head: list[str], lines: list[tuple[int, str]]) -> tuple[np.ndarray, ...]:
    """Return (2θ deg, I, σ) for one bank; ``head`` is the BANK line split into tokens."""
    if len(head) < 5:
        raise ReaderError(f"{path}: malformed BANK line {' '.join(head)!r}")
    try:
        nchan = int(head[2])
    except ValueError:
        raise ReaderError(f"{path}: malformed BANK line {' '.join(head)!r}") from None
    bintyp = head[4].upper()
    fmt = head[-1].upper() if len(head) > 5 else "STD"
    if bintyp not in ("CONS", "RALF", "SLOG") and fmt != "FXYE":
        raise ReaderError(f"{path}: GSAS bin type {bintyp} not supported; expected CONS or FXYE")
    if fmt == "FXYE":
        arr = _fxye(path, lines)
        x, y, s = arr[:, 0], arr[:, 1], arr[:, 2]
    elif bintyp == "CONS" and fmt in ("ESD", "STD"):
        start, step = _floats(path, 0, head[5:7])
        values: list[float] = []
        width = 8 if fmt == "ESD" else 8
        for n, ln in lines:
            fields = _fixed_fields(ln, width)
            if fmt == "STD":
                fields = [f[2:] for f in fields]  # (i2, f6.0): drop the count-multiplier field
            values.extend(_floats(path, n, [f.strip() for f in fields]))
        if fmt == "ESD":
            arr = np.array(values[: 2 * (len(values) // 2)]).reshape(-1, 2)
            y, s = arr[:, 0], arr[:, 1]
        else:
            y = np.array(values)
            s = np.sqrt(np.maximum(np.abs(y), 1.0))
        x = start + step * np.arange(y.size)
    else:
        raise ReaderError(f"{path}: GSAS data layout {bintyp}/{fmt} not supported; expected FXYE, ESD or STD")
    if x.size < nchan:
        raise ReaderError(f"{path}: BANK declares {nchan} points but has {x.size} (truncated file?)")
    return x[:nchan] / 100.0, y[:nchan], s[:nchan]


@register("gsas", extensions=(".gsa", ".gsas", ".fxye", ".gss"), description="GSAS CW powder data")
def read(path: str | Path, *, wavelength_A: float | None = None) -> xr.Dataset:
    """Read a GSAS constant-wavelength powder file.

    Parameters
    ----------
    path : str or Path
        GSAS file.
    wavelength_A : float, optional
        Unused (wavelength comes from ``# Calibrated wavelength`` comments when present).

    Returns
    -------
    xarray.Dataset
        One scan per BANK (all banks must share the grid); ``temperature_K`` from
        ``# Temp (K) =`` and ``datetime_start`` from ``# Scan time =``.

    Raises
    ------
    ReaderError
        No BANK record, unsupported layout, truncated bank or banks on different grids.
    """
    p = check_file(path)
    lines = decode_text(p, read_bytes(p)).splitlines()
    header: list[str] = []
    banks: list[tuple[list[str], list[tuple[int, str]]]] = []
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith("BANK"):
            banks.append((s.split(), []))
        elif not s:
            continue
        elif s.startswith("#") or not banks:
            header.append(s)
        else:
            banks[-1][1].append((i + 1, line))
    if not banks:
        raise ReaderError(f"{p}: no BANK record; not a GSAS powder data file")
    parsed = [_parse_bank(p, head, body) for head, body in banks]
    x0 = parsed[0][0]
    for k, (x, _, _) in enumerate(parsed[1:], start=2):
        if x.size != x0.size or not np.allclose(x, x0):
            raise ReaderError(f"{p}: BANK {k} is on a different 2θ grid from BANK 1; split the banks into files")
    wl = header_wavelength(header, source=str(p))
    n = len(parsed)
    coords = {"temperature_K": [header_temperature_K(header)] * n, "datetime_start": [header_datetime(header)] * n}
    if wl is None:
        logger.debug("%s: no wavelength in the GSAS comments", p)
    radiation = "synchrotron" if wl and wl[0] < 1.0 and math.isnan(wl[1]) else ""
    return build_stack(p, x0, np.stack([b[1] for b in parsed]), np.stack([b[2] for b in parsed]),
                       source_format="gsas", wavelength=wl, radiation=radiation, coords=coords)
