"""Assemble the (scan, phase) result Dataset and the lattice table."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..phases.identify import ScanIdentification, match_peaks
from ..phases.peaksearch import PeakList
from ..phases.reference import ReferencePhase
from ..refine import STATUS_MEANINGS, RefineResult, RefineStatus
from ..schema import LATTICE_CSV_COLUMNS, PHASE, SCAN, SCAN_COORDS, TWO_THETA
from .derived import cell_with_esd, volume_strain
from .symmetry import report_setting

__all__ = ["build_result", "lattice_table"]

_CELL_KEYS = ("a", "b", "c", "alpha", "beta", "gamma", "volume", "volume_per_fu",
              "esd_a", "esd_b", "esd_c", "esd_alpha", "esd_beta", "esd_gamma", "esd_volume",
              "esd_volume_per_fu", "interlayer_d", "esd_interlayer_d")


#: per (scan, phase) values taken from each phase's refined solution.
_SOLUTION_KEYS = {"fraction": "weight_fraction", "esd_fraction": "esd_weight_fraction",
                  "volume_fraction": "volume_fraction",
                  "esd_volume_fraction": "esd_volume_fraction", "scale": "scale",
                  "esd_scale": "esd_scale", "po_r": "po_r", "eta": "eta"}


def _fill_scan(s, library, kept, res, arrays) -> None:
    """Cells, fractions and status of the phases of scan ``s``.  A phase whose fit did not
    converge inside its bounds keeps ``present`` (it was identified) but gets no values."""
    index = {p.label: j for j, p in enumerate(library)}
    for i, phase in enumerate(kept):
        j = index[phase.label]
        sol = res.phases[i]
        arrays["present"][s, j] = True
        arrays["fit_status"][s, j] = int(sol.status)
        if sol.status != RefineStatus.CONVERGED:
            continue
        arrays["cell_tied"][s, j] = bool(sol.tie)
        values = cell_with_esd(phase, *report_setting(phase, sol.free, sol.cov_free))
        for key in _CELL_KEYS:
            arrays[key][s, j] = values[key]
        for key, attr in _SOLUTION_KEYS.items():
            arrays[key][s, j] = getattr(sol, attr)


def _unindexed(s, library, kept, res, peaks: PeakList, wl, wl2, tt_range, tol,
               min_snr) -> np.ndarray:
    """Clear peaks (SNR ≥ ``min_snr``) that no present phase indexes, degrees."""
    matched = peaks.snr < min_snr
    zero = res.zero if res is not None else 0.0
    for i, phase in enumerate(kept):
        matched |= match_peaks(phase, res.free[i], peaks.position - zero, wl, tt_range,
                               2.5 * tol, wavelength2_A=wl2, min_rel=0.1)
    return peaks.position[~matched]


def build_result(stack: xr.Dataset, library: list[ReferencePhase],
                 idents: list[ScanIdentification],
                 refined: list[tuple[list[ReferencePhase], RefineResult | None]],
                 score: np.ndarray, peak_lists: list[PeakList], *, wavelength_A: float,
                 wavelength2_A: float, tol_deg: float, fwhm_deg: float,
                 options: dict[str, Any]) -> xr.Dataset:
    """Build the (scan, phase) Dataset of :func:`phasetrace.lattice.analyse_phases`."""
    n, m = len(refined), len(library)
    tt = stack[TWO_THETA].values
    arrays = {key: np.full((n, m), np.nan) for key in _CELL_KEYS + tuple(_SOLUTION_KEYS)}
    arrays["present"] = np.zeros((n, m), bool)
    arrays["fit_status"] = np.full((n, m), -1, np.int8)
    arrays["cell_tied"] = np.zeros((n, m), bool)
    scan_keys = ("zero", "esd_zero", "displacement", "esd_displacement", "redchi", "rwp", "rp",
                 "gof")
    per_scan = {key: np.full(n, np.nan) for key in scan_keys}
    scan_status = np.full(n, -1, np.int8)
    calc = np.full((n, tt.size), np.nan)
    calc_bg = np.full((n, tt.size), np.nan)
    gain = np.zeros((n, m))
    unindexed = []
    for s, (kept, res) in enumerate(refined):
        for j, p in enumerate(library):
            gain[s, j] = idents[s].gain.get(p.label, 0.0)
        if res is not None:
            _fill_scan(s, library, kept, res, arrays)
            for key in scan_keys:
                per_scan[key][s] = getattr(res, key)
            scan_status[s] = int(res.status)
            calc[s], calc_bg[s] = res.calc, res.background
        unindexed.append(_unindexed(s, library, kept, res, peak_lists[s], wavelength_A,
                                    wavelength2_A, (tt[0], tt[-1]), tol_deg,
                                    options.get("unindexed_snr", 8.0)))
    width = max((u.size for u in unindexed), default=0)
    un = np.full((n, width), np.nan)
    for s, u in enumerate(unindexed):
        un[s, :u.size] = u
    dims = (SCAN, PHASE)
    data = {key: (dims, arrays[key]) for key in arrays}
    data["score"] = (dims, score)
    data["score_gain"] = (dims, gain)
    data["volume_strain"] = (dims, volume_strain(arrays["volume"]))
    pristine = arrays["volume"] / arrays["volume"][:1] - 1.0
    data["volume_strain_pristine"] = (dims, pristine)
    status_attrs = {"flag_values": np.arange(len(RefineStatus), dtype=np.int8),
                    "flag_meanings": STATUS_MEANINGS, "absent_value": -1,
                    "long_name": "whole-pattern refinement status (-1: phase absent); only "
                                 "converged fits carry cells and fractions"}
    data["fit_status"] = (dims, arrays["fit_status"], status_attrs)
    data["cell_tied"] = (dims, arrays["cell_tied"], {
        "long_name": "two pseudo-tetragonal axes refined equal (split not significant)"})
    data["scan_fit_status"] = (SCAN, scan_status, {**status_attrs, "long_name":
                               "worst refinement status of the scan (-1: not refined)"})
    data["zero_shift"] = (SCAN, per_scan["zero"], {"units": "deg"})
    data["esd_zero_shift"] = (SCAN, per_scan["esd_zero"], {"units": "deg"})
    data["displacement"] = (SCAN, per_scan["displacement"], {
        "units": "deg", "long_name": "sample displacement D: peaks shifted by D cos θ"})
    data["esd_displacement"] = (SCAN, per_scan["esd_displacement"], {"units": "deg"})
    data["redchi"] = (SCAN, per_scan["redchi"])
    data["rwp"] = (SCAN, per_scan["rwp"], {"units": "%", "long_name":
                   "weighted profile R factor, observed vs calc (model + background), w = 1/σ²"})
    data["rp"] = (SCAN, per_scan["rp"], {"units": "%"})
    data["gof"] = (SCAN, per_scan["gof"], {"long_name": "goodness of fit √(χ²/(N−P))"})
    data["n_unindexed"] = (SCAN, np.array([u.size for u in unindexed]))
    data["unindexed_peaks"] = ((SCAN, "unindexed"), un, {"units": "deg"})
    if options.get("keep_calc", True):
        data["calc"] = ((SCAN, TWO_THETA), calc, {
            "units": "counts", "long_name": "calculated pattern INCLUDING background "
            "(compare directly with intensity; calc - calc_background = phases only)"})
        data["calc_background"] = ((SCAN, TWO_THETA), calc_bg, {
            "units": "counts", "long_name": "background part of calc: estimated baseline + "
            "refined Chebyshev terms"})
    coords = {
        SCAN: stack[SCAN].values, TWO_THETA: tt,
        PHASE: [p.label for p in library],
        "phase_family": (PHASE, [p.family for p in library]),
        "is_cell_component": (PHASE, np.array([p.is_cell_component for p in library])),
        "phase_parent": (PHASE, [p.parent for p in library]),
        "phase_space_group": (PHASE, [p.space_group for p in library]),
        "phase_crystal_system": (PHASE, [p.crystal_system for p in library]),
    }
    for name in SCAN_COORDS:
        if name in stack.coords:
            coords[name] = (SCAN, stack[name].values)
    ds = xr.Dataset(data, coords=coords)
    _units(ds)
    ds.attrs.update({
        "phase_method": "peak-matching identification + whole-pattern refinement "
                        "(phasetrace.refine; intensities: " + str(options.get("intensities")) + ")",
        "fraction_method": "Hill-Howard: weight W ~ S*Z*M*V, volume v ~ S*V^2 from Rietveld "
                           "scale factors S (reference structures, no microabsorption)",
        "fwhm_deg": fwhm_deg, "match_tolerance_deg": tol_deg,
        "phase_options": repr(sorted(options.items())),
    })
    return ds


def _units(ds: xr.Dataset) -> None:
    for name in ("a", "b", "c", "esd_a", "esd_b", "esd_c", "interlayer_d", "esd_interlayer_d"):
        ds[name].attrs["units"] = "Å"
    for name in ("alpha", "beta", "gamma", "esd_alpha", "esd_beta", "esd_gamma"):
        ds[name].attrs["units"] = "deg"
    for name in ("volume", "esd_volume", "volume_per_fu", "esd_volume_per_fu"):
        ds[name].attrs["units"] = "Å^3"


def known_scan_coords(result: xr.Dataset) -> list[str]:
    """Scan coordinates of lattice.csv: ``temperature_K, voltage_V, capacity_mAh_g, time_s``
    where finite for some scan, and ``file``."""
    return [c for c in ("temperature_K", "voltage_V", "capacity_mAh_g", "time_s", "file")
            if c in result.coords and (c == "file" or np.isfinite(result[c].values).any())]


def lattice_table(result: xr.Dataset):
    """One row per (scan, phase present) with the ``lattice.csv`` columns, then more.

    Parameters
    ----------
    result : xarray.Dataset
        Output of :func:`phasetrace.lattice.analyse_phases`.

    Returns
    -------
    pandas.DataFrame
        Columns ``schema.LATTICE_CSV_COLUMNS`` followed by ``esd_alpha, esd_beta,
        esd_gamma, esd_volume_per_fu, interlayer_d, esd_interlayer_d, volume_strain, score,
        volume_fraction, esd_fraction, esd_volume_fraction, fit_status`` (name of the
        :class:`phasetrace.refine.RefineStatus`; cells and fractions are NaN unless
        ``converged``), ``is_cell_component``, ``zero_shift``, ``displacement``, ``rwp`` and
        the scan coordinates known (``temperature_K``, ``voltage_V``, ``capacity_mAh_g``,
        ``time_s`` where finite for some scan; ``file``).
    """
    import pandas as pd

    extra = ["esd_alpha", "esd_beta", "esd_gamma", "esd_volume_per_fu", "interlayer_d",
             "esd_interlayer_d", "volume_strain", "score", "volume_fraction", "esd_fraction",
             "esd_volume_fraction"]
    names = STATUS_MEANINGS.split()
    rows = []
    present = result["present"].values
    labels = result[PHASE].values
    cell_comp = result["is_cell_component"].values
    scan_ids = result[SCAN].values
    status = result["fit_status"].values if "fit_status" in result else np.zeros(present.shape, int)
    scan_coords = known_scan_coords(result)
    per_scan = [c for c in ("zero_shift", "displacement", "rwp") if c in result]
    for s, j in zip(*np.nonzero(present)):
        row: dict[str, Any] = {"scan": int(scan_ids[s]), "phase": str(labels[j])}
        for col in LATTICE_CSV_COLUMNS[2:] + tuple(extra):
            row[col] = float(result[col].values[s, j]) if col in result else np.nan
        row["fit_status"] = names[status[s, j]] if 0 <= status[s, j] < len(names) else "absent"
        row["is_cell_component"] = bool(cell_comp[j])
        for c in per_scan:
            row[c] = float(result[c].values[s])
        for c in scan_coords:
            row[c] = result[c].values[s]
        rows.append(row)
    columns = (list(LATTICE_CSV_COLUMNS) + extra + ["fit_status", "is_cell_component"]
               + per_scan + scan_coords)
    return pd.DataFrame(rows, columns=columns)
