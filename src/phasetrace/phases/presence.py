"""Statistics of phase presence: nested whole-pattern refinements compared by an F-test.

A phase (or the extra cell parameters of a distorted variant) is a set of k parameters added
to a refined model.  With χ²₀ the weighted residual sum of the model without them and χ²₁
that of the model with them (N points, P parameters in the larger model, ν = N − P), the
ratio test of Hamilton (1965, *Acta Cryst.* 18, 502) — the crystallographer's standard for
"is this extra parameter set significant" — is

    F = [(χ²₀ − χ²₁) / k] / [χ²₁ / ν],

F-distributed with (k, ν) degrees of freedom under the null hypothesis that the k parameters
are not needed.  The denominator is the larger model's reduced χ², so a systematic misfit
that inflates χ²_ν also raises the bar.

Powder residuals are serially correlated (a misfit peak leaves a run of residuals of one
sign), which makes χ² differences look more significant than they are.  Following
Bérar & Lelann (1991, *J. Appl. Cryst.* 24, 1) the residuals are treated as an AR(1)
series: the Durbin–Watson statistic d = Σ(r_i − r_{i−1})² / Σr_i² of the normalised
residuals r = (y − calc)/σ gives ρ = 1 − d/2, and the number of independent points is
N_eff = N (1 − ρ)/(1 + ρ) (the factor by which Bérar–Lelann inflate esds², inverted).
A misfit ripple is correlated over a whole peak width, longer than AR(1) describes, so the
stack analysis uses the integrated autocorrelation time over two FWHM
(:func:`correlation_factor` with ``max_lag``), which is the same factor for an AR(1)
series, estimated on the points under the phases' peaks — for a phase at a known cell
(remove tests, the backward pass) on the points under its own lines, where its Δχ² is made
(:meth:`phasetrace.phases.stack.StackIdentifier._phase_test`).  The
F statistic is multiplied by c = N_eff/N and referred to F(k, c·ν): the ripples a misfit
major phase leaves behind count as far fewer independent points than there are steps.

Decisions are taken at a stated significance level α (:class:`phasetrace.config.IdentifyConfig`):
a phase in the model is kept when removing it gives p < α.  A candidate proposed by the cell
search is a different null hypothesis: the test is the best of m candidates, each with its
cell *searched* over its lattice range, so its p-value is the minimum over many trials (the
look-elsewhere effect; Gross & Vitells 2010, *Eur. Phys. J. C* 70, 525).  It is added when
its p < α / (m · T), a Bonferroni bound with T = :func:`search_trials`, the number of
resolution elements its lines sweep while its cell scans the range.  A phase carried from
a neighbouring scan (its cell known) is tested at α.

A residual that was already tested is not searched again (:class:`Residual`,
:func:`residual_grown`): where a scan's significant residual peaks are those of an earlier scan
whose candidates were all rejected — under the same model, the net area within one FWHM of
each peak not larger than that scan's by more than k·σ of the area difference,
k = Φ⁻¹(1 − α/P) for P peaks — the same data under the same model give the same add
tests.  A new or grown residual peak is searched again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .peaksearch import PeakList, find_peaks

__all__ = ["Evidence", "Residual", "correlation_factor", "f_test", "residual_grown",
           "residual_peaks", "residual_snr_limit", "search_trials", "wald_log10_p"]

_LN10 = math.log(10.0)


@dataclass(frozen=True)
class Evidence:
    """Outcome of one presence test of one phase in one scan.

    Attributes
    ----------
    test : str
        ``"remove"`` (the phase was in the model; the model without it was refined),
        ``"add"`` (candidate added to the model), ``"wald"`` (in the model; linearised test
        on its scale factor, see :func:`wald_log10_p`) or ``"symmetry"`` (distorted variant
        against its parent: the extra cell parameters).
    f : float
        Hamilton F statistic after the serial-correlation factor.
    log10_p : float
        log10 of the p-value (upper tail of F(k, c·ν)).
    k : int
        Parameters the phase adds.
    accepted : bool
        True when the phase is in the model after the test.
    """

    test: str
    f: float
    log10_p: float
    k: int
    accepted: bool


def correlation_factor(resid: np.ndarray, max_lag: int = 1) -> float:
    """c = N_eff / N of serially correlated residuals, 1/τ with τ the integrated
    autocorrelation time.

    ``resid`` are normalised residuals (y − calc)/σ in 2θ order; non-finite values are
    ignored.  With ``max_lag`` = 1 this is the AR(1) factor of Bérar & Lelann,
    (1 − ρ)/(1 + ρ) with ρ = 1 − d/2 from the Durbin–Watson d.  With a longer window the
    autocorrelations ρ_k (k = 1 … ``max_lag``) give τ = 1 + 2 Σ ρ_k (summed while
    positive, the initial-positive-sequence estimator of Geyer 1992), which counts the
    correlation a misfit ripple carries over a whole peak width and reduces to the AR(1)
    factor for an AR(1) series.  c is kept in [1/(2·max_lag + 1), 1].

    Examples
    --------
    >>> round(correlation_factor(np.random.default_rng(0).normal(size=20000)), 2)
    1.0
    """
    r = np.asarray(resid, float)
    r = r[np.isfinite(r)]
    if r.size < 3:
        return 1.0
    den = float(r @ r)
    if den <= 0:
        return 1.0
    if max_lag <= 1:
        d = float(np.sum(np.diff(r) ** 2)) / den
        rho = min(max(1.0 - 0.5 * d, 0.0), 0.999)
        return (1.0 - rho) / (1.0 + rho)
    tau = 1.0
    for k in range(1, min(max_lag, r.size - 1) + 1):
        rho_k = float(r[:-k] @ r[k:]) / den
        if rho_k <= 0:
            break
        tau += 2.0 * rho_k
    return float(min(max(1.0 / tau, 1.0 / (2 * max_lag + 1)), 1.0))


def f_test(chi2_without: float, chi2_with: float, k: int, n_points: int, n_params: int,
           corr: float = 1.0) -> tuple[float, float]:
    """Hamilton's F for k added parameters, with the correlation factor ``corr``.

    Parameters
    ----------
    chi2_without, chi2_with : float
        Weighted residual sums of the smaller and the larger model.
    k : int
        Parameters the larger model adds (≥ 1).
    n_points, n_params : int
        Points and refined parameters of the larger model.
    corr : float
        c = N_eff/N of the larger model's residuals (:func:`correlation_factor`).

    Returns
    -------
    (F, log10 p)
        A smaller model that fits better than the larger (a refinement that did not reach
        its minimum) gives F = 0, log10 p = 0.

    Examples
    --------
    >>> f, lp = f_test(1100.0, 1000.0, 1, 1001, 1)   # Δχ² = 100 with χ²_ν = 1
    >>> round(f, 1), round(10 ** lp, 9) < 1e-6
    (100.0, True)
    """
    k = max(int(k), 1)
    nu = max(n_points - n_params, 1)
    if not (np.isfinite(chi2_without) and np.isfinite(chi2_with)) or chi2_with <= 0:
        return math.nan, 0.0
    f = max((chi2_without - chi2_with) / k, 0.0) / (chi2_with / nu) * corr
    nu_eff = max(corr * nu, 1.0)
    return float(f), float(stats.f.logsf(f, k, nu_eff) / _LN10)


def wald_log10_p(scale: float, esd_scale: float, corr: float, n_points: int,
                 n_params: int) -> float:
    """log10 p of the linearised (Wald) test of a scale factor against 0.

    t² = (S/σ_S)² is the k = 1 Hamilton statistic of the scale to first order (σ_S from the
    covariance scaled by χ²_ν); with the correlation factor it is referred to F(1, c·ν).
    Used only to skip the removal refit of a phase far beyond the decision level.
    """
    if not (np.isfinite(scale) and np.isfinite(esd_scale)) or esd_scale <= 0:
        return 0.0
    t2 = (scale / esd_scale) ** 2 * corr
    return float(stats.f.logsf(t2, 1, max(corr * max(n_points - n_params, 1), 1.0)) / _LN10)


def search_trials(bounds_rel: float, two_theta_max_deg: float, fwhm_deg: float) -> float:
    """Independent trials T of a cell search: resolution elements a line sweeps.

    A length scanned over a relative range ln(hi/lo) moves a reflection at Bragg angle θ by
    Δ(2θ) = 2 tan θ · ln(hi/lo) radians; the reflection at the highest angle measured moves
    most, and positions closer than one FWHM are not independent, so
    T = max(1, Δ(2θ)/FWHM).  Only the widest length range counts (a one-dimensional bound:
    the phase's other lines follow the cell, they are not searched independently).

    Examples
    --------
    >>> round(search_trials(math.log(1.03 / 0.97), 60.0, 0.1), 1)   # ±3 % at 2θ = 60°
    39.7
    """
    theta = math.radians(min(max(two_theta_max_deg, 1e-3), 179.0) / 2.0)
    sweep = math.degrees(2.0 * math.tan(theta) * max(bounds_rel, 0.0))
    return max(sweep / max(fwhm_deg, 1e-6), 1.0)


def residual_snr_limit(two_theta: np.ndarray, fwhm_deg: float, alpha: float) -> float:
    """Height (in σ of the smoothed residual) above which a residual peak is significant.

    The residual is searched over M = (2θ range)/FWHM independent resolution elements; a
    one-sided Gaussian threshold with a Bonferroni correction, k = Φ⁻¹(1 − α/M), keeps the
    chance of one false residual peak per scan below α.
    """
    m = max((float(two_theta[-1]) - float(two_theta[0])) / max(fwhm_deg, 1e-6), 1.0)
    return float(stats.norm.isf(alpha / m))


def residual_peaks(two_theta: np.ndarray, resid: np.ndarray, sigma: np.ndarray, *,
                   fwhm_deg: float, redchi: float, snr_limit: float) -> PeakList:
    """Positive peaks of the residual y − calc higher than ``snr_limit`` noise units.

    The noise is σ·√χ²_ν of the fit (the scatter the model leaves, so a uniformly imperfect
    fit of the present phases does not count) smoothed as in
    :func:`phasetrace.phases.peaksearch.find_peaks`.
    """
    scale = math.sqrt(redchi) if np.isfinite(redchi) and redchi > 1 else 1.0
    return find_peaks(two_theta, np.asarray(resid, float)[None, :],
                      np.asarray(sigma, float)[None, :] * scale, fwhm_deg=fwhm_deg,
                      min_snr=snr_limit)[0]


@dataclass(frozen=True)
class Residual:
    """Significant residual peaks of one scan's refinement, kept to compare later scans.

    Attributes
    ----------
    position : ndarray (P,)
        Residual peak centres, degrees 2θ (:func:`residual_peaks`).
    resid : ndarray (N,)
        y − calc of the refinement.
    sigma : ndarray (N,)
        Counting σ of y.
    labels : frozenset of str
        Phases of the model the residual is of (the add tests' null model).
    """

    position: np.ndarray
    resid: np.ndarray
    sigma: np.ndarray
    labels: frozenset


def _window_area(two_theta, resid, sigma, centre, fwhm_deg) -> tuple[float, float]:
    """Net area (counts · points) of ``resid`` within one FWHM of ``centre`` and its variance."""
    w = np.abs(two_theta - centre) <= fwhm_deg
    w &= np.isfinite(resid) & np.isfinite(sigma)
    return float(np.sum(resid[w])), float(np.sum(sigma[w] ** 2))


def residual_grown(two_theta: np.ndarray, now: Residual, tested: Residual, *, fwhm_deg: float,
                   alpha: float) -> bool:
    """True when ``now`` has a residual peak that ``tested`` (an earlier scan's residual whose
    add tests all failed) had not, or one that has grown significantly since.

    For every significant residual peak of ``now`` the net area over ±FWHM around it (one
    resolution element each side), A₁, is compared with the area of ``tested``'s residual
    over the same window, A₀: the peak is new or grown when A₁ − A₀ > k·σ_Δ, with
    σ_Δ² = Σσ₁² + Σσ₀² over the window (the counting noise of the two scans: a misfit of a
    model that did not change is common to both and cancels in the difference) and
    k = Φ⁻¹(1 − α/P), one-sided with a Bonferroni correction over the P peaks of ``now``.
    So a constant residual (an unindexed cell-part line) triggers a new search in at most a
    fraction α of scans by noise alone.  The window is the position test: a peak that moved
    by more than a resolution element leaves the window of the old one and counts as new.
    A peak detected now but not in ``tested`` whose intensity was already there (just below
    the detection threshold, ``residual_snr_limit``) is not new data, and the add tests of
    ``tested`` saw it.  A phase nucleating under a residual peak makes it grow and is
    searched for again once the growth is significant; the backward pass of the stack then
    finds where it begins.  A different model (``labels``) is always a new null hypothesis.

    Examples
    --------
    >>> tt = np.linspace(10, 20, 1001)
    >>> line = 50 * np.exp(-0.5 * ((tt - 15) / 0.04) ** 2)
    >>> sig = np.full_like(tt, 3.0)
    >>> old = Residual(np.array([15.0]), line, sig, frozenset({"P2"}))
    >>> residual_grown(tt, old, old, fwhm_deg=0.1, alpha=1e-3)
    False
    >>> residual_grown(tt, Residual(np.array([15.0]), 2 * line, sig, frozenset({"P2"})), old,
    ...                fwhm_deg=0.1, alpha=1e-3)
    True
    """
    if now.labels != tested.labels:
        return True
    if now.position.size == 0:
        return False
    k = float(stats.norm.isf(alpha / now.position.size))
    for centre in now.position:
        a1, v1 = _window_area(two_theta, now.resid, now.sigma, centre, fwhm_deg)
        a0, v0 = _window_area(two_theta, tested.resid, tested.sigma, centre, fwhm_deg)
        if a1 - a0 > k * math.sqrt(v1 + v0):
            return True
    return False
