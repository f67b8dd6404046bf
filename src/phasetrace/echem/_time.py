"""Date-time helpers shared by the echem readers, the scan-log reader and alignment."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np

from ..errors import AlignmentWarning, EchemError

#: day 0 of spreadsheet serial dates (Excel, LibreOffice; Arbin ``DateTime``).
EXCEL_EPOCH = dt.datetime(1899, 12, 30)

_FORMATS = (
    "%m/%d/%Y %H:%M:%S.%f", "%m/%d/%Y %H:%M:%S", "%d.%m.%Y %H:%M:%S.%f", "%d.%m.%Y %H:%M:%S",
    "%Y/%m/%d %H:%M:%S.%f", "%Y/%m/%d %H:%M:%S",
)


def parse_datetime(text: str, *, source: str) -> dt.datetime:
    """Parse an absolute date-time.

    Parameters
    ----------
    text : str
        ISO 8601 (``2025-07-02 19:05:59.614000``, optionally with a UTC offset),
        a spreadsheet serial day number (e.g. ``45131.78``; days since
        1899-12-30), or ``MM/DD/YYYY hh:mm:ss[.f]`` (BioLogic, US locale),
        ``DD.MM.YYYY hh:mm:ss`` or ``YYYY/MM/DD hh:mm:ss``.
    source : str
        File name for the error message.

    Returns
    -------
    datetime.datetime

    Raises
    ------
    EchemError
        When no format fits.

    Examples
    --------
    >>> parse_datetime("45131.78472222222", source="x").isoformat(timespec="seconds")
    '2023-07-24T18:50:00'
    """
    s = str(text).strip()
    try:
        return dt.datetime.fromisoformat(s)
    except ValueError:
        pass
    try:
        days = float(s)
    except ValueError:
        days = None
    if days is not None and 1.0e4 < days < 1.0e5:
        return EXCEL_EPOCH + dt.timedelta(days=days)
    for fmt in _FORMATS:
        try:
            return dt.datetime.strptime(s, fmt)
        except ValueError:
            continue
    raise EchemError(
        f"{source}: cannot read the date-time {s!r}; expected ISO 8601 (2025-07-02 19:05:59), "
        "a spreadsheet day number or MM/DD/YYYY hh:mm:ss")


def seconds_between(start: dt.datetime, later: dt.datetime, *, source: str) -> float:
    """Seconds from ``start`` to ``later``; a naive and an aware time are compared
    as wall-clock times (with an :class:`AlignmentWarning`)."""
    if (start.tzinfo is None) != (later.tzinfo is None):
        warnings.warn(
            f"{source}: one date-time has a UTC offset and the other has none; both were read "
            "as wall-clock times of the same zone", AlignmentWarning, stacklevel=3)
        start, later = start.replace(tzinfo=None), later.replace(tzinfo=None)
    return (later - start).total_seconds()


def iso(value: dt.datetime) -> str:
    """ISO 8601 text of a date-time (microseconds kept only when non-zero)."""
    return value.isoformat(timespec="microseconds" if value.microsecond else "seconds")


def seconds_since(texts: np.ndarray, origin: dt.datetime, *, source: str) -> np.ndarray:
    """Seconds from ``origin`` to each ISO date-time in ``texts`` (NaN for ``""``)."""
    out = np.full(len(texts), np.nan)
    for i, text in enumerate(texts):
        if str(text).strip():
            out[i] = seconds_between(origin, parse_datetime(str(text), source=source), source=source)
    return out
