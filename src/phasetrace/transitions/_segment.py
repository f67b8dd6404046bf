"""Segmentation of a phase-fraction series into steady stages and transitions.

ndarray layer.  The steps are

1. core runs: maximal runs of scans whose (median-filtered) assemblage, the set
   of phases at or above ``min_fraction``, is the same, at least ``min_scans`` long;
2. between two consecutive candidate stages, the progress of the exchange
   s = (f − f_old)·(f_new − f_old)/|f_new − f_old|² is fitted with a clipped
   line s(t) = clip((t − t0)/(t1 − t0), 0, 1) against scan number t; the old stage
   ends at t0 and the new one starts at t1;
3. a candidate whose fractions are not steady (a slow exchange with a constant
   assemblage), or that is shorter than ``min_scans`` after trimming, is dropped and
   the fit is repeated.

This module holds the steps and the per-candidate tests; :func:`._candidates.segment`
runs the elimination.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Span", "RampFit", "fit_ramp", "progress", "presence", "EXIT_SHARE", "STAGE_SHARE"]

_EDGE = 0.05  # scan numbers: tolerance when turning the ramp ends into scans
_FINE = 0.025  # scan numbers: resolution of the exchange fit
_REACH = 25  # scans: least reach of an exchange fit into each neighbouring stage


@dataclass(frozen=True)
class Span:
    """Stage candidate: positions ``start``..``stop`` (inclusive) in the valid-scan arrays."""

    start: int
    stop: int
    core_start: int
    core_stop: int

    @property
    def n(self) -> int:
        """Number of scans."""
        return self.stop - self.start + 1


@dataclass(frozen=True)
class RampFit:
    """Clipped-linear fit of the exchange between two stages.

    ``t0``/``t1`` are the scan numbers where the exchange starts and ends,
    ``t_mid`` where it is half done; ``r2`` the coefficient of determination
    over the fit window (1 for a perfect ramp) and ``monotonic`` the Spearman
    correlation of progress with scan number over the transitional scans.
    """

    t0: float
    t1: float
    t_mid: float
    r2: float
    monotonic: float


#: a phase enters an assemblage at ``min_fraction`` and leaves it below this share of it
EXIT_SHARE = 0.5
#: a phase belongs to a stage when its median fraction over the stage reaches this share of ``min_fraction``
STAGE_SHARE = 0.75


def presence(frac: np.ndarray, min_fraction: float) -> np.ndarray:
    """Per-scan membership with hysteresis (Schmitt trigger) along the scans.

    A phase joins when its fraction reaches ``min_fraction`` and leaves when it
    drops below ``EXIT_SHARE * min_fraction``, so a minor phase whose fraction
    hovers near the threshold does not flicker.

    Parameters
    ----------
    frac : ndarray, shape (n, p)
    min_fraction : float

    Returns
    -------
    ndarray of bool, shape (n, p)
    """
    out = np.zeros(frac.shape, dtype=bool)
    state = frac[0] >= min_fraction
    for i in range(frac.shape[0]):
        state = np.where(state, frac[i] >= EXIT_SHARE * min_fraction, frac[i] >= min_fraction)
        out[i] = state
    return out


def _codes(frac: np.ndarray, min_fraction: float) -> np.ndarray:
    weights = (1 << np.arange(frac.shape[1], dtype=np.int64))
    return (presence(frac, min_fraction) * weights).sum(axis=1)


def _core_runs(codes: np.ndarray, min_scans: int) -> list[tuple[int, int]]:
    runs, start = [], 0
    for i in range(1, codes.size + 1):
        if i == codes.size or codes[i] != codes[start]:
            if codes[start] != 0 and i - start >= min_scans:
                runs.append((start, i - 1))
            start = i
    return runs


def progress(frac: np.ndarray, old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Progress 0 → 1 of the exchange from plateau ``old`` to ``new`` (shape (n,)), clipped to [-0.5, 1.5]."""
    d = new - old
    norm = float(d @ d)
    if norm == 0:
        return np.zeros(frac.shape[0])
    return np.clip((frac - old) @ d / norm, -0.5, 1.5)


def _ramp_cost(t: np.ndarray, lower: np.ndarray, upper: np.ndarray, t0: np.ndarray,
               t1: np.ndarray) -> np.ndarray:
    """Sum of squared distances of the model from [lower, upper] for each candidate (t0, t1),
    in chunks of ~1e6 elements."""
    out = np.empty(t0.size)
    chunk = max(1, 1_000_000 // max(t.size, 1))
    for k in range(0, t0.size, chunk):
        a, b = t0[k:k + chunk, None], t1[k:k + chunk, None]
        model = np.clip((t[None, :] - a) / np.maximum(b - a, 1e-9), 0.0, 1.0)
        model = np.where(b - a < 1e-6, (t[None, :] > a).astype(float), model)
        miss = np.maximum(model - upper[None, :], 0.0) + np.maximum(lower[None, :] - model, 0.0)
        out[k:k + chunk] = (miss ** 2).sum(axis=1)
    return out


def _grid_search(t: np.ndarray, lower: np.ndarray, upper: np.ndarray, g0: np.ndarray,
                 g1: np.ndarray) -> tuple[float, float]:
    """Best (t0, t1) over all pairs of candidate grids with t0 ≤ t1."""
    i0, i1 = np.meshgrid(np.arange(g0.size), np.arange(g1.size), indexing="ij")
    ok = g0[i0] <= g1[i1] + 1e-12
    t0, t1 = g0[i0[ok]], g1[i1[ok]]
    cost = _ramp_cost(t, lower, upper, t0, t1)
    best = np.flatnonzero(cost <= cost.min() * (1 + 1e-9) + 1e-9)
    # among equal-cost fits take the narrowest ramp (the others only stretch into
    # scans that are free to hold some of the other phase), centred
    width = t1[best] - t0[best]
    narrow = best[width <= width.min() + 1e-9]
    k = narrow[narrow.size // 2]
    return float(t0[k]), float(t1[k])


def fit_ramp(t: np.ndarray, s: np.ndarray, *, lower: np.ndarray | None = None,
             upper: np.ndarray | None = None) -> RampFit:
    """Fit s(t) = clip((t − t0)/(t1 − t0), 0, 1) by a coarse-then-fine grid search.

    Parameters
    ----------
    t : ndarray, shape (m,)
        Scan numbers of the fit window (increasing).
    s : ndarray, shape (m,)
        Progress of the exchange (0 old stage, 1 new stage).
    lower, upper : ndarray, shape (m,), optional
        Interval of each scan inside which the model is not penalised (censored
        points); both default to ``s``.

    Returns
    -------
    RampFit
    """
    lower = s if lower is None else lower
    upper = s if upper is None else upper
    lo, hi = float(t[0]), float(t[-1])
    step = max((hi - lo) / 120.0, 0.5)
    coarse = np.arange(lo, hi + step / 2, step)
    t0, t1 = _grid_search(t, lower, upper, coarse, coarse)
    while step > _FINE:
        finer = max(step / 8.0, _FINE)

        def around(c: float, width: float = step, res: float = finer) -> np.ndarray:
            return np.arange(max(lo, c - width), min(hi, c + width) + res / 2, res)

        t0, t1 = _grid_search(t, lower, upper, around(t0), around(t1))
        step = finer
    width = max(t1 - t0, 1e-9)
    model = np.clip((t - t0) / width, 0, 1) if t1 - t0 > 1e-6 else (t > t0).astype(float)
    ss_tot = float(((s - s.mean()) ** 2).sum())
    r2 = 1.0 - float(((s - model) ** 2).sum()) / ss_tot if ss_tot > 0 else 0.0
    inside = (t > t0) & (t < t1)
    mono = 1.0
    if inside.sum() >= 3:
        rank_s = np.argsort(np.argsort(s[inside]))
        mono = float(np.corrcoef(np.arange(inside.sum()), rank_s)[0, 1])
    return RampFit(t0=t0, t1=t1, t_mid=0.5 * (t0 + t1), r2=r2, monotonic=mono)


def _steady(frac: np.ndarray, max_change: float) -> bool:
    n = frac.shape[0]
    k = max(n // 3, 1)
    first, last = np.median(frac[:k], axis=0), np.median(frac[-k:], axis=0)
    return bool(np.max(np.abs(last - first)) <= max_change)


def _bounds(t: np.ndarray, fit: RampFit, lo: int, hi: int) -> tuple[int, int]:
    """Positions of the last scan of the old stage and the first of the new one."""
    if fit.t1 - fit.t0 < 1e-6:  # abrupt: split at the step
        cut = fit.t_mid
        old = np.flatnonzero(t[lo:hi + 1] <= cut)
        new = np.flatnonzero(t[lo:hi + 1] > cut)
    else:
        edge = min(_EDGE, 0.1 * (fit.t1 - fit.t0))
        old = np.flatnonzero(t[lo:hi + 1] <= fit.t0 + edge)
        new = np.flatnonzero(t[lo:hi + 1] >= fit.t1 - edge)
    last_old = lo + (int(old[-1]) if old.size else -1)
    first_new = lo + (int(new[0]) if new.size else hi - lo + 1)
    return last_old, max(first_new, last_old + 1)


def _plateau(frac: np.ndarray, span: Span) -> np.ndarray:
    return np.median(frac[span.start:span.stop + 1], axis=0)


def _censored(frac: np.ndarray, s: np.ndarray, old: np.ndarray, new: np.ndarray, cut: float,
              limit: float) -> tuple[np.ndarray, np.ndarray]:
    """Intervals [lower, upper] of the progress: a scan that shows none of the phases the
    exchange brings in may still hold up to ``limit`` of them (below detection), and
    likewise for a scan that shows none of the phases it removes."""
    came = (new >= cut) & (old < cut)
    gone = (old >= cut) & (new < cut)
    lower, upper = s.copy(), s.copy()
    if limit <= 0 or not came.any() or not gone.any():
        return lower, upper
    f_came, f_gone = frac[:, came].sum(axis=1), frac[:, gone].sum(axis=1)
    mixed = (f_came > 0) & (f_gone > 0)
    # a phase reported down to f in mixed scans is unlikely to be missed above f/2
    up = min(limit, 0.5 * float(f_came[mixed].min())) if mixed.any() else limit
    down = min(limit, 0.5 * float(f_gone[mixed].min())) if mixed.any() else limit
    upper = np.where(f_came <= 0, np.maximum(s, up), upper)
    lower = np.where(f_gone <= 0, np.minimum(s, 1.0 - down), lower)
    return lower, upper


def _fit_pair(t: np.ndarray, frac: np.ndarray, a: Span, b: Span, p_old: np.ndarray, p_new: np.ndarray,
              cut: float, limit: float) -> tuple[RampFit, int, int]:
    """Fitted exchange ramp from span ``a`` (plateau ``p_old``) to the next span ``b`` (``p_new``),
    the last scan of ``a`` and the first of ``b`` it implies."""
    reach = max(_REACH, 3 * (b.core_start - a.core_stop))
    lo = max((a.core_start + a.core_stop) // 2, a.core_stop - reach)
    hi = min((b.core_start + b.core_stop + 1) // 2, b.core_start + reach)
    s = progress(frac[lo:hi + 1], p_old, p_new)
    lower, upper = _censored(frac[lo:hi + 1], s, p_old, p_new, cut, limit)
    fit = fit_ramp(t[lo:hi + 1], s, lower=lower, upper=upper)
    last_old, first_new = _bounds(t, fit, lo, hi)
    return fit, last_old, first_new


def _noise(frac: np.ndarray) -> float:
    """Robust scan-to-scan noise of the fractions (0–1), floored at 0.005."""
    if frac.shape[0] < 3:
        return 0.005
    active = frac.max(axis=0) > 0
    if not active.any():
        return 0.005
    diff = np.abs(np.diff(frac[:, active], axis=0))
    return max(float(np.median(diff)) / (0.6745 * np.sqrt(2)), 0.005)


def _minor_excursion(before: np.ndarray, here: np.ndarray, after: np.ndarray, cut: float,
                     min_fraction: float) -> bool:
    """A candidate (plateau ``here``) between two like neighbours (``before``, ``after``) that
    differs from them only by phases below 2 × min_fraction."""
    if not np.array_equal(before >= cut, after >= cut):
        return False
    extra = (here >= cut) != (before >= cut)
    return bool(extra.any() and np.all(np.maximum(here, before)[extra] < 2.0 * min_fraction))


def _clipped(t: np.ndarray, fit: RampFit) -> np.ndarray:
    if fit.t1 - fit.t0 < 1e-6:
        return (t > fit.t0).astype(float)
    return np.clip((t - fit.t0) / (fit.t1 - fit.t0), 0.0, 1.0)


def _plateau_gain(t: np.ndarray, frac: np.ndarray, a: Span, b: Span, c: Span, fit_ab: RampFit,
                  fit_bc: RampFit, p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, sigma: float) -> float:
    """How much better (Σ squared residuals, BIC-penalised) a plateau at candidate ``b`` fits than one
    straight exchange from its neighbour ``a`` to ``c``; negative means ``b`` is a slice of that
    exchange.  ``fit_ab``/``fit_bc`` are the exchange fits and ``p0``..``p2`` the plateaus of a, b, c."""
    lo = max((a.core_start + a.core_stop) // 2, b.core_start - _REACH * 4)
    hi = min((c.core_start + c.core_stop + 1) // 2, b.core_stop + _REACH * 4)
    tw, fw = t[lo:hi + 1], frac[lo:hi + 1]
    two = p0 + _clipped(tw, fit_ab)[:, None] * (p1 - p0) + _clipped(tw, fit_bc)[:, None] * (p2 - p1)
    if float((p2 - p0) @ (p2 - p0)) < 1e-12:
        one = np.broadcast_to(p0, fw.shape)
    else:
        one = p0 + _clipped(tw, fit_ramp(tw, progress(fw, p0, p2)))[:, None] * (p2 - p0)
    penalty = 2.0 * (frac.shape[1] + 2) * sigma ** 2 * np.log(max(tw.size, 2))
    return float(((fw - one) ** 2).sum() - ((fw - two) ** 2).sum() - penalty)


def _mergeable(frac: np.ndarray, prev: Span, s: Span, p0: np.ndarray, p1: np.ndarray, cut: float,
               max_change: float) -> bool:
    """Whether consecutive candidates ``prev`` and ``s`` (plateaus ``p0``, ``p1``) are one stage: the same
    assemblage, plateaus within ``max_change`` and every scan between them within ``max_change`` of both."""
    same = np.array_equal(p0 >= cut, p1 >= cut)
    gap = frac[prev.core_stop + 1:s.core_start]
    quiet = gap.size == 0 or max(np.abs(gap - p0).max(), np.abs(gap - p1).max()) <= max_change
    return bool(same and quiet and np.abs(p1 - p0).max() <= max_change)
