"""BioLogic EC-Lab files: binary ``.mpr`` and text ``.mpt``, both read with galvani.

Columns used: ``time/s``, ``Ewe/V`` (galvani also maps ``<Ewe>/V`` and
``Ecell/V`` to it), current ``I/mA`` (or ``<I>/mA``), net charge
``(Q-Qo)/mA.h`` (or ``(Q-Qo)/C``) and ``cycle number``.  Files without a current column (GCPL
``.mpr`` files often store only ``control/V/mA``, ``dq/mA.h`` and ``P/W``) get
the current from the power, I = P / Ewe, or failing that from the derivative of
``(Q-Qo)/mA.h``.  The start date-time comes from the ``.mpr`` log module or from
the ``Acquisition started on :`` header line of an ``.mpt`` file.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import EchemError
from ._record import build_record
from ._time import iso, parse_datetime

logger = logging.getLogger(__name__)

_STARTED = re.compile(rb"Acquisition started on\s*:\s*(.+?)\s*$")
_MASS = re.compile(rb"Mass of active material\s*:\s*([0-9]+(?:[.,][0-9]*)?)\s*(mg|g)\b")


def _current_mA(data: np.ndarray, names: tuple[str, ...], path: Path) -> np.ndarray | None:
    if "I/mA" in names:
        return np.asarray(data["I/mA"], dtype=float)
    volt = np.asarray(data["Ewe/V"], dtype=float)
    if "P/W" in names:
        logger.info("%s: no current column; current taken as P/Ewe", path)
        with np.errstate(divide="ignore", invalid="ignore"):
            cur = np.asarray(data["P/W"], dtype=float) / volt * 1e3
        return np.where(np.abs(volt) > 1e-6, cur, np.nan)
    if "(Q-Qo)/mA.h" in names:
        logger.info("%s: no current column; current taken as d(Q-Qo)/dt", path)
        t = np.asarray(data["time/s"], dtype=float)
        q = np.asarray(data["(Q-Qo)/mA.h"], dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.gradient(q, t) * 3600.0
    return None


def _record(data: np.ndarray, path: Path, fmt: str, start: str,
            active_mass_mg: float | None) -> xr.Dataset:
    names = data.dtype.names or ()
    missing = [c for c in ("time/s", "Ewe/V") if c not in names]
    if missing:
        raise EchemError(
            f"{path}: missing column(s) {', '.join(missing)}; the file has {', '.join(names)}")
    cycle = np.asarray(data["cycle number"], dtype=float) if "cycle number" in names else None
    cap = None
    if "(Q-Qo)/mA.h" in names:
        cap = np.asarray(data["(Q-Qo)/mA.h"], dtype=float)
    elif "(Q-Qo)/C" in names:
        cap = np.asarray(data["(Q-Qo)/C"], dtype=float) / 3.6  # 1 mAh = 3.6 C
    return build_record(
        time_s=np.asarray(data["time/s"], dtype=float), voltage_V=np.asarray(data["Ewe/V"], dtype=float),
        current_mA=_current_mA(data, names, path), capacity_mAh=cap, cycle=cycle,
        source_file=str(path), format=fmt, start_datetime=start, active_mass_mg=active_mass_mg)


def read_mpr(path: str | Path, *, active_mass_mg: float | None = None) -> xr.Dataset:
    """Read a BioLogic ``.mpr`` file (binary) into a record Dataset.

    Parameters
    ----------
    path : str or Path
        ``.mpr`` file.
    active_mass_mg : float, optional
        Active mass (mg) for ``capacity_mAh_g``.

    Returns
    -------
    xarray.Dataset
        Record Dataset (see :func:`phasetrace.echem.read_echem`).

    Raises
    ------
    EchemError
        When galvani cannot parse the file or a required column is missing.
    """
    from galvani import BioLogic

    path = Path(path)
    try:
        with open(path, "rb") as fh:
            mpr = BioLogic.MPRfile(fh)
    except OSError as err:
        raise EchemError(f"{path}: cannot open the BioLogic file ({err.strerror})") from err
    except (ValueError, AssertionError, KeyError, IndexError, TypeError) as err:
        raise EchemError(f"{path}: not a readable BioLogic .mpr file ({err or type(err).__name__})") from err
    stamp = getattr(mpr, "timestamp", None) or getattr(mpr, "startdate", None)
    start = stamp.isoformat() if stamp is not None else ""
    return _record(mpr.data, path, "biologic-mpr", start, active_mass_mg)


def read_mpt(path: str | Path, *, active_mass_mg: float | None = None) -> xr.Dataset:
    """Read a BioLogic ``.mpt`` text export into a record Dataset.

    Parameters
    ----------
    path : str or Path
        ``.mpt`` file (``EC-Lab ASCII FILE`` header; tab-separated; decimal
        point or comma).
    active_mass_mg : float, optional
        Active mass (mg) for ``capacity_mAh_g``; by default the header's
        ``Mass of active material`` (when non-zero).

    Returns
    -------
    xarray.Dataset
        Record Dataset (see :func:`phasetrace.echem.read_echem`).

    Raises
    ------
    EchemError
        When galvani cannot parse the file or a required column is missing.
    """
    from galvani import BioLogic

    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data, comments = BioLogic.MPTfile(fh, encoding="latin-1")
    except OSError as err:
        raise EchemError(f"{path}: cannot open the BioLogic file ({err.strerror})") from err
    except (ValueError, StopIteration, AttributeError, IndexError) as err:
        raise EchemError(
            f"{path}: not a readable BioLogic .mpt file ({err or type(err).__name__}); expected an "
            "'EC-Lab ASCII FILE' with an 'Nb header lines' line and tab-separated columns") from err
    start, header_mass = "", None
    for line in comments:
        match = _STARTED.search(line.rstrip(b"\r\n"))
        if match and not start:
            start = iso(parse_datetime(match.group(1).decode("latin-1"), source=str(path)))
        mass = _MASS.search(line)
        if mass and float(mass.group(1).replace(b",", b".")) > 0:
            header_mass = float(mass.group(1).replace(b",", b".")) * (1e3 if mass.group(2) == b"g" else 1.0)
    if active_mass_mg is None and header_mass is not None:
        logger.info("%s: active mass %.4g mg from the file header", path, header_mass)
        active_mass_mg = header_mass
    return _record(np.atleast_1d(data), path, "biologic-mpt", start, active_mass_mg)
