"""Helpers shared by the readers: file checks, header parsing, validation, stack building.

Policies (applied to every reader through :func:`build_stack`)
--------------------------------------------------------------
* 2θ must be finite and strictly monotonic.  A scan recorded from high to low
  angle is reversed; duplicated or zig-zagging 2θ is an error naming the point.
* Intensities must be finite (NaN/inf → error).
* Negative intensities: background-subtracted data legitimately scatter around
  zero, so negatives are accepted as long as the most negative value is within
  ``max(10 % of the scan maximum, 5 × median σ)`` of zero.  Anything more
  negative points to a wrong column, a corrupt file or a bad subtraction and is
  an error naming the file.
* σ must be finite and non-negative; σ = 0 (zero counts in many .xye writers)
  is replaced by √max(|I|, 1) (counting statistics), σ < 0 is an error.
* Wavelengths must be plausible X-ray wavelengths in Å (0.05–5 Å); a value
  equal to a characteristic line divided by ten (e.g. 0.15406) is taken as
  given in nm and refused.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np
import xarray as xr

from ..errors import ReaderError, SchemaError
from ..schema import SCAN_COORDS, WAVELENGTHS_A, make_stack, resolve_wavelength
from ._archive import open_zip, parse_xml, read_zip_member  # noqa: F401 - re-exported for the readers
from ._limits import MAX_TEXT_BYTES, human_bytes

logger = logging.getLogger(__name__)

#: extra scan coordinates written by the readers (ISO 8601 strings, "" when unknown).
DATETIME_COORDS = ("datetime_start", "datetime_end")

#: scan coordinates every reader fills (NaN / "" when the file does not say); the
#: electrochemistry coordinates (voltage_V, cycle, ...) are added by phasetrace.echem.align.
READER_COORDS = ("file", "time_s", "time_start_s", "time_end_s", "temperature_K") + DATETIME_COORDS

Wavelength = tuple[float, float, float]


# --------------------------------------------------------------------------- files
def check_file(path: str | Path) -> Path:
    """Return ``path`` as a :class:`Path` after checking it is a non-empty readable file.

    Raises
    ------
    ReaderError
        For a missing path, a folder or an empty file.
    """
    p = Path(path)
    if not p.exists():
        raise ReaderError(f"{p}: no such file")
    if not p.is_file():
        raise ReaderError(f"{p}: not a regular file (a folder?); expected a pattern file")
    if p.stat().st_size == 0:
        raise ReaderError(f"{p}: empty file (0 bytes)")
    return p


def read_bytes(path: Path, *, max_bytes: int = MAX_TEXT_BYTES) -> bytes:
    """Read a whole file read-only (at most ``max_bytes``), turning OS errors into :class:`ReaderError`."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            data = fh.read(max_bytes + 1) if size <= max_bytes else b""
    except OSError as err:
        raise ReaderError(f"{path}: cannot read file ({err.strerror or err})") from err
    if size > max_bytes or len(data) > max_bytes:
        raise ReaderError(f"{path}: file of {human_bytes(max(size, len(data)))}; refusing more than "
                          f"{human_bytes(max_bytes)} for this format (not a single pattern file?)")
    return data


def local(tag: str) -> str:
    """Strip an XML namespace: ``'{ns}scan'`` → ``'scan'``."""
    return tag.rsplit("}", 1)[-1]


def find_local(elem: ET.Element, name: str) -> ET.Element | None:
    """First descendant (or self) whose local tag is ``name``."""
    for e in elem.iter():
        if local(e.tag) == name:
            return e
    return None


def findall_local(elem: ET.Element, name: str) -> list[ET.Element]:
    """All descendants whose local tag is ``name``, in document order."""
    return [e for e in elem.iter() if local(e.tag) == name]


# --------------------------------------------------------------------- wavelengths
def check_wavelength(value: float, *, source: str) -> float:
    """Return ``value`` (Å) if it is a plausible X-ray wavelength, else raise :class:`ReaderError`.

    Parameters
    ----------
    value : float
        Wavelength, Å.
    source : str
        Where the value came from (file name or ``"--wavelength"``), for the message.
    """
    try:
        wl = resolve_wavelength(float(value))[0]
    except (SchemaError, TypeError, ValueError) as err:
        raise ReaderError(f"{source}: {err}") from err
    for name, (l1, _, _) in WAVELENGTHS_A.items():
        if abs(wl * 10.0 - l1) < 2e-3 * l1:
            raise ReaderError(
                f"{source}: wavelength {wl:g} looks like {name[:2].capitalize()} Kα given in nm; "
                f"give it in Å ({l1:g})")
    return wl


def ratio_from_average(l1: float, l2: float, average: float) -> float:
    """Kα2/Kα1 intensity ratio implied by a weighted-average wavelength (Å); 0.5 for Cu."""
    if not (math.isfinite(l1) and math.isfinite(l2) and math.isfinite(average)) or l2 == average:
        return math.nan
    r = (average - l1) / (l2 - average)
    return round(float(r), 2) if 0.0 < r < 1.5 else math.nan


# a number with a decimal point or a decimal comma (``1,540593``); ``tail`` catches a second
# separator right after it (``1,540,593``), which makes a decimal-comma reading ambiguous.
_NUM = r"(?P<v>[-+]?(?:\d+(?:[.,]\d+|\.)?|\.\d+)(?:[eE][-+]?\d+)?)(?P<tail>[.,]\d)?"
_WL_RE = re.compile(
    r"(?:wave\s*length|lambda|λ)\s*(?:_?(?:\(?\s*(?P<u1>Å|A|angstroms?|nm|pm|m)\s*\)?))?"
    r"\s*(?:=|:|\s)\s*" + _NUM + r"\s*(?P<u2>Å|A\b|angstroms?|nm|pm|m\b)?",
    re.IGNORECASE)
_WL2_RE = re.compile(r"(?:wavelength2(?:_A)?|k-?alpha2|kα2)\s*[=:]\s*" + _NUM, re.IGNORECASE)
_RATIO_RE = re.compile(r"(?:kalpha2_ratio|ratio\s*k?alpha2\s*/\s*k?alpha1|kalpha2\s*ratio)\s*[=:]\s*" + _NUM,
                       re.IGNORECASE)
_ANODE_RE = re.compile(r"\banode\s*[:=]\s*\"?\s*(Cu|Mo|Ag|Co|Fe|Cr)\b", re.IGNORECASE)
_TEMP_RE = re.compile(
    r"\btemp(?:erature)?(?:_(?P<u1>K|C))?\s*(?:\(\s*(?P<u2>K|°?C|deg\s*C)\s*\))?\s*[=:]\s*" + _NUM
    + r"\s*(?P<u3>K\b|°?C\b)?", re.IGNORECASE)
_TIME_RE = re.compile(r"(?:scan\s*time|start\s*time|datetime_start|measurement\s*date|date\s*time)\s*[=:]\s*(.+)",
                      re.IGNORECASE)


def _wavelength_unit_factor(unit: str | None, value: float) -> float:
    u = (unit or "").lower()
    if u == "nm":
        return 10.0
    if u == "pm":
        return 0.01
    if u == "m" or (not u and 0 < value < 1e-6):
        return 1e10
    return 1.0


def _header_lines(lines: Sequence[str]) -> Iterator[str]:
    """Header lines with runs of white space collapsed to one space.

    The header regular expressions have adjacent optional white space
    (``\\s*(?:=|:|\\s)\\s*``); on a run of thousands of spaces that backtracks in
    polynomial time.  After collapsing, each match attempt is bounded, so a
    header is parsed in time linear in its length.
    """
    for line in lines:
        yield " ".join(line.split())


def _number(m: re.Match, line: str, source: str) -> float:
    """The number matched as ``v``; a decimal comma is read as a point, an ambiguous one refused."""
    text, tail = m.group("v"), m.group("tail")
    if tail and ("," in text or tail[0] == "."):
        raise ReaderError(f"{source}: ambiguous number in header line {line.strip()[:80]!r} "
                          "(decimal comma or thousands separator?); write it as e.g. 1.540593")
    return float(text.replace(",", "."))


def header_wavelength(lines: Sequence[str], *, source: str = "header") -> Wavelength | None:
    """Find a wavelength in header lines; return ``(λ1 Å, λ2 Å or NaN, ratio)`` or None.

    Recognised: ``wavelength_A = 1.5406``, ``Calibrated wavelength = 0.413263``,
    ``Wavelength: 1.0332e-10 m`` (pyFAI), ``lambda = 0.7093``, ``wavelength_nm = ...``,
    optional ``wavelength2_A`` / ``kalpha2_ratio`` lines, and ``Anode: Cu`` (→ Cu Kα doublet).
    A decimal comma (``wavelength = 1,540593``) is read as a decimal point.

    Raises
    ------
    ReaderError
        A number with two separators (``1,540,593``), naming ``source``.
    """
    l1 = l2 = math.nan
    ratio = math.nan
    anode = None
    for line in _header_lines(lines):
        if math.isnan(l2) and (m := _WL2_RE.search(line)):
            l2 = _number(m, line, source)
            continue
        if math.isnan(ratio) and (m := _RATIO_RE.search(line)):
            ratio = _number(m, line, source)
            continue
        if math.isnan(l1) and (m := _WL_RE.search(line)):
            value = _number(m, line, source)
            l1 = value * _wavelength_unit_factor(m.group("u1") or m.group("u2"), value)
            continue
        if anode is None and (m := _ANODE_RE.search(line)):
            anode = m.group(1).capitalize()
    if not math.isnan(l1):
        if math.isnan(ratio):
            ratio = 0.5 if not math.isnan(l2) else 0.0
        return (l1, l2, ratio)
    if anode is not None:
        return resolve_wavelength(f"{anode}Ka")
    return None


def header_temperature_K(lines: Sequence[str], *, source: str = "header") -> float:
    """Temperature in K from header lines (``Temp (K) = 6.778``, ``temperature_C: 25``); NaN if none."""
    for line in _header_lines(lines):
        m = _TEMP_RE.search(line)
        if not m:
            continue
        value = _number(m, line, source)
        unit = (m.group("u1") or m.group("u2") or m.group("u3") or "").upper().replace("°", "")
        if unit in ("K", "C", "DEG C", "DEGC"):
            kelvin = value if unit == "K" else value + 273.15
            if not (math.isfinite(kelvin) and kelvin >= 0.0):
                raise ReaderError(f"{source}: temperature {value:g} {'K' if unit == 'K' else '°C'} in the "
                                  "header is not a physical temperature")
            return kelvin
        logger.debug("temperature %r without a unit ignored", line.strip())
    return math.nan


def parse_datetime(text: str) -> str:
    """Parse a date/time string into ISO 8601 (keeping any UTC offset); "" if not recognised."""
    s = text.strip().strip('"').strip()
    if not s:
        return ""
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00")).isoformat()
    except ValueError:
        pass
    for fmt in ("%b %d, %Y %H:%M:%S.%f", "%b %d, %Y %H:%M:%S", "%m/%d/%Y %H:%M:%S",
                "%d/%m/%Y %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%d-%b-%Y %H:%M:%S", "%a %b %d %H:%M:%S %Y"):
        try:
            return datetime.strptime(s.title() if "%b" in fmt else s, fmt).isoformat()
        except ValueError:
            continue
    return ""


def header_datetime(lines: Sequence[str]) -> str:
    """Scan start time (ISO 8601) from header lines such as ``# Scan time = APR 25, 2011 12:35:45``."""
    for line in _header_lines(lines):
        m = _TIME_RE.search(line)
        if m and (iso := parse_datetime(m.group(1))):
            return iso
    return ""


# ---------------------------------------------------------------------- validation
def _check_two_theta(path: Path, tt: np.ndarray) -> None:
    if tt.size < 5:
        raise ReaderError(f"{path}: only {tt.size} data points; expected at least 5")
    if not np.all(np.isfinite(tt)):
        i = int(np.flatnonzero(~np.isfinite(tt))[0])
        raise ReaderError(f"{path}: 2θ value at point {i} is {tt[i]}; expected finite numbers")
    if tt.min() < -180 or tt.max() > 180:
        raise ReaderError(
            f"{path}: x values span {tt.min():g}–{tt.max():g}, not 2θ in degrees (expected within ±180°)")
    d = np.diff(tt)
    if np.any(d == 0):
        i = int(np.flatnonzero(d == 0)[0])
        raise ReaderError(f"{path}: duplicated 2θ value {tt[i]:g}° at points {i} and {i + 1}")
    if np.any(d < 0):
        i = int(np.flatnonzero(d < 0)[0])
        raise ReaderError(
            f"{path}: 2θ is not monotonic at point {i + 1} ({tt[i]:g}° then {tt[i + 1]:g}°); "
            "expected strictly increasing values")


def _check_intensity(path: Path, y: np.ndarray, s: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(y)):
        k, i = (int(v[0]) for v in np.nonzero(~np.isfinite(y)))
        raise ReaderError(f"{path}: intensity of scan {k} at point {i} is {y[k, i]}; expected finite numbers")
    if not np.all(np.isfinite(s)):
        raise ReaderError(f"{path}: σ column contains NaN or infinite values")
    if np.any(s < 0):
        raise ReaderError(f"{path}: σ column has negative values; expected uncertainties ≥ 0")
    s = np.where(s > 0, s, np.sqrt(np.maximum(np.abs(y), 1.0)))
    for k in range(y.shape[0]):
        ymin = float(y[k].min())
        if ymin >= 0:
            continue
        tol = max(0.1 * float(y[k].max()), 5.0 * float(np.median(s[k])))
        if ymin < -tol:
            raise ReaderError(
                f"{path}: intensities down to {ymin:g} in scan {k} (maximum {float(y[k].max()):g}); "
                "more negative than background-subtraction noise: check the column order or use "
                "the unsubtracted data")
    return s


def _coord_array(values: Any, n: int, *, name: str, kind: str) -> np.ndarray:
    if values is None:
        return np.full(n, "" if kind == "U" else (0 if kind == "i8" else np.nan),
                       dtype=object if kind == "U" else float if kind == "f8" else np.int64)
    arr = np.asarray(values if not isinstance(values, (str, float, int)) else [values] * n)
    if arr.shape != (n,):
        raise ReaderError(f"{name} has {arr.size} values for {n} scans")
    return arr


def build_stack(
    path: Path,
    two_theta: Any,
    intensity: Any,
    sigma: Any | None = None,
    *,
    source_format: str,
    wavelength: Wavelength | None = None,
    radiation: str = "",
    coords: dict[str, Any] | None = None,
    attrs: dict[str, Any] | None = None,
) -> xr.Dataset:
    """Validate arrays read from ``path`` and build a schema stack with every scan coordinate.

    Parameters
    ----------
    path : Path
        Source file (named in errors; basename goes in the ``file`` coordinate).
    two_theta : array_like, shape (n_points,)
        2θ, degrees; a strictly decreasing grid is reversed.
    intensity : array_like, shape (n_scans, n_points) or (n_points,)
        Intensities.
    sigma : array_like, optional
        Same shape as ``intensity``; default √max(I, 1).
    source_format : str
        Reader name.
    wavelength : tuple of float, optional
        ``(λ1 Å, λ2 Å or NaN, I2/I1)`` from the header; None if the file gives none.
    radiation : str
        Free text, e.g. ``"CuKa"``.
    coords : dict, optional
        Scan coordinates (:data:`phasetrace.schema.SCAN_COORDS` names and
        :data:`DATETIME_COORDS`); missing :data:`READER_COORDS` are filled with
        NaN, except the date-time ones, which are left out when no scan has one.
    attrs : dict, optional
        Extra attributes.

    Returns
    -------
    xarray.Dataset
        Stack with dims (scan, two_theta).

    Raises
    ------
    ReaderError
        On any of the policies of this module.
    """
    tt = np.asarray(two_theta, dtype=float).ravel()
    y = np.atleast_2d(np.asarray(intensity, dtype=float))
    s = np.sqrt(np.maximum(np.abs(y), 1.0)) if sigma is None else np.atleast_2d(np.asarray(sigma, dtype=float))
    if y.shape[-1] != tt.size or s.shape != y.shape:
        raise ReaderError(f"{path}: {tt.size} 2θ values but intensity shape {y.shape}, σ shape {s.shape}")
    if tt.size >= 2 and tt[0] > tt[-1]:
        tt, y, s = tt[::-1], y[:, ::-1], s[:, ::-1]
    _check_two_theta(path, tt)
    s = _check_intensity(path, y, s)
    n = y.shape[0]
    wl = (math.nan, math.nan, 0.0)
    if wavelength is not None:
        l1 = check_wavelength(wavelength[0], source=str(path))
        wl = (l1, float(wavelength[1]), float(wavelength[2]) if math.isfinite(wavelength[2]) else 0.0)
    given = dict(coords or {})
    all_coords: dict[str, np.ndarray] = {"file": np.array([path.name] * n, dtype=object)}
    for name in READER_COORDS[1:]:
        kind = SCAN_COORDS.get(name, ("U", ""))[0]
        values = _coord_array(given.pop(name, None), n, name=f"{path}: {name}", kind=kind)
        if name in DATETIME_COORDS and not any(str(v).strip() for v in values):
            continue  # absent rather than empty: phasetrace.echem.align treats "" as a partial clock
        all_coords[name] = values
    all_coords.update({k: np.asarray(v) for k, v in given.items()})
    return make_stack(tt, y, s, wavelength_A=wl[0], wavelength2_A=wl[1], kalpha2_ratio=wl[2],
                      radiation=radiation, source_format=source_format,
                      coords={k: v.astype(str) if v.dtype == object else v for k, v in all_coords.items()},
                      attrs={"source_file": str(path), **(attrs or {})})
