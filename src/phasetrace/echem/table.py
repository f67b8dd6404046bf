"""Delimited-text cycler exports: the phasetrace CSV and common cycler CSVs (Arbin ...).

Columns are found by name, ignoring case, spaces and underscores.  The first
alias present wins, in this order:

========== ====================================================================
quantity   accepted column names (unit)
========== ====================================================================
time       ``time_s``, ``Test_Time`` (Arbin), ``Test Time / s``, ``time/s``,
           ``Time (s)``, ``time/h`` (h), ``time/min`` (min); or, failing all of
           them, a date-time column (below)
voltage    ``voltage_V``, ``Voltage / V``, ``Voltage(V)``, ``Ewe/V``, ``Ecell/V``,
           ``Voltage`` (V)
current    ``current_mA``, ``I/mA``, ``Current(mA)``, ``Current / A``, ``Current(A)``;
           bare ``Current`` only in an Arbin export (A)
capacity   ``capacity_mAh_g``, ``Specific Capacity / mAh/g``, ``Capacity(mAh/g)``;
           net charge ``capacity_mAh``, ``(Q-Qo)/mA.h``, ``Capacity(mAh)``
cycle      ``cycle``, ``Cycle_Index`` (Arbin), ``cycle number``, ``Cycle``
date-time  ``datetime``, ``DateTime`` (Arbin: spreadsheet day number), ``Timestamp``
========== ====================================================================

Lines starting with ``#`` are comments.  The delimiter (``,``, tab or ``;``) is
taken from the header line; with ``;`` a decimal comma is accepted.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import EchemError
from ._record import build_record
from ._time import iso, parse_datetime

logger = logging.getLogger(__name__)

# (normalised name, factor to the phasetrace unit)
TIME_ALIASES = (("times", 1.0), ("testtime", 1.0), ("testtime/s", 1.0), ("testtime(s)", 1.0),
                ("time/s", 1.0), ("time(s)", 1.0), ("time[s]", 1.0), ("totaltime/s", 1.0),
                ("totaltime(s)", 1.0), ("elapsedtime/s", 1.0), ("time/h", 3600.0),
                ("time(h)", 3600.0), ("time/min", 60.0), ("time(min)", 60.0))
VOLTAGE_ALIASES = (("voltagev", 1.0), ("voltage/v", 1.0), ("voltage(v)", 1.0), ("voltage[v]", 1.0),
                   ("ewe/v", 1.0), ("<ewe>/v", 1.0), ("ecell/v", 1.0), ("potential/v", 1.0),
                   ("potential(v)", 1.0), ("voltage", 1.0))
CURRENT_ALIASES = (("currentma", 1.0), ("i/ma", 1.0), ("<i>/ma", 1.0), ("current/ma", 1.0),
                   ("current(ma)", 1.0), ("current[ma]", 1.0), ("current/a", 1e3),
                   ("current(a)", 1e3), ("current[a]", 1e3))
CAPACITY_G_ALIASES = (("capacitymahg", 1.0), ("specificcapacity/mah/g", 1.0),
                      ("specificcapacity(mah/g)", 1.0), ("capacity(mah/g)", 1.0),
                      ("capacity/mah/g", 1.0), ("q/mah/g", 1.0))
CAPACITY_ALIASES = (("capacitymah", 1.0), ("(q-qo)/ma.h", 1.0), ("(q-qo)/mah", 1.0),
                    ("capacity(mah)", 1.0), ("capacity/mah", 1.0))
CYCLE_ALIASES = (("cycle", 1.0), ("cycleindex", 1.0), ("cyclenumber", 1.0), ("cyclecount/1", 1.0))
DATETIME_ALIASES = (("datetime", 1.0), ("timestamp", 1.0), ("absolutetime", 1.0), ("date", 1.0))


def _norm(name: str) -> str:
    return str(name).strip().lower().replace(" ", "").replace("_", "")


def _find(columns: dict[str, str], aliases: tuple[tuple[str, float], ...]) -> tuple[str, float] | None:
    for alias, factor in aliases:
        if alias in columns:
            return columns[alias], factor
    return None


def _numeric(frame: pd.DataFrame, column: str, factor: float, path: Path) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    if not np.any(np.isfinite(values)):
        raise EchemError(f"{path}: column {column!r} holds no numbers; expected numeric values")
    return values * factor


def _load_frame(path: Path) -> pd.DataFrame:
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            header = next((line for line in fh if line.strip() and not line.startswith("#")), "")
            sample = next((line for line in fh if line.strip() and not line.startswith("#")), "")
    except OSError as err:
        raise EchemError(f"{path}: cannot open the echem file ({err.strerror})") from err
    delimiter = max((",", "\t", ";"), key=header.count)
    if header.count(delimiter) == 0:
        raise EchemError(
            f"{path}: the header line {header.strip()[:80]!r} has no ',', tab or ';' delimiter; "
            "expected a delimited table with named columns")
    decimal = "," if delimiter == ";" and "," in sample else "."
    try:
        return pd.read_csv(path, sep=delimiter, decimal=decimal, comment="#",
                           encoding="utf-8-sig", encoding_errors="replace", low_memory=False)
    except (ValueError, pd.errors.ParserError) as err:
        raise EchemError(f"{path}: unreadable delimited table ({err})") from err


def _times(frame: pd.DataFrame, columns: dict[str, str], path: Path) -> tuple[np.ndarray, str]:
    """Return (time s, start date-time ISO or "")."""
    found_dt = _find(columns, DATETIME_ALIASES)
    start = ""
    if found_dt is not None:
        first = frame[found_dt[0]].dropna()
        start = iso(parse_datetime(str(first.iloc[0]), source=str(path))) if len(first) else ""
    found = _find(columns, TIME_ALIASES)
    if found is not None:
        return _numeric(frame, *found, path), start
    if found_dt is not None:
        stamps = [parse_datetime(str(s), source=str(path)) for s in frame[found_dt[0]]]
        t0 = stamps[0]
        return np.array([(s - t0).total_seconds() for s in stamps]), start
    raise EchemError(
        f"{path}: no time column; expected one of time_s, Test_Time, 'time/s', 'Time (s)', "
        f"'time/h' or a date-time column (datetime, DateTime, Timestamp); columns are {list(frame.columns)}")


def read_table(path: str | Path, *, active_mass_mg: float | None = None) -> xr.Dataset:
    """Read a delimited-text cycler export into a record Dataset.

    Parameters
    ----------
    path : str or Path
        ``.csv``/``.txt``/``.tsv`` file with named columns (see module docstring).
    active_mass_mg : float, optional
        Active mass (mg) for ``capacity_mAh_g`` when the file has no specific capacity.

    Returns
    -------
    xarray.Dataset
        Record Dataset (see :func:`phasetrace.echem.read_echem`).

    Raises
    ------
    EchemError
        Unreadable file, or no time or voltage column (the message lists the columns found).
    """
    path = Path(path)
    frame = _load_frame(path)
    columns = {_norm(c): c for c in frame.columns}
    is_arbin = "testtime" in columns and "cycleindex" in columns
    time_s, start = _times(frame, columns, path)
    volt = _find(columns, VOLTAGE_ALIASES)
    if volt is None:
        raise EchemError(
            f"{path}: no voltage column; expected one of voltage_V, 'Voltage / V', 'Voltage(V)', "
            f"'Ewe/V', 'Ecell/V', Voltage; columns are {list(frame.columns)}")
    cur = _find(columns, CURRENT_ALIASES)
    if is_arbin and "current" in columns:
        # Arbin's own Current column is in A; derived columns added by other tools are not trusted
        cur = (columns["current"], 1e3)
    elif cur is None and "current" in columns:
        raise EchemError(
            f"{path}: column {columns['current']!r} has no unit; rename it current_mA (mA) or "
            "'Current / A' (A)")
    extra: dict[str, Any] = {}
    for key, aliases in (("current_mA", None), ("capacity_mAh_g", CAPACITY_G_ALIASES),
                         ("capacity_mAh", CAPACITY_ALIASES), ("cycle", CYCLE_ALIASES)):
        found = cur if aliases is None else _find(columns, aliases)
        if found is not None:
            extra[key] = _numeric(frame, *found, path)
    fmt = "arbin-csv" if is_arbin else "csv"
    logger.debug("%s: read %d rows as %s, columns %s", path, len(frame), fmt, sorted(extra))
    return build_record(time_s=time_s, voltage_V=_numeric(frame, *volt, path), source_file=str(path),
                        format=fmt, start_datetime=start, active_mass_mg=active_mass_mg, **extra)
