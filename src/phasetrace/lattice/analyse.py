"""Phase identification and lattice refinement over a whole stack: :func:`analyse_phases`.

Pipeline per stack: background → peak search → per-scan phase search (cells free within
their lattice ranges, neighbouring scans' cells as extra starting points) → stack prior
(short gaps filled, short isolated detections dropped) → whole-pattern Pawley refinement of
the cells of the phases present with a zero shift shared by all phases → derived values.

Phase fractions are semi-quantitative: a Rietveld-like scale S_p = ΣA_k/ΣI_k is taken from
the Pawley intensities A_k and the reference-structure intensities I_k (00l reflections
of layered phases excluded, as they carry the preferred orientation), and converted to
weight fractions with the Hill–Howard relation W_p ∝ S_p (ZM)_p V_p over the electrode
phases (cell components get NaN).  They inherit the errors of the idealised structures.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import xarray as xr
from threadpoolctl import threadpool_limits

from ..errors import ConfigError, FitError
from ..phases.identify import ScanIdentification, apply_stack_prior, identify_scan
from ..phases.peaksearch import PeakList, estimate_background, estimate_fwhm, find_peaks
from ..phases.reference import ReferencePhase
from ..schema import (INTENSITY, INTENSITY_SIGMA, SCAN, TWO_THETA, WAVELENGTHS_A,
                      validate_stack)
from ..refine import RefineOptions, RefineResult, refine_pattern, warm_start
from .output import build_result
from .pairs import parent_pass
from .symmetry import insignificant_split, pseudo_tetragonal_pair, tie_name

__all__ = ["analyse_phases", "DEFAULT_OPTIONS"]

logger = logging.getLogger(__name__)

#: tunable options of :func:`analyse_phases` and their defaults.
DEFAULT_OPTIONS: dict[str, Any] = {
    "min_snr": 4.0,          # peak detection threshold (noise units)
    "unindexed_snr": 8.0,    # unindexed peaks are reported from this SNR up
    "min_score": 0.65,       # completeness needed to accept a phase
    "named_score": 0.3,      # ... a phase the user named with its CIF (searched near that cell)
    "keep_score": 0.5,       # ... to keep a phase present in the previous scan (hysteresis)
    "min_gain": 0.04,        # share of observed peak intensity a phase must add
    "parent_margin": 0.05,   # distorted variant must beat its parent's score by this
    "max_gap": 2,            # stack prior: longest isolated detection dropped, scans
    "max_fill": 6,           # stack prior: longest gap filled, scans
    "prior_score": 0.45,     # stack prior: score needed to fill a gap
    "strong_score": 0.85,    # stack prior: score needed to keep an isolated detection
    "min_share": 0.004,      # Pawley intensity share below which a phase is dropped
    "max_zero_deg": 0.5,     # bound of the zero shift in the first scans, degrees
    "max_displacement_deg": 1.0,  # bound of the displacement term D cos θ, degrees
    "zero_settle_scans": 5,  # scans after which zero/displacement are held near their median
    "zero_drift_deg": 0.02,  # allowed departure from that median, degrees
    "keep_calc": True,       # store the calculated pattern (model + background)
    "max_nfev": 60,          # Jacobian evaluations per whole-pattern refinement
    "intensities": "rietveld",  # "rietveld" (scale × reference |F|²) or "pawley" (free)
    "pawley_phases": (),     # phases refined with free intensities (no trustworthy structure)
    "geometry": "auto",      # "reflection" (zero + displacement), "transmission" (zero), "auto"
    "n_background": 3,       # refinable Chebyshev terms on top of the estimated background
    "collapse_sigma": 2.0,   # pseudo-tetragonal orthorhombic: b−c within this many esds →
                             # refined and reported with b = c (≈ F-test at 95 %, one constraint)
    "detect_kalpha2": True,  # test for an unannounced Kα2 line (Kα1 wavelength, no λ2 given)
    "pair_rel_tol": 0.0015,   # parent beside its distorted variant: variant's cell held within
                              # this (relative) of its cell in the neighbouring two-phase scan
    "pair_parent_tol": 0.004,  # ... parent's cell held within this of its neighbour's
    "pair_min_gain": 0.05,    # ... relative reduced-χ² decrease needed to add the parent
    "pair_min_fraction": 0.03,  # ... and the parent's smallest weight fraction
}


def _net_pattern(stack: xr.Dataset, background: Any) -> tuple[np.ndarray, np.ndarray]:
    y = stack[INTENSITY].values.astype(float)
    if background is None:
        bg = estimate_background(stack[TWO_THETA].values, y)
    elif isinstance(background, xr.Dataset):
        bg = background["background"].values
    else:
        bg = np.asarray(getattr(background, "values", background), dtype=float)
    if bg.shape != y.shape:
        raise ConfigError(f"background has shape {bg.shape}, expected {y.shape} (scan, two_theta)")
    return y, bg


def _peaks_from_dataset(peaks: xr.Dataset, n_scans: int, noise: np.ndarray) -> list[PeakList]:
    """PeakLists from a ``phasetrace.peaks.fit_stack`` result (converged peaks only)."""
    out = []
    for s in range(n_scans):
        row = peaks.isel({SCAN: s})
        pos = np.asarray(row["center"].values, float)
        height = np.asarray(row["height"].values, float) if "height" in row else np.ones_like(pos)
        ok = np.isfinite(pos) & np.isfinite(height)
        if "status" in row:
            ok &= np.asarray(row["status"].values) <= 1
        order = np.argsort(pos[ok])
        snr = height[ok][order] / max(float(noise[s]), 1e-12)
        out.append(PeakList(pos[ok][order], height[ok][order], snr))
    return out


def _report(progress: bool | Callable[[int, int], None], i: int, n: int) -> None:
    if callable(progress):
        progress(i, n)
    elif progress:
        logger.info("phase analysis: scan %d of %d", i + 1, n)


def _priors(idents, refined, opts) -> dict[str, list[np.ndarray]]:
    """Candidate cells for the next scan: refined cells and good search cells of the last two."""
    priors: dict[str, list[np.ndarray]] = {}
    for kept, res in refined[-2:]:
        if res is not None:
            for phase, free in zip(kept, res.free):
                priors.setdefault(phase.label, []).append(free)
    for ident in idents[-1:]:
        for label, m in ident.matches.items():
            if m.score >= opts["prior_score"]:
                priors.setdefault(label, []).append(m.free)
    return priors


def _presence(library, idents, opts) -> tuple[np.ndarray, np.ndarray]:
    labels = [p.label for p in library]
    present = np.array([[lab in ident.present for lab in labels] for ident in idents])
    score = np.array([[ident.matches[lab].score for lab in labels] for ident in idents])
    for j, phase in enumerate(library):
        prior_score = opts["prior_score"]
        if phase.user_named:
            prior_score = min(prior_score, opts["named_score"])
        present[:, j] = apply_stack_prior(present[:, j], score[:, j], max_gap=opts["max_gap"],
                                          max_fill=opts["max_fill"],
                                          prior_score=prior_score,
                                          strong_score=opts["strong_score"])
    return present, score


def _refine_options(ctx, zero0, zero_bound, disp0, disp_bound) -> RefineOptions:
    o = ctx["opts"]
    return RefineOptions(intensities=o["intensities"], pawley_labels=tuple(o["pawley_phases"]),
                         geometry=o["geometry"], n_background=o["n_background"], zero0=zero0,
                         max_zero_deg=zero_bound, displacement0=disp0,
                         max_displacement_deg=disp_bound, max_iter=o["max_nfev"])


def _pawley(ctx, phases, starts, zero0, zero_bound, free_bounds=None, ties=None, warm=None):
    """Whole-pattern refinement of the current scan (``ctx["obs_s"]`` …), warm-started from
    the last refined scan (profile, scales, zero/displacement, background terms)."""
    disp0, disp_bound = ctx.get("disp_window", (0.0, ctx["opts"]["max_displacement_deg"]))
    return refine_pattern(ctx["tt"], ctx["obs_s"], ctx["sig_s"], ctx["bg_s"], phases, starts,
                          wavelength_A=ctx["wl"], wavelength2_A=ctx["wl2"],
                          kalpha2_ratio=ctx["ratio"], fwhm_deg=ctx["fwhm"],
                          options=_refine_options(ctx, zero0, zero_bound, disp0, disp_bound),
                          free_bounds=free_bounds, ties=ties,
                          warm=warm if warm is not None else ctx.get("warm"))


def _best_pawley(ctx, phases, starts, previous, zero0, zero_bound) -> RefineResult:
    """Refine from the previous scan's cells when every phase has one, else from the search
    cells; when both exist, differ and the first fit is clearly worse than the previous
    scan's or did not converge, refine from the other too and keep the better (a converged
    fit first, then the lower χ²: the whole pattern arbitrates)."""
    alt = [previous.get(p.label) for p in phases]
    if any(a is None for a in alt):
        return _pawley(ctx, phases, starts, zero0, zero_bound)
    res = _continue_tie(ctx, phases, alt, zero0, zero_bound)
    differs = any(np.max(np.abs(a / f - 1.0)) > 1e-3 for a, f in zip(alt, starts))
    if differs and (not res.converged
                    or res.redchi > 1.1 * ctx.get("last_redchi", np.inf) + 0.05):
        other = _pawley(ctx, phases, starts, zero0, zero_bound)
        if (other.converged, -other.redchi) > (res.converged, -res.redchi):
            res = other
    return res


def _continue_tie(ctx, phases, starts, zero0, zero_bound) -> RefineResult:
    """A phase refined with two axes tied in the previous scan is refined tied first, then
    free from that solution (a nearly degenerate start converges slowly when other
    parameters must move too); :func:`_collapse` then decides between the two."""
    ties = [ctx.get("prev_ties", {}).get(p.label, "") for p in phases]
    if not any(ties):
        return _pawley(ctx, phases, starts, zero0, zero_bound)
    tied = _pawley(ctx, phases, starts, zero0, zero_bound, ties=ties)
    if not tied.converged:
        return _pawley(ctx, phases, starts, zero0, zero_bound)
    free = _pawley(ctx, phases, [s.free for s in tied.phases], zero0, zero_bound,
                   warm=warm_start(tied))
    return free if free.converged else tied


def _refine_scan(ctx, phases, starts, previous, zero0, zero_bound
                 ) -> tuple[list[ReferencePhase], RefineResult | None]:
    """Pawley refinement; phases with a negligible intensity share are dropped and it reruns."""
    opts = ctx["opts"]
    while phases:
        try:
            res = _best_pawley(ctx, phases, starts, previous, zero0, zero_bound)
        except FitError as err:
            logger.warning("scan left unrefined: %s", err)
            return [], None
        res = _collapse(ctx, phases, res, zero0, zero_bound)
        totals = np.array([float(np.sum(a)) for a in res.intensity])
        share = totals / max(totals.sum(), 1e-300)
        weak = [i for i, p in enumerate(phases)
                if share[i] < opts["min_share"] and not p.is_cell_component]
        if not weak:
            return phases, res
        drop = min(weak, key=lambda i: share[i])
        logger.debug("dropping %s (intensity share %.4f)", phases[drop].label, share[drop])
        phases = phases[:drop] + phases[drop + 1:]
        starts = starts[:drop] + starts[drop + 1:]
    return [], None


def _collapse(ctx, phases, res, zero0, zero_bound) -> RefineResult:
    """Refine again with a pseudo-tetragonal pair tied when its split is not significant
    (:mod:`.symmetry`); the tied fit is kept when it converges.  A free fit that did not
    converge near b = c (a flat valley along b − c) is redone tied, then free from the tied
    solution, and the significance test chooses."""
    n_sigma = ctx["opts"]["collapse_sigma"]

    def split_ties(fit):
        return [insignificant_split(p, s.free, s.cov_free, n_sigma) if not s.tie else s.tie
                for p, s in zip(phases, fit.phases)]

    try:
        if res.converged:
            ties = split_ties(res)
            if not any(t and not s.tie for t, s in zip(ties, res.phases)):
                return res
            tied = _pawley(ctx, phases, [s.free for s in res.phases], zero0, zero_bound,
                           ties=ties)
            return tied if tied.converged else res
        pairs = [pseudo_tetragonal_pair(p) for p in phases]
        if not any(pairs):
            return res
        ties = [tie_name(pr) if pr else "" for pr in pairs]
        tied = _pawley(ctx, phases, [s.free for s in res.phases], zero0, zero_bound, ties=ties)
        if not tied.converged:
            return res
        free = _pawley(ctx, phases, [s.free for s in tied.phases], zero0, zero_bound,
                       warm=warm_start(tied))
        return free if free.converged and not any(split_ties(free)) else tied
    except FitError:
        return res


def _zero_window(refined, opts, name="zero", bound_key="max_zero_deg") -> tuple[float, float]:
    """Start and bound of the zero shift (or displacement): free at first, then near the
    running median of converged scans (the instrument and the cell do not jump)."""
    zeros = [getattr(res, name) for _, res in refined if res is not None and res.converged]
    if len(zeros) < opts["zero_settle_scans"]:
        return 0.0, opts[bound_key]
    return float(np.median(zeros[-opts["zero_settle_scans"]:])), opts["zero_drift_deg"]


def _previous_cells(refined) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for kept, res in refined[-3:]:
        if res is not None:
            out.update({p.label: f for p, f in zip(kept, res.free)})
    return out


def _run_scans(ctx, library, peak_lists, obs, sigma, progress):
    """Sequential identification + refinement; each scan starts from its predecessors."""
    opts = ctx["opts"]
    idents: list[ScanIdentification] = []
    refined: list[tuple[list[ReferencePhase], RefineResult | None]] = []
    for s, pk in enumerate(peak_lists):
        ident = identify_scan(
            library, pk, ctx["wl"], ctx["tt_range"], tol_deg=ctx["tol"], wavelength2_A=ctx["wl2"],
            priors=_priors(idents, refined, opts), min_score=opts["min_score"],
            min_gain=opts["min_gain"], parent_margin=opts["parent_margin"],
            named_score=opts["named_score"], cache=ctx["coarse_cache"],
            forced={p.label: opts["keep_score"] for p in (refined[-1][0] if refined else [])},
            expected={p.label for p in (refined[-1][0] if refined else [])
                      if _established(refined, len(refined) - 3, p.label)})
        idents.append(ident)
        refined.append(_refine_present(ctx, library, ident, ident.present, s, obs, sigma, refined))
        if refined[-1][1] is not None:
            ctx["last_redchi"] = refined[-1][1].redchi
            ctx["warm"] = warm_start(refined[-1][1])
            ctx["prev_ties"] = {p.label: sol.tie for p, sol in
                                zip(refined[-1][0], refined[-1][1].phases) if sol.tie}
        _report(progress, s, len(peak_lists))
    return idents, refined


def _established(refined, s: int, label: str, run: int = 3) -> bool:
    """True when ``label`` is present in scans s .. s+run-1 (a phase, not a blip)."""
    window = refined[max(s, 0):s + run] if s >= 0 else []
    return len(window) == run and all(label in {p.label for p in kept} for kept, _ in window)


def _backward_pass(ctx, library, peak_lists, obs, sigma, idents, refined) -> None:
    """Hysteresis backwards in time: a phase present in scan s+1 is kept in scan s with the
    lower ``keep_score`` (phases appearing during a transition are caught early too)."""
    opts = ctx["opts"]
    for s in range(len(idents) - 2, -1, -1):
        later = {p.label for p in refined[s + 1][0]}
        now = {p.label for p in refined[s][0]}
        if not later - now:
            continue
        later = {label for label in later if _established(refined, s + 1, label)}
        if not later - now:
            continue
        priors = _priors([], [refined[s + 1]], opts)
        ident = identify_scan(
            library, peak_lists[s], ctx["wl"], ctx["tt_range"], tol_deg=ctx["tol"],
            wavelength2_A=ctx["wl2"], priors=priors, min_score=opts["min_score"],
            min_gain=opts["min_gain"], parent_margin=opts["parent_margin"],
            named_score=opts["named_score"], cache=ctx["coarse_cache"],
            forced={label: opts["keep_score"] for label in later | now}, expected=later)
        labels = [label for label in ident.present if label in now or label in later]
        if set(labels) > now:   # only phases established later are added
            idents[s] = ident
            refined[s] = _refine_present(ctx, library, ident, labels, s, obs, sigma,
                                         refined[:s] + [refined[s + 1]])


def _refine_present(ctx, library, ident, labels, s, obs, sigma, refined):
    phases = [p for p in library if p.label in labels]
    starts = [ident.matches[p.label].free for p in phases]
    zero0, bound = _zero_window(refined, ctx["opts"])
    ctx["disp_window"] = _zero_window(refined, ctx["opts"], "displacement", "max_displacement_deg")
    _select_scan(ctx, s, obs, sigma)
    return _refine_scan(ctx, phases, starts, _previous_cells(refined), zero0, bound)


def _select_scan(ctx, s, obs, sigma) -> None:
    ctx.update(obs_s=obs[s], sig_s=sigma[s], bg_s=ctx["bg"][s])


def _doublet_candidate(wl: float) -> tuple[float, float] | None:
    """(λ2, I2/I1) of the characteristic line whose Kα1 equals ``wl`` (±0.0015 Å), else None."""
    for wl1, wl2, ratio in WAVELENGTHS_A.values():
        if ratio > 0 and abs(wl1 - wl) <= 0.0015:
            return wl2, ratio
    return None


def _detect_kalpha2(ctx, library, peak_lists, obs, sigma) -> None:
    """Decide from the data whether an unannounced Kα2 line is present.

    Only for a primary wavelength equal to a characteristic Kα1 and no second wavelength
    given: the first, middle, last and brightest scans are refined with and without the
    doublet and the doublet is adopted when it lowers the reduced χ² by more than 5 % in the
    median over those scans (one scan with a poor phase identification cannot decide alone).
    The decision is logged and recorded in the result attributes (``kalpha2_detected``).
    """
    cand = _doublet_candidate(ctx["wl"])
    ctx["kalpha2_detected"] = "not tested"
    if cand is None or np.isfinite(ctx["wl2"]):
        return
    n = len(peak_lists)
    bright = int(np.argmax([np.sum(p.height) for p in peak_lists]))
    ratios, pairs = [], []
    for s in sorted({0, n // 2, n - 1, bright}):
        ident = identify_scan(library, peak_lists[s], ctx["wl"], ctx["tt_range"],
                              tol_deg=ctx["tol"], min_score=ctx["opts"]["min_score"],
                              min_gain=ctx["opts"]["min_gain"])
        phases = [p for p in library if p.label in ident.present]
        if not phases:
            continue
        starts = [ident.matches[p.label].free for p in phases]
        _select_scan(ctx, s, obs, sigma)
        try:
            single = _pawley(ctx, phases, starts, 0.0, ctx["opts"]["max_zero_deg"])
            double = _pawley({**ctx, "wl2": cand[0], "ratio": cand[1]}, phases, starts, 0.0,
                             ctx["opts"]["max_zero_deg"])
        except FitError:
            continue
        ratios.append(double.redchi / single.redchi)
        pairs.append(f"scan {s}: {single.redchi:.3g} without, {double.redchi:.3g} with")
    if not ratios:
        return
    adopt = bool(np.median(ratios) < 0.95)
    ctx["kalpha2_detected"] = f"{adopt} (redchi {'; '.join(pairs)})"
    logger.info("Kα2 test: %s", ctx["kalpha2_detected"])
    if adopt:
        ctx["wl2"], ctx["ratio"] = cand


def _prepare(stack, background, peaks, opts):
    """Validated arrays, width/tolerance and peak lists: (ctx, net, sigma, peak_lists)."""
    validate_stack(stack)
    if background is None and isinstance(peaks, xr.Dataset) and "background" in peaks:
        background = peaks["background"]
    tt = stack[TWO_THETA].values.astype(float)
    wl = float(stack.attrs["wavelength_A"])
    wl2 = float(stack.attrs.get("wavelength2_A", math.nan))
    ratio = float(stack.attrs.get("kalpha2_ratio", 0.0) or 0.0)
    if not ratio > 0:
        wl2 = math.nan
    obs, bg = _net_pattern(stack, background)
    net = obs - bg
    sigma = stack[INTENSITY_SIGMA].values if INTENSITY_SIGMA in stack else np.sqrt(
        np.maximum(stack[INTENSITY].values, 1.0))
    n = net.shape[0]
    fwhm = float(np.median([estimate_fwhm(tt, net[s]) for s in sorted({0, n // 2, n - 1})]))
    tol = max(0.3 * fwhm, 1.5 * float(np.median(np.diff(tt))))
    if peaks is None:
        peak_lists = find_peaks(tt, net, sigma, fwhm_deg=fwhm, min_snr=opts["min_snr"])
    else:
        peak_lists = _peaks_from_dataset(peaks, n, np.nanmedian(sigma, axis=1))
    ctx = {"tt": tt, "wl": wl, "wl2": wl2, "ratio": ratio, "fwhm": fwhm, "tol": tol,
           "tt_range": (tt[0], tt[-1]), "opts": opts, "kalpha2_detected": "not tested",
           "coarse_cache": {}, "bg": bg}
    return ctx, obs, sigma, peak_lists


def analyse_phases(
    stack: xr.Dataset,
    *,
    library: list[ReferencePhase],
    peaks: xr.Dataset | None = None,
    background: xr.Dataset | xr.DataArray | np.ndarray | None = None,
    progress: bool | Callable[[int, int], None] = False,
    **options: Any,
) -> xr.Dataset:
    """Identify phases and refine their lattices in every scan of a stack.

    Parameters
    ----------
    stack : xarray.Dataset
        Stack following :mod:`phasetrace.schema` (``intensity``, ``intensity_sigma``,
        ``two_theta`` in degrees, attrs ``wavelength_A``, ``wavelength2_A``, ``kalpha2_ratio``).
    library : list of ReferencePhase
        Candidate phases (:func:`phasetrace.phases.load_library`).
    peaks : xarray.Dataset, optional
        Output of ``phasetrace.peaks.fit_stack`` (``center``, ``height``, ``status`` on
        (scan, peak)); when absent an internal peak search is used.
    background : Dataset, DataArray or ndarray, optional
        Background (scan, two_theta) to subtract; taken from ``peaks["background"]``
        when that exists, else estimated.
    progress : bool or callable
        True logs progress; a callable gets ``(scan_index, n_scans)``.
    **options
        Overrides of :data:`DEFAULT_OPTIONS`.

    Returns
    -------
    xarray.Dataset
        Over (scan, phase): variables of ``phasetrace.schema.PHASE_VARS`` plus
        ``score_gain``, ``volume_strain_pristine``, ``esd_volume_per_fu``; over scan:
        ``zero_shift``, ``esd_zero_shift``, ``redchi``, ``n_unindexed``; ``unindexed_peaks``
        (scan, unindexed) in degrees, NaN-padded; optionally ``calc`` (scan, two_theta).
        Coordinates on ``phase``: ``phase_family``, ``is_cell_component``, ``phase_parent``,
        ``phase_space_group``, ``phase_crystal_system``.  NaN where a phase is absent.

    Raises
    ------
    SchemaError
        If the stack does not follow the schema or has no wavelength.
    ConfigError
        For an unknown option or a background of the wrong shape.
    """
    unknown = set(options) - set(DEFAULT_OPTIONS)
    if unknown:
        raise ConfigError(f"unknown analyse_phases option(s) {sorted(unknown)}; "
                          f"known: {sorted(DEFAULT_OPTIONS)}")
    if not library:
        raise ConfigError("empty phase library: pass load_library(...) with at least one phase")
    opts = {**DEFAULT_OPTIONS, **options}
    ctx, obs, sigma, peak_lists = _prepare(stack, background, peaks, opts)
    # many small least-squares solves: BLAS threads only add overhead (and oversubscribe)
    with threadpool_limits(limits=1, user_api="blas"):
        if opts["detect_kalpha2"]:
            _detect_kalpha2(ctx, library, peak_lists, obs, sigma)
        idents, refined = _run_scans(ctx, library, peak_lists, obs, sigma, progress)
        present, score = _presence(library, idents, opts)
        for s in range(obs.shape[0]):
            labels = [p.label for j, p in enumerate(library) if present[s, j]]
            if sorted(labels) != sorted(idents[s].present):
                refined[s] = _refine_present(ctx, library, idents[s], labels, s, obs, sigma,
                                             refined[:s])
        _backward_pass(ctx, library, peak_lists, obs, sigma, idents, refined)
        added = parent_pass({**ctx, "obs": obs, "sigma": sigma}, library, refined, opts)
        if added:
            logger.info("parent phase found beside its distorted variant in scans %s", added)
    result = build_result(stack, library, idents, refined, score, peak_lists,
                          wavelength_A=ctx["wl"], wavelength2_A=ctx["wl2"], tol_deg=ctx["tol"],
                          fwhm_deg=ctx["fwhm"], options=opts)
    result.attrs["kalpha2_detected"] = ctx["kalpha2_detected"]
    result.attrs["wavelength2_used_A"] = ctx["wl2"]
    result.attrs["kalpha2_ratio_used"] = ctx["ratio"] if np.isfinite(ctx["wl2"]) else 0.0
    return result
