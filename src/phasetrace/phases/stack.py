"""Phase presence over a stack, decided by the whole-pattern refinement itself.

Forward pass (scan 0 → S−1)
    Each scan's model starts as the previous scan's phases, cells and profile (warm start).
    It is refined; where the refinement leaves a significant residual peak
    (:func:`.presence.residual_peaks`) that is not one already searched, on survey scans and
    where the model is empty, the cell search (:func:`.identify.search_cell`, every library
    phase within its lattice range) proposes candidates — phases whose match reaches
    ``propose_score`` — and each is *add-tested*: refined with the model and kept when the
    Hamilton F-test (:mod:`.presence`) gives p < α; the structure on the added lattice is
    then chosen among the library phases that share it (:mod:`.structure_choice`: O'3 or
    P'3, O3 or P3), and a model phase of that family moves to it when the two together are
    not significantly better.  A residual is *already searched* when it
    is that of the last scan whose candidates were all rejected: same model, and the net area
    within one FWHM of each residual peak not significantly larger than that scan's
    (:func:`.presence.residual_grown`) — an unindexed line of a cell part would otherwise
    re-run the same rejected add tests in every scan.  Every phase of the model is then
    *remove-tested* (the model without it refined from the full model's solution); the least
    significant phase with p ≥ α leaves, and the test repeats.  Where the model is the
    previous scan's (nothing added or swapped), the scan is not a survey scan and every
    phase is determined and far beyond the level by its Wald statistic, a phase is kept
    without that refit (:meth:`StackIdentifier._needs_full_test`).  A distorted variant in
    the model (O'3, P'2, P'3) is tested against its parent in its place (the nested test of
    the extra cell parameters): the parent (higher symmetry) is reported unless the
    distortion is significant; a parent in the model on a proposal scan is tested against
    its variant the same way.
Backward pass (S−2 → 0)
    A phase present in scan s+1 and absent in scan s is add-tested in s, starting from its
    cell and profile in s+1: a phase that grew for some scans before its peaks stood out is
    found where it begins, and nowhere the evidence does not support it.

No gap filling, isolated-run or intensity-share rules: a phase enters or leaves where a test
says so.  The evidence of the last test of every (scan, phase) is kept (:class:`ScanState`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..config import IdentifyConfig
from ..refine import RefineResult, warm_start
from .cell import cell_from_free
from .identify import CellMatch
from .presence import (Evidence, Residual, correlation_factor, f_test, residual_grown,
                       residual_peaks, residual_snr_limit, search_trials, wald_log10_p)
from .reference import ReferencePhase
from .structure_choice import best_structure, moved_lattice, rechoose, swap_warm, void_evidence
from .structure_choice import chi2_of as _chi2
from .structure_choice import determined as _determined

__all__ = ["ScanState", "StackIdentifier"]

logger = logging.getLogger(__name__)

_MIN_OWN = 20   # points under a phase's lines to estimate their correlation over 2 widths

#: fit(s, phases, starts, warm, before) → RefineResult or None (the refinement failed).
Fit = Callable[[int, list[ReferencePhase], list[np.ndarray], dict, list], RefineResult | None]
#: propose(s, priors) → label → CellMatch of every library phase (the cell search).
Propose = Callable[[int, dict[str, list[np.ndarray]]], dict[str, CellMatch]]
#: initial(s, matches) → labels of a first model (greedy peak explanation; proposes only).
Initial = Callable[[int, dict[str, CellMatch]], list[str]]


@dataclass
class ScanState:
    """Model of one scan after the tests: phases, their refinement, the evidence."""

    phases: list[ReferencePhase] = field(default_factory=list)
    result: RefineResult | None = None
    evidence: dict[str, Evidence] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)


class StackIdentifier:
    """Forward and backward passes of the presence tests over a stack (module docstring).

    Parameters
    ----------
    library : list of ReferencePhase
    fit, propose, initial : callables
        See :data:`Fit`, :data:`Propose`, :data:`Initial`.
    two_theta : ndarray (N,)
    obs, sigma : ndarray (S, N)
        Observed counts and σ (the refinement's ``calc`` includes the background).
    fwhm_deg : float
    config : IdentifyConfig
    survey : set of int
        Scan indices (in this stack) where candidates are proposed whatever the residual.
    """

    def __init__(self, library, fit: Fit, propose: Propose, initial: Initial, two_theta, obs,
                 sigma, fwhm_deg: float, config: IdentifyConfig, survey: set[int],
                 wavelengths: tuple[float, ...] = ()):
        self.library = list(library)
        self.by_label = {p.label: p for p in self.library}
        self.fit, self.propose, self.initial = fit, propose, initial
        self.tt, self.obs, self.sigma, self.fwhm = two_theta, obs, sigma, fwhm_deg
        self.cfg = config
        self.survey = survey
        self.wavelengths = tuple(w for w in wavelengths if np.isfinite(w))
        self.log_alpha = math.log10(config.alpha)
        self.snr_limit = residual_snr_limit(two_theta, fwhm_deg, config.residual_alpha)
        step = float(np.median(np.diff(two_theta)))
        self.max_lag = max(int(round(2.0 * fwhm_deg / step)), 1)   # two peak widths
        self.states: list[ScanState] = [ScanState() for _ in range(obs.shape[0])]
        self._lines_memo: dict[tuple, np.ndarray] = {}
        #: residual of the last forward scan whose candidates were all rejected
        self._tested: Residual | None = None

    # ------------------------------------------------------------------ helpers
    def _before(self, s: int) -> list:
        return [st.result for st in self.states[:s]]

    def _corr(self, s: int, res: RefineResult) -> float:
        """c = N_eff/N from the residuals where the phases contribute (calc − background > σ):
        misfit ripples live under the peaks; the white residuals of the background regions
        would dilute the correlation estimate."""
        resid = (self.obs[s] - res.calc) / self.sigma[s]
        under = (res.calc - res.background) > self.sigma[s]
        return correlation_factor(resid[under] if np.count_nonzero(under) > 20 else resid,
                                  self.max_lag)

    def _refit(self, s, phases, starts, warm) -> RefineResult | None:
        if not phases:
            return None
        return self.fit(s, phases, starts, warm, self._before(s))

    def _compare(self, s, small: RefineResult, big: RefineResult) -> tuple[float, float, int]:
        """(F, log10 p, k) of ``big`` against the nested ``small``."""
        k = max(big.n_params - small.n_params, 1)
        f, lp = f_test(_chi2(small), _chi2(big), k, big.n_points, big.n_params,
                       self._corr(s, big))
        return f, lp, k

    def _lines(self, phase: ReferencePhase, free: np.ndarray, zero: float) -> np.ndarray:
        """2θ of the phase's reflections (every wavelength), shifted by the zero.

        Memoised on the exact (phase, cell, zero) of the last scan: a remove round asks for
        every other phase's lines of one refinement once per tested phase."""
        key = (phase.label, np.asarray(free, float).tobytes(), float(zero))
        if key not in self._lines_memo:
            if len(self._lines_memo) > 256:
                self._lines_memo.clear()
            self._lines_memo[key] = self._lines_of(phase, free, zero)
        return self._lines_memo[key]

    def _lines_of(self, phase: ReferencePhase, free: np.ndarray, zero: float) -> np.ndarray:
        cell = cell_from_free(phase.crystal_system, np.asarray(free, float))
        out = []
        for wl in self.wavelengths:
            tt, inten = phase.intensities(cell, wl)
            ok = np.isfinite(tt) & np.isfinite(inten)
            if ok.any():
                ok &= inten >= 1e-3 * np.max(inten[ok])
                out.append(tt[ok] + zero)
        return np.sort(np.concatenate(out)) if out else np.zeros(0)

    def _near(self, lines: np.ndarray) -> np.ndarray:
        """Points within one FWHM of any of ``lines`` (bool, (N,))."""
        if lines.size == 0:
            return np.zeros(self.tt.size, bool)
        j = np.clip(np.searchsorted(lines, self.tt), 1, max(lines.size - 1, 1))
        d = np.minimum(np.abs(self.tt - lines[j - 1]),
                       np.abs(self.tt - lines[np.minimum(j, lines.size - 1)]))
        return d <= self.fwhm

    def _corr_own(self, s, big: RefineResult, own: np.ndarray) -> float:
        """c = N_eff/N of ``big``'s residuals within one FWHM of a phase's reflections
        (``own``), the points its parameters act on; :meth:`_corr` where fewer than
        ``_MIN_OWN`` points are there."""
        ok = own & np.isfinite(self.obs[s]) & (self.sigma[s] > 0)
        if np.count_nonzero(ok) < _MIN_OWN:
            return self._corr(s, big)
        return correlation_factor(((self.obs[s] - big.calc) / self.sigma[s])[ok], self.max_lag)

    def _phase_test(self, s, small: RefineResult, big: RefineResult, phases_big, i: int,
                    searched: bool = False, removing: bool = False) -> tuple[float, float, int]:
        """(F, log10 p, k) of phase ``i`` of ``big`` (absent from ``small``).

        Two Hamilton tests must both be significant and the weaker is returned: the whole
        pattern, and the same Δχ² restricted to the points within one FWHM of the phase's
        reflections and farther than one FWHM from every reflection of the other phases —
        the intensity no other phase of the model can produce.  A phase whose reflections all
        sit on the others' (a 00l series coinciding with another phase's, a cell drifting onto
        a neighbour's) only reshapes the others' peaks (preferred orientation, widths) and is
        no evidence of a phase.  A phase whose refinement is not converged inside its bounds
        (cell at its lattice range, March–Dollase r at its limit) gives no evidence either: on
        a boundary the F distribution of nested models does not hold (Self & Liang 1987) and
        the phase's parameters are not determined by the data (a remove test of a model
        singular or unconverged as a whole keeps its F: :func:`.structure_choice.void_evidence`).

        A phase at a known cell (remove tests; backward pass) changes the pattern only
        within about one FWHM of its reflections, so its Δχ² is made of the residuals there
        and the whole-pattern test takes their correlation factor (:meth:`_corr_own`): the
        major phases' misfit ripples elsewhere say nothing about them (where its lines do
        sit on such ripples, c there is as small as theirs).  A ``searched`` candidate keeps
        c of all the points under the model's peaks (:meth:`_corr`): its cell was chosen
        over its lattice range, so any ripple of the pattern could have taken its lines.
        """
        own = self._near(self._lines(phases_big[i], big.free[i], big.zero))
        if searched:
            f, lp, k = self._compare(s, small, big)
        else:
            k = max(big.n_params - small.n_params, 1)
            f, lp = f_test(_chi2(small), _chi2(big), k, big.n_points, big.n_params,
                           self._corr_own(s, big, own))
        if void_evidence(big, phases_big[i].label, i, removing):
            return f, 0.0, k
        others = [self._lines(p, free, big.zero) for j, (p, free)
                  in enumerate(zip(phases_big, big.free)) if j != i]
        mask = own & ~self._near(np.concatenate(others) if others else np.zeros(0))
        mask &= np.isfinite(self.obs[s]) & (self.sigma[s] > 0)
        if not mask.any():
            return 0.0, 0.0, k
        r0 = ((self.obs[s] - small.calc) / self.sigma[s])[mask]
        r1 = ((self.obs[s] - big.calc) / self.sigma[s])[mask]
        fd, lpd = f_test(float(r0 @ r0), float(r1 @ r1), k, big.n_points, big.n_params,
                         self._corr(s, big))
        return (f, lp, k) if lp >= lpd else (fd, lpd, k)

    def _search_log_alpha(self, phase: ReferencePhase, m: int) -> float:
        """log10 of the add level of a searched candidate, α / (m · T) (:mod:`.presence`)."""
        rel = [math.log(hi / lo) for name, (lo, hi) in zip(phase.free_names, phase.free_bounds)
               if name in "abc" and lo > 0 and hi > lo]
        trials = search_trials(max(rel, default=0.0), float(np.nanmax(self.tt)), self.fwhm)
        return self.log_alpha - math.log10(max(m, 1) * trials)

    def _residual(self, s: int, phases, res: RefineResult) -> Residual:
        """Significant residual peaks of ``res`` (:func:`.residual_peaks`) with the residual."""
        resid = self.obs[s] - res.calc
        peaks = residual_peaks(self.tt, resid, self.sigma[s], fwhm_deg=self.fwhm,
                               redchi=res.redchi, snr_limit=self.snr_limit)
        return Residual(peaks.position, resid, self.sigma[s], frozenset(p.label for p in phases))

    def _new_residual(self, now: Residual) -> bool:
        """``now`` is not the residual of the last scan whose candidates were all rejected."""
        return self._tested is None or residual_grown(self.tt, now, self._tested,
                                                      fwhm_deg=self.fwhm, alpha=self.cfg.alpha)

    def _priors(self, s: int) -> dict[str, list[np.ndarray]]:
        out: dict[str, list[np.ndarray]] = {}
        for st in self.states[max(s - 2, 0):s]:
            if st.result is not None:
                for p, free in zip(st.phases, st.result.free):
                    out.setdefault(p.label, []).append(free)
        return out

    # ------------------------------------------------------------------ tests
    def _add_round(self, s, phases, res, matches, evidence):
        """Add-test the best candidates; return (phases, result) with the most significant
        one added, or None when none reaches its level α / (m · T) (searched cells)."""
        have = {p.label for p in phases}
        cands = [p for p in self.library if p.label not in have
                 and matches[p.label].score >= self.cfg.propose_score]
        cands.sort(key=lambda p: -matches[p.label].score)
        best = None
        cands = cands[:self.cfg.max_candidates]
        for cand in cands:
            trial = self._refit(s, phases + [cand], list(res.free) + [matches[cand.label].free],
                                warm_start(res))
            if trial is None:
                continue
            f, lp, k = self._phase_test(s, res, trial, phases + [cand], len(phases), True)
            evidence[cand.label] = Evidence("add", f, lp, k, False)
            if (lp < self._search_log_alpha(cand, len(cands))
                    and (best is None or lp < best[0])):
                best = (lp, cand, trial, f, k)
        if best is None:
            return None
        lp, cand, trial, f, k = best
        alt, other = best_structure(self, s, phases, cand, trial, have)
        if alt is not cand:
            evidence[cand.label] = Evidence("add", f, lp, k, False)
            f, lp, k = self._phase_test(s, res, other, phases + [alt], len(phases), True)
            cand, trial = alt, other
        moved = moved_lattice(self, s, phases, cand, trial)
        if moved is not None:
            evidence[cand.label] = Evidence("add", f, lp, k, False)
            return moved
        evidence[cand.label] = Evidence("add", f, lp, k, True)
        logger.debug("scan %d: %s added (F %.3g, log10 p %.1f)", s, cand.label, f, lp)
        return phases + [cand], trial

    def _swap(self, s, phases, res, i, other, start, evidence, test="symmetry"):
        """Phase ``i`` replaced by ``other`` (its parent or its variant), refined from
        phase ``i``'s profile (:func:`.structure_choice.swap_warm`)."""
        new = phases[:i] + [other] + phases[i + 1:]
        starts = list(res.free)
        starts[i] = start
        return new, self._refit(s, new, starts, swap_warm(res, i, other.label))

    def _symmetry(self, s, phases, res, matches, evidence):
        """Variant against parent in its place (nested: the parent is the variant with zero
        distortion).  A variant is kept only when its extra cell parameters are significant;
        on proposal scans a parent is tested against its variant likewise."""
        for i, phase in enumerate(list(phases)):
            labels = {p.label for p in phases}
            parent = self.by_label.get(phase.parent) if phase.parent else None
            if parent is not None and parent.label not in labels:
                start = (matches[parent.label].free if matches else
                         self._parent_start(s, parent))
                if start is None:
                    continue
                new, small = self._swap(s, phases, res, i, parent, start, evidence)
                if small is None:
                    continue
                f, lp, k = self._compare(s, small, res)
                keep = lp < self.log_alpha
                evidence[phase.label] = Evidence("symmetry", f, lp, k, keep)
                if not keep:
                    logger.debug("scan %d: %s → %s (distortion not significant, log10 p %.1f)",
                                 s, phase.label, parent.label, lp)
                    phases, res = new, small
                continue
            if matches is None:
                continue
            for variant in self.library:
                if variant.parent != phase.label or variant.label in labels:
                    continue
                if matches[variant.label].score < self.cfg.propose_score:
                    continue
                new, big = self._swap(s, phases, res, i, variant, matches[variant.label].free,
                                      evidence)
                if big is None:
                    continue
                f, lp, k = self._compare(s, res, big)
                if lp < self._search_log_alpha(variant, 1):
                    evidence[variant.label] = Evidence("symmetry", f, lp, k, True)
                    phases, res = new, big
                    break
        return phases, res

    def _parent_start(self, s, parent) -> np.ndarray | None:
        for st in reversed(self.states[:s]):
            for p, free in zip(st.phases, st.result.free if st.result is not None else []):
                if p.label == parent.label:
                    return free
        return None

    def _remove_round(self, s, phases, res, evidence, full_test: bool):
        """Remove-test every phase; drop the least significant with p ≥ α and repeat.


        ``full_test`` (see :meth:`_needs_full_test`): every phase, cell components
        included, is refitted without it.  Otherwise a phase whose Wald log10 p on its scale
        is below ``wald_margin × log10 α`` is kept without the refit, and cell components
        are kept."""
        while len(phases) > 1:
            corr = self._corr(s, res)
            worst = None
            for i, phase in enumerate(phases):
                sol = res.phases[i]
                if phase.is_cell_component and not full_test:
                    continue
                wald = wald_log10_p(sol.scale, sol.esd_scale, corr, res.n_points, res.n_params)
                if not full_test and wald < self.cfg.wald_margin * self.log_alpha:
                    t2 = (sol.scale / sol.esd_scale) ** 2 * corr
                    evidence[phase.label] = Evidence("wald", t2, wald, 1, True)
                    continue
                rest = phases[:i] + phases[i + 1:]
                small = self._refit(s, rest, [f for j, f in enumerate(res.free) if j != i],
                                    warm_start(res))
                if small is None:
                    continue
                f, lp, k = self._phase_test(s, small, res, phases, i, removing=True)
                evidence[phase.label] = Evidence("remove", f, lp, k, True)
                if lp >= self.log_alpha and (worst is None or lp > worst[0]):
                    worst = (lp, i, small, f, k)
            if worst is None:
                return phases, res
            lp, i, small, f, k = worst
            label = phases[i].label
            evidence[label] = Evidence("remove", f, lp, k, False)
            logger.debug("scan %d: %s removed (F %.3g, log10 p %.1f)", s, label, f, lp)
            phases, res = phases[:i] + phases[i + 1:], small
        return phases, res

    def _needs_full_test(self, s, phases, res, matches, changed: bool) -> bool:
        """Whether the remove tests of scan ``s`` refit the model without every phase.

        Yes on survey scans, where the model was built afresh, and where a phase was added
        or swapped in this scan: the second half of :meth:`_phase_test` — the intensity no
        *other* phase can produce — changes when the other phases change, and the Wald
        statistic (scale/esd from the full model's covariance, with the residual
        correlation factor) is only the linearised whole-pattern half.  On a scan whose
        candidates were proposed and all rejected the model is its predecessor's, and the
        rejected candidates are no evidence about its phases: there the full test is kept
        only where some phase (cell components included) is not determined
        (:func:`_determined`: its full-model evidence is void, so the removal order the
        refits give matters) or not beyond ``wald_margin × log10 α`` by its Wald statistic;
        where all are, no refit can reverse the whole-pattern decision and the scan is
        tested as a scan that did not propose."""
        if s in self.survey or changed:
            return True
        if matches is None:
            return False
        corr = self._corr(s, res)
        level = self.cfg.wald_margin * self.log_alpha
        for i, phase in enumerate(phases):
            sol = res.phases[i]
            if not _determined(res, phase.label, i) or wald_log10_p(
                    sol.scale, sol.esd_scale, corr, res.n_points, res.n_params) >= level:
                return True
        return False

    # ------------------------------------------------------------------ passes
    def _start_model(self, s):
        prev = self.states[s - 1] if s > 0 else None
        if prev is not None and prev.result is not None and prev.phases:
            return list(prev.phases), list(prev.result.free), warm_start(prev.result)
        return [], [], {}

    def forward_scan(self, s: int) -> None:
        """Refine scan ``s`` from its predecessor and run the presence tests.

        The cell search runs on survey scans, where the model is empty, and where the
        refinement leaves a significant residual peak that is not one already searched: a
        residual equal to that of the last scan whose candidates were all rejected (same
        model, no residual peak whose area within one FWHM grew significantly;
        :func:`.residual_grown`) would give the same add tests.  On survey scans each phase's
        structure is chosen again (:func:`.structure_choice.rechoose`).  The remove tests
        refit the model without each phase where :meth:`_needs_full_test` says so; elsewhere
        a phase far beyond the level by its Wald statistic is kept without the refit
        (:meth:`_remove_round`)."""
        phases, starts, warm = self._start_model(s)
        evidence: dict[str, Evidence] = {}
        matches = None
        res = self._refit(s, phases, starts, warm)
        if res is None:
            matches = self.propose(s, self._priors(s))
            labels = self.initial(s, matches)
            phases = [p for p in self.library if p.label in labels]
            res = self._refit(s, phases, [matches[p.label].free for p in phases], {})
        fresh = matches is not None
        start_labels = [p.label for p in phases]
        propose = fresh or s in self.survey
        for _ in range(len(self.library)):
            if res is None:
                break
            now = None
            if not propose:
                now = self._residual(s, phases, res)
                if now.position.size == 0:
                    break
                if matches is None and not self._new_residual(now):
                    break
            if matches is None:
                matches = self.propose(s, self._priors(s))
            propose = False
            added = self._add_round(s, phases, res, matches, evidence)
            if added is None:
                self._tested = now if now is not None else self._residual(s, phases, res)
                break
            phases, res = added
        if res is not None:
            phases, res = self._symmetry(s, phases, res, matches, evidence)
            if matches is not None and s in self.survey:
                phases, res = rechoose(self, s, phases, res, matches)
            full = self._needs_full_test(s, phases, res, matches,
                                         fresh or [p.label for p in phases] != start_labels)
            phases, res = self._remove_round(s, phases, res, evidence, full)
        scores = {k: m.score for k, m in matches.items()} if matches else {}
        self.states[s] = ScanState(phases if res is not None else [], res, evidence, scores)

    def backward_scan(self, s: int) -> None:
        """Add-test in scan ``s`` the phases of scan s+1 that ``s`` lacks."""
        now, later = self.states[s], self.states[s + 1]
        if now.result is None or later.result is None:
            return
        for i, phase in enumerate(later.phases):
            if phase.label in {p.label for p in now.phases}:
                continue
            res = now.result
            warm = {**warm_start(res), phase.label: later.result.phases[i]}
            trial = self._refit(s, now.phases + [phase], list(res.free) + [later.result.free[i]],
                                warm)
            if trial is None:
                continue
            f, lp, k = self._phase_test(s, res, trial, now.phases + [phase], len(now.phases))
            keep = lp < self.log_alpha
            now.evidence[phase.label] = Evidence("add", f, lp, k, keep)
            if keep:
                logger.debug("scan %d: %s added backwards (log10 p %.1f)", s, phase.label, lp)
                now.phases, now.result = now.phases + [phase], trial

    def run(self, progress: Callable[[int, int], None] | None = None) -> list[ScanState]:
        n = len(self.states)
        for s in range(n):
            self.forward_scan(s)
            if progress is not None:
                progress(s, n)
        for s in range(n - 2, -1, -1):
            self.backward_scan(s)
        return self.states
