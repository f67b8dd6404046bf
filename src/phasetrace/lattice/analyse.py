"""Phase identification and lattice refinement over a whole stack: :func:`analyse_phases`.

Pipeline per stack: background → peak search → phase presence decided by the whole-pattern
refinement (:mod:`phasetrace.phases.stack`: each scan refined from its neighbour's solution,
candidates proposed by the cell search and kept or removed by F-tests on nested refinements,
:mod:`phasetrace.phases.presence`) → derived values.

Fractions are Hill–Howard weight fractions W_p ∝ S_p (ZM)_p V_p from the Rietveld scale
factors of the reference structures (:mod:`phasetrace.refine`); cell components get NaN.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr
from threadpoolctl import threadpool_limits

from ..config import IdentifyConfig, RefineConfig
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

__all__ = ["analyse_phases", "survey_indices"]

logger = logging.getLogger(__name__)

#: options of :func:`analyse_phases` besides the :class:`~phasetrace.config.RefineConfig` fields.
CALL_OPTIONS = ("keep_calc", "detect_kalpha2")


def survey_indices(n_scans: int, k: int) -> list[int]:
    """``k`` evenly spaced scan indices of ``n_scans`` (the survey scans of the plan)."""
    return sorted({int(round(v)) for v in np.linspace(0, n_scans - 1, min(n_scans, k))})


@dataclass
class _Stack:
    """Arrays and stack-wide decisions of one :func:`analyse_phases` call."""

    tt: np.ndarray
    obs: np.ndarray
    sigma: np.ndarray
    bg: np.ndarray
    wl: float
    wl2: float
    ratio: float
    fwhm: float
    tol: float
    refine: RefineConfig
    max_iter: int
    kalpha2_detected: str = "not tested"
    coarse_cache: dict = field(default_factory=dict)

    @property
    def tt_range(self) -> tuple[float, float]:
        return float(self.tt[0]), float(self.tt[-1])


@dataclass(frozen=True)
class _ScanFit:
    """One scan's refinement setting: zero and displacement windows (start, bound), the
    warm start and the axes tied in the previous scan."""

    s: int
    zero: tuple[float, float]
    displacement: tuple[float, float]
    warm: dict = field(default_factory=dict)
    prev_ties: dict = field(default_factory=dict)


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


def _pawley(run: _Stack, sf: _ScanFit, phases, starts, free_bounds=None, ties=None, warm=None):
    """Whole-pattern refinement of scan ``sf.s``, warm-started from the last refined scan
    (profile, scales, zero/displacement, background terms)."""
    rc = run.refine
    options = RefineOptions(intensities=rc.intensities, pawley_labels=tuple(rc.pawley_phases),
                            geometry=rc.geometry, n_background=rc.n_background,
                            stacking_faults=rc.stacking_faults,
                            stacking_fault_labels=tuple(rc.stacking_fault_labels),
                            zero0=sf.zero[0], max_zero_deg=sf.zero[1],
                            displacement0=sf.displacement[0],
                            max_displacement_deg=sf.displacement[1], max_iter=run.max_iter)
    s = sf.s
    return refine_pattern(run.tt, run.obs[s], run.sigma[s], run.bg[s], phases, starts,
                          wavelength_A=run.wl, wavelength2_A=run.wl2,
                          kalpha2_ratio=run.ratio, fwhm_deg=run.fwhm, options=options,
                          free_bounds=free_bounds, ties=ties,
                          warm=warm if warm is not None else sf.warm)


def _continue_tie(run, sf, phases, starts) -> RefineResult:
    """A phase refined with two axes tied in the previous scan is refined tied first, then
    free from that solution (a nearly degenerate start converges slowly when other
    parameters must move too); :func:`_collapse` then decides between the two."""
    ties = [sf.prev_ties.get(p.label, "") for p in phases]
    if not any(ties):
        return _pawley(run, sf, phases, starts)
    tied = _pawley(run, sf, phases, starts, ties=ties)
    if not tied.converged:
        return _pawley(run, sf, phases, starts)
    free = _pawley(run, sf, phases, [s.free for s in tied.phases], warm=warm_start(tied))
    return free if free.converged else tied


def _collapse(run, sf, phases, res) -> RefineResult:
    """Refine again with a pseudo-tetragonal pair tied when its split is not significant
    (:mod:`.symmetry`); the tied fit is kept when it converges.  A free fit that did not
    converge near b = c (a flat valley along b − c) is redone tied, then free from the tied
    solution, and the significance test chooses."""
    n_sigma = run.refine.collapse_sigma

    def split_ties(fit):
        return [insignificant_split(p, s.free, s.cov_free, n_sigma) if not s.tie else s.tie
                for p, s in zip(phases, fit.phases)]

    try:
        if res.converged:
            ties = split_ties(res)
            if not any(t and not s.tie for t, s in zip(ties, res.phases)):
                return res
            tied = _pawley(run, sf, phases, [s.free for s in res.phases], ties=ties)
            return tied if tied.converged else res
        pairs = [pseudo_tetragonal_pair(p) for p in phases]
        if not any(pairs):
            return res
        ties = [tie_name(pr) if pr else "" for pr in pairs]
        tied = _pawley(run, sf, phases, [s.free for s in res.phases], ties=ties)
        if not tied.converged:
            return res
        free = _pawley(run, sf, phases, [s.free for s in tied.phases], warm=warm_start(tied))
        return free if free.converged and not any(split_ties(free)) else tied
    except FitError:
        return res


def _zero_window(before, rc: RefineConfig, name="zero") -> tuple[float, float]:
    """Start and bound of the zero shift (or displacement): free at first, then near the
    running median of converged earlier scans (the instrument and the cell do not jump)."""
    bound = rc.max_zero_deg if name == "zero" else rc.max_displacement_deg
    values = [getattr(res, name) for res in before if res is not None and res.converged]
    if len(values) < rc.zero_settle_scans:
        return 0.0, bound
    return float(np.median(values[-rc.zero_settle_scans:])), rc.zero_drift_deg


def _first_fit(run: _Stack, s: int) -> _ScanFit:
    """Setting of a scan refined without history (free zero and displacement)."""
    return _ScanFit(s, (0.0, run.refine.max_zero_deg), (0.0, run.refine.max_displacement_deg))


def _doublet_candidate(wl: float) -> tuple[float, float] | None:
    """(λ2, I2/I1) of the characteristic line whose Kα1 equals ``wl`` (±0.0015 Å), else None."""
    for wl1, wl2, ratio in WAVELENGTHS_A.values():
        if ratio > 0 and abs(wl1 - wl) <= 0.0015:
            return wl2, ratio
    return None


def _detect_kalpha2(run: _Stack, library, peak_lists) -> None:
    """Decide from the data whether an unannounced Kα2 line is present.

    Only for a primary wavelength equal to a characteristic Kα1 and no second wavelength
    given: the first, middle, last and brightest scans are refined with and without the
    doublet and the doublet is adopted when it lowers the reduced χ² by more than 5 % in the
    median over those scans (one scan with a poor phase identification cannot decide alone).
    The decision is logged and recorded in the result attributes (``kalpha2_detected``).
    """
    cand = _doublet_candidate(run.wl)
    run.kalpha2_detected = "not tested"
    if cand is None or np.isfinite(run.wl2):
        return
    n = len(peak_lists)
    bright = int(np.argmax([np.sum(p.height) for p in peak_lists]))
    doublet = dataclasses.replace(run, wl2=cand[0], ratio=cand[1])
    ratios, pairs = [], []
    for s in sorted({0, n // 2, n - 1, bright}):
        ident = identify_scan(library, peak_lists[s], run.wl, run.tt_range, tol_deg=run.tol)
        phases = [p for p in library if p.label in ident.present]
        if not phases:
            continue
        starts = [ident.matches[p.label].free for p in phases]
        try:
            single = _pawley(run, _first_fit(run, s), phases, starts)
            double = _pawley(doublet, _first_fit(run, s), phases, starts)
        except FitError:
            continue
        ratios.append(double.redchi / single.redchi)
        pairs.append(f"scan {s}: {single.redchi:.3g} without, {double.redchi:.3g} with")
    if not ratios:
        return
    adopt = bool(np.median(ratios) < 0.95)
    run.kalpha2_detected = f"{adopt} (redchi {'; '.join(pairs)})"
    logger.info("Kα2 test: %s", run.kalpha2_detected)
    if adopt:
        run.wl2, run.ratio = cand


def _prepare(stack, background, peaks, rc: RefineConfig, max_iter: int):
    """Validated arrays, width/tolerance and peak lists: (run, peak_lists)."""
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
        peak_lists = find_peaks(tt, net, sigma, fwhm_deg=fwhm, min_snr=rc.min_snr)
    else:
        peak_lists = _peaks_from_dataset(peaks, n, np.nanmedian(sigma, axis=1))
    run = _Stack(tt=tt, obs=obs, sigma=sigma, bg=bg, wl=wl, wl2=wl2, ratio=ratio, fwhm=fwhm,
                 tol=tol, refine=rc, max_iter=max_iter)
    return run, peak_lists


def _fit_scan(run: _Stack):
    """The refinement the presence tests call: scan ``s`` with ``phases`` from ``starts``,
    warm-started from ``warm``; zero/displacement windows from the earlier scans ``before``;
    pseudo-tetragonal ties carried and tested (:func:`_collapse`).  None on a FitError."""

    def fit(s, phases, starts, warm, before):
        sf = _ScanFit(s, _zero_window(before, run.refine),
                      _zero_window(before, run.refine, "displacement"), warm,
                      {k: v.tie for k, v in warm.items()
                       if isinstance(v, PhaseSolution) and v.tie})
        try:
            res = _continue_tie(run, sf, phases, [np.asarray(f, float) for f in starts])
        except FitError as err:
            logger.debug("scan %d: refinement of %s failed: %s", s, [p.label for p in phases],
                         err)
            return None
        return _collapse(run, sf, phases, res)

    return fit


def _proposer(run: _Stack, library, peak_lists):
    """The cell search of every library phase on a scan's peaks (candidates only)."""
    def propose(s, priors):
        found = {p.label: search_cell(p, peak_lists[s], run.wl, run.tt_range,
                                      tol_deg=run.tol, priors=priors.get(p.label),
                                      wavelength2_A=run.wl2, cache=run.coarse_cache)
                 for p in library}
        return separate_twins(library, found, peak_lists[s], run.wl, run.tt_range,
                              tol_deg=run.tol, wavelength2_A=run.wl2, priors=priors)

    def initial(s, matches):
        ident = identify_scan(library, peak_lists[s], run.wl, run.tt_range,
                              tol_deg=run.tol, wavelength2_A=run.wl2, cache=run.coarse_cache)
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
    refine: RefineConfig | None = None,
    survey: list[int] | None = None,
    keep_calc: bool = True,
    detect_kalpha2: bool = True,
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
    refine : RefineConfig, optional
        Options of the per-scan refinement (defaults of the class).
    keep_calc : bool
        Store the calculated pattern (model + background).
    detect_kalpha2 : bool
        Test for an unannounced Kα2 line (Kα1 wavelength, no λ2 given).
    **options
        Overrides of single :class:`~phasetrace.config.RefineConfig` fields.

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
    known = {f.name for f in dataclasses.fields(RefineConfig)}
    unknown = set(options) - known
    if unknown:
        raise ConfigError(f"unknown analyse_phases option(s) {sorted(unknown)}; "
                          f"known: {sorted(known | set(CALL_OPTIONS))}")
    if not library:
        raise ConfigError("empty phase library: pass load_library(...) with at least one phase")
    rc = dataclasses.replace(refine or RefineConfig(), **options)
    cfg = identify or IdentifyConfig()
    run, peak_lists = _prepare(stack, background, peaks, rc, cfg.max_iter)
    n = run.obs.shape[0]
    survey_set = set(survey_indices(n, 32) if survey is None else survey)
    # many small least-squares solves: BLAS threads only add overhead (and oversubscribe)
    with threadpool_limits(limits=1, user_api="blas"):
        if detect_kalpha2:
            _detect_kalpha2(run, library, peak_lists)
        propose, initial = _proposer(run, library, peak_lists)
        driver = StackIdentifier(library, _fit_scan(run), propose, initial, run.tt, run.obs,
                                 run.sigma, run.fwhm, cfg, survey_set,
                                 wavelengths=(run.wl, run.wl2))
        states = driver.run(lambda i, m: _report(progress, i, m))
    refined = [(st.phases, st.result) for st in states]
    idents = [ScanIdentification({}, [p.label for p in st.phases]) for st in states]
    evidence = _evidence_arrays(states, library)
    result = build_result(stack, library, idents, refined, evidence.pop("score"), peak_lists,
                          wavelength_A=run.wl, wavelength2_A=run.wl2, tol_deg=run.tol,
                          fwhm_deg=run.fwhm, options={**dataclasses.asdict(rc),
                                                      "keep_calc": keep_calc,
                                                      "detect_kalpha2": detect_kalpha2,
                                                      "identify": cfg})
    result["presence_f"] = ((SCAN, "phase"), evidence["presence_f"], {
        "long_name": "Hamilton F of the last presence test (serial-correlation corrected)"})
    result["presence_log10_p"] = ((SCAN, "phase"), evidence["presence_log10_p"], {
        "long_name": "log10 p-value of the last presence test; present when < log10(alpha)",
        "alpha": cfg.alpha})
    result["presence_test"] = ((SCAN, "phase"), evidence["presence_test"], {
        "flag_values": np.array(list(PRESENCE_TESTS.values()), np.int8),
        "flag_meanings": " ".join(PRESENCE_TESTS), "long_name": "kind of the last presence test"})
    result.attrs["kalpha2_detected"] = run.kalpha2_detected
    result.attrs["wavelength2_used_A"] = run.wl2
    result.attrs["kalpha2_ratio_used"] = run.ratio if np.isfinite(run.wl2) else 0.0
    result.attrs["identify_alpha"] = cfg.alpha
    return result
