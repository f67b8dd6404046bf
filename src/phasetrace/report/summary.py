"""Numbers for the report, computed from a results Dataset: lattice and strain per phase."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

__all__ = ["PhaseSummary", "lattice_summary"]


@dataclass(frozen=True)
class PhaseSummary:
    """Lattice and volume change of one electrode phase over a run.

    Attributes
    ----------
    phase : str
        Phase label.
    n_scans : int
        Scans in which the phase is present.
    first_scan, last_scan : int
        First and last scan number where present (-1 when never present).
    a_min_A, a_max_A : float
        Range of a, Å (NaN when not refined).
    d_min_A, d_max_A : float
        Range of the interlayer spacing, Å (NaN for non-layered phases).
    strain_pct : float
        Volume strain of largest magnitude, %, relative to the first scan where
        the phase is present (from ``volume_strain`` or ``volume_per_fu``).
    strain_scan : int
        Scan number where it occurs (-1 when unknown).
    strain_voltage_V : float
        Voltage of that scan, V (NaN when unknown).
    strain_temperature_K : float
        Temperature of that scan, K (NaN when unknown).
    """

    phase: str
    n_scans: int
    first_scan: int
    last_scan: int
    a_min_A: float
    a_max_A: float
    d_min_A: float
    d_max_A: float
    strain_pct: float
    strain_scan: int
    strain_voltage_V: float
    strain_temperature_K: float = math.nan

    def sentence(self) -> str:
        """One line such as ``"P2: ΔV = −1.6 % at 4.14 V (scan 48)"`` (or ``at 289 K``)."""
        if not math.isfinite(self.strain_pct):
            return f"{self.phase}: no volume refined"
        where = ""
        if math.isfinite(self.strain_voltage_V):
            where = f" at {self.strain_voltage_V:.2f} V"
        elif math.isfinite(self.strain_temperature_K):
            where = f" at {self.strain_temperature_K:.1f} K"
        sign = "−" if self.strain_pct < 0 else "+"
        return f"{self.phase}: ΔV = {sign}{abs(self.strain_pct):.1f} %{where} (scan {self.strain_scan})"


def _var(results: xr.Dataset, name: str, label: str, present: np.ndarray) -> np.ndarray:
    if name not in results.data_vars or "phase" not in results[name].dims:
        return np.full(present.shape, np.nan)
    v = np.asarray(results[name].sel(phase=label).transpose("scan").values, dtype=float)
    return np.where(present, v, np.nan)


def _range(v: np.ndarray) -> tuple[float, float]:
    if not np.any(np.isfinite(v)):
        return math.nan, math.nan
    return float(np.nanmin(v)), float(np.nanmax(v))


def _presence(results: xr.Dataset, label: str, n: int) -> np.ndarray:
    for name in ("present", "fraction"):
        if name in results.data_vars and "phase" in results[name].dims:
            v = np.asarray(results[name].sel(phase=label).transpose("scan").values, dtype=float)
            return np.isfinite(v) & (v > 0)
    return np.ones(n, dtype=bool)


def lattice_summary(results: xr.Dataset) -> list[PhaseSummary]:
    """Summarise every electrode phase present in at least one scan (cell components left out).

    Parameters
    ----------
    results : xarray.Dataset
        Results with (scan, phase) variables; missing ones give NaN fields.

    Returns
    -------
    list of PhaseSummary
        In the order of the ``phase`` coordinate; empty without phases.
    """
    if "phase" not in results.coords:
        return []
    labels = [str(p) for p in np.atleast_1d(results["phase"].values)]
    cells = (np.atleast_1d(results["is_cell_component"].values).astype(bool)
             if "is_cell_component" in results.coords else np.zeros(len(labels), bool))
    n = int(results.sizes.get("scan", 0))
    numbers = (np.asarray(results["scan"].values, dtype=int) if "scan" in results.coords
               else np.arange(n))
    volt = (np.asarray(results["voltage_V"].values, dtype=float) if "voltage_V" in results.coords
            else np.full(n, np.nan))
    temp = (np.asarray(results["temperature_K"].values, dtype=float)
            if "temperature_K" in results.coords else np.full(n, np.nan))
    out = []
    for label, cell in zip(labels, cells):
        if cell:
            continue
        present = _presence(results, label, n)
        idx = np.flatnonzero(present)
        if not idx.size:
            continue  # a library phase that was not found: nothing to summarise
        strain = _var(results, "volume_strain", label, present) * 100.0
        if not np.any(np.isfinite(strain)):
            vol = _var(results, "volume_per_fu", label, present)
            ok = np.flatnonzero(np.isfinite(vol))
            strain = 100.0 * (vol / vol[ok[0]] - 1.0) if ok.size else strain
        if np.any(np.isfinite(strain)):
            k = int(np.nanargmax(np.abs(strain)))
            s_pct, s_scan, s_volt, s_temp = (float(strain[k]), int(numbers[k]), float(volt[k]),
                                             float(temp[k]))
        else:
            s_pct, s_scan, s_volt, s_temp = math.nan, -1, math.nan, math.nan
        out.append(PhaseSummary(
            label, int(idx.size), int(numbers[idx[0]]) if idx.size else -1,
            int(numbers[idx[-1]]) if idx.size else -1,
            *_range(_var(results, "a", label, present)),
            *_range(_var(results, "interlayer_d", label, present)),
            s_pct, s_scan, s_volt, s_temp))
    return out
