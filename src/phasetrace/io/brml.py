"""Bruker DIFFRAC.SUITE ``.brml``: a zip of XML documents.

Each ``Experiment*/RawData*.xml`` holds one scan: ``<Datum>`` rows whose columns
are described by ``<DataViews>`` (measured time, absorption factor, scan axes
TwoTheta/Theta, counts), the tube wavelengths (``WaveLengthAlpha1/2``,
``WaveLengthRatio``) and ``TimeStampStarted``/``TimeStampFinished``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import xarray as xr

from ..errors import ReaderError
from ._common import (build_stack, check_file, find_local, findall_local, local, open_zip, parse_datetime,
                      parse_xml, read_zip_member)
from ._registry import register

__all__ = ["read"]

_RAW_MEMBER = re.compile(r"^Experiment(\d+)/RawData(\d+)\.xml$")


def _columns(route: ET.Element) -> tuple[int, int, int | None]:
    """Indices of (2θ, counts, absorption factor) in a Datum row, from the DataViews."""
    tt_col, y_col, abs_col = 2, -1, 1
    for view in findall_local(route, "RawDataView"):
        start = int(view.get("Start", "0"))
        kind = view.get("{http://www.w3.org/2001/XMLSchema-instance}type", "")
        if view.get("LogicName") == "AbsorptionFactor":
            abs_col = start
        elif kind == "VaryingRawDataView":
            names = [f.get("FieldName", "") for f in findall_local(view, "FieldDefinitions")]
            if "TwoTheta" in names:
                tt_col = start + names.index("TwoTheta")
        elif kind == "RecordedRawDataView" and y_col == -1:
            y_col = start
    return tt_col, y_col, abs_col


def _scan(path: Path, root: ET.Element, member: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    routes = findall_local(root, "DataRoute")
    route = next((r for r in routes if r.get("RouteFlag") == "Measured"), routes[0] if routes else None)
    if route is None:
        raise ReaderError(f"{path}: {member} has no <DataRoute>; not a measured brml scan")
    rows = [d.text.split(",") for d in findall_local(route, "Datum") if d.text]
    if not rows:
        raise ReaderError(f"{path}: {member} holds no <Datum> rows (empty or truncated scan)")
    ncol = len(rows[0])
    if any(len(r) != ncol for r in rows):
        raise ReaderError(f"{path}: {member} has Datum rows of different lengths (corrupt file)")
    try:
        arr = np.array(rows, dtype=float)
    except ValueError:
        raise ReaderError(f"{path}: {member} has non-numeric Datum values") from None
    tt_col, y_col, abs_col = _columns(route)
    if max(tt_col, y_col, abs_col or 0) >= ncol:
        raise ReaderError(f"{path}: {member} Datum rows have {ncol} values; the DataViews expect more")
    counts = arr[:, y_col]
    factor = arr[:, abs_col] if abs_col is not None else 1.0
    factor = np.where(np.asarray(factor) > 0, factor, 1.0)
    return arr[:, tt_col], counts * factor, np.sqrt(np.maximum(counts, 1.0)) * factor


def _value(root: ET.Element, name: str) -> float:
    elem = find_local(root, name)
    try:
        return float(elem.get("Value", "nan")) if elem is not None else math.nan
    except ValueError:
        return math.nan


def _wavelength(root: ET.Element) -> tuple[float, float, float] | None:
    l1, l2, ratio = (_value(root, n) for n in ("WaveLengthAlpha1", "WaveLengthAlpha2", "WaveLengthRatio"))
    if math.isnan(l1):
        return None
    return (l1, l2, ratio if math.isfinite(ratio) else (0.0 if math.isnan(l2) else math.nan))


def _text(root: ET.Element, name: str) -> str:
    elem = find_local(root, name)
    return parse_datetime(elem.text or "") if elem is not None else ""


@register("brml", extensions=(".brml",), description="Bruker DIFFRAC .brml")
def read(path: str | Path, *, wavelength_A: float | None = None) -> xr.Dataset:
    """Read a Bruker ``.brml`` archive (one scan per RawData document).

    Parameters
    ----------
    path : str or Path
        ``.brml`` file.
    wavelength_A : float, optional
        Unused (the tube wavelengths are in the file).

    Returns
    -------
    xarray.Dataset
        Stack with Kα1/Kα2 (Å) and ratio, ``datetime_start``/``datetime_end``.

    Raises
    ------
    ReaderError
        Not a zip, a zip that is not brml, corrupt XML, or scans on different grids.
    """
    p = check_file(path)
    with open_zip(p, kind="Bruker .brml") as zf:
        members = sorted((m for m in zf.namelist() if _RAW_MEMBER.match(m)),
                         key=lambda m: tuple(int(g) for g in _RAW_MEMBER.match(m).groups()))
        if not members:
            raise ReaderError(f"{p}: zip archive without Experiment*/RawData*.xml; not a Bruker .brml file")
        zf.check_declared(members)
        roots = [(m, parse_xml(read_zip_member(zf, m, path=p), path=p, member=m)) for m in members]
    scans, starts, ends, wl = [], [], [], None
    for member, root in roots:
        if local(root.tag) != "RawData":
            raise ReaderError(f"{p}: {member} root is <{local(root.tag)}>; expected <RawData>")
        scans.append(_scan(p, root, member))
        starts.append(_text(root, "TimeStampStarted"))
        ends.append(_text(root, "TimeStampFinished"))
        wl = wl or _wavelength(root)
    tt0 = scans[0][0]
    for k, (tt, _, _) in enumerate(scans[1:], start=1):
        if tt.size != tt0.size or not np.allclose(tt, tt0, atol=1e-6):
            raise ReaderError(f"{p}: RawData {k} is on a different 2θ grid from RawData 0; export scans separately")
    tube = find_local(roots[0][1], "TubeMaterial")
    radiation = f"{(tube.text or '').strip()}Ka" if tube is not None and wl and math.isfinite(wl[1]) else ""
    return build_stack(p, tt0, np.stack([s[1] for s in scans]), np.stack([s[2] for s in scans]),
                       source_format="brml", wavelength=wl, radiation=radiation,
                       coords={"datetime_start": starts, "datetime_end": ends})
