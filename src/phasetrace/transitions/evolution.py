"""Phase evolution of a synthesis or heating run: when each phase appears and vanishes.

For an in-situ heating series (precursors → intermediates → product) the stage sequence is
only part of the story: each phase has an *onset* (first scan in which it is identified) and
an *end* (last scan), and a weight-fraction curve in between.  :func:`phase_evolution`
reads them from the results of the phase analysis (``present`` and ``fraction`` on
(scan, phase), after the stack prior of :mod:`phasetrace.phases.identify` has removed
isolated detections and filled short gaps); :func:`evolution_table` makes the publication
table (CSV/Markdown/LaTeX through :mod:`phasetrace.report.tables`).

The onset temperature is bracketed by the scan before the onset (phase absent) and the onset
scan (present): the phase formed in between; likewise the end.  Cell components and
standards are left out (they do not evolve with the sample).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["PhaseEvolution", "phase_evolution", "evolution_table", "EVOLUTION_KEY", "with_evolution"]

#: key of the list in sequence.json.
EVOLUTION_KEY = "phase_evolution"
_AXES = (("temperature_K", "temperature", "K"), ("voltage_V", "voltage", "V"), ("time_s", "time", "s"))


@dataclass(frozen=True)
class PhaseEvolution:
    """Onset, end and fraction summary of one phase (scans numbered from 0).

    Attributes
    ----------
    phase : str
    first_scan, last_scan : int
        First and last scan in which the phase is identified.
    n_scans : int
        Scans in which it is identified.
    present_at_start, present_at_end : bool
        Present in the first / last scan of the series (a precursor, the product).
    onset_after_K, onset_K : float
        Temperature of the scan before the onset (NaN when present from the start) and of the
        onset scan: the phase appeared between them.
    end_K, end_before_K : float
        Temperature of the last scan present and of the next scan (NaN when present to the end).
    max_fraction : float
        Largest weight fraction (NaN if fractions are unknown).
    scan_of_max : int
        Scan of ``max_fraction`` (-1 if unknown).
    temperature_of_max_K : float
    onset_voltage_V, end_voltage_V, onset_time_s, end_time_s : float
        The same scans on the other axes (NaN where unknown).
    """

    phase: str
    first_scan: int
    last_scan: int
    n_scans: int
    present_at_start: bool
    present_at_end: bool
    onset_after_K: float
    onset_K: float
    end_K: float
    end_before_K: float
    max_fraction: float
    scan_of_max: int
    temperature_of_max_K: float
    onset_voltage_V: float
    end_voltage_V: float
    onset_time_s: float
    end_time_s: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN → None)."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in asdict(self).items()}


def _axis(results: xr.Dataset, name: str, n: int) -> np.ndarray:
    if name in results.coords or name in results:
        return np.asarray(results[name].values, dtype=float).reshape(-1)[:n]
    return np.full(n, np.nan)


def _at(values: np.ndarray, i: int) -> float:
    return float(values[i]) if 0 <= i < values.size else math.nan


def phase_evolution(results: xr.Dataset) -> list[PhaseEvolution]:
    """Onset and end of every sample phase identified in ``results``, in order of onset.

    Parameters
    ----------
    results : xarray.Dataset
        With ``present`` (bool) and optionally ``fraction`` on (scan, phase),
        ``is_cell_component`` on phase, and the scan coordinates ``temperature_K``,
        ``voltage_V``, ``time_s`` where known.

    Returns
    -------
    list of PhaseEvolution
        Phases never identified are omitted; ties in onset are ordered by end.
    """
    if "present" not in results or "phase" not in results.dims:
        return []
    present = np.asarray(results["present"].transpose("scan", "phase").values, dtype=bool)
    n = present.shape[0]
    fraction = (np.asarray(results["fraction"].transpose("scan", "phase").values, dtype=float)
                if "fraction" in results else np.full(present.shape, np.nan))
    cell = (np.asarray(results["is_cell_component"].values, dtype=bool)
            if "is_cell_component" in results else np.zeros(present.shape[1], bool))
    temp, volt, time = (_axis(results, name, n) for name, _, _ in _AXES)
    out = []
    for j, label in enumerate(results["phase"].values):
        scans = np.flatnonzero(present[:, j])
        if cell[j] or scans.size == 0:
            continue
        first, last = int(scans[0]), int(scans[-1])
        frac = np.where(present[:, j], fraction[:, j], np.nan)
        k = int(np.nanargmax(frac)) if np.isfinite(frac).any() else -1
        out.append(PhaseEvolution(
            phase=str(label), first_scan=first, last_scan=last, n_scans=int(scans.size),
            present_at_start=first == 0, present_at_end=last == n - 1,
            onset_after_K=_at(temp, first - 1), onset_K=_at(temp, first),
            end_K=_at(temp, last), end_before_K=_at(temp, last + 1),
            max_fraction=float(frac[k]) if k >= 0 else math.nan, scan_of_max=k,
            temperature_of_max_K=_at(temp, k), onset_voltage_V=_at(volt, first),
            end_voltage_V=_at(volt, last), onset_time_s=_at(time, first), end_time_s=_at(time, last)))
    return sorted(out, key=lambda e: (e.first_scan, e.last_scan))


def _round(value: float, digits: int) -> float:
    return round(value, digits) if math.isfinite(value) else math.nan


def evolution_table(evolutions: list[PhaseEvolution] | list[dict]) -> Any:
    """Publication table: one row per phase (onset/end scans and temperatures, max fraction).

    Temperature columns appear when any temperature is known, voltage columns when any
    voltage is; temperatures in K (1 decimal), voltages in V (3 decimals), fractions (3).

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    rows = [e if isinstance(e, dict) else e.to_dict() for e in evolutions]

    def f(row: dict, key: str) -> float:
        v = row.get(key)
        return math.nan if v is None else float(v)

    has_t = any(math.isfinite(f(r, "onset_K")) for r in rows)
    has_v = any(math.isfinite(f(r, "onset_voltage_V")) for r in rows)
    table = []
    for r in rows:
        row: dict[str, Any] = {"phase": r["phase"], "first scan": r["first_scan"], "last scan": r["last_scan"]}
        if has_t:
            row["onset after (K)"] = _round(f(r, "onset_after_K"), 1)
            row["onset (K)"] = _round(f(r, "onset_K"), 1)
            row["end (K)"] = _round(f(r, "end_K"), 1)
            row["gone by (K)"] = _round(f(r, "end_before_K"), 1)
        if has_v:
            row["onset (V)"] = _round(f(r, "onset_voltage_V"), 3)
            row["end (V)"] = _round(f(r, "end_voltage_V"), 3)
        row["max fraction"] = _round(f(r, "max_fraction"), 3)
        if has_t:
            row["at (K)"] = _round(f(r, "temperature_of_max_K"), 1)
        table.append(row)
    columns = list(table[0]) if table else ["phase", "first scan", "last scan", "max fraction"]
    return pd.DataFrame(table, columns=columns)


def with_evolution(sequence: dict[str, Any], results: xr.Dataset, phase_options: Any) -> dict[str, Any]:
    """``sequence`` (the sequence.json dict) with ``phase_evolution`` (onset/end of each phase),
    ``unindexed`` (peaks no phase explains, with suggestions; :mod:`phasetrace.phases.unindexed`)
    and, after ``--calibrate``, ``calibration``.  ``phase_options`` is the run's PhaseConfig."""
    import dataclasses
    import json

    from ..phases.unindexed import UNINDEXED_KEY, unindexed_summary

    options = dataclasses.asdict(phase_options) if dataclasses.is_dataclass(phase_options) else {}
    out = {**sequence, EVOLUTION_KEY: [e.to_dict() for e in phase_evolution(results)],
           UNINDEXED_KEY: unindexed_summary(results, options=options).to_dict()}
    if "calibration_json" in results.attrs:
        out["calibration"] = json.loads(results.attrs["calibration_json"])
    return out

