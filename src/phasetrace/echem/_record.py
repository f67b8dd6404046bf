"""Build and check an electrochemistry *record* Dataset (dimension ``record``).

Every reader in :mod:`phasetrace.echem` hands its raw columns to
:func:`build_record`, which applies the same checks and derivations to all
formats:

* rows without a finite time or voltage are dropped (logged);
* time must be non-decreasing (equal times are kept: cyclers log the last
  point of a step and the first point of the next one at the same instant);
* time is shifted to start at 0 s; the shift is kept in ``attrs["time_offset_s"]``
  so that scan logs written on the file's own clock can still be matched;
* the sign of the current is checked against the voltage (positive current =
  charge = oxidation of the cathode = voltage rising) and flipped, with a
  warning, when the file uses the opposite convention;
* ``direction`` comes from the sign of the current, or from dV/dt when the file
  has no current;
* ``cycle`` is taken from the file when it has one (renumbered to start at 1),
  otherwise a new cycle starts each time the cell goes back to the direction of
  its first active step (e.g. charge → discharge → *charge*).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import xarray as xr

from ..errors import AlignmentWarning, EchemError

logger = logging.getLogger(__name__)

RECORD = "record"
CHARGE, DISCHARGE, REST = "charge", "discharge", "rest"

#: fraction of the largest |current| below which a record counts as a rest.
REST_CURRENT_FRACTION = 1e-3
#: |dV/dt| (V/s) below which a record without current counts as a rest (7.2 mV/h).
REST_SLOPE_V_PER_S = 2e-6
#: shortest window (s) over which dV/dt is taken.
SLOPE_WINDOW_S = 600.0


def _as_float(values: Any, n: int, name: str, source: str) -> np.ndarray:
    if values is None:
        return np.full(n, np.nan)
    arr = np.asarray(values, dtype=float).reshape(-1)
    if arr.size != n:
        raise EchemError(f"{source}: column {name!r} has {arr.size} values, expected {n}")
    return arr


def _check_time(time_s: np.ndarray, source: str) -> None:
    if time_s.size < 2:
        raise EchemError(
            f"{source}: only {time_s.size} usable record(s) with finite time and voltage; "
            "expected at least 2")
    back = np.flatnonzero(np.diff(time_s) < 0)
    if back.size:
        i = int(back[0])
        raise EchemError(
            f"{source}: time is not monotonic: it goes back from {time_s[i]:.6g} s to "
            f"{time_s[i + 1]:.6g} s at record {i + 1} ({back.size} such step(s)); expected "
            "non-decreasing time (split or re-join the record)")


def voltage_slope(time_s: np.ndarray, voltage_V: np.ndarray) -> np.ndarray:
    """Smoothed dV/dt of a record, V/s.

    Parameters
    ----------
    time_s, voltage_V : ndarray, shape (n,)
        Non-decreasing time (s) and voltage (V).

    Returns
    -------
    ndarray, shape (n,)
        (V(t + w/2) − V(t − w/2)) / w with w = max(600 s, 10 median sampling
        intervals), the window clipped at the ends of the record.
    """
    steps = np.diff(time_s)
    dt = float(np.median(steps[steps > 0])) if np.any(steps > 0) else 1.0
    half = 0.5 * max(SLOPE_WINDOW_S, 10.0 * dt)
    lo = np.maximum(time_s - half, time_s[0])
    hi = np.minimum(time_s + half, time_s[-1])
    t_unique, idx = np.unique(time_s, return_index=True)
    v_unique = voltage_V[idx]
    span = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (np.interp(hi, t_unique, v_unique) - np.interp(lo, t_unique, v_unique)) / span
    return np.where(span > 0, slope, 0.0)


def direction_codes(time_s: np.ndarray, voltage_V: np.ndarray,
                    current_mA: np.ndarray) -> tuple[np.ndarray, str]:
    """Direction of each record as +1 (charge), −1 (discharge) or 0 (rest).

    Returns the codes, shape (n,), and the source used: ``"current"`` or ``"dV/dt"``.
    """
    if np.any(np.isfinite(current_mA)):
        cur = np.nan_to_num(current_mA, nan=0.0)
        threshold = REST_CURRENT_FRACTION * float(np.max(np.abs(cur)))
        codes = np.where(cur > threshold, 1, np.where(cur < -threshold, -1, 0))
        return codes.astype(np.int8), "current"
    slope = voltage_slope(time_s, voltage_V)
    codes = np.where(slope > REST_SLOPE_V_PER_S, 1, np.where(slope < -REST_SLOPE_V_PER_S, -1, 0))
    return codes.astype(np.int8), "dV/dt"


def current_agrees_with_voltage(time_s: np.ndarray, voltage_V: np.ndarray,
                                current_mA: np.ndarray) -> float:
    """Fraction of active records whose current sign matches the sign of dV/dt.

    Returns NaN when fewer than 10 records are decisive (non-zero current and
    non-zero slope).
    """
    cur = np.nan_to_num(current_mA, nan=0.0)
    if not np.any(cur):
        return float("nan")
    threshold = REST_CURRENT_FRACTION * float(np.max(np.abs(cur)))
    slope = voltage_slope(time_s, voltage_V)
    decisive = (np.abs(cur) > threshold) & (slope != 0)
    if decisive.sum() < 10:
        return float("nan")
    return float(np.mean(np.sign(cur[decisive]) == np.sign(slope[decisive])))


def derive_cycle(codes: np.ndarray) -> np.ndarray:
    """Cycle number (from 1) of each record from its direction codes.

    A new cycle starts whenever the cell returns to the direction of its first
    active (non-rest) record after having gone the other way; rests take the
    cycle of the preceding active record.

    Examples
    --------
    >>> derive_cycle(np.array([0, 1, 1, 0, -1, -1, 1, -1])).tolist()
    [1, 1, 1, 1, 1, 1, 2, 2]
    """
    active = np.flatnonzero(codes)
    if active.size == 0:
        return np.ones(codes.size, dtype=np.int64)
    first = codes[active[0]]
    # forward-fill the last active direction
    idx = np.where(codes != 0, np.arange(codes.size), 0)
    np.maximum.accumulate(idx, out=idx)
    filled = np.where(np.arange(codes.size) >= active[0], codes[idx], first)
    prev = np.concatenate(([first], filled[:-1]))
    starts = (filled == first) & (prev == -first)
    return (1 + np.cumsum(starts)).astype(np.int64)


def cumulative_charge_mAh(time_s: np.ndarray, current_mA: np.ndarray) -> np.ndarray:
    """Net charge passed since the first record, mAh (trapezoidal ∫ I dt / 3600)."""
    cur = np.nan_to_num(current_mA, nan=0.0)
    steps = np.diff(time_s) * 0.5 * (cur[1:] + cur[:-1]) / 3600.0
    return np.concatenate(([0.0], np.cumsum(steps)))


def _check_sign(time_s: np.ndarray, voltage_V: np.ndarray, current_mA: np.ndarray,
                source: str) -> bool:
    agreement = current_agrees_with_voltage(time_s, voltage_V, current_mA)
    logger.debug("%s: current sign agrees with dV/dt on %.1f%% of records", source, 100 * agreement)
    if np.isfinite(agreement) and agreement < 0.2:
        warnings.warn(
            f"{source}: the voltage falls while the current is positive on {100 * (1 - agreement):.0f}% "
            "of active records; the file uses the opposite sign convention, so the current was "
            "negated (phasetrace: positive current = charge = voltage rising)",
            AlignmentWarning, stacklevel=5)  # user → read_echem → reader → build_record
        return True
    return False


def _usable_rows(time_s: Any, columns: dict[str, Any],
                 source: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Columns as float arrays, without rows lacking a finite time or voltage; time checked."""
    t_raw = np.asarray(time_s, dtype=float).reshape(-1)
    cols = {name: _as_float(values, t_raw.size, name, source) for name, values in columns.items()}
    keep = np.isfinite(t_raw) & np.isfinite(cols["voltage_V"])
    if not keep.all():
        logger.info("%s: dropped %d record(s) without finite time or voltage", source, (~keep).sum())
    t_raw = t_raw[keep]
    _check_time(t_raw, source)
    return t_raw, {name: values[keep] for name, values in cols.items()}


def build_record(
    *,
    time_s: Any,
    voltage_V: Any,
    source_file: str,
    format: str,
    current_mA: Any = None,
    capacity_mAh: Any = None,
    capacity_mAh_g: Any = None,
    cycle: Any = None,
    start_datetime: str = "",
    active_mass_mg: float | None = None,
) -> xr.Dataset:
    """Check raw columns and return a record Dataset (see module docstring).

    Parameters
    ----------
    time_s, voltage_V : array_like, shape (n,)
        Time on the file's clock (s) and cell voltage (V).
    source_file, format : str
        Path of the file read and reader name, for messages and ``attrs``.
    current_mA, capacity_mAh, capacity_mAh_g, cycle : array_like, shape (n,), optional
        Current (mA), net charge passed (mAh), specific capacity (mAh/g) and
        cycle number, when the file has them.  Without ``capacity_mAh`` it is
        integrated from the current.
    start_datetime : str
        ISO 8601 date-time of the first record, or ``""``.
    active_mass_mg : float, optional
        Active mass (mg); gives ``capacity_mAh_g`` = ``capacity_mAh`` / mass
        when the file has no specific capacity.

    Returns
    -------
    xarray.Dataset
        Variables on ``record``: ``time_s``, ``voltage_V``, ``current_mA``,
        ``capacity_mAh_g``, ``capacity_mAh``, ``cycle`` (int), ``direction`` (str).

    Raises
    ------
    EchemError
        Fewer than 2 usable records, time going backwards, or mismatched columns.
    """
    t_raw, cols = _usable_rows(time_s, {"voltage_V": voltage_V, "current_mA": current_mA,
                                        "capacity_mAh": capacity_mAh, "capacity_mAh_g": capacity_mAh_g,
                                        "cycle": cycle}, source_file)
    offset = float(t_raw[0])
    t = t_raw - offset
    v, cur = cols["voltage_V"], cols["current_mA"]
    flipped = bool(np.any(np.isfinite(cur))) and _check_sign(t, v, cur, source_file)
    if flipped:
        cur = -cur
    codes, dir_source = direction_codes(t, v, cur)
    cap = cols["capacity_mAh"]
    if capacity_mAh is None and np.any(np.isfinite(cur)):
        cap = cumulative_charge_mAh(t, cur)
    elif flipped:
        cap = -cap
    cap_g = cols["capacity_mAh_g"]
    if capacity_mAh_g is None and active_mass_mg is not None:
        if not (np.isfinite(active_mass_mg) and active_mass_mg > 0):
            raise EchemError(f"{source_file}: active mass {active_mass_mg!r} mg; expected a positive number")
        cap_g = cap / (active_mass_mg * 1e-3)
    if cycle is not None and np.all(np.isfinite(cols["cycle"])):
        cyc = np.rint(cols["cycle"] - cols["cycle"].min() + 1).astype(np.int64)
        cycle_source = "file"
    else:
        cyc = derive_cycle(codes)
        cycle_source = f"derived from {dir_source}"
    names = np.array([REST, CHARGE, DISCHARGE])  # indexed by code 0, +1, -1
    ds = xr.Dataset(
        {
            "time_s": (RECORD, t, {"units": "s"}),
            "voltage_V": (RECORD, v, {"units": "V"}),
            "current_mA": (RECORD, cur, {"units": "mA"}),
            "capacity_mAh_g": (RECORD, cap_g, {"units": "mAh/g"}),
            "capacity_mAh": (RECORD, cap, {"units": "mAh"}),
            "cycle": (RECORD, cyc),
            "direction": (RECORD, names[codes].astype(str)),
        },
        attrs={
            "start_datetime": start_datetime,
            "source_file": str(source_file),
            "format": format,
            "time_offset_s": offset,
            "current_sign_flipped": int(flipped),
            "direction_source": dir_source,
            "cycle_source": cycle_source,
        },
    )
    return ds
