"""ndarray layer of the stack peak fit: :func:`fit_stack_array` and window grouping."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .._kernels import batch
from .._kernels.profiles import NP, P_AREA, P_ASYM, P_CENTER, P_FWHM, P_SHAPE, PROFILE_CODES
from ..errors import ConfigError, SchemaError

__all__ = ["ArrayFit", "fit_stack_array", "group_peaks", "default_bounds", "SLOTS",
           "NP", "P_CENTER", "P_FWHM", "P_SHAPE", "P_AREA", "P_ASYM"]

#: default number of parallel blocks of a stack's per-peak fits (independent of the thread
#: count: 8 blocks keep 2–8 threads busy; more threads serve more stacks or chunks at once).
N_BLOCKS = 8

#: slot names per profile (the kernel layout, see ``phasetrace._kernels.profiles``).
SLOTS = {
    "pseudo_voigt": ("center", "fwhm", "eta", "area", None),
    "split_pseudo_voigt": ("center", "fwhm", "eta", "area", "asym"),
    "pearson7": ("center", "fwhm", "m", "area", None),
    "tch_pseudo_voigt": ("center", "fwhm_g", "fwhm_l", "area", None),
}


class ArrayFit(NamedTuple):
    """Result of :func:`fit_stack_array` (unpacks as ``params, esd, status, redchi, ...``).

    Attributes
    ----------
    params, esd : ndarray, shape (n_scans, n_peaks, NP)
        Fitted slots and their esds (σ from the covariance scaled by the
        reduced χ²); NaN where the fit failed (see ``status``).
    status : ndarray of int, shape (n_scans, n_peaks)
        :class:`phasetrace.schema.FitStatus` codes.
    redchi : ndarray, shape (n_scans, n_peaks)
        Reduced χ² of the window that holds the peak.
    height, height_esd : ndarray, shape (n_scans, n_peaks)
        Kα1 peak height (counts) and esd.
    nfev : ndarray of int, shape (n_scans, n_peaks)
        Model evaluations of the window fit.
    background : ndarray, shape (n_scans, n_windows, 3)
        Local linear background ``b0 + b1 (2θ - xmid)`` as ``(b0, b1, xmid)``.
    windows : ndarray of int, shape (n_peaks,)
        Window index of each peak.
    """

    params: np.ndarray
    esd: np.ndarray
    status: np.ndarray
    redchi: np.ndarray
    height: np.ndarray
    height_esd: np.ndarray
    nfev: np.ndarray
    background: np.ndarray
    windows: np.ndarray


def default_bounds(profile: str, fwhm: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower/upper bounds (n_peaks, NP) for the non-centre slots, given FWHM guesses (deg)."""
    f = np.asarray(fwhm, dtype=float)
    lo = np.zeros((f.size, NP))
    hi = np.zeros((f.size, NP))
    lo[:, P_FWHM] = np.maximum(0.25 * f, 0.5 * step)
    hi[:, P_FWHM] = 6.0 * f
    lo[:, P_AREA], hi[:, P_AREA] = 0.0, np.inf
    if profile == "pearson7":
        lo[:, P_SHAPE], hi[:, P_SHAPE] = 0.6, 30.0
    elif profile == "tch_pseudo_voigt":
        lo[:, P_FWHM] = 0.5 * step
        lo[:, P_SHAPE], hi[:, P_SHAPE] = 0.0, 6.0 * f
    else:
        lo[:, P_SHAPE], hi[:, P_SHAPE] = 0.0, 1.0
    if profile == "split_pseudo_voigt":
        lo[:, P_ASYM], hi[:, P_ASYM] = -0.7, 0.7
    return lo, hi


def group_peaks(centers: np.ndarray, fwhm: np.ndarray, active: np.ndarray, *,
                merge: float = 4.0, doublet: tuple[float, float] = (1.0, 0.0)) -> np.ndarray:
    """Windows of peaks to fit together.

    Two peaks share a window when, in some scan where both are active, their
    centres are closer than ``merge`` times their mean FWHM (plus the Kα1–Kα2
    splitting for a doublet).

    Parameters
    ----------
    centers : ndarray, shape (n_scans, n_peaks)
        Start centres, deg.
    fwhm : ndarray, shape (n_peaks,)
        FWHM guesses, deg.
    active : ndarray of bool, shape (n_scans, n_peaks)
        Where each peak is fitted.
    merge : float
        Merge distance in FWHM.
    doublet : (float, float)
        ``(λ₂/λ₁, I₂/I₁)``.

    Returns
    -------
    ndarray of int, shape (n_peaks,)
        Window label of each peak, numbered 0.. in order of first peak.
    """
    k = centers.shape[1]
    parent = list(range(k))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    c = np.where(active, centers, np.nan)
    split = 0.0
    if doublet[1] > 0:
        cmax = np.nanmax(c) if np.isfinite(c).any() else 0.0
        split = float(2 * np.rad2deg(np.arcsin(min(doublet[0] * np.sin(np.deg2rad(cmax / 2)), 1.0))) - cmax)
    lo = np.nanmin(c, axis=0) if c.size else np.empty(0)
    hi = np.nanmax(c, axis=0) if c.size else np.empty(0)
    for i in range(k):
        for j in range(i + 1, k):
            thr = merge * 0.5 * (fwhm[i] + fwhm[j]) + split
            if lo[j] - hi[i] > thr or lo[i] - hi[j] > thr:
                continue
            with np.errstate(invalid="ignore"):
                d = np.abs(c[:, i] - c[:, j])
            if np.any(d < thr):
                parent[find(i)] = find(j)
    roots = [find(i) for i in range(k)]
    labels: dict[int, int] = {}
    return np.array([labels.setdefault(r, len(labels)) for r in roots], dtype=np.int64)


def _check_shapes(x, y, s, p0, lower, upper):
    """Validate and broadcast the array inputs; returns contiguous float64 copies."""
    x = np.ascontiguousarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    y = np.ascontiguousarray(y[None, :] if y.ndim == 1 else y)
    if x.ndim != 1 or y.ndim != 2 or y.shape[1] != x.size:
        raise SchemaError(f"intensity has shape {y.shape}; expected (n_scans, {x.size}) to match two_theta")
    if x.size > 1 and np.any(np.diff(x) <= 0):
        raise SchemaError("two_theta must be strictly increasing")
    s = np.sqrt(np.maximum(y, 1.0)) if s is None else np.broadcast_to(np.asarray(s, dtype=float), y.shape)
    p0 = np.asarray(p0, dtype=float)
    if p0.ndim == 2:
        p0 = np.broadcast_to(p0, (y.shape[0],) + p0.shape)
    if p0.ndim != 3 or p0.shape[0] != y.shape[0] or p0.shape[2] != NP:
        raise SchemaError(f"p0 has shape {p0.shape}; expected (n_peaks, {NP}) or (n_scans, n_peaks, {NP})")
    k = p0.shape[1]
    lower = np.ascontiguousarray(np.broadcast_to(np.asarray(lower, dtype=float), (k, NP)))
    upper = np.ascontiguousarray(np.broadcast_to(np.asarray(upper, dtype=float), (k, NP)))
    with np.errstate(divide="ignore", invalid="ignore"):
        sw = np.where(np.isfinite(s) & (s > 0), 1.0 / s, 0.0)
    return x, y, np.ascontiguousarray(sw), np.ascontiguousarray(p0), lower, upper


def _allocate(n_scans: int, k: int, n_windows: int) -> dict[str, np.ndarray]:
    """NaN-filled output arrays of the kernel."""
    return {
        "p": np.full((n_scans, k, NP), math.nan), "esd": np.full((n_scans, k, NP), math.nan),
        "h": np.full((n_scans, k), math.nan), "hesd": np.full((n_scans, k), math.nan),
        "status": np.full((n_scans, k), batch.ST_NO_DATA, dtype=np.int64),
        "bg": np.full((n_scans, n_windows, 3), math.nan),
        "redchi": np.full((n_scans, n_windows), math.nan),
        "nfev": np.zeros((n_scans, n_windows), dtype=np.int64),
    }


def fit_stack_array(
    two_theta: Any,
    intensity: Any,
    sigma: Any,
    p0: Any,
    lower: Any,
    upper: Any,
    *,
    profile: str = "pseudo_voigt",
    center_range: Any = None,
    active: Any = None,
    windows: Any = None,
    doublet: tuple[float, float] = (1.0, 0.0),
    window: float = 3.0,
    warm: bool = True,
    follow: bool = False,
    chunk: int | None = None,
    pilot_stride: int = 8,
    maxiter: int = 100,
    tol: float = 1e-4,
    detect: float = 3.0,
    screen: bool = True,
    progress: bool | Callable[[int, int], None] = False,
) -> ArrayFit:
    """Fit peaks in every scan of a stack given as arrays (Numba LM, parallel over scans).

    Parameters
    ----------
    two_theta : array_like, shape (n_points,)
        Strictly increasing 2θ grid, degrees.
    intensity : array_like, shape (n_scans, n_points)
        Background-subtracted (or raw) intensities; NaN points are ignored.
    sigma : array_like or None, shape (n_scans, n_points)
        One-sigma errors; ``None`` means √max(I, 1).
    p0 : array_like, shape (n_peaks, NP) or (n_scans, n_peaks, NP)
        Start values packed as ``[center, fwhm, shape, area, asym]`` (see
        :data:`SLOTS`); a NaN area is estimated from the data.
    lower, upper : array_like, shape (n_peaks, NP) or (NP,)
        Bounds of the non-centre slots; equal bounds fix a slot (e.g. η).  The
        centre slot is ignored: centres are bounded by ``center_range``.
    profile : str
        ``"pseudo_voigt"``, ``"split_pseudo_voigt"``, ``"pearson7"`` or ``"tch_pseudo_voigt"``.
    center_range : float or array_like, shape (n_peaks,), optional
        Half-range (deg) of each centre around its start value in each scan;
        default 1.5 × the start FWHM.
    active : array_like of bool, shape (n_scans, n_peaks), optional
        Peaks to fit in each scan (others are held at zero area); default all.
    windows : array_like of int, shape (n_peaks,), optional
        Window label of each peak (peaks with one label are fitted together);
        default from :func:`group_peaks`.
    doublet : (float, float)
        ``(λ₂/λ₁, I₂/I₁)``; ``I₂/I₁ = 0`` for a single line.
    window : float
        Half-width of the fitted range beyond the outer peaks, in FWHM.
    warm, follow : bool
        Start shape and area (``warm``) and centres (``follow``) from the
        previous scan's converged fit; ``follow`` lets windows re-centre on a
        drifting peak: each scan's window and start centre are the previous
        scan's fitted centre, through the whole stack (parallel blocks start
        from an in-order pilot pass, see ``pilot_stride``), and a peak that
        falls below detection is searched for where it was last fitted.
    chunk : int, optional
        Scans per parallel block (default :data:`N_BLOCKS` blocks, 4 to 256 scans each).
        Each block starts from the pilot state at its first scan, so the blocks are part
        of the answer: the default depends on the stack alone, never on the thread count,
        and a run gives the same fits on any machine and in any worker.
    pilot_stride : int
        With ``follow`` and more than one block: scans between the fits of the
        in-order pilot pass that gives each block its start state.  The pilot
        follows a peak moving by less than ``center_range`` per
        ``pilot_stride`` scans; it costs about ``1 / pilot_stride`` of the fit.
    maxiter, tol : int, float
        LM iteration cap; the fit stops when a step lowers χ² by less than
        ``tol × max(χ²ᵣ, 1)`` (χ² in units of σ²).
    detect : float
        A peak lower than ``detect`` × the noise σ at its centre (× √χ²ᵣ when
        χ²ᵣ > 1), or with area below one esd, is "below detection".
    screen : bool
        Test every window first by linear least squares at fixed shape
        (:mod:`phasetrace._kernels.screen`): a peak below detection there, at its
        tracked centre and anywhere in its centre range, is reported below detection
        (its linear area and height ± esd) without being iterated.  ``False``: every
        active peak goes through the non-linear fit.
    progress : bool or callable
        Report progress: ``callable(done, total)``, or ``True`` for a tqdm bar.

    Returns
    -------
    ArrayFit
        ``(params, esd, status, redchi, height, height_esd, nfev, background, windows)``.

    Raises
    ------
    SchemaError
        Inconsistent shapes.
    ConfigError
        Unknown profile or non-positive options.

    Notes
    -----
    Fit windows are fitted independently; within a window the model is a
    linear background plus the window's peaks (and their Kα2 copies).
    """
    if profile not in PROFILE_CODES:
        raise ConfigError(f"unknown profile {profile!r}; expected one of {sorted(PROFILE_CODES)}")
    if window <= 0 or maxiter < 1 or tol <= 0 or detect < 0 or pilot_stride < 1:
        raise ConfigError(f"window={window}, maxiter={maxiter}, tol={tol}, detect={detect}, "
                          f"pilot_stride={pilot_stride}: all must be positive")
    x, y, sw, p0, lower, upper = _check_shapes(two_theta, intensity, sigma, p0, lower, upper)
    n_scans, k = p0.shape[:2]
    act = np.ones((n_scans, k), dtype=bool) if active is None else np.ascontiguousarray(
        np.broadcast_to(np.asarray(active, dtype=bool), (n_scans, k)))
    fw0 = np.nanmedian(p0[:, :, P_FWHM] + (p0[:, :, P_SHAPE] if profile == "tch_pseudo_voigt" else 0.0),
                       axis=0) if k else np.empty(0)
    dc = 1.5 * fw0 if center_range is None else np.broadcast_to(np.asarray(center_range, dtype=float), (k,))
    labels = (group_peaks(p0[:, :, P_CENTER], fw0, act, doublet=doublet) if windows is None
              else np.asarray(windows, dtype=np.int64))
    order = np.argsort(labels, kind="stable")
    n_windows = int(labels.max()) + 1 if k else 0
    gstart = np.searchsorted(labels[order], np.arange(n_windows + 1)).astype(np.int64)
    out = _allocate(n_scans, k, n_windows)
    if k == 0 or n_scans == 0:
        return _pack(out, labels)
    chunk = int(chunk) if chunk else int(min(max(math.ceil(n_scans / N_BLOCKS), 4), 256))
    bar = None
    if progress is True:
        from tqdm.auto import tqdm  # only when a bar is asked for
        bar = tqdm(total=n_scans, unit="scan")
    batches = _progress_batches(n_scans, chunk, progress)
    dc = np.ascontiguousarray(dc, dtype=float)
    common = (lower, upper, dc)
    starts = [np.arange(b0, b1, chunk) for b0, b1 in batches]
    start_p, start_ok = np.empty((0, k, batch.STATE)), np.zeros((0, k), dtype=bool)
    if follow and sum(s.size for s in starts) > 1:
        save_at = np.concatenate(starts).astype(np.int64)
        start_p = np.zeros((save_at.size, k, batch.STATE))
        start_ok = np.zeros((save_at.size, k), dtype=bool)
        batch.pilot_many(x, y, sw, p0, *common, act, gstart, order.astype(np.int64),
                         PROFILE_CODES[profile], float(doublet[0]), float(doublet[1]), float(window),
                         int(pilot_stride), save_at, bool(warm), int(maxiter), float(tol),
                         float(detect), bool(screen), start_p, start_ok)
    first = 0
    for (b0, b1), blocks in zip(batches, starts):
        sl = slice(b0, b1)
        views = {name: arr[sl] for name, arr in out.items()}
        bsl = slice(first, first + blocks.size) if start_ok.shape[0] else slice(0, 0)
        first += blocks.size
        batch.fit_many(x, y[sl], sw[sl], p0[sl], *common,
                       act[sl], gstart, order.astype(np.int64), PROFILE_CODES[profile],
                       float(doublet[0]), float(doublet[1]), float(window), chunk, bool(warm),
                       bool(follow), int(maxiter), float(tol), float(detect), bool(screen),
                       start_p[bsl], start_ok[bsl],
                       views["p"], views["esd"], views["h"], views["hesd"], views["status"],
                       views["bg"], views["redchi"], views["nfev"])
        if bar is not None:
            bar.update(b1 - b0)
        elif callable(progress):
            progress(b1, n_scans)
    if bar is not None:
        bar.close()
    return _pack(out, labels)


def _progress_batches(n_scans: int, chunk: int, progress: Any) -> list[tuple[int, int]]:
    """Scan ranges handed to the kernel: one call, or ~20 calls when progress is reported."""
    if not progress:
        return [(0, n_scans)]
    size = max(chunk, math.ceil(n_scans / 20))
    return [(i, min(i + size, n_scans)) for i in range(0, n_scans, size)]


def _pack(out: dict[str, np.ndarray], labels: np.ndarray) -> ArrayFit:
    """Per-window outputs spread onto peaks."""
    redchi = out["redchi"][:, labels] if labels.size else np.empty(out["h"].shape)
    nfev = out["nfev"][:, labels] if labels.size else np.empty(out["h"].shape, dtype=np.int64)
    return ArrayFit(out["p"], out["esd"], out["status"], redchi, out["h"], out["hesd"], nfev,
                    out["bg"], labels)
