"""Volume per formula unit across transitions: the jump papers quote (e.g. "−23 % P2 → O2").

Across a transition the electrode's mean volume per formula unit is compared
between the last scan before it and the first scan after it.  The mean is
weighted by the phase fractions when they are known (the volume of the
electrode as a whole), else a plain mean of the phases present; cell
components are left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

from . import _common, _data

__all__ = ["VolumeJump", "volume_jumps", "mean_volume_per_fu"]


@dataclass(frozen=True)
class VolumeJump:
    """Change of the mean volume per formula unit across one transition.

    Attributes
    ----------
    from_phases, to_phases : tuple of str
        Phases on each side.
    before_scan, after_scan : int
        Scan numbers compared (last before, first after the transition).
    volume_before_A3, volume_after_A3 : float
        Mean volume per formula unit, Å³.
    relative_change : float
        ``volume_after / volume_before − 1`` (a fraction).
    """

    from_phases: tuple[str, ...]
    to_phases: tuple[str, ...]
    before_scan: int
    after_scan: int
    volume_before_A3: float
    volume_after_A3: float
    relative_change: float

    def label(self) -> str:
        """E.g. ``"−23 % P2 → O2"`` (one decimal below 10 %)."""
        pct = 100.0 * self.relative_change
        digits = 0 if abs(pct) >= 10 else (1 if abs(pct) >= 0.1 else 2)
        sign = "−" if pct < 0 else "+"
        return (f"{sign}{abs(pct):.{digits}f} % {'/'.join(self.from_phases)} → "
                f"{'/'.join(self.to_phases)}")


def mean_volume_per_fu(results: xr.Dataset) -> np.ndarray:
    """Per scan, the (fraction-weighted) mean volume per formula unit of the electrode phases, Å³."""
    n = _data.n_scans(results)
    total, weight = np.zeros(n), np.zeros(n)
    for p in _data.phase_labels(results):
        v = _data.phase_var(results, "volume_per_fu", p)
        if v is None:
            continue
        f = _data.phase_var(results, "fraction", p)
        w = np.where(np.isfinite(f), f, 0.0) if f is not None else np.ones(n)
        w = np.where(np.isfinite(v), w, 0.0)
        total += np.where(np.isfinite(v), v, 0.0) * w
        weight += w
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, total / weight, np.nan)


def _nearest_finite(values: np.ndarray, positions: np.ndarray, start: int, step: int) -> int | None:
    k = start
    while 0 <= k < values.size:
        if math.isfinite(values[k]):
            return k
        k += step
    return None


def volume_jumps(results: xr.Dataset) -> list[VolumeJump]:
    """One :class:`VolumeJump` per transition of the sequence that has volumes on both sides.

    Transitions within one phase set (a continuous distortion) have no jump and are left out.
    """
    mean = mean_volume_per_fu(results)
    numbers = _common.scan_numbers(results)
    out = []
    for tr in _data.sequence(results).get("transitions", []) or []:
        try:
            first, last = float(tr["first_scan"]), float(tr["last_scan"])
        except (KeyError, TypeError, ValueError):
            continue
        before = np.flatnonzero(numbers < first)
        after = np.flatnonzero(numbers > last)
        if not before.size or not after.size:
            continue
        i = _nearest_finite(mean, numbers, int(before[-1]), -1)
        j = _nearest_finite(mean, numbers, int(after[0]), +1)
        if i is None or j is None:
            continue
        if set(_data.stage_phases(tr, "from")) == set(_data.stage_phases(tr, "to")):
            continue  # same phases (a distortion): no jump, only the continuous change
        out.append(VolumeJump(tuple(_data.stage_phases(tr, "from")), tuple(_data.stage_phases(tr, "to")),
                              int(numbers[i]), int(numbers[j]), float(mean[i]), float(mean[j]),
                              float(mean[j] / mean[i] - 1.0)))
    return out
