"""Scan logs: when each diffraction scan started and ended.

Two layouts are read (column names ignore case, spaces and underscores):

* the phasetrace contract, ``file,start_time_s,end_time_s``: seconds on the
  clock of the echem file (its own time column);
* the datalab/beamline layout, ``scan_number,cell_name,start_time,end_time``
  with absolute date-times: a scan is matched to the pattern file whose name
  contains its number.

Aliases: file (``file``, ``filename``, ``file_name``, ``scan_file``,
``pattern``), scan number (``scan_number``, ``scan``, ``scan_id``,
``scan_no``), start (``start_time_s``, ``start_s``, ``start_time``, ``start``,
``start_datetime``, ``datetime_start``) and end (same with ``end``).  A time
column that is not numeric is read as date-times.  An optional ``temperature_K`` or
``temperature_C`` column gives each scan's temperature (°C converted to K).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import EchemError
from ._time import iso, parse_datetime

logger = logging.getLogger(__name__)

FILE_ALIASES = ("file", "filename", "scanfile", "pattern")
NUMBER_ALIASES = ("scannumber", "scan", "scanid", "scanno")
START_ALIASES = ("starttimes", "starts", "starttime", "start", "startdatetime", "datetimestart")
END_ALIASES = ("endtimes", "ends", "endtime", "end", "enddatetime", "datetimeend")


def _norm(name: str) -> str:
    return str(name).strip().lower().replace(" ", "").replace("_", "")


def _column(frame: pd.DataFrame, aliases: tuple[str, ...]) -> str | None:
    columns = {_norm(c): c for c in frame.columns}
    return next((columns[a] for a in aliases if a in columns), None)


def _times(values: pd.Series, path: Path) -> tuple[np.ndarray, list | None]:
    """Seconds (numeric column) or date-times (text column)."""
    empty = np.flatnonzero(values.isna().to_numpy() | (values.fillna("").str.len() == 0).to_numpy())
    if empty.size:
        raise EchemError(f"{path}: column {values.name!r} is empty in row(s) "
                         f"{', '.join(str(i + 1) for i in empty[:5])}; every scan needs a start and an end")
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().all():
        return numbers.to_numpy(dtype=float), None
    stamps = [parse_datetime(str(v), source=str(path)) for v in values]
    return np.full(len(values), np.nan), stamps


def read_scan_log(path: str | os.PathLike[str]) -> xr.Dataset:
    """Read a scan log (see module docstring).

    Parameters
    ----------
    path : str or PathLike
        CSV file, one row per scan.

    Returns
    -------
    xarray.Dataset
        Dimension ``scan`` (log order); variables ``file`` (str, ``""`` when
        the log gives only numbers), ``scan_number`` (str, ``""`` when absent),
        ``start_time_s`` and ``end_time_s`` (s; for a log of date-times,
        seconds since its earliest start) and ``datetime_start`` /
        ``datetime_end`` (ISO 8601, ``""`` for a log in seconds), ``temperature_K``
        (NaN without a temperature column).  Attributes:
        ``source_file``, ``clock`` (``"seconds"`` or ``"datetime"``) and
        ``time_origin`` (ISO 8601 of the earliest start, or ``""``).

    Raises
    ------
    EchemError
        Unreadable file, missing columns (named), unparseable times, or a scan
        that ends before it starts.
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, comment="#", skipinitialspace=True).dropna(how="all")
    except FileNotFoundError as err:
        raise EchemError(f"{path}: scan log not found") from err
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise EchemError(f"{path}: unreadable scan log ({err})") from err
    file_col, num_col = _column(frame, FILE_ALIASES), _column(frame, NUMBER_ALIASES)
    start_col, end_col = _column(frame, START_ALIASES), _column(frame, END_ALIASES)
    missing = [label for label, col in (("file (or scan_number)", file_col or num_col),
                                        ("start_time_s (or start_time)", start_col),
                                        ("end_time_s (or end_time)", end_col)) if col is None]
    if missing:
        raise EchemError(
            f"{path}: scan log lacks column(s) {', '.join(missing)}; expected file,start_time_s,end_time_s "
            f"or scan_number,start_time,end_time; got {list(frame.columns)}")
    if len(frame) == 0:
        raise EchemError(f"{path}: scan log has no rows")
    start, start_dt = _times(frame[start_col].str.strip(), path)
    end, end_dt = _times(frame[end_col].str.strip(), path)
    if (start_dt is None) != (end_dt is None):
        raise EchemError(f"{path}: start and end times must both be seconds or both date-times")
    origin = ""
    iso_start = iso_end = [""] * len(frame)
    if start_dt is not None:
        first = min(start_dt)
        origin = iso(first)
        start = np.array([(s - first).total_seconds() for s in start_dt])
        end = np.array([(e - first).total_seconds() for e in end_dt])
        iso_start, iso_end = [iso(s) for s in start_dt], [iso(e) for e in end_dt]
    bad = np.flatnonzero(~(end >= start))
    if bad.size:
        raise EchemError(f"{path}: row(s) {', '.join(str(i + 1) for i in bad[:5])} end before they start "
                         "(or have no time); expected end_time >= start_time")
    names = frame[file_col].str.strip().to_numpy(dtype=str) if file_col else np.full(len(frame), "")
    numbers = frame[num_col].str.strip().to_numpy(dtype=str) if num_col else np.full(len(frame), "")
    from .temperature import log_temperature_K

    temperature = log_temperature_K(frame, path)
    if temperature is None:
        temperature = np.full(len(frame), np.nan)
    logger.debug("%s: %d scans, clock %s", path, len(frame), "datetime" if origin else "seconds")
    return xr.Dataset(
        {"file": ("scan", names), "scan_number": ("scan", numbers),
         "start_time_s": ("scan", start, {"units": "s"}), "end_time_s": ("scan", end, {"units": "s"}),
         "datetime_start": ("scan", np.asarray(iso_start, dtype=str)),
         "datetime_end": ("scan", np.asarray(iso_end, dtype=str)),
         "temperature_K": ("scan", temperature, {"units": "K"})},
        attrs={"source_file": str(path), "clock": "datetime" if origin else "seconds",
               "time_origin": origin},
    )
