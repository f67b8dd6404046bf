"""Refine one scan: :func:`refine_pattern` (start values, fit, status, esds, R-factors)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy.optimize import nnls

from .._kernels.pattern import FIT_ITERATION_LIMIT, FIT_NO_DATA, FIT_SINGULAR, fit_pattern, pattern_model
from ..errors import FitError
from ..phases.reference import ReferencePhase
from .fractions import phase_fractions
from .model import Layout, build_layout, chebyshev, free_jacobian, resolve_geometry
from .params import Parameter, PhaseSolution, RefineOptions, RefineResult, RefineStatus

__all__ = ["refine_pattern"]


def _kernel_args(layout: Layout, x, base, cheb, wl, wl2, ratio, options):
    k2 = ratio if (np.isfinite(wl2) and ratio > 0) else 0.0
    wl_ratio = wl2 / wl if k2 > 0 else 1.0
    return (x, x.size, base, cheb, layout.glob, layout.phase_idx, layout.ph, layout.bq,
            layout.fbase, layout.cos2, layout.i_int, wl, wl_ratio, k2, options.cutoff)


def _evaluate(p, args, want_jac=True):
    n = args[1]
    f = np.empty(n)
    jac = np.empty((n, p.size)) if want_jac else np.empty((1, 1))
    pattern_model(p, *args[:1], n, *args[2:], f, jac, want_jac)
    return f, jac


def _linear_start(layout: Layout, p, args, y, sw, base) -> np.ndarray:
    """Scales / free intensities (≥ 0) and background terms by linear least squares at the
    start cells, so the non-linear fit starts on the data's scale."""
    p = p.copy()
    lin = [int(i) for i in layout.phase_idx[:, 0] if layout.lb[i] < layout.ub[i]]
    lin += [int(i) for i in layout.i_int if i >= 0]
    for i in lin:
        p[i] = 1.0
    f, jac = _evaluate(p, args)
    nbg = args[3].shape[1]
    ibg = int(layout.glob[2])
    cols = np.concatenate([jac[:, lin], jac[:, ibg:ibg + nbg], -jac[:, ibg:ibg + nbg]], axis=1)
    ok = sw > 0
    coef = _nnls_normal(cols[ok] * sw[ok, None], (y[ok] - base[ok]) * sw[ok])
    for i, c in zip(lin, coef[:len(lin)]):
        p[i] = c
    p[ibg:ibg + nbg] = coef[len(lin):len(lin) + nbg] - coef[len(lin) + nbg:]
    return p


def _nnls_normal(design: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Non-negative least squares through the scaled normal equations (N, K) → (K,): the
    Cholesky factor turns the tall problem into a K × K one with the same solution."""
    norms = np.maximum(np.linalg.norm(design, axis=0), 1e-300)
    d = design / norms
    gram = d.T @ d
    gram[np.diag_indices_from(gram)] += 1e-10
    try:
        chol = np.linalg.cholesky(gram)
        coef, _ = nnls(chol.T, np.linalg.solve(chol, d.T @ target), maxiter=50 * d.shape[1])
    except np.linalg.LinAlgError:
        coef, _ = nnls(d, target, maxiter=50 * d.shape[1])
    return coef / norms


def _hold_degenerate_zero(layout: Layout, p, args, sw, rho2_max: float) -> float:
    """Hold the zero when it cannot be told from the displacement; returns ρ² (Z, D)."""
    iz, idisp = (int(i) for i in layout.glob[:2])
    if layout.lb[idisp] == layout.ub[idisp] or layout.lb[iz] == layout.ub[iz]:
        return math.nan
    _, jac = _evaluate(p, args)
    jz, jd = jac[:, iz] * sw, jac[:, idisp] * sw
    rho2 = float((jz @ jd) ** 2 / max((jz @ jz) * (jd @ jd), 1e-300))
    if rho2 > rho2_max:
        layout.lb[iz] = layout.ub[iz] = p[iz]
        layout.flagged[iz] = False
    return rho2


def _amplitudes(layout: Layout, p, wl) -> list[np.ndarray]:
    """Integrated Kα1 intensities of each phase's reflections at ``p`` (as in the kernel)."""
    pi = layout.phase_idx[layout.ph]
    q = np.einsum("kj,kj->k", layout.bq, np.append(p, 0.0)[layout.q_index])
    s = np.clip(0.5 * wl * np.sqrt(np.maximum(q, 0)), 1e-9, 1 - 1e-12)
    th = np.arcsin(s)
    lp = (1 + np.cos(2 * th) ** 2) / (s * s * np.cos(th))
    r, c2 = np.where(pi[:, 4] >= 0, p[pi[:, 4]], 1.0), layout.cos2[:, 0]
    po = (r * r * c2 + (1 - c2) / r) ** -1.5
    amp = np.where(layout.i_int >= 0, p[layout.i_int], p[pi[:, 0]] * layout.fbase * lp * po)
    return np.split(amp, np.searchsorted(layout.ph, np.arange(1, len(layout.modes))))


def _status(kernel_status, flagged, free, fbnd) -> RefineStatus:
    if kernel_status == FIT_NO_DATA:
        return RefineStatus.NOT_REFINED
    if kernel_status == FIT_ITERATION_LIMIT:
        return RefineStatus.ITERATION_LIMIT
    outside = fbnd is not None and np.any((free < fbnd[:, 0] - 1e-9) | (free > fbnd[:, 1] + 1e-9))
    if flagged or outside:
        return RefineStatus.AT_BOUND
    if kernel_status == FIT_SINGULAR:
        return RefineStatus.SINGULAR
    return RefineStatus.CONVERGED


def _flagged_phases(layout: Layout, held, p) -> np.ndarray:
    """Per phase: a parameter of its own or a global one held at a bound that biases values."""
    upper = layout.flagged_upper & (p >= layout.ub)
    bad = held & (layout.flagged | upper)
    per = np.bincount(layout.owner[bad & (layout.owner >= 0)], minlength=len(layout.modes)) > 0
    return per | bool(np.any(bad & (layout.owner == -1)))


def refine_pattern(
    two_theta: np.ndarray, intensity: np.ndarray, sigma: np.ndarray, background: np.ndarray,
    phases: list[ReferencePhase], free0: list[np.ndarray], *, wavelength_A: float,
    wavelength2_A: float = math.nan, kalpha2_ratio: float = 0.0, fwhm_deg: float,
    options: RefineOptions | None = None, free_bounds=None, ties=None, warm: dict | None = None,
) -> RefineResult:
    """Whole-pattern refinement of one scan (model: :mod:`phasetrace._kernels.pattern`).

    Parameters
    ----------
    two_theta, intensity, sigma, background : ndarray (N,)
        Grid (deg), observed counts, their σ and the estimated background (the refined
        Chebyshev terms are added to it). Points with non-finite values or σ ≤ 0 are ignored.
    phases, free0 :
        Phases present and their starting free cell parameters (Å, degrees).
    wavelength_A, wavelength2_A, kalpha2_ratio : float
        λ1, λ2 (NaN: none), I2/I1.
    fwhm_deg : float
        Typical peak width (start and bounds of the widths).
    options : RefineOptions
    free_bounds : list of (n_free, 2) arrays or None
        Per phase bounds replacing its lattice range (±2 %).
    ties : list of str
        Per phase ``""`` or ``"b=c"``.
    warm : dict
        Previous solution: label → PhaseSolution, ``"zero"``, ``"displacement"``,
        ``"background"`` (see :func:`warm_start`).

    Returns
    -------
    RefineResult

    Raises
    ------
    FitError
        When no phase has a reflection in range or too few points are usable.
    """
    options = options or RefineOptions()
    x = np.ascontiguousarray(two_theta, float)
    y_obs = np.asarray(intensity, float)
    sig = np.asarray(sigma, float)
    base = np.asarray(background, float)
    ok = np.isfinite(y_obs) & np.isfinite(sig) & (sig > 0) & np.isfinite(base)
    sw = np.where(ok, 1.0 / np.where(ok, sig, 1.0), 0.0)
    y = np.where(ok, y_obs, 0.0)
    base_c = np.ascontiguousarray(np.where(np.isfinite(base), base, 0.0))
    geometry = resolve_geometry(options.geometry, wavelength_A)
    layout = build_layout(phases, free0, x, wavelength_A=wavelength_A, fwhm_deg=fwhm_deg,
                          options=options, geometry=geometry, free_bounds=free_bounds,
                          ties=ties, warm=warm)
    if layout.ph.size == 0:
        raise FitError(f"no reflection of {[p.label for p in phases]} inside "
                       f"{x[0]:.2f}-{x[-1]:.2f} deg 2θ")
    if ok.sum() <= layout.p0.size + 4:
        raise FitError(f"only {int(ok.sum())} usable points for {layout.p0.size} parameters")
    cheb = chebyshev(x, options.n_background)
    args = _kernel_args(layout, x, base_c, cheb, wavelength_A, wavelength2_A, kalpha2_ratio,
                        options)
    p = np.clip(layout.p0, layout.lb, layout.ub)
    if not layout.warm_complete:    # a neighbour's solution is a better start than NNLS
        p = _linear_start(layout, p, args, y, sw, base_c)
    if geometry == "reflection":
        _hold_degenerate_zero(layout, p, args, sw, options.degenerate_rho2)
    npar = p.size
    cov = np.zeros((npar, npar))
    held = np.zeros(npar, bool)
    calc = np.empty(x.size)
    kstat, chi2, nfev, n_iter, dof = fit_pattern(
        p, layout.lb, layout.ub, x, y, sw, x.size, *args[2:], options.max_iter, options.tol,
        calc, cov, held)
    return _result(layout, p, cov, held, kstat, chi2, nfev, n_iter, dof, x, y, sw, ok, base_c,
                   cheb, calc, phases, free_bounds, wavelength_A, geometry)


def _result(layout, p, cov, held, kstat, chi2, nfev, n_iter, dof, x, y, sw, ok, base, cheb,
            calc, phases, free_bounds, wl, geometry) -> RefineResult:
    esd = np.sqrt(np.maximum(cov.diagonal(), 0.0))
    esd = np.where(layout.lb < layout.ub, esd, np.nan)
    ibg = int(layout.glob[2])
    nbg = cheb.shape[1]
    bg = base + cheb @ p[ibg:ibg + nbg]
    calc = np.where(ok | np.isfinite(calc), calc, np.nan)
    # sw = 0 and y = 0 off the fitted points: sums over all points are sums over ``ok``
    w = sw * sw
    resid = np.where(ok, y - calc, 0.0)
    rwp = 100.0 * math.sqrt(float(w @ (resid * resid)) / max(float(w @ (y * y)), 1e-300))
    rp = 100.0 * float(np.abs(resid).sum() / max(np.abs(y).sum(), 1e-300))
    redchi = chi2 / dof if dof > 0 else math.nan
    sols = []
    pl, el = p.tolist(), esd.tolist()
    amps = _amplitudes(layout, p, wl)
    flagged = _flagged_phases(layout, held, p)
    for j, phase in enumerate(phases):
        i_s, i_u, i_w, i_e, i_r, iq0, nq, i_sf = layout.phase_idx[j].tolist()
        q = p[iq0:iq0 + nq].copy()
        free, jac = free_jacobian(phase.crystal_system, q, layout.ties[j])
        cov_free = jac @ cov[iq0:iq0 + nq, iq0:iq0 + nq] @ jac.T
        fb = free_bounds[j] if free_bounds is not None else None
        fbnd = np.asarray(fb, float) if fb is not None else None
        rietveld = layout.modes[j] == "rietveld"
        sols.append(PhaseSolution(
            label=phase.label, mode=layout.modes[j], free=free,
            esd_free=np.sqrt(np.maximum(cov_free.diagonal(), 0.0)), cov_free=cov_free,
            tie=layout.ties[j], scale=pl[i_s] if rietveld else math.nan,
            esd_scale=el[i_s] if rietveld else math.nan, u=pl[i_u], w=pl[i_w], eta=pl[i_e],
            po_r=pl[i_r] if i_r >= 0 else 1.0, hkl=layout.hkl[j], intensity=amps[j],
            status=_status(kstat, flagged[j], free, fbnd), q=q,
            sf_dl=pl[i_sf] if i_sf >= 0 else math.nan,
            esd_sf_dl=el[i_sf] if i_sf >= 0 else math.nan))
    phase_fractions(phases, sols, layout, cov)
    overall = max((s.status for s in sols), default=RefineStatus.NOT_REFINED)
    params = [Parameter(n, v, e, lo, hi, lo < hi, h) for n, v, e, lo, hi, h in zip(
        layout.names, p.tolist(), esd.tolist(), layout.lb.tolist(), layout.ub.tolist(),
        held.tolist())]
    iz, idisp = int(layout.glob[0]), int(layout.glob[1])
    return RefineResult(
        phases=sols, zero=float(p[iz]), esd_zero=float(esd[iz]), displacement=float(p[idisp]),
        esd_displacement=float(esd[idisp]), geometry=geometry, calc=calc, background=bg,
        rwp=rwp, rp=rp, gof=math.sqrt(redchi) if redchi >= 0 else math.nan, redchi=redchi,
        n_points=int(ok.sum()), n_params=int(np.sum(layout.lb < layout.ub)), nfev=int(nfev),
        n_iter=int(n_iter), status=RefineStatus(overall), params=params, covariance=cov,
        background_coeffs=p[ibg:ibg + nbg].copy())


def warm_start(result: RefineResult | None) -> dict:
    """The ``warm`` argument of :func:`refine_pattern` from a neighbouring scan's result."""
    if result is None:
        return {}
    out: dict = {p.label: p for p in result.phases}
    out.update(zero=result.zero, displacement=result.displacement,
               background=result.background_coeffs)
    return out


def replace_options(options: RefineOptions, **changes) -> RefineOptions:
    return dataclasses.replace(options, **changes)
