"""Temperature of each scan: furnace/cryostat logs and scan-log columns.

A *temperature log* (``--temperature-log FILE``) is a CSV with one time column and one
temperature column (names ignore case, spaces and underscores):

* time: ``time_s`` (``time``, ``t_s``, ``elapsed_s``, ``seconds``) in seconds, or a column
  of date-times (``datetime``, ``date_time``, ``timestamp``, ``time`` with text values);
* temperature: ``temperature_K`` (``T_K``, ``temp_K``) or ``temperature_C`` (``T_C``,
  ``temp_C``), converted to K (+273.15).

Its clock is aligned to the scans like the cycler record
(:mod:`phasetrace.echem.align`): seconds are on the clock of the scan log (the echem
file's own clock when a cycler record is given; the scans' own time stamps otherwise),
date-times are compared with the scans' absolute times.  Each scan gets the temperature
linearly interpolated at its mid-time.  Scans outside the log follow the same rule as
scans outside the cycler record (``outside="auto"``): NaN with a warning naming them,
an error when more than half of them are outside (the clocks disagree).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import AlignmentWarning, EchemError
from ._sample import MOST_OUTSIDE
from ._time import iso, parse_datetime, seconds_between

logger = logging.getLogger(__name__)

__all__ = ["read_temperature_log", "temperature_at", "log_temperature_K", "ZERO_CELSIUS_K"]

#: 0 °C in K.
ZERO_CELSIUS_K = 273.15
SECONDS_ALIASES = ("times", "time", "ts", "elapseds", "elapsedtimes", "seconds")
DATETIME_ALIASES = ("datetime", "timestamp", "date", "time", "absolutetime")
KELVIN_ALIASES = ("temperaturek", "tk", "tempk", "temperature(k)", "temp(k)")
CELSIUS_ALIASES = ("temperaturec", "tc", "tempc", "temperature(c)", "temp(c)", "temperature(°c)")


def _norm(name: str) -> str:
    return str(name).strip().lower().replace(" ", "").replace("_", "")


def _column(frame: pd.DataFrame, aliases: tuple[str, ...]) -> str | None:
    columns = {_norm(c): c for c in frame.columns}
    return next((columns[a] for a in aliases if a in columns), None)


def log_temperature_K(frame: pd.DataFrame, path: str | os.PathLike[str]) -> np.ndarray | None:
    """Temperatures (K) of a ``temperature_K`` or ``temperature_C`` column of a table, or None.

    Raises
    ------
    EchemError
        Non-numeric values, or temperatures below 0 K.
    """
    kelvin, celsius = _column(frame, KELVIN_ALIASES), _column(frame, CELSIUS_ALIASES)
    col = kelvin or celsius
    if col is None:
        return None
    values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values) & frame[col].notna().to_numpy()
                         & (frame[col].astype(str).str.strip() != "").to_numpy())
    if bad.size:
        raise EchemError(f"{path}: column {col!r} is not a number in row(s) "
                         f"{', '.join(str(i + 1) for i in bad[:5])}")
    if col == celsius:
        values = values + ZERO_CELSIUS_K
    if np.any(values < 0):
        i = int(np.flatnonzero(values < 0)[0])
        raise EchemError(f"{path}: row {i + 1} has a temperature below 0 K ({values[i]:.6g} K from "
                         f"column {col!r}); expected temperature_K in K or temperature_C in °C")
    return values


def read_temperature_log(path: str | os.PathLike[str]) -> xr.Dataset:
    """Read a temperature log (see module docstring).

    Returns
    -------
    xarray.Dataset
        Dimension ``record``: ``time_s`` (s on the log's clock; for date-times, seconds
        since the first row) and ``temperature_K``.  Attributes ``source_file``, ``clock``
        (``"seconds"`` or ``"datetime"``) and ``start_datetime`` (ISO 8601 of the first row,
        ``""`` for seconds).

    Raises
    ------
    EchemError
        Unreadable file, missing columns (named), fewer than 2 rows, time going backwards.
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, comment="#", skipinitialspace=True).dropna(how="all")
    except FileNotFoundError as err:
        raise EchemError(f"{path}: temperature log not found") from err
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise EchemError(f"{path}: unreadable temperature log ({err})") from err
    temperature = log_temperature_K(frame, path)
    time_col = _column(frame, SECONDS_ALIASES) or _column(frame, DATETIME_ALIASES)
    if temperature is None or time_col is None:
        missing = [m for m, ok in (("time_s (or a date-time column)", time_col),
                                   ("temperature_K (or temperature_C)", temperature is not None)) if not ok]
        raise EchemError(f"{path}: temperature log lacks column(s) {', '.join(missing)}; "
                         f"got {list(frame.columns)}")
    text = frame[time_col].fillna("").str.strip()
    seconds = pd.to_numeric(text, errors="coerce")
    start_datetime = ""
    if seconds.notna().all():
        t = seconds.to_numpy(dtype=float)
        clock = "seconds"
    else:
        stamps = [parse_datetime(v, source=str(path)) for v in text]
        t = np.array([seconds_between(stamps[0], s, source=str(path)) for s in stamps])
        clock, start_datetime = "datetime", iso(stamps[0])
    keep = np.isfinite(t) & np.isfinite(temperature)
    t, temperature = t[keep], temperature[keep]
    if t.size < 2:
        raise EchemError(f"{path}: only {t.size} usable row(s) with a time and a temperature; "
                         "expected at least 2")
    back = np.flatnonzero(np.diff(t) < 0)
    if back.size:
        raise EchemError(f"{path}: time goes back at row {int(back[0]) + 2}; expected non-decreasing time")
    logger.debug("%s: %d temperatures, %.2f–%.2f K", path, t.size, temperature.min(), temperature.max())
    return xr.Dataset(
        {"time_s": ("record", t, {"units": "s"}), "temperature_K": ("record", temperature, {"units": "K"})},
        attrs={"source_file": str(path), "clock": clock, "start_datetime": start_datetime})


def temperature_at(log: xr.Dataset, mid_s: np.ndarray, names: list[str], *,
                   outside: str = "auto") -> np.ndarray:
    """Temperature (K) of each scan: the log linearly interpolated at the scans' mid-times.

    Parameters
    ----------
    log : xarray.Dataset
        From :func:`read_temperature_log`.
    mid_s : ndarray, shape (n_scans,)
        Scan mid-times, s on the log's clock (see :func:`log_clock_seconds`).
    names : list of str
        Scan names for messages.
    outside : {"auto", "raise", "nan"}
        Scans outside the log: see :func:`phasetrace.echem.align`.

    Returns
    -------
    ndarray, shape (n_scans,)
        NaN for scans outside the log.
    """
    t = log["time_s"].values.astype(float)
    temp = log["temperature_K"].values.astype(float)
    source = log.attrs.get("source_file", "temperature log")
    out = ~((mid_s >= t[0]) & (mid_s <= t[-1]))
    if out.any():
        listed = ", ".join(f"{names[i]} (mid-time {mid_s[i]:.0f} s)" for i in np.flatnonzero(out)[:6])
        message = (f"{source}: the temperature log spans {t[0]:.0f}–{t[-1]:.0f} s but scan(s) {listed}"
                   f"{' …' if out.sum() > 6 else ''} fall outside it")
        if outside == "raise" or (outside == "auto" and out.sum() > MOST_OUTSIDE * out.size):
            raise EchemError(message + f" ({int(out.sum())} of {out.size} scans); check the clocks of "
                             "the temperature log and the scans")
        warnings.warn(message + "; their temperature is NaN", AlignmentWarning, stacklevel=3)
    return np.where(out, np.nan, np.interp(mid_s, t, temp))


def log_clock_seconds(log: xr.Dataset, mid_s: np.ndarray, *, origin: dt.datetime | None,
                      offset_s: float) -> np.ndarray:
    """Scan mid-times on the temperature log's clock.

    Parameters
    ----------
    log : xarray.Dataset
        From :func:`read_temperature_log`.
    mid_s : ndarray
        Scan mid-times, s since the scans' time origin.
    origin : datetime or None
        Absolute date-time of ``mid_s = 0`` (None when the scans have no absolute clock).
    offset_s : float
        Seconds to add to ``mid_s`` to reach the clock of a log in seconds (the echem
        file's ``time_offset_s``; 0 without a cycler record).

    Raises
    ------
    EchemError
        A log of date-times for scans without an absolute clock.
    """
    if log.attrs.get("clock") != "datetime":
        return mid_s + offset_s
    source = log.attrs.get("source_file", "temperature log")
    if origin is None:
        raise EchemError(f"{source}: the temperature log gives date-times but the scans have no "
                         "date-time (no date-time scan log, header time stamps or echem start time); "
                         "give the temperature log in seconds on the scan-log clock")
    start = parse_datetime(log.attrs["start_datetime"], source=source)
    return mid_s - seconds_between(origin, start, source=source)
