"""Numba kernels of the whole-pattern (Rietveld / Pawley) model and its Levenberg–Marquardt fit.

Model of one scan on the grid ``x`` (degrees 2θ)::

    f(x) = base(x) + Σ_m c_m T_m(x) + Σ_k Σ_lines w_line A_k φ(x − 2θ_k,line; Γ_k,line, η_p)

* reflection ``k`` of phase ``p``: ``Q_k = Σ_j bq[k, j] q_(p, j)`` is 1/d² as a linear form of
  the phase's reciprocal-metric parameters ``q`` (so positions and their derivatives need no
  cell conversion), ``θ_k = asin(λ √Q_k / 2)``;
* centre ``2θ_k + Z + D cos θ_k`` (zero shift ``Z`` and sample displacement ``D``, degrees);
* width ``Γ² = U_p tan²θ + W_p`` (Caglioti without V), unit-area pseudo-Voigt of mixing
  ``η_p`` (:func:`phasetrace._kernels.profiles.pv_unit`, the line shape of the peak engine);
* amplitude: Rietveld ``A_k = S_p F_k LP(θ_k) P_k(r_p)`` with ``F_k = m|F|²·DW`` of the
  reference structure, ``LP = (1 + cos² 2θ)/(sin² θ cos θ)`` and March–Dollase
  ``P = (r² cos²α + sin²α / r)^(-3/2)`` (``α``: angle between the reflection and the
  preferred-orientation axis, ``cos2[k] = cos²α``); Pawley ``A_k`` is a free parameter;
* a Kα2 line per reflection at ``asin((λ2/λ1) sin θ)`` with ``k2`` times the amplitude.

The Jacobian is analytic except for the (small) dependence of LP and Γ on the cell, which is
left out (it slows convergence slightly near a bound, it does not bias the solution since the
model itself is exact).  The fit reuses the damped-step, Cholesky and χ² kernels of the peak
engine (:mod:`phasetrace._kernels.lm`), with the same bound handling (projection + active set)
and the same convergence rule.

All arrays C-contiguous float64 / int64; outputs caller-allocated.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .lm import chi2_of, chol_factor, chol_subst, damped_step
from .profiles import pv_unit

__all__ = ["pattern_model", "fit_pattern", "FIT_CONVERGED", "FIT_ITERATION_LIMIT",
           "FIT_SINGULAR", "FIT_NO_DATA"]

FIT_CONVERGED = 0
FIT_ITERATION_LIMIT = 1
FIT_SINGULAR = 3
FIT_NO_DATA = 4

_RAD = math.pi / 180.0
_DEG = 180.0 / math.pi


@njit(cache=True, nogil=True)
def _window(x, n, lo_val):
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if x[mid] < lo_val:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def pattern_model(p, x, n, base, cheb, glob, phase_idx, ph, bq, fbase, cos2, i_int,
                  wl, wl_ratio, k2, cutoff, f, jac, want_jac):
    """Evaluate the model into ``f[:n]`` and (optionally) ∂f/∂p into ``jac[:n, :npar]``.

    Parameters
    ----------
    p : ndarray (npar,)
        Parameters.
    x, base : ndarray (>= n,)
        Increasing grid (deg) and fixed (estimated) background.
    cheb : ndarray (n, nbg)
        Refinable background basis values.
    glob : int64 ndarray (3,)
        Indices of Z, D, first background coefficient (-1 when not a parameter).
    phase_idx : int64 ndarray (P, 7)
        Per phase: scale, U, W, η, PO r (-1 none), first q, number of q.
    ph, bq, fbase, cos2, i_int : per reflection (K,), (K, 6), (K,), (K,), (K,)
        Phase, 1/d² coefficients of q, m|F|²·DW, cos²α of the PO axis, index of the free
        (Pawley) amplitude or -1 for a structure amplitude.
    wl, wl_ratio, k2, cutoff : float
        λ1 (Å), λ2/λ1, I2/I1 (0: no Kα2), half window in FWHM.
    """
    npar = p.size
    nbg = cheb.shape[1]
    ibg = glob[2]
    for i in range(n):
        v = base[i]
        for m in range(nbg):
            v += p[ibg + m] * cheb[i, m]
        f[i] = v
    if want_jac:
        for i in range(n):
            for j in range(npar):
                jac[i, j] = 0.0
            for m in range(nbg):
                jac[i, ibg + m] = cheb[i, m]
    zero = p[glob[0]] if glob[0] >= 0 else 0.0
    disp = p[glob[1]] if glob[1] >= 0 else 0.0
    nlines = 2 if k2 > 0.0 else 1
    for k in range(ph.size):
        jp = ph[k]
        i_s, i_u, i_w, i_e, i_r, iq0, nq = (phase_idx[jp, 0], phase_idx[jp, 1],
                                            phase_idx[jp, 2], phase_idx[jp, 3],
                                            phase_idx[jp, 4], phase_idx[jp, 5], phase_idx[jp, 6])
        q = 0.0
        for j in range(nq):
            q += bq[k, j] * p[iq0 + j]
        if not q > 0.0:
            continue
        s1 = 0.5 * wl * math.sqrt(q)
        if s1 >= 1.0:
            continue
        th1 = math.asin(s1)
        # ∂(2θ deg)/∂Q
        dtt_dq = _DEG * wl / (2.0 * math.sqrt(q) * math.cos(th1))
        eta = p[i_e]
        if i_int[k] >= 0:
            amp = p[i_int[k]]
            a_over_s = 0.0
            da_dr = 0.0
        else:
            c2t = math.cos(2.0 * th1)
            lp = (1.0 + c2t * c2t) / (s1 * s1 * math.cos(th1))
            po, dpo = 1.0, 0.0
            if i_r >= 0:
                r = p[i_r]
                cc = cos2[k]
                b = r * r * cc + (1.0 - cc) / r
                po = b ** -1.5
                dpo = -1.5 * b ** -2.5 * (2.0 * r * cc - (1.0 - cc) / (r * r))
            a_over_s = fbase[k] * lp * po
            amp = p[i_s] * a_over_s
            da_dr = p[i_s] * fbase[k] * lp * dpo
        for line in range(nlines):
            if line == 0:
                th, wline, dfac = th1, 1.0, 1.0
            else:
                s2 = wl_ratio * s1
                if s2 >= 1.0:
                    continue
                th = math.asin(s2)
                wline = k2
                dfac = math.tan(th) / math.tan(th1)
            t = math.tan(th)
            g2 = p[i_u] * t * t + p[i_w]
            gam = math.sqrt(g2) if g2 > 1e-12 else 1e-6
            cth = math.cos(th)
            c = 2.0 * th * _DEG + zero + disp * cth
            dc_dtt = dfac * (1.0 - disp * math.sin(th) * 0.5 * _RAD)
            lo = _window(x, n, c - cutoff * gam)
            for i in range(lo, n):
                dx = x[i] - c
                if dx > cutoff * gam:
                    break
                val, dcv, dwv, dev = pv_unit(dx, gam, eta)
                f[i] += wline * amp * val
                if not want_jac:
                    continue
                ac = wline * amp * dcv
                if glob[0] >= 0:
                    jac[i, glob[0]] += ac
                if glob[1] >= 0:
                    jac[i, glob[1]] += ac * cth
                for j in range(nq):
                    jac[i, iq0 + j] += ac * dc_dtt * dtt_dq * bq[k, j]
                aw = wline * amp * dwv * 0.5 / gam
                jac[i, i_u] += aw * t * t
                jac[i, i_w] += aw
                jac[i, i_e] += wline * amp * dev
                if i_int[k] >= 0:
                    jac[i, i_int[k]] += wline * val
                else:
                    jac[i, i_s] += wline * a_over_s * val
                    if i_r >= 0:
                        jac[i, i_r] += wline * da_dr * val


@njit(cache=True, nogil=True)
def _normal_sparse(jac, r, sw, n, npar, a, g, nz):
    """``a = Jwᵀ Jw``, ``g = Jwᵀ r`` (r already weighted) using each row's non-zeros only."""
    vals = np.empty(npar)
    for i in range(npar):
        g[i] = 0.0
        for j in range(npar):
            a[i, j] = 0.0
    for k in range(n):
        w = sw[k]
        if w == 0.0:
            continue
        m = 0
        row = jac[k]
        for i in range(npar):
            v = row[i]
            if v != 0.0:
                nz[m] = i
                vals[m] = v * w
                m += 1
        rk = r[k]
        for u in range(m):
            i = nz[u]
            ji = vals[u]
            g[i] += ji * rk
            ai = a[i]
            for v in range(u + 1):
                ai[nz[v]] += ji * vals[v]
    for i in range(npar):
        for j in range(i + 1, npar):
            a[i, j] = a[j, i]


@njit(cache=True, nogil=True)
def fit_pattern(p, lb, ub, x, y, sw, n, base, cheb, glob, phase_idx, ph, bq, fbase, cos2, i_int,
                wl, wl_ratio, k2, cutoff, maxiter, tol, f, cov, held):
    """Levenberg–Marquardt fit of :func:`pattern_model` in place.

    ``p`` (npar,) start values, overwritten; ``lb == ub`` fixes a slot.  ``f`` (n,) receives
    the model at the solution, ``cov`` (npar, npar) the covariance ``(JᵀWJ)⁻¹ χ²_ν`` over the
    free slots not held at a bound (0 elsewhere), ``held`` (npar,) is set True for free slots
    that end on a bound with the gradient pointing outwards.

    Convergence (as :func:`phasetrace._kernels.lm.lm_fit`): an accepted, lightly damped step
    that lowers χ² by less than ``tol × max(χ²_ν, 1)`` (χ² in units of σ²: ``tol = 1e-3``
    means the parameters settle to a few hundredths of an esd), a decrease below ten times
    that over ten iterations, or damping that can no longer lower χ² (a minimum within the
    bounds).

    Returns
    -------
    status : int
        ``FIT_CONVERGED``, ``FIT_ITERATION_LIMIT``, ``FIT_SINGULAR`` (normal matrix not
        positive definite at the solution) or ``FIT_NO_DATA``.
    chi2 : float
    nfev, n_iter, dof : int
    """
    npar = p.size
    f_out = f
    f = np.empty(n)
    jac = np.empty((n, npar))
    jact = np.empty((n, npar))
    a = np.empty((npar, npar))
    lo = np.empty((npar, npar))
    ft = np.empty(n)
    r = np.empty(n)
    rt = np.empty(n)
    g = np.empty(npar)
    step = np.empty(npar)
    diag = np.empty(npar)
    pt = np.empty(npar)
    col = np.empty(npar)
    e = np.empty(npar)
    nz = np.empty(npar, np.int64)
    free = np.empty(npar, np.bool_)
    act = np.empty(npar, np.bool_)
    npts = 0
    for i in range(n):
        if sw[i] > 0.0:
            npts += 1
    nfree = 0
    for j in range(npar):
        free[j] = lb[j] < ub[j]
        held[j] = False
        if free[j]:
            nfree += 1
            p[j] = min(max(p[j], lb[j]), ub[j])
        else:
            p[j] = lb[j]
        for i in range(npar):
            cov[i, j] = 0.0
    dof = npts - nfree
    if dof < 1:
        return FIT_NO_DATA, math.nan, 0, 0, dof
    pattern_model(p, x, n, base, cheb, glob, phase_idx, ph, bq, fbase, cos2, i_int,
                  wl, wl_ratio, k2, cutoff, f, jac, True)
    chi2 = chi2_of(y, sw, f, n, r)
    nfev, it, lam = 1, 0, 1e-3
    chi2_ref = chi2
    status = FIT_ITERATION_LIMIT
    fresh = True
    while it < maxiter:
        if fresh:
            _normal_sparse(jac, r, sw, n, npar, a, g, nz)
            it += 1
            fresh = False
        if not damped_step(a, g, p, lb, ub, free, act, diag, lo, step, lam, npar):
            lam *= 10.0
            if lam > 1e12:
                break
            continue
        for j in range(npar):
            pt[j] = min(max(p[j] + step[j], lb[j]), ub[j]) if free[j] else p[j]
        pattern_model(pt, x, n, base, cheb, glob, phase_idx, ph, bq, fbase, cos2, i_int,
                      wl, wl_ratio, k2, cutoff, ft, jact, True)
        nfev += 1
        chi2t = chi2_of(y, sw, ft, n, rt)
        if chi2t == chi2t and chi2t <= chi2:
            dec = chi2 - chi2t
            for j in range(npar):
                p[j] = pt[j]
            chi2 = chi2t
            f, ft = ft, f
            r, rt = rt, r
            jac, jact = jact, jac
            fresh = True
            lam = max(lam * 0.1, 1e-10)
            thr = tol * max(chi2 / dof, 1.0)
            if dec <= thr and lam <= 1e2:
                status = FIT_CONVERGED
                break
            if it % 10 == 0:
                if chi2_ref - chi2 < 10.0 * thr:
                    status = FIT_CONVERGED
                    break
                chi2_ref = chi2
        else:
            lam *= 10.0
            if lam > 1e10:
                status = FIT_CONVERGED
                break
    for i in range(n):
        f_out[i] = f[i]
    _normal_sparse(jac, r, sw, n, npar, a, g, nz)
    for j in range(npar):
        act[j] = free[j]
        if free[j] and ((p[j] <= lb[j] and g[j] < 0.0) or (p[j] >= ub[j] and g[j] > 0.0)):
            act[j] = False
            held[j] = True
        if act[j] and not a[j, j] > 0.0:
            act[j] = False
    # covariance of the equilibrated matrix (unit diagonal), then scaled back
    for j in range(npar):
        diag[j] = 1.0 / math.sqrt(a[j, j]) if act[j] else 0.0
    for i in range(npar):
        for j in range(npar):
            a[i, j] *= diag[i] * diag[j]
    redchi = chi2 / dof
    if not chol_factor(a, act, npar, lo):
        for i in range(npar):
            for m in range(npar):
                cov[i, m] = math.nan
        return (FIT_SINGULAR if status == FIT_CONVERGED else status), chi2, nfev, it, dof
    for j in range(npar):
        if not act[j]:
            continue
        for i in range(npar):
            e[i] = 1.0 if i == j else 0.0
        chol_subst(lo, e, act, npar, col)
        for i in range(npar):
            cov[i, j] = col[i] * redchi * diag[i] * diag[j] if act[i] else 0.0
    return status, chi2, nfev, it, dof
