"""Values of an echem record at scan times (see :mod:`phasetrace.echem.align`)."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from ..errors import AlignmentWarning, EchemError

#: record variables sampled by interpolation (or window mean).
CONTINUOUS = ("voltage_V", "capacity_mAh_g", "capacity_mAh")
#: with ``outside="auto"``: the fraction of scans outside the record above which the clocks
#: are taken to disagree (an error) rather than a pristine scan before the cycler started
#: or a rest scan after it stopped (kept with NaN electrochemistry and a warning).  A
#: scan log or header clock that is merely offset by a few scans' duration leaves most
#: scans inside; one on another clock (other day, other time zone) leaves most outside.
MOST_OUTSIDE = 0.5
#: default shortest gap, s, and in median sampling intervals.
MIN_GAP_S = 300.0
GAP_INTERVALS = 10.0


def _window_mean(t: np.ndarray, y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Time-average of the piecewise-linear y(t) over [lo, hi] (clipped to the record)."""
    lo, hi = np.clip(lo, t[0], t[-1]), np.clip(hi, t[0], t[-1])
    cum = np.concatenate(([0.0], np.cumsum(np.diff(t) * 0.5 * (y[1:] + y[:-1]))))

    def integral(tq: np.ndarray) -> np.ndarray:
        k = np.clip(np.searchsorted(t, tq, side="right") - 1, 0, t.size - 1)
        return cum[k] + 0.5 * (y[k] + np.interp(tq, t, y)) * (tq - t[k])

    width = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (integral(hi) - integral(lo)) / width
    return np.where(width > 0, mean, np.interp(0.5 * (lo + hi), t, y))


def gaps(t: np.ndarray, max_gap_s: float | None) -> tuple[np.ndarray, np.ndarray, float]:
    """Start and end (s) of each gap in the record and the threshold used (s)."""
    steps = np.diff(t)
    positive = steps[steps > 0]
    if max_gap_s is None:
        median = float(np.median(positive)) if positive.size else 0.0
        max_gap_s = max(GAP_INTERVALS * median, MIN_GAP_S)
    k = np.flatnonzero(steps > max_gap_s)
    return t[k], t[k + 1], float(max_gap_s)


def _gap_scans(t: np.ndarray, start: np.ndarray, end: np.ndarray, names: list[str],
               max_gap_s: float | None, source: str) -> np.ndarray:
    g0, g1, threshold = gaps(t, max_gap_s)
    hit = np.zeros(start.size, dtype=bool)
    details = []
    for a, b in zip(g0, g1):
        over = (start < b) & (end > a) | ((start == end) & (start > a) & (start < b))
        if over.any():
            hit |= over
            details.append(f"a {b - a:.0f} s gap at {a:.0f}–{b:.0f} s")
    if hit.any():
        affected = [names[i] for i in np.flatnonzero(hit)]
        warnings.warn(
            f"{source}: the echem record has {'; '.join(details[:3])} (gaps longer than {threshold:.0f} s) "
            f"during scan(s) {', '.join(affected[:6])}; their voltage, capacity and current are NaN",
            AlignmentWarning, stacklevel=4)
    return hit


def _outside(t: np.ndarray, mid: np.ndarray, names: list[str], outside: str,
             record: xr.Dataset) -> np.ndarray:
    out = (mid < t[0]) | (mid > t[-1])
    if not out.any():
        return out
    source = record.attrs.get("source_file", "echem record")
    start = record.attrs.get("start_datetime", "")
    affected = [f"{names[i]} (mid-time {mid[i]:.0f} s)" for i in np.flatnonzero(out)]
    message = (f"{source}: the echem record spans {t[0]:.0f}–{t[-1]:.0f} s"
               f"{' from ' + start if start else ''} but scan(s) {', '.join(affected[:6])}"
               f"{' …' if len(affected) > 6 else ''} fall outside it")
    if outside == "raise":
        raise EchemError(message + "; check the clocks, or pass --echem-outside nan (align(..., outside='nan')) to keep those scans "
                         "without electrochemistry")
    if outside == "auto" and out.sum() > MOST_OUTSIDE * out.size:
        raise EchemError(message + f" ({int(out.sum())} of {out.size} scans, more than half: the scan and "
                         "cycler clocks disagree); check the clocks, or pass --echem-outside nan to keep "
                         "those scans without electrochemistry")
    before, after = int(np.sum(mid < t[0])), int(np.sum(mid > t[-1]))
    kind = ", ".join(k for k, n in (("before the record starts (pristine)", before),
                                    ("after it ends (rest)", after)) if n)
    warnings.warn(message + f" ({kind}); they are kept with NaN voltage, capacity and current",
                  AlignmentWarning, stacklevel=4)
    return out


def sample_record(
    record: xr.Dataset,
    start: np.ndarray,
    end: np.ndarray,
    *,
    names: list[str],
    method: str,
    outside: str,
    max_gap_s: float | None,
) -> dict[str, np.ndarray]:
    """Echem values of each scan.

    Parameters
    ----------
    record : xarray.Dataset
        From :func:`~phasetrace.echem.read_echem`.
    start, end : ndarray, shape (n_scans,)
        Scan windows, s on the record clock.
    names : list of str
        Scan names for messages.
    method, outside, max_gap_s
        See :func:`~phasetrace.echem.align`.

    Returns
    -------
    dict of str to ndarray, each shape (n_scans,)
        ``voltage_V``, ``capacity_mAh_g``, ``capacity_mAh``, ``current_mA``,
        ``cycle`` (int; 0 = unknown) and ``direction`` (str).
    """
    t = record["time_s"].values.astype(float)
    mid = 0.5 * (start + end)
    source = record.attrs.get("source_file", "echem record")
    out = _outside(t, mid, names, outside, record)
    blank = out | _gap_scans(t, start, end, names, max_gap_s, source)
    values: dict[str, np.ndarray] = {}
    n = t.size
    for name in CONTINUOUS:
        y = record[name].values.astype(float) if name in record else np.full(n, np.nan)
        v = np.interp(mid, t, y) if method == "interp" else _window_mean(t, y, start, end)
        values[name] = np.where(blank, np.nan, v)
    k = np.clip(np.searchsorted(t, mid, side="right") - 1, 0, t.size - 1)
    current = record["current_mA"].values if "current_mA" in record else np.full(n, np.nan)
    cycle = record["cycle"].values if "cycle" in record else np.ones(n, dtype=np.int64)
    direction = record["direction"].values.astype(str) if "direction" in record else np.full(n, "")
    values["current_mA"] = np.where(blank, np.nan, current[k])
    values["cycle"] = np.where(out, 0, cycle[k]).astype(np.int64)
    values["direction"] = np.where(blank, "", direction[k])
    return values
