"""Minor phases: identified in many scans but always below the stage threshold.

An impurity such as CuO at ~2 wt % beside CuCr2O4 never defines a stage (it is
below ``min_fraction``), yet a crystallographer wants to know it is there.  It is
listed in ``sequence.json`` under ``minor_phases``, never in the sequence string.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

__all__ = ["minor_phases"]


def minor_phases(phases: xr.Dataset, *, min_fraction: float, min_share: float = 0.3,
                 stage_phases: set[str] | None = None) -> list[dict[str, Any]]:
    """Phases present in at least ``min_share`` of the scans whose fraction stays low.

    Parameters
    ----------
    phases : xarray.Dataset
        Output of :func:`phasetrace.lattice.analyse_phases` (``present``, ``fraction``
        on (scan, phase); coordinate ``is_cell_component``).
    min_fraction : float
        The stage threshold (0–1): a minor phase has a median fraction below it.
    min_share : float
        Smallest share of scans (0–1) in which the phase must be identified.
    stage_phases : set of str, optional
        Phases already in a stage (left out).

    Returns
    -------
    list of dict
        ``{"phase", "n_scans", "share", "median_fraction"}`` per minor phase, by label.

    Examples
    --------
    >>> ds = xr.Dataset({"present": (("scan", "phase"), [[True, True]] * 4),
    ...                  "fraction": (("scan", "phase"), [[0.98, 0.02]] * 4)},
    ...                 coords={"phase": ["CuCr2O4", "CuO"]})
    >>> [m["phase"] for m in minor_phases(ds, min_fraction=0.05, stage_phases={"CuCr2O4"})]
    ['CuO']
    """
    if "present" not in phases or "phase" not in phases.dims or phases.sizes.get("scan", 0) == 0:
        return []
    stage_phases = stage_phases or set()
    cell = (phases["is_cell_component"].values.astype(bool) if "is_cell_component" in phases.coords
            else np.zeros(phases.sizes["phase"], dtype=bool))
    out = []
    for i, label in enumerate(phases["phase"].values.astype(str)):
        if cell[i] or label in stage_phases:
            continue
        present = phases["present"].isel(phase=i).values.astype(bool)
        share = float(present.mean())
        if share < min_share:
            continue
        frac = phases["fraction"].isel(phase=i).values[present] if "fraction" in phases else np.array([])
        frac = frac[np.isfinite(frac)]
        median = float(np.median(frac)) if frac.size else float("nan")
        if frac.size and median >= min_fraction:
            continue
        out.append({"phase": label, "n_scans": int(present.sum()), "share": round(share, 3),
                    "median_fraction": None if not np.isfinite(median) else round(median, 4)})
    return out
