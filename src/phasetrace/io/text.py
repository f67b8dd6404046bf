"""Plain-text column patterns: ``.xy``, ``.xye``, ``.dat``, ``.csv``, ``.txt``.

Two or three columns (2θ in degrees, intensity, optional σ) separated by
whitespace, commas, tabs or semicolons (then a decimal comma is accepted).
Header/comment lines (``#``, ``!``, ``'``, ``;``, ``%``, ``/* ... */`` or any
non-numeric line before the data) are scanned for a wavelength
(``# wavelength_A = 1.5406``, ``Calibrated wavelength = 0.413263``,
pyFAI's ``# Wavelength: 1e-10 m``, ``Anode: Cu``), a temperature and a start
time.  A column header whose first label is Q (``q_nm^-1``, ``Q(1/A)``) makes
the x column momentum transfer, converted to 2θ with the header wavelength
(or the one passed in).
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import ReaderError
from ..schema import q_to_two_theta
from ._common import (build_stack, check_file, check_wavelength, header_datetime, header_temperature_K,
                      header_wavelength, read_bytes)
from ._registry import register

__all__ = ["read", "parse_columns", "decode_text"]

logger = logging.getLogger(__name__)

_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\v\f\r")
_COMMENT_PREFIXES = ("#", "!", "'", ";", "%", "/*", "*", "//", "@", '"')
_COMMENT_LINE = re.compile(r"^[ \t]*(?:#|!|'|;|%|/\*|\*|//|@|\")", re.MULTILINE)
_NONBLANK_LINE = re.compile(r"^[ \t\r\f\v]*\S", re.MULTILINE)


def decode_text(path: Path, data: bytes) -> str:
    """Decode file bytes as text; raise :class:`ReaderError` for binary content."""
    head = data[:65536]
    if b"\x00" in head:
        raise ReaderError(f"{path}: binary data (NUL bytes) in a text pattern file; expected text columns")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    bad = len(head) - len(head.translate(None, _CONTROL_BYTES))
    if head and bad > 0.01 * len(head):
        raise ReaderError(f"{path}: binary data (control characters) in a text pattern file; expected text columns")
    return text


def _split(line: str) -> list[str]:
    if ";" in line:
        return [t.strip().replace(",", ".") for t in line.split(";") if t.strip()]
    if "," in line:
        return [t.strip() for t in line.split(",") if t.strip()]
    return line.split()


def _numeric(tokens: list[str]) -> bool:
    try:
        for t in tokens:
            float(t)
    except ValueError:
        return False
    return True


def _is_comment(line: str) -> bool:
    s = line.lstrip()
    return s.startswith(_COMMENT_PREFIXES) or s.endswith("*/")


def _find_data_start(lines: list[str], skip: int) -> int:
    for i in range(skip, len(lines)):
        s = lines[i].strip()
        if not s or _is_comment(s):
            continue
        tokens = _split(s)
        if len(tokens) >= 2 and _numeric(tokens):
            return i
    return -1


def _bulk_parse(path: Path, body: list[tuple[int, str]]) -> np.ndarray:
    """Parse numeric data lines (1-based line number, text) into an array (n_points, n_cols)."""
    first = body[0][1]
    if ";" in first:
        rows = [ln.replace(",", ".").replace(";", " ") for _, ln in body]
    elif "," in first:
        rows = [ln.replace(",", " ") for _, ln in body]
    else:
        rows = [ln for _, ln in body]
    counts = np.fromiter((len(r.split()) for r in rows), dtype=np.int64, count=len(rows))
    ncol = int(counts[0])
    if np.any(counts != ncol):
        k = int(np.flatnonzero(counts != ncol)[0])
        what = "truncated file?" if k == len(rows) - 1 else "ragged columns"
        raise ReaderError(
            f"{path}: line {body[k][0]} has {counts[k]} columns, expected {ncol} ({what})")
    try:
        values = np.array(" ".join(rows).split(), dtype=float)
    except ValueError:
        for lineno, r in zip((b[0] for b in body), rows):
            if not _numeric(r.split()):
                raise ReaderError(f"{path}: line {lineno} is not numeric: {r.strip()[:60]!r}") from None
        raise ReaderError(f"{path}: cannot parse the numeric columns") from None
    return values.reshape(-1, ncol)


def _fast_parse(rows: list[str]) -> np.ndarray | None:
    """Parse clean data lines (no comments, one column count) in bulk; None → use the careful path."""
    block = "\n".join(rows)
    if _COMMENT_LINE.search(block) or "*/" in block:
        return None
    first = rows[0]
    if ";" in first:
        block = block.replace(",", ".").replace(";", " ")
    elif "," in first:
        block = block.replace(",", " ")
    ncol = len(block.split("\n", 1)[0].split())
    n_rows = len(_NONBLANK_LINE.findall(block))
    try:
        values = np.array(block.split(), dtype=float)
    except ValueError:
        return None
    if ncol < 2 or values.size != n_rows * ncol:
        return None
    return values.reshape(n_rows, ncol)


def parse_columns(path: Path, text: str, *, skip: int = 0) -> tuple[list[str], np.ndarray]:
    """Split a text pattern into header lines and a numeric array.

    Parameters
    ----------
    path : Path
        File name for messages.
    text : str
        Whole file content.
    skip : int
        Lines that are always header (e.g. 4 for Fit2D ``.chi``).

    Returns
    -------
    header : list of str
        Lines before the data (and comment lines inside it).
    columns : ndarray, shape (n_points, n_columns)
        Numeric data, n_columns ≥ 2.

    Raises
    ------
    ReaderError
        No numeric data, ragged/truncated rows or non-numeric lines in the data.
    """
    lines = text.splitlines()
    start = _find_data_start(lines, skip)
    if start < 0:
        raise ReaderError(f"{path}: no numeric data columns found; expected lines like '10.00 123.4 [11.1]'")
    header = lines[:start]
    fast = _fast_parse(lines[start:])
    if fast is not None:
        return header, fast
    body: list[tuple[int, str]] = []
    for i in range(start, len(lines)):
        s = lines[i].strip()
        if not s:
            continue
        if _is_comment(s):
            header.append(s)
            continue
        body.append((i + 1, s))
    cols = _bulk_parse(path, body)
    if cols.shape[1] < 2:
        raise ReaderError(f"{path}: one column of data; expected 2θ and intensity (and optionally σ)")
    return header, cols


def column_labels(header: list[str]) -> list[str]:
    """Labels of the last header line that looks like column names (may be empty)."""
    for line in reversed(header):
        s = line.strip().lstrip("#!'%;*/@ ").strip()
        tokens = _split(s)
        if tokens and not _numeric(tokens) and "=" not in s and ":" not in s and len(tokens) <= 6:
            return tokens
    return []


#: ``x-axis: Q (A^-1)``, ``x = Q_A^-1``, ``x unit: rad``, ``radial unit = 2th_deg``, ``Unit: q_nm^-1``
_AXIS_KEY = re.compile(r"^(?:x(?:[-_ ]?axis)?(?:[-_ ]?(?:units?|label|name|quantity))?|radial[-_ ]?units?|"
                       r"units?|abscissa) ?[:=] ?(?P<val>.+)$", re.IGNORECASE)
_TT_NAME = re.compile(r"(?:2-?theta|2th|tth|two-?_?theta|angle)")
_Q_UNIT = re.compile(r"^(?:[(\[]?(?:1/a|a\^?-1|a-1|1/nm|nm\^?-1|nm-1|inverseangstroms?|inversenm)[)\]]?)$")


def classify_axis(text: str) -> str:
    """What an x-axis label or unit names: 'tt', 'tt_rad', 'q_A', 'q_nm', 'd_A', 'd_nm' or '' (unknown).

    Examples
    --------
    >>> [classify_axis(t) for t in ("Q (A^-1)", "q_nm^-1", "2theta_rad", "2θ (°)", "intensity")]
    ['q_A', 'q_nm', 'tt_rad', 'tt', '']
    """
    t = (text.lower().replace("å", "a").replace("θ", "theta").replace("⁻¹", "^-1").replace("−", "-")
         .replace("°", "deg"))
    t = "".join(t.split())
    if re.match(r"q(?![a-z0-9])", t):
        return "q_nm" if "nm" in t else "q_A"
    if re.match(r"(?:d(?![a-z0-9])|d-?_?spacing)", t):
        return "d_nm" if "nm" in t else "d_A"
    if _TT_NAME.match(t):
        return "tt_rad" if "rad" in t else "tt"
    if re.match(r"^[(\[]?rad(?:ians?)?[)\]]?$", t):
        return "tt_rad"
    if re.match(r"^[(\[]?deg(?:rees?)?[)\]]?$", t):
        return "tt"
    if _Q_UNIT.match(t):
        return "q_nm" if "nm" in t else "q_A"
    return ""


def header_axis(header: list[str]) -> tuple[str, str]:
    """``(kind, label)`` of the x column from the header (:func:`classify_axis`); ``('', '')`` if it says nothing.

    An explicit ``x-axis: ...`` / ``x = ...`` / ``unit: ...`` line wins over a
    column-label line (``# Q (nm^-1)  I  sigma``).
    """
    for line in header:
        s = " ".join(line.strip().lstrip("#!'%;*/@ ").split())
        m = _AXIS_KEY.match(s)
        if m and (kind := classify_axis(m.group("val"))):
            return kind, m.group("val").strip()
    labels = column_labels(header)
    if labels:
        label = labels[0] + (labels[1] if len(labels) > 1 and labels[1][:1] in "([" else "")
        return classify_axis(label), label
    return "", ""


def x_to_two_theta(path: Path, x: np.ndarray, label: str, wavelength_A: float) -> np.ndarray:
    """Convert an x column labelled Q (Å⁻¹/nm⁻¹), d (Å/nm) or 2θ in radians to 2θ in degrees.

    Raises
    ------
    ReaderError
        Q or d without a wavelength, values unreachable at that wavelength, or
        "radians" with values beyond 2π.
    """
    kind = classify_axis(label)
    if kind == "tt_rad":
        top = float(np.max(np.abs(x))) if x.size else 0.0
        if top > 2 * math.pi + 1e-9:
            raise ReaderError(f"{path}: the header says the x column is 2θ in radians ({label!r}) but it "
                              f"reaches {top:g}; fix the header or the column")
        logger.info("%s: x column is 2θ in radians (%r); converted to degrees", path, label)
        return np.rad2deg(x)
    if kind[:1] not in ("q", "d"):
        return x
    what = "Q" if kind[0] == "q" else "d-spacing"
    if not math.isfinite(wavelength_A):
        raise ReaderError(
            f"{path}: x column is {what} ({label!r}) and no wavelength is known; pass --wavelength to "
            "convert it to 2θ")
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind[0] == "q":
            q = x / 10.0 if kind == "q_nm" else x
            tt = q_to_two_theta(q, wavelength_A)
        else:
            d = x * 10.0 if kind == "d_nm" else x
            tt = np.degrees(2.0 * np.arcsin(wavelength_A / (2.0 * d)))
    if not np.all(np.isfinite(tt)):
        unit = "Å⁻¹" if kind[0] == "q" else "Å"
        raise ReaderError(f"{path}: {what} values (in {unit}) are unreachable at λ = {wavelength_A:g} Å")
    logger.info("%s: x column is %s (%r); converted to 2θ with λ = %g Å", path, what, label, wavelength_A)
    return tt


#: a third column claiming errors this many times the intensities' own point-to-point scatter
#: is not their σ (see :func:`_is_sigma`)
_SIGMA_EXCESS = 10.0


def _scatter_ratio(y: np.ndarray, sigma: np.ndarray) -> float:
    """Robust ratio of the second-difference scatter of ``y`` to what errors ``sigma`` predict.

    e_i = y_{i+1} − 2y_i + y_{i−1} of independent errors σ_i has variance
    σ²_{i−1} + 4σ²_i + σ²_{i+1} (a smooth pattern's curvature adds little between peaks), so
    median|e_i| / √(…) / 0.6745 is 1 ± O(1/√N) when ``sigma`` is the error of ``y``.
    """
    e = y[2:] - 2.0 * y[1:-1] + y[:-2]
    var = sigma[:-2] ** 2 + 4 * sigma[1:-1] ** 2 + sigma[2:] ** 2
    return float(np.median(np.abs(e) / np.sqrt(np.maximum(var, 1e-300)))) / 0.6744897501960817


def _is_sigma(path: Path, y: np.ndarray, col: np.ndarray) -> bool:
    """Whether a third column can be the σ of the intensities ``y``.

    Not when it states errors ``_SIGMA_EXCESS`` times the scatter the intensities show
    (:func:`_scatter_ratio` < 0.1): no set of independent errors gives a scatter ten times
    smaller than their σ, and smoothing or rebinning with the σ propagated lowers the ratio
    to √(2/3n) for n points averaged, below 0.1 only for n > 66 (several peak widths).
    Measured files with a σ column give 0.7–1.8.  Such a column is another quantity (a
    background or model curve written beside the data); it is ignored and σ = √I used, with
    a warning.  Intensities without any scatter (median second difference 0: noise-free,
    written exactly) give nothing to compare and keep their column.
    """
    if y.size < 8 or not np.all(np.isfinite(col)) or np.any(col <= 0):
        return True   # build_stack reports an unusable σ column
    if np.median(np.abs(np.diff(y, 2))) == 0 or _scatter_ratio(y, col) >= 1.0 / _SIGMA_EXCESS:
        return True
    logger.warning("%s: the third column is not the intensities' σ (it is %.0f times their "
                   "point-to-point scatter); ignored, σ = √I used",
                   path, 1.0 / max(_scatter_ratio(y, col), 1e-12))
    return False


@register("text", extensions=(".xy", ".xye", ".dat", ".csv", ".txt", ".asc"),
          description="plain text columns 2θ, I[, σ]")
def read(path: str | Path, *, wavelength_A: float | None = None) -> xr.Dataset:
    """Read a plain-text pattern into a one-scan stack.

    Parameters
    ----------
    path : str or Path
        Text file with columns 2θ (deg), intensity and optionally σ.
    wavelength_A : float, optional
        Wavelength (Å) for converting a Q column to 2θ; takes precedence over the
        header (it is the user's override).  Not stored as a header wavelength.

    Returns
    -------
    xarray.Dataset
        One-scan stack; ``wavelength_A`` attr from the header (NaN if none),
        ``temperature_K`` and ``datetime_start`` coordinates when the header gives them.

    Raises
    ------
    ReaderError
        Missing/empty/binary file, no numeric columns, ragged or truncated rows,
        NaN/inf values, non-monotonic 2θ, strongly negative intensities.
    """
    p = check_file(path)
    header, cols = parse_columns(p, decode_text(p, read_bytes(p)))
    return stack_from_columns(p, header, cols, source_format="text", wavelength_A=wavelength_A)


def stack_from_columns(path: Path, header: list[str], cols: np.ndarray, *, source_format: str,
                       wavelength_A: float | None = None, x_label: str = "") -> xr.Dataset:
    """Build a one-scan stack from parsed columns and header lines (shared by text-like readers)."""
    wl = header_wavelength(header, source=str(path))
    label = x_label or header_axis(header)[1]
    # a caller's wavelength (the --wavelength override) wins over the header for the Q → 2θ conversion
    header_wl = wl[0] if wl else math.nan
    known = check_wavelength(wavelength_A, source=f"{path}: wavelength") if wavelength_A else header_wl
    x = x_to_two_theta(path, cols[:, 0], label, known)
    sigma = cols[:, 2] if cols.shape[1] >= 3 and _is_sigma(path, cols[:, 1], cols[:, 2]) else None
    if cols.shape[1] > 3:
        logger.info("%s: %d columns; using the first three as 2θ, I, σ", path, cols.shape[1])
    coords = {"temperature_K": [header_temperature_K(header, source=str(path))], "datetime_start": [header_datetime(header)]}
    radiation = "CuKa" if wl and abs(wl[0] - 1.5406) < 1e-3 and math.isfinite(wl[1]) else ""
    return build_stack(path, x, cols[:, 1], sigma, source_format=source_format, wavelength=wl,
                       radiation=radiation, coords=coords)
