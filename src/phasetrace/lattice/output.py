"""Assemble the (scan, phase) result Dataset and the lattice table."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..phases.cell import cell_from_free
from ..phases.identify import ScanIdentification, match_peaks
from ..phases.peaksearch import PeakList
from ..phases.reference import ReferencePhase
from ..schema import LATTICE_CSV_COLUMNS, PHASE, SCAN, SCAN_COORDS, TWO_THETA
from .derived import cell_with_esd, phase_scale, volume_strain, weight_fractions
from .pawley import PawleyResult

__all__ = ["build_result", "lattice_table"]

_CELL_KEYS = ("a", "b", "c", "alpha", "beta", "gamma", "volume", "volume_per_fu",
              "esd_a", "esd_b", "esd_c", "esd_alpha", "esd_beta", "esd_gamma", "esd_volume",
              "esd_volume_per_fu", "interlayer_d", "esd_interlayer_d")


def _fill_scan(s, library, kept, res, wl, arrays) -> None:
    index = {p.label: j for j, p in enumerate(library)}
    scales = np.full(len(library), np.nan)
    for i, phase in enumerate(kept):
        j = index[phase.label]
        values = cell_with_esd(phase, res.free[i], res.cov_free[i])
        for key in _CELL_KEYS:
            arrays[key][s, j] = values[key]
        arrays["present"][s, j] = True
        if not phase.is_cell_component:
            cell = cell_from_free(phase.crystal_system, res.free[i])
            scales[j] = phase_scale(phase, cell, res.hkl[i], res.intensity[i], wl)
    volumes = arrays["volume"][s]
    masses = np.array([p.cell_mass for p in library])
    arrays["fraction"][s] = weight_fractions(scales, volumes, masses)


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
                 refined: list[tuple[list[ReferencePhase], PawleyResult | None]],
                 score: np.ndarray, peak_lists: list[PeakList], *, wavelength_A: float,
                 wavelength2_A: float, tol_deg: float, fwhm_deg: float,
                 options: dict[str, Any]) -> xr.Dataset:
    """Build the (scan, phase) Dataset of :func:`phasetrace.lattice.analyse_phases`."""
    n, m = len(refined), len(library)
    tt = stack[TWO_THETA].values
    arrays = {key: np.full((n, m), np.nan) for key in _CELL_KEYS + ("fraction",)}
    arrays["present"] = np.zeros((n, m), bool)
    zero, esd_zero, redchi = (np.full(n, np.nan) for _ in range(3))
    calc = np.full((n, tt.size), np.nan)
    gain = np.zeros((n, m))
    unindexed = []
    for s, (kept, res) in enumerate(refined):
        for j, p in enumerate(library):
            gain[s, j] = idents[s].gain.get(p.label, 0.0)
        if res is not None:
            _fill_scan(s, library, kept, res, wavelength_A, arrays)
            zero[s], esd_zero[s], redchi[s] = res.zero, res.esd_zero, res.redchi
            calc[s] = res.calc
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
    data["zero_shift"] = (SCAN, zero, {"units": "deg"})
    data["esd_zero_shift"] = (SCAN, esd_zero, {"units": "deg"})
    data["redchi"] = (SCAN, redchi)
    data["n_unindexed"] = (SCAN, np.array([u.size for u in unindexed]))
    data["unindexed_peaks"] = ((SCAN, "unindexed"), un, {"units": "deg"})
    if options.get("keep_calc", True):
        data["calc"] = ((SCAN, TWO_THETA), calc, {"units": "counts"})
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
        "phase_method": "peak-matching identification + Pawley refinement (phasetrace.lattice)",
        "fraction_method": "Hill-Howard weight fractions from Pawley intensities (00l excluded)",
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
        esd_gamma, interlayer_d, esd_interlayer_d, volume_strain, score,
        is_cell_component, zero_shift`` and the scan coordinates known (``temperature_K``,
        ``voltage_V``, ``capacity_mAh_g``, ``time_s`` where finite for some scan; ``file``).
    """
    import pandas as pd

    extra = ["esd_alpha", "esd_beta", "esd_gamma", "esd_volume_per_fu", "interlayer_d",
             "esd_interlayer_d", "volume_strain", "score"]
    rows = []
    present = result["present"].values
    labels = result[PHASE].values
    cell_comp = result["is_cell_component"].values
    scan_ids = result[SCAN].values
    scan_coords = known_scan_coords(result)
    for s, j in zip(*np.nonzero(present)):
        row: dict[str, Any] = {"scan": int(scan_ids[s]), "phase": str(labels[j])}
        for col in LATTICE_CSV_COLUMNS[2:] + tuple(extra):
            row[col] = float(result[col].values[s, j])
        row["is_cell_component"] = bool(cell_comp[j])
        row["zero_shift"] = float(result["zero_shift"].values[s])
        for c in scan_coords:
            row[c] = result[c].values[s]
        rows.append(row)
    columns = list(LATTICE_CSV_COLUMNS) + extra + ["is_cell_component", "zero_shift"] + scan_coords
    return pd.DataFrame(rows, columns=columns)
