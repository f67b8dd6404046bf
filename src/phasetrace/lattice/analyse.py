"""Phase identification and lattice refinement over a whole stack: :func:`analyse_phases`.

Pipeline per stack: background → peak search → phase presence decided by the whole-pattern
refinement (:mod:`phasetrace.phases.stack`: each scan refined from its neighbour's solution,
candidates proposed by the cell search and kept or removed by F-tests on nested refinements,
:mod:`phasetrace.phases.presence`) → derived values.

Fractions are Hill–Howard weight fractions W_p ∝ S_p (ZM)_p V_p from the Rietveld scale
factors of the reference structures (:mod:`phasetrace.refine`); cell components get NaN.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import xarray as xr
from threadpoolctl import threadpool_limits

from ..config import IdentifyConfig
from ..errors import ConfigError, FitError
from ..phases.identify import ScanIdentification, identify_scan, search_cell, separate_twins
from ..phases.stack import StackIdentifier
from ..phases.peaksearch import PeakList, estimate_background, estimate_fwhm, find_peaks
from ..phases.reference import ReferencePhase
from ..schema import (INTENSITY, INTENSITY_SIGMA, SCAN, TWO_THETA, WAVELENGTHS_A,
                      validate_stack)
from ..refine import PhaseSolution, RefineOptions, RefineResult, refine_pattern, warm_start
from .output import build_result
from .symmetry import insignificant_split, pseudo_tetragonal_pair, tie_name

__all__ = ["analyse_phases", "DEFAULT_OPTIONS", "survey_indices"]

logger = logging.getLogger(__name__)

#: instrument and refinement options of :func:`analyse_phases` and their defaults (the
#: presence tests' options are :class:`phasetrace.config.IdentifyConfig`).
DEFAULT_OPTIONS: dict[str, Any] = {
    "min_snr": 4.0,          # peak detection threshold (noise units) of the cell search
    "unindexed_snr": 8.0,    # unindexed peaks are reported from this SNR up
    "max_zero_deg": 0.5,     # bound of the zero shift in the first scans, degrees
    "max_displacement_deg": 1.0,  # bound of the displacement term D cos θ, degrees
    "zero_settle_scans": 5,  # scans after which zero/displacement are held near their median
    "zero_drift_deg": 0.02,  # allowed departure from that median, degrees
    "keep_calc": True,       # store the calculated pattern (model + background)
    "intensities": "rietveld",  # "rietveld" (scale × reference |F|²) or "pawley" (free)
    "pawley_phases": (),     # phases refined with free intensities (no trustworthy structure)
    "geometry": "auto",      # "reflection" (zero + displacement), "transmission" (zero), "auto"
    "n_background": 3,       # refinable Chebyshev terms on top of the estimated background
    "collapse_sigma": 2.0,   # pseudo-tetragonal orthorhombic: b−c within this many esds →
                             # refined and reported with b = c (≈ F-test at 95 %, one constraint)
    "detect_kalpha2": True,  # test for an unannounced Kα2 line (Kα1 wavelength, no λ2 given)
}


def survey_indices(n_scans: int, k: int) -> list[int]:
    """``k`` evenly spaced scan indices of ``n_scans`` (the survey scans of the plan)."""
    return sorted({int(round(v)) for v in np.linspace(0, n_scans - 1, min(n_scans, k))})


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


def _refine_options(ctx, zero0, zero_bound, disp0, disp_bound) -> RefineOptions:
    o = ctx["opts"]
    return RefineOptions(intensities=o["intensities"], pawley_labels=tuple(o["pawley_phases"]),
                         geometry=o["geometry"], n_background=o["n_background"], zero0=zero0,
                         max_zero_deg=zero_bound, displacement0=disp0,
                         max_displacement_deg=disp_bound, max_iter=ctx["max_iter"])


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


def _zero_window(before, opts, name="zero", bound_key="max_zero_deg") -> tuple[float, float]:
    """Start and bound of the zero shift (or displacement): free at first, then near the
    running median of converged earlier scans (the instrument and the cell do not jump)."""
    zeros = [getattr(res, name) for res in before if res is not None and res.converged]
    if len(zeros) < opts["zero_settle_scans"]:
        return 0.0, opts[bound_key]
    return float(np.median(zeros[-opts["zero_settle_scans"]:])), opts["zero_drift_deg"]


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
                              tol_deg=ctx["tol"])
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


def _fit_scan(ctx, obs, sigma):
    """The refinement the presence tests call: scan ``s`` with ``phases`` from ``starts``,
    warm-started from ``warm``; zero/displacement windows from the earlier scans ``before``;
    pseudo-tetragonal ties carried and tested (:func:`_collapse`).  None on a FitError."""
    opts = ctx["opts"]

    def fit(s, phases, starts, warm, before):
        zero0, bound = _zero_window(before, opts)
        ctx["disp_window"] = _zero_window(before, opts, "displacement", "max_displacement_deg")
        _select_scan(ctx, s, obs, sigma)
        ctx["warm"] = warm
        ctx["prev_ties"] = {k: v.tie for k, v in warm.items()
                            if isinstance(v, PhaseSolution) and v.tie}
        try:
            res = _continue_tie(ctx, phases, [np.asarray(f, float) for f in starts], zero0,
                                bound)
        except FitError as err:
            logger.debug("scan %d: refinement of %s failed: %s", s, [p.label for p in phases],
                         err)
            return None
        return _collapse(ctx, phases, res, zero0, bound)

    return fit


def _proposer(ctx, library, peak_lists):
    """The cell search of every library phase on a scan's peaks (candidates only)."""
    def propose(s, priors):
        found = {p.label: search_cell(p, peak_lists[s], ctx["wl"], ctx["tt_range"],
                                      tol_deg=ctx["tol"], priors=priors.get(p.label),
                                      wavelength2_A=ctx["wl2"], cache=ctx["coarse_cache"])
                 for p in library}
        return separate_twins(library, found, peak_lists[s], ctx["wl"], ctx["tt_range"],
                              tol_deg=ctx["tol"], wavelength2_A=ctx["wl2"], priors=priors)

    def initial(s, matches):
        ident = identify_scan(library, peak_lists[s], ctx["wl"], ctx["tt_range"],
                              tol_deg=ctx["tol"], wavelength2_A=ctx["wl2"],
                              cache=ctx["coarse_cache"])
        return ident.present

    return propose, initial


#: codes of ``presence_test`` in the result.
PRESENCE_TESTS = {"none": -1, "wald": 0, "remove": 1, "add": 2, "symmetry": 3}


def _evidence_arrays(states, library) -> dict[str, np.ndarray]:
    n, m = len(states), len(library)
    out = {"presence_f": np.full((n, m), np.nan), "presence_log10_p": np.full((n, m), np.nan),
           "presence_test": np.full((n, m), -1, np.int8), "score": np.full((n, m), np.nan)}
    for s, st in enumerate(states):
        for j, p in enumerate(library):
            ev = st.evidence.get(p.label)
            if ev is not None:
                out["presence_f"][s, j] = ev.f
                out["presence_log10_p"][s, j] = ev.log10_p
                out["presence_test"][s, j] = PRESENCE_TESTS[ev.test]
            out["score"][s, j] = st.scores.get(p.label, np.nan)
    return out


def analyse_phases(
    stack: xr.Dataset,
    *,
    library: list[ReferencePhase],
    peaks: xr.Dataset | None = None,
    background: xr.Dataset | xr.DataArray | np.ndarray | None = None,
    progress: bool | Callable[[int, int], None] = False,
    identify: IdentifyConfig | None = None,
    survey: list[int] | None = None,
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
    identify : IdentifyConfig, optional
        Significance level and budget of the presence tests (defaults of the class).
    survey : list of int, optional
        Scan indices (in ``stack``) where candidates are proposed whatever the residual;
        default :func:`survey_indices` (32 evenly spaced scans).
    **options
        Overrides of :data:`DEFAULT_OPTIONS`.

    Returns
    -------
    xarray.Dataset
        Over (scan, phase): variables of ``phasetrace.schema.PHASE_VARS`` plus
        ``presence_f``, ``presence_log10_p``, ``presence_test`` (the evidence of the last
        presence test of each (scan, phase), :mod:`phasetrace.phases.presence`),
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
    cfg = identify or IdentifyConfig()
    ctx, obs, sigma, peak_lists = _prepare(stack, background, peaks, opts)
    ctx["max_iter"] = cfg.max_iter
    n = obs.shape[0]
    survey_set = set(survey_indices(n, 32) if survey is None else survey)
    # many small least-squares solves: BLAS threads only add overhead (and oversubscribe)
    with threadpool_limits(limits=1, user_api="blas"):
        if opts["detect_kalpha2"]:
            _detect_kalpha2(ctx, library, peak_lists, obs, sigma)
        propose, initial = _proposer(ctx, library, peak_lists)
        driver = StackIdentifier(library, _fit_scan(ctx, obs, sigma), propose, initial,
                                 ctx["tt"], obs, sigma, ctx["fwhm"], cfg, survey_set,
                                 wavelengths=(ctx["wl"], ctx["wl2"]))
        states = driver.run(lambda i, m: _report(progress, i, m))
    refined = [(st.phases, st.result) for st in states]
    idents = [ScanIdentification({}, [p.label for p in st.phases]) for st in states]
    evidence = _evidence_arrays(states, library)
    result = build_result(stack, library, idents, refined, evidence.pop("score"), peak_lists,
                          wavelength_A=ctx["wl"], wavelength2_A=ctx["wl2"], tol_deg=ctx["tol"],
                          fwhm_deg=ctx["fwhm"], options={**opts, "identify": cfg})
    result["presence_f"] = ((SCAN, "phase"), evidence["presence_f"], {
        "long_name": "Hamilton F of the last presence test (serial-correlation corrected)"})
    result["presence_log10_p"] = ((SCAN, "phase"), evidence["presence_log10_p"], {
        "long_name": "log10 p-value of the last presence test; present when < log10(alpha)",
        "alpha": cfg.alpha})
    result["presence_test"] = ((SCAN, "phase"), evidence["presence_test"], {
        "flag_values": np.array(list(PRESENCE_TESTS.values()), np.int8),
        "flag_meanings": " ".join(PRESENCE_TESTS), "long_name": "kind of the last presence test"})
    result.attrs["kalpha2_detected"] = ctx["kalpha2_detected"]
    result.attrs["wavelength2_used_A"] = ctx["wl2"]
    result.attrs["kalpha2_ratio_used"] = ctx["ratio"] if np.isfinite(ctx["wl2"]) else 0.0
    result.attrs["identify_alpha"] = cfg.alpha
    return result
