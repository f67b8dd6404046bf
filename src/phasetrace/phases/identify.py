"""Phase identification: which reference phases are in a scan, with approximate cells.

Method (per scan, then over the stack)
--------------------------------------
1. *Cell search.*  For every phase, its lattice range is searched coarse-to-fine for the cell
   whose reflections best land on observed peaks.  The score of a cell is the weighted
   completeness ``Σ_k w_k exp(−Δ_k²/2 tol²) / Σ_k w_k`` (Δ_k = distance of reflection k to the
   nearest observed peak) with ``w_k = √I_k`` (square root: robust to preferred orientation)
   over reflections stronger than 2 % of the strongest.  Weak reflections that are missing
   cost little; peaks shifted by degrees are followed because the cell is free.
2. *Greedy explanation.*  Phases are accepted in order of completeness; each must explain
   observed peak intensity that no accepted phase explains yet (``gain`` ≥ ``min_gain``,
   with at least two new peaks, three for lower symmetry) and score ≥ ``min_score``.  A subset phase
   (O1 under O2, P2 under an undistorted P'2) therefore adds nothing and is rejected;
   a distorted variant is only considered when its distortion exceeds ``min_distortion``.
These scores only *propose*: whether a phase is in a scan is decided by the whole-pattern
refinement (:mod:`.stack`, F-tests of :mod:`.presence`); the greedy acceptance above gives the
first model of a stack (and of the Kα2 test) and is then tested like any other.

Peaks left unexplained are reported, not forced onto a phase.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from .._kernels.match import score_cells
from .cell import cell_from_free, d_spacing, metric_from_free
from .peaksearch import PeakList
from .reference import ReferencePhase

__all__ = ["CellMatch", "ScanIdentification", "search_cell", "identify_scan", "match_peaks",
           "separate_twins"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CellMatch:
    """Best cell of one phase in one scan.

    Attributes
    ----------
    free : ndarray, shape (n_free,)
        Free cell parameters (Å, degrees).
    score : float
        Weighted completeness, 0–1.
    matched : ndarray of bool, shape (P,)
        Observed peaks within 2.5 tol of one of the phase's reflections (Kα2 included).
    """

    free: np.ndarray
    score: float
    matched: np.ndarray


@dataclass
class ScanIdentification:
    """Identification of one scan: matches of all phases and the accepted labels."""

    matches: dict[str, CellMatch]
    present: list[str] = field(default_factory=list)
    gain: dict[str, float] = field(default_factory=dict)
    unexplained: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _weights(phase: ReferencePhase, wavelength_A: float, tt_range: tuple[float, float],
             max_reflections: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """hkl (float, (K,3)) and weights √I of the phase's reflections worth matching."""
    tt, inten = phase.intensities(np.array(phase.cell), wavelength_A)
    lo, hi = tt_range
    span = 0.15 * (hi - lo)
    ok = np.isfinite(tt) & (tt > lo - span) & (tt < hi + span)
    if not ok.any():
        return np.zeros((0, 3)), np.zeros(0)
    inten = np.where(ok, inten, 0.0)
    keep = inten >= 0.02 * inten.max()
    idx = np.flatnonzero(keep)
    idx = idx[np.argsort(-inten[idx])][:max_reflections]
    return phase.hkl[idx].astype(float), np.sqrt(inten[idx] / inten.max())


def _score(phase, free, hkl, w, wl, tt_range, pos, tol):
    metric = np.ascontiguousarray(metric_from_free(phase.crystal_system, free))
    out = np.empty(metric.shape[0])
    score_cells(metric, hkl, w, wl, tt_range[0], tt_range[1], pos, tol, out)
    if phase.min_distortion > 0:
        dist = phase.distortion(cell_from_free(phase.crystal_system, free))
        out[dist < phase.min_distortion] *= 0.5
    return out


def _sensitivity(phase, hkl, wl, free0):
    """Largest |∂2θ/∂p| (degrees per unit) over reflections, per free parameter."""
    base = phase.crystal_system
    out = np.empty(free0.size)
    for j in range(free0.size):
        step = np.zeros(free0.size)
        step[j] = 1e-3 * max(abs(free0[j]), 1.0)
        c0 = cell_from_free(base, free0)
        c1 = cell_from_free(base, free0 + step)
        with np.errstate(invalid="ignore"):
            t0 = 2 * np.degrees(np.arcsin(np.clip(wl / (2 * d_spacing(c0, hkl)), 0, 1)))
            t1 = 2 * np.degrees(np.arcsin(np.clip(wl / (2 * d_spacing(c1, hkl)), 0, 1)))
        out[j] = max(np.nanmax(np.abs(t1 - t0)) / step[j], 1e-6)
    return out


@dataclass(frozen=True)
class _Plan:
    """Search setup of one phase: reflections, weights, grid steps and the coarse grid.

    ``coarse_bins`` are the distinct fixed 2θ bins of :func:`_coarse` on which the coarse
    grid's reflections fall and ``coarse_index`` (cell, reflection) indexes them (−1: outside
    the window), ``coarse_den`` is the weight sum of the reflections inside the window per
    cell and ``coarse_halved`` marks the cells whose distortion is below the phase's
    ``min_distortion``.
    """

    hkl: np.ndarray
    w: np.ndarray
    bounds: np.ndarray
    fine: np.ndarray
    step: np.ndarray
    factor: float
    grid: np.ndarray
    offs: np.ndarray
    tol: float
    bin_lo: float
    bin_width: float
    n_bins: int
    coarse_bins: np.ndarray
    coarse_index: np.ndarray
    coarse_den: np.ndarray
    coarse_halved: np.ndarray


_PLANS: dict[tuple, _Plan | None] = {}

#: 2θ bin of the coarse stage as a fraction of its matching tolerance (see :func:`_coarse`)
_BIN_FRACTION = 1.0 / 16.0
_N_COARSE = 25   # reflections of the coarse stage (sorted strongest first)


def _plan(phase: ReferencePhase, wl: float, tt_range: tuple[float, float], tol_deg: float,
          max_points: int) -> _Plan | None:
    """Reflections, weights and grid steps of a phase's search (cached per phase/setup)."""
    key = (id(phase), phase.label, wl, float(tt_range[0]), float(tt_range[1]), tol_deg, max_points)
    if key in _PLANS:
        return _PLANS[key]
    hkl, w = _weights(phase, wl, tt_range)
    plan = None if hkl.shape[0] == 0 else _make_plan(phase, hkl, w, wl, tt_range, tol_deg,
                                                     max_points)
    if len(_PLANS) > 512:
        _PLANS.clear()
    _PLANS[key] = plan
    return plan


def _make_plan(phase, hkl, w, wl, tt_range, tol_deg, max_points) -> _Plan:
    bounds = phase.free_bounds
    fine = tol_deg / _sensitivity(phase, hkl, wl, bounds.mean(axis=1))
    n_fine = np.maximum((bounds[:, 1] - bounds[:, 0]) / fine, 1.0)
    factor = max((np.prod(n_fine) / max_points) ** (1.0 / n_fine.size), 1.0)
    step = fine * factor
    axes = [np.arange(lo, hi + st / 2, st) for (lo, hi), st in zip(bounds, step)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes))
    offs = np.stack(np.meshgrid(*[np.arange(-1, 2)] * len(axes), indexing="ij"),
                    axis=-1).reshape(-1, len(axes))
    tol = tol_deg * max(factor, 1.0)
    lo, hi = float(tt_range[0]), float(tt_range[1])
    width = tol * _BIN_FRACTION
    n_bins = int(math.floor((hi - lo) / width)) + 1
    sub = hkl[:min(hkl.shape[0], _N_COARSE)]
    metric = metric_from_free(phase.crystal_system, grid)
    hh = np.stack([sub[:, 0] ** 2, sub[:, 1] ** 2, sub[:, 2] ** 2, 2 * sub[:, 0] * sub[:, 1],
                   2 * sub[:, 0] * sub[:, 2], 2 * sub[:, 1] * sub[:, 2]], axis=1)
    with np.errstate(invalid="ignore"):
        x = 0.5 * wl * np.sqrt(metric @ hh.T)
        tt = np.where((x > 0) & (x < 1), 2 * np.degrees(np.arcsin(np.minimum(x, 1.0))), np.nan)
    valid = np.isfinite(tt) & (tt >= lo) & (tt <= hi)
    coarse_bin = np.where(valid, np.floor((np.where(valid, tt, lo) - lo) / width), -1)
    bins, index = np.unique(coarse_bin.astype(np.intp), return_inverse=True)
    index = index.reshape(coarse_bin.shape)
    if bins.size and bins[0] < 0:          # the outside-window marker: a zero weight slot
        bins = bins[1:]
        index = index - 1
    den = (w[:sub.shape[0]] * valid).sum(axis=1)
    halved = np.zeros(grid.shape[0], bool)
    if phase.min_distortion > 0:
        halved = phase.distortion(cell_from_free(phase.crystal_system, grid)) < phase.min_distortion
    return _Plan(hkl, w, bounds, fine, step, factor, grid, offs, tol, lo, width, n_bins,
                 bins, np.where(valid, index, bins.size).astype(np.intp), den, halved)


def _coarse(phase, plan: _Plan, pos, cache) -> np.ndarray:
    """Coarse-grid cells ranked by score, shape (≤ 4, n_free), from the scan's own peaks.

    The coarse score is the completeness of :func:`_score` with the observed peaks and the
    grid cells' reflections both placed on fixed 2θ bins of ``_BIN_FRACTION`` (1/16) of the
    coarse tolerance ``tol``: each distance is off by less than tol/16, a sixteenth of the
    Gaussian σ of this stage and of the 2θ the coarse grid moves a reflection per step (the
    grid is laid out so one step moves the most sensitive reflection by about ``tol``), so
    the ranking — which only picks the starting points of the fine stage, itself on exact
    positions — is that of the exact score to well within the grid's own resolution.  On
    bins, the reflection bins of every grid cell are computed once per plan and a scan
    costs one distance map and a table look-up.  ``cache`` (a dict shared by the scans of a
    stack) keys the ranking on the set of occupied bins: it is reused only for a scan whose
    quantized peaks are exactly those it was ranked on, so the result is the same with or
    without the cache.
    """
    occupied = np.unique(np.clip(np.floor((pos - plan.bin_lo) / plan.bin_width), 0,
                                 plan.n_bins - 1).astype(np.intp))
    key = (id(plan), occupied.tobytes())
    if cache is not None:
        hit = cache.get(phase.label)
        if hit is not None and hit[0] == key:
            return hit[1]
    bins = plan.coarse_bins
    j = np.clip(np.searchsorted(occupied, bins), 1, max(occupied.size - 1, 1))
    near = np.minimum(np.abs(bins - occupied[j - 1]),
                      np.abs(bins - occupied[np.minimum(j, occupied.size - 1)]))
    d = near * (plan.bin_width / plan.tol)
    value = np.zeros(bins.size + 1)      # last slot: reflections outside the window
    close = d < 4.0
    value[:-1][close] = np.exp(-0.5 * d[close] ** 2)
    num = value.take(plan.coarse_index) @ plan.w[:plan.coarse_index.shape[1]]
    scores = np.divide(num, plan.coarse_den, out=np.zeros_like(num), where=plan.coarse_den > 0)
    scores[plan.coarse_halved] *= 0.5
    k = min(4, scores.size)
    best = np.argpartition(-scores, k - 1)[:k]
    top = plan.grid[best[np.lexsort((best, -scores[best]))]]   # score, then grid order
    if cache is not None:
        cache[phase.label] = (key, top)
    return top


def search_cell(phase: ReferencePhase, peaks: PeakList, wavelength_A: float,
                tt_range: tuple[float, float], *, tol_deg: float,
                priors: list[np.ndarray] | None = None, max_points: int = 2500,
                wavelength2_A: float = float("nan"), cache: dict | None = None) -> CellMatch:
    """Coarse-to-fine search of the phase's lattice range for the best-matching cell.

    Parameters
    ----------
    phase : ReferencePhase
    peaks : PeakList
        Observed peaks of the scan.
    wavelength_A : float
        Primary wavelength, Å.
    tt_range : (float, float)
        Measured 2θ range, degrees.
    tol_deg : float
        Matching tolerance (Gaussian σ) of the final stage, degrees.
    priors : list of ndarray, optional
        Free-parameter vectors (e.g. from neighbouring scans) refined as extra candidates.
    max_points : int
        Largest number of trial cells in the coarse grid.
    wavelength2_A : float
        Second wavelength (Kα2), Å, or NaN; used to mark matched Kα2 peaks.
    cache : dict, optional
        Per-stack store of coarse-grid rankings (label → quantized peak set, cells): the
        ranking of a scan whose peaks fall on the same coarse 2θ bins is reused
        (:func:`_coarse`); the result is the same with or without it.

    Returns
    -------
    CellMatch
    """
    pos = np.ascontiguousarray(peaks.position, dtype=float)
    plan = _plan(phase, wavelength_A, tt_range, tol_deg, max_points)
    if plan is None or pos.size == 0:
        return CellMatch(phase.reference_free, 0.0, np.zeros(pos.size, bool))
    hkl, w, bounds, fine, step, offs = plan.hkl, plan.w, plan.bounds, plan.fine, plan.step, plan.offs
    tol = plan.tol
    cands = list(_coarse(phase, plan, pos, cache)[:2 if priors else 4])
    ref = phase.reference_free
    starts = list(priors or [])
    if np.all((ref >= bounds[:, 0]) & (ref <= bounds[:, 1])):
        starts.append(ref)   # the reference cell itself is always a candidate
    for prior in starts:
        if not any(np.all(np.abs(prior - c) <= fine) for c in cands):
            cands.append(np.asarray(prior, float))
    best_free, best_score = cands[0], -1.0
    for cand in cands:
        free, s, t = np.asarray(cand, float), step.copy(), tol
        while True:
            t = max(t / 2, tol_deg)
            s = s / 2
            trial = np.clip(free + offs * s, bounds[:, 0], bounds[:, 1])
            sc = _score(phase, trial, hkl, w, wavelength_A, tt_range, pos, t)
            free = trial[int(np.argmax(sc))]
            if np.all(s <= fine) and t <= tol_deg:
                final = float(sc.max())
                break
        if final > best_score:
            best_free, best_score = free, final
    matched = match_peaks(phase, best_free, pos, wavelength_A, tt_range, 2.5 * tol_deg,
                          wavelength2_A=wavelength2_A)
    return CellMatch(best_free, best_score, matched)


def match_peaks(phase: ReferencePhase, free: np.ndarray, positions: np.ndarray,
                wavelength_A: float, tt_range: tuple[float, float], tol_deg: float, *,
                wavelength2_A: float = float("nan"), min_rel: float = 0.5) -> np.ndarray:
    """Which observed peaks (bool, shape (P,)) lie within ``tol_deg`` of a reflection.

    Reflections weaker than ``min_rel`` % of the strongest are ignored; Kα2 positions count
    when ``wavelength2_A`` is finite.
    """
    cell = cell_from_free(phase.crystal_system, free)
    out = np.zeros(positions.size, bool)
    for wl in (wavelength_A, wavelength2_A):
        if not np.isfinite(wl):
            continue
        tt, inten = phase.intensities(cell, wl)
        ok = np.isfinite(tt) & (tt >= tt_range[0] - 1) & (tt <= tt_range[1] + 1)
        if not ok.any():
            continue
        tt = np.sort(tt[ok & (inten >= min_rel / 100 * inten[ok].max())])
        j = np.clip(np.searchsorted(tt, positions), 1, max(tt.size - 1, 1))
        near = np.minimum(np.abs(positions - tt[j - 1]), np.abs(positions - tt[np.minimum(j, tt.size - 1)]))
        out |= near <= tol_deg
    return out


def identify_scan(library: list[ReferencePhase], peaks: PeakList, wavelength_A: float,
                  tt_range: tuple[float, float], *, tol_deg: float,
                  wavelength2_A: float = float("nan"), min_score: float = 0.65,
                  min_gain: float = 0.04, parent_margin: float = 0.05, priors: dict[str, list[np.ndarray]] | None = None,
                  forced: dict[str, float] | None = None,
                  expected: set[str] | None = None,
                  named_score: float = 0.3, cache: dict | None = None) -> ScanIdentification:
    """Search every phase and accept phases greedily by newly explained peak intensity.

    Parameters
    ----------
    library : list of ReferencePhase
    peaks : PeakList
    wavelength_A, wavelength2_A : float
        Å (second NaN for monochromatic data).
    tt_range : (float, float)
        Degrees.
    tol_deg : float
        Matching tolerance, degrees.
    min_score : float
        Smallest completeness of an accepted phase.
    parent_margin : float
        A distorted variant is considered only when its score exceeds its parent's by this
        (waived for labels in ``expected``).
    min_gain : float
        Smallest share of the observed (√height-weighted) peak intensity a phase must
        explain on top of the phases already accepted.
    priors : dict, optional
        Label → candidate free vectors from neighbouring scans.
    forced : dict, optional
        Label → lowered ``min_score`` for phases the stack prior expects here.
    expected : set of str, optional
        Phases established in the neighbouring scans (after the stack prior): the parent
        margin is waived for them, so a distorted variant and its parent can coexist.
    cache : dict, optional
        Coarse-search store shared by the scans of a stack (see :func:`search_cell`).
    named_score : float
        Smallest completeness of a ``user_named`` phase (searched only near its CIF cell; a
        minor phase shows only its strongest reflections).  It must still explain
        half of ``min_gain`` of new peak intensity with three new peaks.

    Returns
    -------
    ScanIdentification
    """
    priors = priors or {}
    forced = forced or {}
    matches = {p.label: search_cell(p, peaks, wavelength_A, tt_range, tol_deg=tol_deg,
                                    priors=priors.get(p.label), wavelength2_A=wavelength2_A,
                                    cache=cache)
               for p in library}
    u = np.sqrt(np.maximum(peaks.height, 0.0)) * np.minimum(peaks.snr / 8.0, 1.0)
    total = u.sum() if u.size else 1.0
    explained = np.zeros(peaks.position.size, bool)
    result = ScanIdentification(matches)
    remaining = set(matches)
    while remaining:
        best = _next_phase(library, matches, remaining, explained, u, total, min_score=min_score,
                           min_gain=min_gain, parent_margin=parent_margin, forced=forced,
                           expected=expected or set(), named_score=named_score)
        if best is None:
            break
        result.present.append(best)
        new = matches[best].matched & ~explained
        result.gain[best] = float(u[new].sum() / total)
        explained |= matches[best].matched
        remaining.discard(best)
        _research_twins(library, best, remaining, matches, peaks, explained, wavelength_A,
                        tt_range, tol_deg, wavelength2_A, priors)
    _prune_redundant(result, u, total, min_gain)
    explained = np.zeros(peaks.position.size, bool)
    for label in result.present:
        explained |= matches[label].matched
    result.unexplained = peaks.position[~explained]
    return result


def _next_phase(library, matches, remaining, explained, u, total, *, min_score, min_gain,
                parent_margin, forced, expected, named_score=0.3) -> str | None:
    """Best-scoring remaining phase that passes the acceptance tests, or None."""
    best, best_key = None, -1.0
    for phase in library:  # library order: deterministic tie-breaking
        label = phase.label
        if label not in remaining:
            continue
        m = matches[label]
        if (phase.parent in matches and label not in expected
                and m.score < matches[phase.parent].score + parent_margin):
            continue  # a distorted variant must fit clearly better than its parent
        new = m.matched & ~explained
        gain = float(u[new].sum() / total)
        n_needed = 2 if phase.crystal_system in ("cubic", "hexagonal", "tetragonal") else 3
        threshold, needed_gain = forced.get(label, min_score), min_gain
        if phase.user_named:   # held near its CIF cell: may be a minor phase
            threshold, needed_gain = min(threshold, named_score), 0.5 * min_gain
        if (m.score >= threshold and new.sum() >= n_needed and gain >= needed_gain
                and m.score > best_key):
            best, best_key = label, m.score
    return best


def _research_twins(library, accepted, remaining, matches, peaks, explained, wl, tt_range,
                    tol_deg, wl2, priors) -> None:
    """Twins of an accepted phase (same CIF, e.g. two coexisting spinels) are searched again
    on the peaks the accepted phases leave unexplained, so they cannot take the same cell."""
    source = next(p.source for p in library if p.label == accepted)
    left = PeakList(peaks.position[~explained], peaks.height[~explained], peaks.snr[~explained])
    for phase in library:
        if phase.label in remaining and phase.source == source and left.position.size:
            m = search_cell(phase, left, wl, tt_range, tol_deg=tol_deg,
                            priors=priors.get(phase.label), wavelength2_A=wl2)
            matched = match_peaks(phase, m.free, peaks.position, wl, tt_range, 2.5 * tol_deg,
                                  wavelength2_A=wl2)
            matches[phase.label] = CellMatch(m.free, m.score, matched)


def separate_twins(library: list[ReferencePhase], matches: dict[str, CellMatch], peaks: PeakList,
                   wavelength_A: float, tt_range: tuple[float, float], *, tol_deg: float,
                   wavelength2_A: float = float("nan"),
                   priors: dict[str, list[np.ndarray]] | None = None) -> dict[str, CellMatch]:
    """Matches with every later instance of a phase (same CIF: ``S#2`` after ``S``) searched
    again on the peaks its earlier instances leave unmatched.

    Searched on all peaks, a second instance finds the first one's cell; two instances
    of one structure are two cells only when the second explains peaks the first does
    not (as :func:`identify_scan` does for accepted phases).  ``matches`` is not modified.
    """
    out = dict(matches)
    seen: dict[str, np.ndarray] = {}
    priors = priors or {}
    for phase in library:
        taken = seen.get(phase.source)
        if taken is None:
            seen[phase.source] = out[phase.label].matched.copy()
            continue
        left = PeakList(peaks.position[~taken], peaks.height[~taken], peaks.snr[~taken])
        if left.position.size:
            m = search_cell(phase, left, wavelength_A, tt_range, tol_deg=tol_deg,
                            priors=priors.get(phase.label), wavelength2_A=wavelength2_A)
            matched = match_peaks(phase, m.free, peaks.position, wavelength_A, tt_range,
                                  2.5 * tol_deg, wavelength2_A=wavelength2_A)
        else:
            m, matched = CellMatch(phase.reference_free, 0.0, taken & False), taken & False
        out[phase.label] = CellMatch(m.free, m.score, matched)
        seen[phase.source] = taken | matched
    return out


def _prune_redundant(result: ScanIdentification, u: np.ndarray, total: float,
                     min_gain: float) -> None:
    """Drop accepted phases whose matched peaks are all explained by the other accepted ones."""
    while len(result.present) > 1:
        unique = {}
        for label in result.present:
            others = np.zeros(u.size, bool)
            for other in result.present:
                if other != label:
                    others |= result.matches[other].matched
            own = result.matches[label].matched & ~others
            unique[label] = (float(u[own].sum() / total), int(own.sum()))
        worst = min(result.present, key=lambda k: unique[k][0])
        if unique[worst][0] >= min_gain / 2 and unique[worst][1] >= 1:
            for label in result.present:
                result.gain[label] = unique[label][0]
            return
        result.present.remove(worst)
        result.gain.pop(worst, None)
