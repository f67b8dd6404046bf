"""PANalytical ``.xrdml`` (XML, schema versions 1.x and 2.x).

Wavelengths come from ``usedWavelength`` (``kAlpha1``, ``kAlpha2``,
``ratioKAlpha2KAlpha1``), 2θ from the ``positions axis="2Theta"`` block
(``startPosition``/``endPosition`` or ``listPositions``), intensities from
``intensities`` or ``counts`` (times ``beamAttenuationFactors`` when present),
times from ``startTimeStamp``/``endTimeStamp``.  Every ``scan`` element of every
``xrdMeasurement`` becomes one scan of the stack.
"""

from __future__ import annotations

import math
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import xarray as xr

from ..errors import ReaderError
from ._common import (build_stack, check_file, find_local, findall_local, local, parse_datetime, parse_xml,
                      read_bytes)
from ._limits import MAX_XML_BYTES
from ._registry import register

__all__ = ["read"]


def _float(elem: ET.Element | None) -> float:
    try:
        return float((elem.text or "").strip()) if elem is not None else math.nan
    except ValueError:
        return math.nan


def _numbers(path: Path, elem: ET.Element, what: str) -> np.ndarray:
    try:
        return np.array((elem.text or "").split(), dtype=float)
    except ValueError:
        raise ReaderError(f"{path}: non-numeric values in <{what}>") from None


def _timestamp(scan: ET.Element, name: str) -> str:
    elem = find_local(scan, name)
    return parse_datetime(elem.text or "") if elem is not None else ""


def _wavelength(meas: ET.Element) -> tuple[float, float, float] | None:
    used = find_local(meas, "usedWavelength")
    if used is None:
        return None
    l1 = _float(find_local(used, "kAlpha1"))
    l2 = _float(find_local(used, "kAlpha2"))
    ratio = _float(find_local(used, "ratioKAlpha2KAlpha1"))
    if math.isnan(l1):
        return None
    if math.isnan(ratio):
        ratio = 0.0 if math.isnan(l2) else math.nan
    return (l1, l2, ratio)


def _scan_arrays(path: Path, scan: ET.Element) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    data = find_local(scan, "dataPoints")
    if data is None:
        raise ReaderError(f"{path}: <scan> without <dataPoints> (truncated file?)")
    y_elem = find_local(data, "intensities")
    if y_elem is None:
        y_elem = find_local(data, "counts")
    if y_elem is None:
        raise ReaderError(f"{path}: <dataPoints> without <intensities> or <counts>")
    counts = _numbers(path, y_elem, local(y_elem.tag))
    if counts.size == 0:
        raise ReaderError(f"{path}: empty <{local(y_elem.tag)}>")
    att = find_local(data, "beamAttenuationFactors")
    factor = _numbers(path, att, "beamAttenuationFactors") if att is not None else np.ones(1)
    if factor.size not in (1, counts.size):
        raise ReaderError(f"{path}: {factor.size} attenuation factors for {counts.size} points")
    tt = None
    for pos in findall_local(data, "positions"):
        if pos.get("axis", "").lower() in ("2theta", "2theta-omega"):
            listed = find_local(pos, "listPositions")
            if listed is not None:
                tt = _numbers(path, listed, "listPositions")
            else:
                start, end = _float(find_local(pos, "startPosition")), _float(find_local(pos, "endPosition"))
                if math.isnan(start) or math.isnan(end):
                    raise ReaderError(f"{path}: 2Theta positions lack start/end values")
                tt = np.linspace(start, end, counts.size)
            break
    if tt is None:
        raise ReaderError(f"{path}: no 2Theta positions in a scan; expected a 2θ scan")
    if tt.size != counts.size:
        raise ReaderError(f"{path}: {tt.size} 2θ positions for {counts.size} intensities (truncated file?)")
    y = counts * factor
    s = np.sqrt(np.maximum(counts, 1.0)) * factor
    return tt, y, s


@register("xrdml", extensions=(".xrdml",), description="PANalytical XRDML")
def read(path: str | Path, *, wavelength_A: float | None = None) -> xr.Dataset:
    """Read a PANalytical ``.xrdml`` file (one scan or several).

    Parameters
    ----------
    path : str or Path
        ``.xrdml`` file.
    wavelength_A : float, optional
        Unused (the header has the wavelengths).

    Returns
    -------
    xarray.Dataset
        Stack with one scan per ``<scan>``; Kα1/Kα2 (Å) and ratio in attrs,
        ``datetime_start``/``datetime_end`` coordinates.

    Raises
    ------
    ReaderError
        Not XRDML, truncated XML, scans without 2θ positions, or scans on different grids.
    """
    p = check_file(path)
    root = parse_xml(read_bytes(p, max_bytes=MAX_XML_BYTES), path=p)
    if local(root.tag) != "xrdMeasurements":
        raise ReaderError(f"{p}: root element <{local(root.tag)}>; expected an XRDML <xrdMeasurements> document")
    scans, starts, ends, wls = [], [], [], []
    for meas in findall_local(root, "xrdMeasurement"):
        wl = _wavelength(meas)
        for scan in findall_local(meas, "scan"):
            scans.append(_scan_arrays(p, scan))
            starts.append(_timestamp(scan, "startTimeStamp"))
            ends.append(_timestamp(scan, "endTimeStamp"))
            wls.append(wl)
    if not scans:
        raise ReaderError(f"{p}: no <scan> elements; expected at least one measured scan")
    tt0 = scans[0][0]
    for k, (tt, _, _) in enumerate(scans[1:], start=1):
        if tt.size != tt0.size or not np.allclose(tt, tt0, atol=1e-6):
            raise ReaderError(f"{p}: scan {k} has a different 2θ grid from scan 0; split the file per range")
    wl = next((w for w in wls if w is not None), None)
    anode = find_local(root, "anodeMaterial")
    radiation = f"{(anode.text or '').strip()}Ka" if anode is not None and wl and math.isfinite(wl[1]) else ""
    coords = {"datetime_start": starts, "datetime_end": ends}
    return build_stack(p, tt0, np.stack([s[1] for s in scans]), np.stack([s[2] for s in scans]),
                       source_format="xrdml", wavelength=wl, radiation=radiation, coords=coords)
