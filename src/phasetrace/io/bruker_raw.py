"""Bruker binary ``.raw`` files, version 4 (``RAW4.00``, DIFFRAC.SUITE / V5Converter).

Layout (little-endian), as found in real files:

* bytes 0–7 ``RAW4.00``; 12–23 date ``MM/DD/YYYY``; 24–33 time ``hh:mm:ss``;
* from byte 61, records ``(uint32 type, uint32 total_length, ...)``: type 10 are
  key/value strings (key in 24 bytes at +12, value after +36), type 30 holds the
  tube wavelengths as doubles (average +72, Kα1 +80, Kα2 +88, Kβ +96, Kα2/Kα1 ratio +104);
* then each range: a 160-byte header (steps uint32 at +4 and +88, start 2θ double
  at +72, step double at +80, time per step float at +92, length of the
  supplementary block uint32 at +140), the supplementary block, and ``steps``
  float32 intensities.

Versions 1–3 (``RAW ``, ``RAW2``, ``RAW1.01``) are recognised and refused with
a message (no real file was available to test them against).
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import ReaderError
from ._common import build_stack, check_file, parse_datetime, read_bytes
from ._registry import register

__all__ = ["read"]

_HEADER_RECORD_TYPES = {10, 30, 50, 60, 110, 160}
_RANGE_HEADER = 160


def _u32(data: bytes, offset: int) -> int:
    return struct.unpack_from("<I", data, offset)[0]


def _f64(data: bytes, offset: int) -> float:
    return struct.unpack_from("<d", data, offset)[0]


def _records(path: Path, data: bytes) -> tuple[dict[str, str], tuple[float, float, float] | None, int]:
    """Walk the header records; return (key/values, wavelengths, offset of the first range)."""
    info: dict[str, str] = {}
    wl = None
    off = 61
    while off + 8 <= len(data):
        rtype, length = _u32(data, off), _u32(data, off + 4)
        if rtype not in _HEADER_RECORD_TYPES:
            break
        if length < 8 or off + length > len(data):
            raise ReaderError(f"{path}: corrupt RAW4 header record at byte {off} (truncated file?)")
        if rtype == 10 and length >= 36:
            key = data[off + 12:off + 36].split(b"\0", 1)[0].decode("latin-1")
            info[key] = data[off + 36:off + length].split(b"\0", 1)[0].decode("latin-1").strip()
        elif rtype == 30 and length >= 112:
            avg, l1, l2, _beta, ratio = struct.unpack_from("<5d", data, off + 72)
            if 0.05 < l1 < 5:
                wl = (l1, l2 if 0.05 < l2 < 5 else math.nan, ratio if 0 <= ratio < 1.5 else math.nan)
        off += length
    return info, wl, off


def _ranges(path: Path, data: bytes, off: int) -> list[tuple[np.ndarray, np.ndarray]]:
    ranges = []
    while off + _RANGE_HEADER <= len(data):
        steps, steps2 = _u32(data, off + 4), _u32(data, off + 88)
        start, step = _f64(data, off + 72), _f64(data, off + 80)
        extra = _u32(data, off + 140)
        begin = off + _RANGE_HEADER + extra
        if steps == 0 or steps != steps2 or not (math.isfinite(start) and math.isfinite(step) and step > 0):
            if not ranges:
                raise ReaderError(f"{path}: unrecognised RAW4 range header at byte {off}; cannot find the data")
            break
        end = begin + 4 * steps
        if end > len(data):
            raise ReaderError(
                f"{path}: range declares {steps} points but the file ends {end - len(data)} bytes early (truncated)")
        y = np.frombuffer(data, dtype="<f4", count=steps, offset=begin).astype(float)
        ranges.append((start + step * np.arange(steps), y))
        off = end
    if not ranges:
        raise ReaderError(f"{path}: no data range in the RAW4 file (truncated?)")
    return ranges


@register("bruker_raw", extensions=(".raw",), description="Bruker binary RAW v4")
def read(path: str | Path, *, wavelength_A: float | None = None) -> xr.Dataset:
    """Read a Bruker ``RAW4.00`` file.

    Parameters
    ----------
    path : str or Path
        ``.raw`` file.
    wavelength_A : float, optional
        Unused (the tube wavelengths are in the file).

    Returns
    -------
    xarray.Dataset
        One scan per data range (ranges must share one grid); ``datetime_start``
        from the file date and time (no time zone).

    Raises
    ------
    ReaderError
        Not a Bruker RAW file, an unsupported version, or a truncated file.
    """
    p = check_file(path)
    data = read_bytes(p)
    magic = data[:7]
    if magic != b"RAW4.00":
        if data[:4] in (b"RAW ", b"RAW2") or data[:7] == b"RAW1.01":
            raise ReaderError(f"{p}: Bruker RAW version {data[:7]!r} is not supported (only RAW4.00); "
                              "export the scan as .brml or .xy")
        raise ReaderError(f"{p}: not a Bruker RAW file (starts with {data[:8]!r}; expected b'RAW4.00')")
    if len(data) < 61 + _RANGE_HEADER:
        raise ReaderError(f"{p}: {len(data)} bytes, too short for a RAW4 file (truncated)")
    date = data[12:24].split(b"\0", 1)[0].decode("latin-1")
    time = data[24:34].split(b"\0", 1)[0].decode("latin-1")
    info, wl, off = _records(p, data)
    ranges = _ranges(p, data, off)
    x0 = ranges[0][0]
    for k, (x, _) in enumerate(ranges[1:], start=1):
        if x.size != x0.size or not np.allclose(x, x0):
            raise ReaderError(f"{p}: range {k} is on a different 2θ grid from range 0; export ranges separately")
    n = len(ranges)
    coords = {"datetime_start": [parse_datetime(f"{date} {time}")] * n}
    radiation = "CuKa" if wl and abs(wl[0] - 1.5406) < 1e-3 and math.isfinite(wl[1]) else ""
    return build_stack(p, x0, np.stack([r[1] for r in ranges]), source_format="bruker_raw", wavelength=wl,
                       radiation=radiation, coords=coords, attrs={"sample": info.get("SAMPLEID", "")})
