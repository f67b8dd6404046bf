"""Neware ``.ndax``/``.nda`` files, read with NewareNDA.

NewareNDA gives ``Time`` as time *within a step* and an absolute ``Timestamp``
(whole seconds).  The record clock is rebuilt step by step: each step's offset
is the median of (timestamp − step time) over its records, so the sub-second
step time is kept and pauses between steps (visible in the timestamps) are not
lost.  Charge and discharge capacities restart at each step; the net charge
``capacity_mAh`` carries them over from step to step (charge − discharge).
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import EchemError
from ._record import build_record
from ._time import iso

logger = logging.getLogger(__name__)

_REQUIRED = ("Time", "Voltage", "Current(mA)")


def _segments(frame: pd.DataFrame) -> np.ndarray:
    """Segment index of each record: a new segment at each step change or time reset."""
    step_col = "Step" if "Step" in frame else "Step_Index"
    step = frame[step_col].to_numpy()
    step_time = frame["Time"].to_numpy(dtype=float)
    new = np.zeros(len(frame), dtype=bool)
    new[1:] = (step[1:] != step[:-1]) | (np.diff(step_time) < 0)
    return np.cumsum(new)


def _record_time(frame: pd.DataFrame, segments: np.ndarray) -> tuple[np.ndarray, str]:
    step_time = frame["Time"].to_numpy(dtype=float)
    if "Timestamp" not in frame or frame["Timestamp"].isna().all():
        # no absolute clock: steps follow each other without pauses
        ends = pd.Series(step_time).groupby(segments).last().to_numpy()
        offsets = np.concatenate(([0.0], np.cumsum(ends)[:-1]))
        return offsets[segments] + step_time, ""
    stamps = frame["Timestamp"].to_numpy(dtype="datetime64[us]")
    rel = (stamps - stamps[0]).astype("timedelta64[us]").astype(float) * 1e-6
    grouped = pd.Series(step_time).groupby(segments)
    first, last = grouped.first().to_numpy(), grouped.last().to_numpy()
    offsets = pd.Series(rel - step_time).groupby(segments).median().to_numpy().copy()
    for k in range(1, offsets.size):
        # timestamps have 1 s resolution: a step starting within 2 s of the end of the
        # previous one follows it directly; a later start is a pause in the record
        previous_end = offsets[k - 1] + last[k - 1]
        if offsets[k] + first[k] - previous_end < 2.0:
            offsets[k] = previous_end - first[k]
    start = iso(frame["Timestamp"].iloc[0].to_pydatetime())
    return offsets[segments] + step_time, start


def _net_charge(frame: pd.DataFrame, segments: np.ndarray) -> np.ndarray:
    q = (frame["Charge_Capacity(mAh)"].to_numpy(dtype=float)
         - frame["Discharge_Capacity(mAh)"].to_numpy(dtype=float))
    first_index = np.flatnonzero(np.concatenate(([True], segments[1:] != segments[:-1])))
    last_index = np.concatenate((first_index[1:] - 1, [q.size - 1]))
    gained = q[last_index] - q[first_index]          # net charge of each segment
    carry = np.concatenate(([0.0], np.cumsum(gained)[:-1]))
    return carry[segments] + q - q[first_index][segments]


def read_ndax(path: str | Path, *, active_mass_mg: float | None = None) -> xr.Dataset:
    """Read a Neware ``.ndax`` or ``.nda`` file into a record Dataset.

    Parameters
    ----------
    path : str or Path
        Neware binary file.
    active_mass_mg : float, optional
        Active mass (mg) for ``capacity_mAh_g``.

    Returns
    -------
    xarray.Dataset
        Record Dataset (see :func:`phasetrace.echem.read_echem`); ``cycle`` is
        NewareNDA's cycle number.

    Raises
    ------
    EchemError
        When NewareNDA cannot parse the file or a required column is missing.
    """
    import NewareNDA

    path = Path(path)
    if not path.is_file():
        raise EchemError(f"{path}: no such echem file")
    try:
        quiet = {"log_level": "WARNING"} if "log_level" in inspect.signature(NewareNDA.read).parameters else {}
        frame = NewareNDA.read(str(path), **quiet)
    except Exception as err:  # NewareNDA raises plain Exception subclasses of many kinds
        raise EchemError(f"{path}: not a readable Neware file ({type(err).__name__}: {err})") from err
    missing = [c for c in _REQUIRED if c not in frame]
    if missing or len(frame) == 0:
        raise EchemError(
            f"{path}: Neware data lacks column(s) {', '.join(missing) or '(no records)'}; "
            f"got {list(frame.columns)}")
    segments = _segments(frame)
    time_s, start = _record_time(frame, segments)
    has_cap = "Charge_Capacity(mAh)" in frame and "Discharge_Capacity(mAh)" in frame
    return build_record(
        time_s=time_s, voltage_V=frame["Voltage"].to_numpy(dtype=float),
        current_mA=frame["Current(mA)"].to_numpy(dtype=float),
        capacity_mAh=_net_charge(frame, segments) if has_cap else None,
        cycle=frame["Cycle"].to_numpy(dtype=float) if "Cycle" in frame else None,
        source_file=str(path), format="neware-ndax", start_datetime=start,
        active_mass_mg=active_mass_mg)
