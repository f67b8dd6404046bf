"""Put diffraction scans on the electrochemistry clock: :func:`align`.

Scan times, first source found wins:

1. a scan log (:func:`~phasetrace.echem.read_scan_log`), matched to the
   stack's ``file`` coordinate by base name (or stem), or by the scan number
   contained in the file name.  Its seconds are on the echem file's own clock
   (CONTRACT.md: "the same clock as --echem"), its date-times are compared with
   the echem ``start_datetime``;
2. absolute start times in the stack (``datetime_start`` scan coordinate, ISO
   8601, written by readers; ``datetime_end`` if present) together with the
   echem ``start_datetime``;
3. the stack's ``time_start_s`` (``time_end_s``), in s since the first echem
   record — the clock of :func:`align`'s own output, so aligning an aligned
   stack again gives the same times;
4. scans evenly spaced over the whole echem record, with an
   :class:`~phasetrace.errors.AlignmentWarning`.

Where only start times are known, a scan ends when the next one starts (the last
one lasts the median interval).

Sampling choices (documented in ``attrs["echem_sampling"]``):

* ``method="interp"`` (default): voltage and capacities are linearly
  interpolated at the scan's mid-time ``time_s``; ``method="mean"`` gives their
  time-average over the scan window instead (the part of it inside the record).
  For a scan of a few minutes both agree to within the voltage change over the
  scan; the mid-time value keeps sharp steps (e.g. the start of a rest) sharp.
* ``current_mA``, ``cycle`` and ``direction`` are step quantities: they are
  the values of the last record at or before the mid-time, never interpolated.
* A scan whose mid-time lies outside the record (the pristine scan taken before
  the cycler started, a rest scan after it stopped) gets NaN values, cycle 0 and
  direction ``""`` with a warning naming it (``outside="auto"``, the default, and
  ``"nan"``).  ``"auto"`` raises :class:`EchemError` when more than half of the
  scans are outside (the clocks disagree); ``"raise"`` raises for any.
* A *gap* in the record is an interval between consecutive records longer than
  ``max_gap_s`` (default: 10 median sampling intervals, at least 300 s).  A scan
  whose window overlaps a gap gets NaN voltage, capacity and current and
  direction ``""`` (cycle is kept) and an :class:`AlignmentWarning` names it:
  interpolating across a cycler outage would invent the voltage, and one bad
  scan must not stop the analysis of the others.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import xarray as xr

from ..errors import AlignmentWarning, EchemError, SchemaError
from ._sample import sample_record
from ._time import parse_datetime, seconds_since
from .read import read_echem
from .scanlog import read_scan_log

logger = logging.getLogger(__name__)

_Times = tuple[np.ndarray, np.ndarray, str]


def _list(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" … ({len(names)} in all)" if len(names) > limit else "")


def _fill_ends(start: np.ndarray) -> np.ndarray:
    if start.size == 1:
        return start.copy()
    step = float(np.median(np.diff(start)))
    return np.concatenate((start[1:], [start[-1] + step]))


def _stack_files(stack: xr.Dataset) -> list[str]:
    return [os.path.basename(str(f)) for f in stack["file"].values] if "file" in stack.coords else []


def _scan_names(stack: xr.Dataset) -> list[str]:
    files = _stack_files(stack)
    return files if files else [f"scan {i}" for i in range(stack.sizes["scan"])]


def _match_row(log_file: str, number: str, files: list[str], log_path: str) -> int | None:
    hits: list[int] = []
    if log_file:
        base = os.path.basename(log_file)
        hits = [i for i, f in enumerate(files) if f == base]
        hits = hits or [i for i, f in enumerate(files) if Path(f).stem == Path(base).stem]
        if not hits and log_file.isdigit():
            number = log_file
    if not hits and number and (not log_file or log_file == number):
        pattern = re.compile(rf"(?<!\d){re.escape(number)}(?!\d)")
        hits = [i for i, f in enumerate(files) if pattern.search(f)]
    if len(hits) > 1:
        raise EchemError(
            f"{log_path}: scan {log_file or number!r} matches {len(hits)} stack files "
            f"({_list([files[i] for i in hits])}); expected exactly one")
    return hits[0] if hits else None


def match_scan_log(stack: xr.Dataset, log: xr.Dataset) -> np.ndarray:
    """Row of the scan log for each scan of the stack.

    Parameters
    ----------
    stack : xarray.Dataset
        Stack with a ``file`` scan coordinate (base names or paths).
    log : xarray.Dataset
        From :func:`~phasetrace.echem.read_scan_log`.

    Returns
    -------
    ndarray of int, shape (n_scans,)
        Index along the log's ``scan`` dimension.

    Raises
    ------
    EchemError
        Stack without ``file`` names, log rows naming files not in the stack,
        stack files missing from the log, or ambiguous matches.
    """
    path = log.attrs.get("source_file", "scan log")
    files = _stack_files(stack)
    if not files:
        raise EchemError(f"{path}: the stack has no 'file' scan coordinate to match the scan log against")
    rows = np.full(len(files), -1)
    unknown = []
    for j, (name, number) in enumerate(zip(log["file"].values, log["scan_number"].values)):
        i = _match_row(str(name), str(number), files, path)
        if i is None:
            unknown.append(str(name) or f"scan number {number}")
        elif rows[i] >= 0:
            raise EchemError(f"{path}: rows {rows[i] + 1} and {j + 1} both match stack file {files[i]!r}")
        else:
            rows[i] = j
    if unknown:
        raise EchemError(f"{path}: the scan log names file(s) not in the stack: {_list(unknown)} "
                         f"(stack files: {_list(files, 3)})")
    absent = [files[i] for i in np.flatnonzero(rows < 0)]
    if absent:
        raise EchemError(f"{path}: stack file(s) missing from the scan log: {_list(absent)}")
    return rows


def _times_from_log(stack: xr.Dataset, log: xr.Dataset, record: xr.Dataset | None) -> _Times:
    rows = match_scan_log(stack, log)
    path = log.attrs.get("source_file", "scan log")
    if log.attrs.get("clock") == "datetime" and record is not None:
        if not record.attrs.get("start_datetime"):
            raise EchemError(
                f"{record.attrs.get('source_file')}: the scan log {path} gives date-times but the echem "
                "file has no start date-time; give the scan log in seconds on the echem clock")
        origin = parse_datetime(record.attrs["start_datetime"], source=record.attrs.get("source_file", ""))
        start = seconds_since(log["datetime_start"].values[rows], origin, source=path)
        end = seconds_since(log["datetime_end"].values[rows], origin, source=path)
    else:
        # seconds on the echem file's own clock (or date-times without echem: since the first scan)
        seconds_log = log.attrs.get("clock") != "datetime"
        offset = record.attrs.get("time_offset_s", 0.0) if (record is not None and seconds_log) else 0.0
        start = log["start_time_s"].values[rows] - offset
        end = log["end_time_s"].values[rows] - offset
    return start, end, f"scan log {path}"


def _times_from_datetimes(stack: xr.Dataset, record: xr.Dataset | None) -> _Times | None:
    texts = stack["datetime_start"].values.astype(str)
    if not all(t.strip() for t in texts):
        warnings.warn("the stack's datetime_start is empty for some scans; not used for alignment",
                      AlignmentWarning, stacklevel=4)
        return None
    if record is not None and not record.attrs.get("start_datetime"):
        logger.info("echem file has no start date-time; stack datetime_start not usable")
        return None
    if record is not None:
        origin = parse_datetime(record.attrs["start_datetime"], source=record.attrs.get("source_file", ""))
    else:
        origin = min(parse_datetime(t, source="stack datetime_start") for t in texts)
    start = seconds_since(texts, origin, source="stack datetime_start")
    end = _fill_ends(start)
    if "datetime_end" in stack.coords:
        ends = stack["datetime_end"].values.astype(str)
        if all(t.strip() for t in ends):
            end = seconds_since(ends, origin, source="stack datetime_end")
    return start, end, "stack datetime_start"


def _times_from_seconds(stack: xr.Dataset, record: xr.Dataset | None) -> _Times | None:
    start = np.asarray(stack["time_start_s"].values, dtype=float)
    if not np.all(np.isfinite(start)):
        if np.any(np.isfinite(start)):
            warnings.warn("the stack's time_start_s is NaN for some scans; not used for alignment",
                          AlignmentWarning, stacklevel=4)
        return None
    end = np.asarray(stack["time_end_s"].values, dtype=float) if "time_end_s" in stack.coords else None
    if end is None or not np.all(np.isfinite(end)):
        end = _fill_ends(start)
    return start, end, "stack time_start_s"


def scan_times(stack: xr.Dataset, record: xr.Dataset | None, log: xr.Dataset | None) -> _Times:
    """Start and end of every scan (s on the record clock) and the source used.

    See the module docstring for the order of the sources.

    Returns
    -------
    start, end : ndarray, shape (n_scans,)
        Seconds since the first echem record (or since the first scan without echem).
    source : str
        Description of the time source.
    """
    if log is not None:
        return _times_from_log(stack, log, record)
    found = None
    if "datetime_start" in stack.coords:
        found = _times_from_datetimes(stack, record)
    if found is None and "time_start_s" in stack.coords:
        found = _times_from_seconds(stack, record)
    if found is not None:
        return found
    if record is None:
        raise EchemError("cannot place the scans in time: no scan log, no datetime_start or time_start_s "
                         "in the stack, and no echem record to spread them over")
    n = stack.sizes["scan"]
    span = float(record["time_s"].values[-1])
    edges = np.linspace(0.0, span, n + 1)
    warnings.warn(
        f"no scan times (no scan log, no datetime_start or time_start_s in the stack): assumed the "
        f"{n} scans evenly spaced over the echem record {record.attrs.get('source_file', '')} "
        f"(0–{span:.0f} s)", AlignmentWarning, stacklevel=3)
    return edges[:-1], edges[1:], "evenly spaced over the echem record"


def _as_dataset(value: xr.Dataset | str | os.PathLike[str] | None,
                reader: Callable[[str | os.PathLike[str]], xr.Dataset]) -> xr.Dataset | None:
    if value is None or isinstance(value, xr.Dataset):
        return value
    return reader(value)


def align(
    stack: xr.Dataset,
    echem: xr.Dataset | str | os.PathLike[str] | None = None,
    *,
    scan_log: xr.Dataset | str | os.PathLike[str] | None = None,
    method: Literal["interp", "mean"] = "interp",
    outside: Literal["auto", "raise", "nan"] = "auto",
    max_gap_s: float | None = None,
    temperature_log: xr.Dataset | str | os.PathLike[str] | None = None,
) -> xr.Dataset:
    """Give every scan its time and, with an echem record, its electrochemistry.

    Parameters
    ----------
    stack : xarray.Dataset
        Stack (see :mod:`phasetrace.schema`); not modified.
    echem : xarray.Dataset or path, optional
        Record from :func:`~phasetrace.echem.read_echem`, or a file to read with it.
    scan_log : xarray.Dataset or path, optional
        From :func:`~phasetrace.echem.read_scan_log`, or a file to read with it.
    method : {"interp", "mean"}
        Voltage and capacity at the scan's mid-time (linear interpolation) or
        averaged over the scan window.
    outside : {"auto", "raise", "nan"}
        Scans whose mid-time lies outside the echem record: kept with NaN and a
        warning, unless more than half are outside (error) (``"auto"``); always an
        error (``"raise"``); always kept (``"nan"``).
    max_gap_s : float, optional
        Longest interval between records (s) that is not a gap; default 10
        median sampling intervals, at least 300 s.
    temperature_log : xarray.Dataset or path, optional
        From :func:`~phasetrace.echem.read_temperature_log` (or a file to read with it):
        ``temperature_K`` of each scan at its mid-time, replacing header values and
        scan-log columns (see :mod:`phasetrace.echem.temperature`).  Without it, a scan
        log's ``temperature_K``/``temperature_C`` column replaces header values.

    Returns
    -------
    xarray.Dataset
        A new stack with scan coordinates ``time_start_s``, ``time_end_s`` and
        ``time_s`` (mid-scan), all in s since the first echem record (since
        the earliest scan without echem), and with echem also ``voltage_V``,
        ``capacity_mAh_g``, ``capacity_mAh``, ``current_mA``, ``cycle`` (0 =
        unknown) and ``direction`` (``"charge"``, ``"discharge"``, ``"rest"``
        or ``""``).  ``attrs`` record the time source and sampling choices.

    Raises
    ------
    EchemError
        Scans outside the record (``outside="raise"``; more than half of them with
        ``"auto"``), a scan log that does
        not match the stack, no way to time the scans, or unreadable files.

    Warns
    -----
    AlignmentWarning
        Scans assumed evenly spaced, gaps in the record during scans, scans
        out of time order, scans outside the record with ``outside="nan"``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from phasetrace.schema import make_stack
    >>> stack = make_stack(np.linspace(10, 20, 11), np.ones((2, 11)), wavelength_A=1.0,
    ...                    coords={"time_start_s": [0.0, 100.0], "time_end_s": [100.0, 200.0]})
    >>> t = np.arange(0.0, 301.0, 10.0)
    >>> rec = xr.Dataset({"time_s": ("record", t), "voltage_V": ("record", 3 + t / 1000),
    ...                   "current_mA": ("record", np.full(t.size, 0.1)),
    ...                   "capacity_mAh_g": ("record", t / 36), "capacity_mAh": ("record", t / 36000),
    ...                   "cycle": ("record", np.ones(t.size, int)),
    ...                   "direction": ("record", np.full(t.size, "charge"))})
    >>> aligned = align(stack, rec)
    >>> aligned["voltage_V"].values.round(3).tolist(), aligned["direction"].values.tolist()
    ([3.05, 3.15], ['charge', 'charge'])
    """
    if method not in ("interp", "mean"):
        raise EchemError(f"method={method!r}; expected 'interp' or 'mean'")
    if outside not in ("auto", "raise", "nan"):
        raise EchemError(f"outside={outside!r}; expected 'auto', 'raise' or 'nan'")
    if "scan" not in stack.dims:
        raise SchemaError(f"stack: missing dimension 'scan'; got dims {tuple(stack.dims)}")
    record = _as_dataset(echem, read_echem)
    if record is not None:
        missing = [v for v in ("time_s", "voltage_V") if v not in record]
        if missing or "record" not in record.dims:
            raise EchemError(f"{record.attrs.get('source_file', 'echem Dataset')}: not an echem record "
                             f"(needs dimension 'record' and variables time_s, voltage_V; lacks "
                             f"{', '.join(missing) or 'the record dimension'}); use read_echem()")
    log = _as_dataset(scan_log, read_scan_log)
    start, end, source = scan_times(stack, record, log)
    names = _scan_names(stack)
    late = np.flatnonzero(np.diff(start) < 0)
    if late.size:
        warnings.warn("scan start times do not increase in stack order (at "
                      f"{_list([names[i + 1] for i in late])})", AlignmentWarning, stacklevel=2)
    coords: dict[str, tuple] = {
        "time_start_s": ("scan", start, {"units": "s"}), "time_end_s": ("scan", end, {"units": "s"}),
        "time_s": ("scan", 0.5 * (start + end), {"units": "s"})}
    if log is not None and log.attrs.get("clock") == "datetime" and "datetime_start" not in stack.coords:
        rows = match_scan_log(stack, log)
        coords["datetime_start"] = ("scan", log["datetime_start"].values[rows])
        coords["datetime_end"] = ("scan", log["datetime_end"].values[rows])
    attrs = {"time_source": source}
    if record is not None:
        values = sample_record(record, start, end, names=names, method=method, outside=outside,
                               max_gap_s=max_gap_s)
        units = {"voltage_V": "V", "capacity_mAh_g": "mAh/g", "capacity_mAh": "mAh", "current_mA": "mA"}
        for name, arr in values.items():
            coords[name] = ("scan", arr, {"units": units[name]} if name in units else {})
        attrs.update({
            "echem_source_file": record.attrs.get("source_file", ""),
            "echem_start_datetime": record.attrs.get("start_datetime", ""),
            "echem_sampling": ("linear interpolation at mid-scan time" if method == "interp"
                               else "time average over the scan window")
            + "; current, cycle, direction: last record at or before mid-scan time"})
    coords.update(_temperatures(stack, record, log, temperature_log, start, end, source, names,
                                outside, attrs))
    logger.info("aligned %d scans (%s)", len(names), source)
    aligned = stack.assign_coords(coords)
    aligned.attrs = {**stack.attrs, **attrs}
    return aligned


def _scan_origin(stack: xr.Dataset, record: xr.Dataset | None, log: xr.Dataset | None,
                 source: str) -> dt.datetime | None:
    """Absolute date-time of time 0 of the aligned scan times, or None when unknown."""
    if record is not None:
        text = record.attrs.get("start_datetime", "")
        return parse_datetime(text, source=record.attrs.get("source_file", "")) if text else None
    if log is not None and log.attrs.get("clock") == "datetime":
        return parse_datetime(log.attrs["time_origin"], source=log.attrs.get("source_file", ""))
    if source == "stack datetime_start":
        return min(parse_datetime(t, source="stack datetime_start")
                   for t in stack["datetime_start"].values.astype(str))
    return None


def _temperatures(stack: xr.Dataset, record: xr.Dataset | None, log: xr.Dataset | None,
                  temperature_log, start: np.ndarray, end: np.ndarray, source: str,
                  names: list[str], outside: str, attrs: dict) -> dict[str, tuple]:
    """``temperature_K`` of each scan from a temperature log or scan-log column (else {})."""
    units = {"units": "K"}
    if temperature_log is not None:
        from .temperature import log_clock_seconds, read_temperature_log, temperature_at

        tlog = _as_dataset(temperature_log, read_temperature_log)
        offset = float(record.attrs.get("time_offset_s", 0.0)) if record is not None else 0.0
        mid = log_clock_seconds(tlog, 0.5 * (start + end),
                                origin=_scan_origin(stack, record, log, source), offset_s=offset)
        attrs["temperature_source"] = (f"temperature log {tlog.attrs.get('source_file', '')} "
                                       "(linear interpolation at mid-scan time)")
        return {"temperature_K": ("scan", temperature_at(tlog, mid, names, outside=outside), units)}
    if log is not None and "temperature_K" in log and np.any(np.isfinite(log["temperature_K"].values)):
        values = log["temperature_K"].values[match_scan_log(stack, log)]
        attrs["temperature_source"] = f"scan log {log.attrs.get('source_file', '')}"
        return {"temperature_K": ("scan", values.astype(float), units)}
    return {}
