"""Lattice evidence: solid-solution drift inside a stage and collapse of a cell distortion.

ndarray layer of :mod:`phasetrace.transitions`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ._features import running_median

__all__ = ["Cell", "cell_of", "drift", "Drift", "distortion_runs", "DistortionChange"]

_AXES = ("a", "b", "c")
#: metric relations tested for a collapse: (x, y, r) means x = r·y in the undistorted cell
#: (1: b → c as in orthorhombic → tetragonal; √3: orthohexagonal b → √3·a as in P'2 → P2).
_RELATIONS = tuple((x, y, r) for x, y in (("a", "b"), ("b", "c"), ("a", "c"))
                   for r in (1.0, math.sqrt(3.0))) + (("b", "a", math.sqrt(3.0)), ("c", "a", math.sqrt(3.0)))


@dataclass(frozen=True)
class Cell:
    """Cell parameters of one phase on the valid scans: dict of name → ndarray (n,), NaN where unknown."""

    values: dict[str, np.ndarray]
    esd: dict[str, np.ndarray]

    def rows(self, lo: int, hi: int) -> Cell:
        """The cell on positions ``lo..hi`` (inclusive; copies)."""
        return Cell(values={k: v[lo:hi + 1].copy() for k, v in self.values.items()},
                    esd={k: v[lo:hi + 1].copy() for k, v in self.esd.items()})


def cell_of(ds: xr.Dataset, label: str, index: np.ndarray) -> Cell:
    """Cell parameters of phase ``label`` at dataset positions ``index`` (shape (n,))."""
    values, esd = {}, {}
    sub = ds.sel(phase=label).isel(scan=index) if "phase" in ds.dims else ds.isel(scan=index)
    for name in (*_AXES, "alpha", "beta", "gamma", "volume_per_fu"):
        values[name] = (np.asarray(sub[name].values, dtype=float) if name in sub
                        else np.full(index.size, np.nan))
        key = "esd_volume" if name == "volume_per_fu" else f"esd_{name}"
        esd[name] = np.asarray(sub[key].values, dtype=float) if key in sub else np.full(index.size, np.nan)
    return Cell(values=values, esd=esd)


@dataclass(frozen=True)
class Drift:
    """Largest continuous change of a cell parameter over a scan range."""

    parameter: str
    value_start: float
    value_end: float
    relative_change: float
    volume_change: float
    monotonic: bool


def _excursion(v: np.ndarray) -> float:
    ok = np.isfinite(v)
    if ok.sum() < 3:
        return 0.0
    sm = running_median(v[ok], window=5)
    mean = float(np.mean(sm))
    return float((sm.max() - sm.min()) / abs(mean)) if mean else 0.0


def drift(cell: Cell, lo: int, hi: int, *, min_change: float) -> Drift | None:
    """The cell parameter of largest relative excursion over positions ``lo..hi``.

    Parameters
    ----------
    cell : Cell
    lo, hi : int
        Inclusive positions.
    min_change : float
        Least relative excursion (e.g. 0.002 = 0.2 %) that counts as a solid
        solution; it is raised to 4 × the median relative esd when esds are known.

    Returns
    -------
    Drift or None
        None when no axis moves by more than the threshold.
    """
    best: tuple[float, str] | None = None
    for name in _AXES:
        v = cell.values[name][lo:hi + 1]
        exc = _excursion(v)
        e = cell.esd[name][lo:hi + 1]
        noise = float(np.nanmedian(e) / np.nanmean(np.abs(v))) if np.isfinite(e).any() and np.isfinite(v).any() else 0.0
        if exc > max(min_change, 4.0 * noise) and (best is None or exc > best[0]):
            best = (exc, name)
    if best is None:
        return None
    v = cell.values[best[1]][lo:hi + 1]
    ok = np.flatnonzero(np.isfinite(v))
    k = min(3, ok.size)
    rho = _spearman(ok.astype(float), v[ok])
    return Drift(parameter=best[1], value_start=float(np.median(v[ok[:k]])),
                 value_end=float(np.median(v[ok[-k:]])), relative_change=best[0],
                 volume_change=_excursion(cell.values["volume_per_fu"][lo:hi + 1]),
                 monotonic=bool(abs(rho) > 0.8))


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 3:
        return 0.0
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    if np.std(rx) == 0 or np.std(ry) == 0:
        return 0.0
    return float(np.corrcoef(rx, ry)[0, 1])


@dataclass(frozen=True)
class DistortionChange:
    """A switch between distorted and undistorted cell metric of one phase.

    ``last_before``/``first_after`` are positions in the valid-scan arrays;
    ``collapse`` is True for distorted → undistorted (in scan order);
    ``description`` names the relation (e.g. ``"b/c → 1"``) and ``largest`` is
    the largest distortion |x/(r·y) − 1| seen; ``critical`` the Landau estimate
    of the critical value of the main axis (NaN when not estimated).
    """

    last_before: int
    first_after: int
    collapse: bool
    description: str
    largest: float
    critical: float = math.nan


def _metric(cell: Cell, x: str, y: str, r: float) -> tuple[np.ndarray, np.ndarray]:
    vx, vy = cell.values[x], cell.values[y]
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.abs(vx / (r * vy) - 1.0)
        rel = np.sqrt((cell.esd[x] / vx) ** 2 + (cell.esd[y] / vy) ** 2)
    return m, np.nan_to_num(rel, nan=0.0)


def _runs(flags: np.ndarray) -> list[tuple[int, int, bool]]:
    out, start = [], 0
    for i in range(1, flags.size + 1):
        if i == flags.size or flags[i] != flags[start]:
            out.append((start, i - 1, bool(flags[start])))
            start = i
    return out


def _merge_short(runs: list[tuple[int, int, bool]], min_scans: int) -> list[tuple[int, int, bool]]:
    changed = True
    while changed and len(runs) > 1:
        changed = False
        k = min(range(len(runs)), key=lambda j: runs[j][1] - runs[j][0])
        if runs[k][1] - runs[k][0] + 1 < min_scans:
            a, b, flag = runs[k]
            runs[k] = (a, b, not flag)
            merged: list[tuple[int, int, bool]] = []
            for run in runs:
                if merged and merged[-1][2] == run[2]:
                    merged[-1] = (merged[-1][0], run[1], run[2])
                else:
                    merged.append(run)
            runs, changed = merged, True
    return runs


def _threshold(mm: np.ndarray, rel: np.ndarray, tol: float) -> np.ndarray:
    """Per-scan level above which the relation is broken: the undistorted floor (median of
    the smallest third) plus its scatter, at least ``tol`` and 4 × the relative esd."""
    low = np.sort(mm)[: max(mm.size // 3, 2)]
    floor = float(np.median(low))
    spread = 1.4826 * float(np.median(np.abs(low - floor)))
    return np.maximum(max(tol, floor + max(5.0 * spread, 0.5 * floor)), 4.0 * rel)


def _critical(xv: np.ndarray | None, mm: np.ndarray, last: int, first: int, collapse: bool) -> float:
    """Landau estimate of the critical x: m² is linear in x near a continuous transition;
    extrapolate the last (up to) 3 distorted points to m = 0.  NaN when not bracketed."""
    if xv is None:
        return math.nan
    side = np.arange(max(last - 2, 0), last + 1) if collapse else np.arange(first, min(first + 3, mm.size))
    xs, ys = xv[side], mm[side] ** 2
    if side.size < 2 or not np.all(np.isfinite(xs)) or np.ptp(xs) == 0:
        return math.nan
    slope, intercept = np.polyfit(xs, ys, 1)
    if slope == 0:
        return math.nan
    xc = -intercept / slope
    lo, hi = sorted((xv[last], xv[first]))
    slack = 0.25 * (hi - lo)  # noise: accept a little outside the bracket, then clamp
    return float(np.clip(xc, lo, hi)) if lo - slack <= xc <= hi + slack else math.nan


def distortion_runs(cell: Cell, *, tol: float, min_scans: int, x: np.ndarray | None = None) -> list[DistortionChange]:
    """Find where one metric relation of the cell switches between broken and holding.

    Parameters
    ----------
    cell : Cell
    tol : float
        Smallest relative deviation |x/(r·y) − 1| that can count as a distortion.
        The actual threshold adapts to the data: the level of the undistorted
        scans (a refinement rarely gives exactly b = c) plus its scatter, and at
        least 4 × the combined relative esd.  A switch is reported only when the
        largest deviation is at least 3 × the threshold.
    min_scans : int
        Least run length on each side of a switch.
    x : ndarray, shape (n,), optional
        Main axis (e.g. temperature, K) for the Landau estimate of the critical value.

    Returns
    -------
    list of DistortionChange
        Switches in scan order (empty when no relation switches).
    """
    out: list[DistortionChange] = []
    for rx, ry, r in _RELATIONS:
        m, rel = _metric(cell, rx, ry, r)
        ok = np.isfinite(m)
        if ok.sum() < 2 * min_scans or np.nanmin(m) > 0.05:
            continue
        pos = np.flatnonzero(ok)
        mm = running_median(m[ok], window=3)
        thr = _threshold(mm, rel[ok], tol)
        runs = _merge_short(_runs(mm > thr), min_scans)
        if len(runs) < 2 or mm.max() < 3.0 * float(np.median(thr)):
            continue
        name = f"{rx}/{ry}" if r == 1.0 else f"{rx}/(√3·{ry})"
        xv = None if x is None else np.asarray(x, dtype=float)[ok]
        for (_a0, a1, f0), (b0, _b1, _f1) in zip(runs[:-1], runs[1:]):
            out.append(DistortionChange(last_before=int(pos[a1]), first_after=int(pos[b0]), collapse=f0,
                                        description=f"{name} → 1", largest=float(np.max(mm)),
                                        critical=_critical(xv, mm, a1, b0, f0)))
        break
    return sorted(out, key=lambda d: d.last_before)
