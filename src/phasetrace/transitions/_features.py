"""Per-scan features for transition detection: phase fractions, axes, directions.

ndarray layer of :mod:`phasetrace.transitions` (no result objects here).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..errors import SchemaError

logger = logging.getLogger(__name__)

__all__ = ["PhaseTable", "phase_table", "running_median", "resolve_x", "parent_of"]

_X_CHOICES = ("voltage_V", "temperature_K", "time_s", "capacity_mAh_g")


@dataclass(frozen=True)
class PhaseTable:
    """Arrays extracted from a phases Dataset (sample phases only, valid scans only).

    Attributes
    ----------
    scans : ndarray of int, shape (n,)
        Scan numbers of the valid scans (input order).
    labels : list of str, length p
        Sample phase labels (cell components removed).
    parents : list of str, length p
        Undistorted parent label or ``""``.
    fraction : ndarray, shape (n, p)
        Effective fractions (0 where absent), renormalised to sum 1 per scan.
    present : ndarray of bool, shape (n, p)
        Raw presence flags.
    coords : dict of str to ndarray, each shape (n,)
        ``voltage_V``, ``capacity_mAh_g``, ``time_s``, ``temperature_K`` (NaN when
        missing) and ``direction`` (str).
    cell_components : list of str
        Labels of cell components.
    index : ndarray of int, shape (n,)
        Positions of the valid scans in the input Dataset.
    """

    scans: np.ndarray
    labels: list[str]
    parents: list[str]
    fraction: np.ndarray
    present: np.ndarray
    coords: dict[str, np.ndarray]
    cell_components: list[str]
    index: np.ndarray


def parent_of(label: str) -> str:
    """Undistorted parent inferred from a label: ``"P'2"``/``"P2'"`` → ``"P2"``, else ``""``."""
    return label.replace("'", "") if "'" in label else ""


def _phase_coord(ds: xr.Dataset, name: str, default: object, n: int) -> list:
    if name in ds.coords or name in ds:
        return list(np.asarray(ds[name].values).reshape(-1))
    return [default] * n


def _scan_coord(ds: xr.Dataset, name: str, n: int) -> np.ndarray:
    if name in ds.coords or name in ds:
        arr = ds[name]
        if arr.dims == ("scan",):
            if name == "direction":
                return np.asarray(arr.values).astype(str)
            return np.asarray(arr.values, dtype=float)
    return np.full(n, "", dtype="<U16") if name == "direction" else np.full(n, np.nan)


def _effective_fraction(present: np.ndarray, fraction: np.ndarray) -> np.ndarray:
    """Fractions where present (equal shares where present but NaN), 0 where absent, rows sum 1."""
    eff = np.where(present, fraction, 0.0)
    missing = present & ~np.isfinite(fraction)
    if missing.any():
        known = np.nansum(np.where(present & np.isfinite(fraction), fraction, 0.0), axis=1)
        share = np.clip(1.0 - known, 0.0, 1.0) / np.maximum(missing.sum(axis=1), 1)
        share = np.where(share > 0, share, 1.0 / np.maximum(present.sum(axis=1), 1))
        eff = np.where(missing, share[:, None], eff)
    eff = np.clip(np.nan_to_num(eff, nan=0.0), 0.0, None)
    total = eff.sum(axis=1, keepdims=True)
    return np.divide(eff, total, out=np.zeros_like(eff), where=total > 0)


def phase_table(ds: xr.Dataset) -> PhaseTable:
    """Extract a :class:`PhaseTable` from a phases Dataset over (``scan``, ``phase``).

    Parameters
    ----------
    ds : xarray.Dataset
        Needs ``present`` (bool) or ``fraction`` on (scan, phase); coords on
        ``phase`` are used when present (``is_cell_component``, ``phase_parent``).

    Returns
    -------
    PhaseTable

    Raises
    ------
    SchemaError
        When the dims or both ``present`` and ``fraction`` are missing.
    """
    for dim in ("scan", "phase"):
        if dim not in ds.dims:
            raise SchemaError(
                f"phases dataset: missing dimension {dim!r}; got {tuple(ds.dims)} "
                "(expected the output of phasetrace.lattice.analyse_phases)")
    if "present" not in ds and "fraction" not in ds:
        raise SchemaError("phases dataset: needs variable 'present' or 'fraction' on (scan, phase)")
    ds = ds.transpose("scan", "phase", ...)
    n, p = ds.sizes["scan"], ds.sizes["phase"]
    labels = [str(x) for x in ds["phase"].values]
    frac = (np.asarray(ds["fraction"].values, dtype=float) if "fraction" in ds
            else np.full((n, p), np.nan))
    if "present" in ds:
        present = np.asarray(ds["present"].values).astype(bool)
    else:
        present = np.isfinite(frac) & (frac > 0)
    cell = np.asarray(_phase_coord(ds, "is_cell_component", False, p), dtype=bool)
    parents = [str(x) if x is not None else "" for x in _phase_coord(ds, "phase_parent", "", p)]
    parents = [pa if pa and pa != "nan" else parent_of(lab) for pa, lab in zip(parents, labels)]
    keep = ~cell
    eff = _effective_fraction(present[:, keep], frac[:, keep])
    valid = present[:, keep].any(axis=1)
    scans = np.asarray(ds["scan"].values).astype(int) if "scan" in ds.coords else np.arange(n)
    coords = {name: _scan_coord(ds, name, n)[valid] for name in (*_X_CHOICES, "current_mA", "direction")}
    if (~valid).any():
        logger.info("%d scan(s) without any sample phase ignored", int((~valid).sum()))
    return PhaseTable(
        scans=scans[valid], labels=[lab for lab, k in zip(labels, keep) if k],
        parents=[pa for pa, k in zip(parents, keep) if k], fraction=eff[valid],
        present=present[:, keep][valid], coords=coords,
        cell_components=sorted(lab for lab, c in zip(labels, cell) if c and present[:, labels.index(lab)].any()),
        index=np.flatnonzero(valid))


def running_median(values: np.ndarray, *, window: int) -> np.ndarray:
    """Running median along axis 0 with a centred odd window, shrinking at the ends.

    Parameters
    ----------
    values : ndarray, shape (n, ...)
    window : int
        Odd window length in scans; 1 returns a copy.

    Returns
    -------
    ndarray, same shape as ``values``
    """
    half = max(int(window) // 2, 0)
    out = np.array(values, dtype=float, copy=True)
    if half == 0 or values.shape[0] < 3:
        return out
    n = values.shape[0]
    arr = np.asarray(values, dtype=float)
    if n > 2 * half:
        # interior: one vectorised median over sliding windows
        windows = np.lib.stride_tricks.sliding_window_view(arr, 2 * half + 1, axis=0)
        out[half:n - half] = np.median(windows, axis=-1)
    for i in [*range(min(half, n)), *range(max(n - half, half), n)]:  # shrinking ends
        h = min(half, i, n - 1 - i)
        out[i] = np.median(arr[i - h:i + h + 1], axis=0)
    return out


def resolve_x(coords: dict[str, np.ndarray], x: str) -> str:
    """Choose the main axis: ``x`` itself, or for ``"auto"`` the first varying of
    voltage, temperature, time, capacity (``"scan"`` when none varies)."""
    if x != "auto":
        return x
    for name in _X_CHOICES:
        v = coords.get(name)
        if v is not None and np.isfinite(v).sum() >= 2 and np.nanmax(v) - np.nanmin(v) > 0:
            return name
    return "scan"


def directions(coords: dict[str, np.ndarray]) -> np.ndarray:
    """Per-scan direction: the ``direction`` coord, else current sign, else the sign of
    dV/dscan (charge/discharge) or of dT/dscan (heating/cooling).

    Returns
    -------
    ndarray of str, shape (n,)
        ``"charge"``, ``"discharge"``, ``"heating"``, ``"cooling"``, ``"rest"`` or ``""``.
    """
    given = np.asarray(coords["direction"]).astype(str)
    if np.any(np.isin(given, ("charge", "discharge", "rest"))):
        return given
    current = coords.get("current_mA")
    n = given.size
    if current is not None and np.isfinite(current).sum() >= 2:
        return np.where(np.isfinite(current),
                        np.where(current > 0, "charge", np.where(current < 0, "discharge", "rest")), "")
    for name, up, down in (("voltage_V", "charge", "discharge"), ("temperature_K", "heating", "cooling")):
        v = coords.get(name)
        if v is not None and np.isfinite(v).sum() >= 3:
            dv = np.gradient(running_median(np.nan_to_num(v, nan=np.nanmean(v)), window=3))
            return np.where(dv > 0, up, np.where(dv < 0, down, "rest"))
    return np.full(n, "", dtype="<U9")
