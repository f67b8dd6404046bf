"""Rigaku SmartLab Studio ``.rasx``: a zip with ``Data*/Profile*.txt`` and measurement XML.

``Profile*.txt`` has columns 2θ (deg), counts and an attenuator factor
(intensity = counts × factor).  ``MesurementConditions*.xml`` (Rigaku's
spelling) gives ``WavelengthKalpha1/2``, the target and ``StartTime``/``EndTime``.
Each ``Data*`` folder is one scan.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import xarray as xr

from ..errors import ReaderError
from ..schema import WAVELENGTHS_A
from ._common import (build_stack, check_file, find_local, open_zip, parse_datetime, parse_xml,
                      read_zip_member)
from ._registry import register
from .text import decode_text, parse_columns

__all__ = ["read"]

_PROFILE = re.compile(r"^Data(\d+)/Profile(\d+)\.txt$")


def _text(root: ET.Element | None, name: str) -> str:
    elem = find_local(root, name) if root is not None else None
    return (elem.text or "").strip() if elem is not None else ""


def _wavelength(root: ET.Element | None) -> tuple[float, float, float] | None:
    try:
        l1 = float(_text(root, "WavelengthKalpha1") or "nan")
        l2 = float(_text(root, "WavelengthKalpha2") or "nan")
    except ValueError:
        return None
    if math.isnan(l1):
        return None
    wave_type = _text(root, "WaveType").lower()
    if wave_type in ("ka1", "kalpha1"):
        return (l1, math.nan, 0.0)
    target = _text(root, "TargetName").lower()
    table = WAVELENGTHS_A.get(f"{target}ka")
    # the file gives no Kα2/Kα1 ratio: take the tabulated one of its anode
    ratio = table[2] if table else math.nan
    return (l1, l2, ratio)


@register("rasx", extensions=(".rasx",), description="Rigaku SmartLab .rasx")
def read(path: str | Path, *, wavelength_A: float | None = None) -> xr.Dataset:
    """Read a Rigaku ``.rasx`` archive.

    Parameters
    ----------
    path : str or Path
        ``.rasx`` file.
    wavelength_A : float, optional
        Unused (the file gives the wavelengths).

    Returns
    -------
    xarray.Dataset
        Stack with one scan per ``Data*`` folder.

    Raises
    ------
    ReaderError
        Not a zip, no ``Data*/Profile*.txt`` member, corrupt members or different grids.
    """
    p = check_file(path)
    with open_zip(p, kind="Rigaku .rasx") as zf:
        names = zf.namelist()
        profiles = sorted((n for n in names if _PROFILE.match(n)),
                          key=lambda n: tuple(int(g) for g in _PROFILE.match(n).groups()))
        if not profiles:
            raise ReaderError(f"{p}: zip archive without Data*/Profile*.txt; not a Rigaku .rasx file")
        zf.check_declared(profiles + [n for n in names if n.endswith(".xml") and "Conditions" in n])
        scans, conds = [], []
        for member in profiles:
            text = decode_text(p, read_zip_member(zf, member, path=p))
            _, cols = parse_columns(p, text)
            folder, k = member.split("/")[0], _PROFILE.match(member).group(2)
            cond_name = next((n for n in names if n.startswith(folder + "/") and "Conditions" in n
                              and n.endswith(f"{k}.xml")), None)
            conds.append(parse_xml(read_zip_member(zf, cond_name, path=p), path=p, member=cond_name)
                         if cond_name else None)
            factor = cols[:, 2] if cols.shape[1] >= 3 else 1.0
            scans.append((cols[:, 0], cols[:, 1] * factor, np.sqrt(np.maximum(cols[:, 1], 1.0)) * factor))
    tt0 = scans[0][0]
    for k, (tt, _, _) in enumerate(scans[1:], start=1):
        if tt.size != tt0.size or not np.allclose(tt, tt0, atol=1e-6):
            raise ReaderError(f"{p}: profile {k} is on a different 2θ grid from profile 0")
    wl = next((w for w in map(_wavelength, conds) if w is not None), None)
    target = next((_text(c, "TargetName") for c in conds if _text(c, "TargetName")), "")
    coords = {"datetime_start": [parse_datetime(_text(c, "StartTime")) for c in conds],
              "datetime_end": [parse_datetime(_text(c, "EndTime")) for c in conds]}
    radiation = f"{target}Ka" if target and wl and math.isfinite(wl[1]) else ""
    return build_stack(p, tt0, np.stack([s[1] for s in scans]), np.stack([s[2] for s in scans]),
                       source_format="rasx", wavelength=wl, radiation=radiation, coords=coords)
