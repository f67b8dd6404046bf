"""Numba kernels of the whole-pattern (Rietveld / Pawley) model and its Levenberg–Marquardt fit.

Model of one scan on the grid ``x`` (degrees 2θ)::

    f(x) = base(x) + Σ_m c_m T_m(x) + Σ_k Σ_lines w_line A_k φ(x − 2θ_k,line; Γ_k,line, η_p)

* reflection ``k`` of phase ``p``: ``Q_k = Σ_j bq[k, j] q_(p, j)`` is 1/d² as a linear form of
  the phase's reciprocal-metric parameters ``q`` (so positions and their derivatives need no
  cell conversion), ``θ_k = asin(λ √Q_k / 2)``;
* centre ``2θ_k + Z + D cos θ_k`` (zero shift ``Z`` and sample displacement ``D``, degrees);
* width ``Γ² = U_p tan²θ + W_p`` (Caglioti without V), unit-area pseudo-Voigt of mixing
  ``η_p`` (:func:`phasetrace._kernels.profiles.pv_unit`, the line shape of the peak engine);
* stacking faults (phases with a ``Δl_p`` slot): the reflections flagged in ``cos2[:, 1]``
  (h − k ≠ 3n, l ≠ 0 of a layered phase, value ``|l| c*²/d*``, Å⁻¹) get the Lorentzian
  ``Γ_sf = Δl_p λ cos2[k, 1] / cos θ`` (rad; a breadth Δl along the c* rod projected on d*,
  Warren 1969 §13) added to the Lorentzian part of the base line: the base (Γ, η_p) is split
  into its TCH Gaussian/Lorentzian widths (:func:`phasetrace._kernels.profiles.tch_split`), Γ_sf is added to the latter
  and the two recombined (:func:`phasetrace._kernels.profiles.tch_mix`);
* amplitude: Rietveld ``A_k = S_p F_k LP(θ_k) P_k(r_p)`` with ``F_k = m|F|²·DW`` of the
  reference structure, ``LP = (1 + cos² 2θ)/(sin² θ cos θ)`` and March–Dollase
  ``P = (r² cos²α + sin²α / r)^(-3/2)`` (``α``: angle between the reflection and the
  preferred-orientation axis, ``cos2[k] = cos²α``); Pawley ``A_k`` is a free parameter;
* a Kα2 line per reflection at ``asin((λ2/λ1) sin θ)`` with ``k2`` times the amplitude.

The Jacobian is analytic except for the (small) dependence of LP and Γ on the cell, which is
left out (it slows convergence slightly near a bound, it does not bias the solution since the
model itself is exact).  The fit runs the Levenberg–Marquardt core of the peak engine
(:func:`phasetrace._kernels.lm.lm_propose` / :func:`~phasetrace._kernels.lm.lm_judge`: the
same damping, bound handling, convergence rule and covariance).

Evaluation is point-major (:func:`_evaluate`): a table of the lines (centre, width,
amplitude, derivative factors) is built once per parameter vector, then each grid point sums
the lines whose window covers it, forms its Jacobian row over the touched columns only and
adds it straight into ``JᵀWJ`` and ``JᵀWr``: the (N × npar) Jacobian is never formed in a fit.

Window: each line is evaluated within ±``cutoff`` FWHM of its centre, tapered to 0 over the
last FWHM (:func:`phasetrace._kernels.window.pv_window`: a hard cut makes χ² jump whenever an
edge crosses a grid point).  The Gaussian part is then complete (exp(−4 ln2 · 121)); the
Lorentzian part loses the area fraction 2.77 % × η at 12 FWHM, symmetric about the centre
(no shift of positions); that tail is a smooth pedestal taken up by the background terms.

All arrays C-contiguous float64 / int64; outputs caller-allocated.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .lm import (LM_CONTINUE, LM_CONVERGED, active_set, cov_from_normal,
                 init_free, lm_iterations, lm_judge, lm_propose, lm_start, lm_verifying)
from .profiles import tch_mix, tch_split
from .window import pv_window, pv_window_value

__all__ = ["pattern_model", "fit_pattern", "FIT_CONVERGED", "FIT_ITERATION_LIMIT",
           "FIT_SINGULAR", "FIT_NO_DATA"]

FIT_CONVERGED = 0
FIT_ITERATION_LIMIT = 1
FIT_SINGULAR = 3
FIT_NO_DATA = 4

_RAD = math.pi / 180.0
_DEG = 180.0 / math.pi


#: columns of the line table built by :func:`_lines` (after ``_L_W``: the base width
#: Γ₀ = √(U tan²θ + W) and ∂Γ/∂Γ₀, ∂η/∂Γ₀, ∂Γ/∂η_p, ∂η/∂η_p, ∂Γ/∂Δl, ∂η/∂Δl)
(_L_C, _L_GAM, _L_ETA, _L_CTH, _L_T2, _L_AMP, _L_FQ, _L_FS, _L_FR, _L_W, _L_G0, _L_GG0,
 _L_EG0, _L_GE, _L_EE, _L_GS, _L_ES) = range(17)
_NL = 17


@njit(cache=True, nogil=True)
def _lines(p, x, n, glob, phase_idx, ph, bq, fbase, cos2, i_int, wl, wl_ratio, k2, cutoff,
           tab, lk, rng):
    """Line table at ``p``: per line ``l`` (reflection ``lk[l]``, Kα1 then Kα2) the centre,
    FWHM, η, cos θ, tan² θ, amplitude, ∂(centre)/∂Q, amplitude per scale and per PO r, line
    weight (``tab[l]``) and the grid window ``rng[l] = [i0, i1)`` (empty for a line out of
    reach).  Returns the number of lines."""
    zero = p[glob[0]] if glob[0] >= 0 else 0.0
    disp = p[glob[1]] if glob[1] >= 0 else 0.0
    nlines = 2 if k2 > 0.0 else 1
    nl = 0
    last_jp = -1
    rho0, q0, drho0, dq0 = 1.0, 0.0, 0.0, 0.0
    for k in range(ph.size):
        jp = ph[k]
        i_s, i_u, i_w, i_e, i_r, iq0, nq = (phase_idx[jp, 0], phase_idx[jp, 1],
                                            phase_idx[jp, 2], phase_idx[jp, 3],
                                            phase_idx[jp, 4], phase_idx[jp, 5], phase_idx[jp, 6])
        i_sf = phase_idx[jp, 7]
        sfk = cos2[k, 1] if i_sf >= 0 else 0.0
        if sfk > 0.0 and jp != last_jp:          # base line's TCH components (per phase)
            rho0, q0, drho0, dq0 = tch_split(p[i_e])
            last_jp = jp
        q = 0.0
        for j in range(nq):
            q += bq[k, j] * p[iq0 + j]
        if not q > 0.0:
            continue
        s1 = 0.5 * wl * math.sqrt(q)
        if s1 >= 1.0:
            continue
        th1 = math.asin(s1)
        dtt_dq = _DEG * wl / (2.0 * math.sqrt(q) * math.cos(th1))     # ∂(2θ deg)/∂Q
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
                cc = cos2[k, 0]
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
            g0 = math.sqrt(g2) if g2 > 1e-12 else 1e-6
            cth = math.cos(th)
            gam, eta = g0, p[i_e]
            gg0, eg0, ge, ee, gs, es = 1.0, 0.0, 0.0, 1.0, 0.0, 0.0
            if sfk > 0.0:
                # stacking faults: a Lorentzian Γ_sf = Δl λ |l|c*²/(d* cos θ) (deg, λ of this
                # line) added to the base line's Lorentzian part, recombined by TCH
                fsf = _DEG * wl * (wl_ratio if line == 1 else 1.0) * sfk / cth
                gam, eta, fg, fl, eg, el = tch_mix(rho0 * g0, q0 * g0 + p[i_sf] * fsf)
                gg0, eg0 = fg * rho0 + fl * q0, eg * rho0 + el * q0
                ge, ee = g0 * (fg * drho0 + fl * dq0), g0 * (eg * drho0 + el * dq0)
                gs, es = fl * fsf, el * fsf
            c = 2.0 * th * _DEG + zero + disp * cth
            tab[nl, _L_C] = c
            tab[nl, _L_GAM] = gam
            tab[nl, _L_ETA] = eta
            tab[nl, _L_G0] = g0
            tab[nl, _L_GG0] = gg0
            tab[nl, _L_EG0] = eg0
            tab[nl, _L_GE] = ge
            tab[nl, _L_EE] = ee
            tab[nl, _L_GS] = gs
            tab[nl, _L_ES] = es
            tab[nl, _L_CTH] = cth
            tab[nl, _L_T2] = t * t
            tab[nl, _L_AMP] = wline * amp
            tab[nl, _L_FQ] = dfac * (1.0 - disp * math.sin(th) * 0.5 * _RAD) * dtt_dq
            tab[nl, _L_FS] = wline * a_over_s
            tab[nl, _L_FR] = wline * da_dr
            tab[nl, _L_W] = wline
            lk[nl] = k
            rng[nl, 0] = np.searchsorted(x[:n], c - cutoff * gam)
            rng[nl, 1] = np.searchsorted(x[:n], c + cutoff * gam, side="right")
            nl += 1
    return nl


#: longest run of grid points buffered before a block update of JᵀWJ
_RUN = 64


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _flush(a, buf, cols, m, nrun):
    """``a[cols[u], cols[t]] += Σ_r buf[u, r] buf[t, r]`` for t ≤ u < m (one run of rows;
    the sums may be reordered for SIMD: a rounding-level difference)."""
    if nrun == 0:
        return
    for u in range(m):
        cu = cols[u]
        for t in range(u + 1):
            s = 0.0
            for k in range(nrun):
                s += buf[u, k] * buf[t, k]
            a[cu, cols[t]] += s


@njit(cache=True, nogil=True)
def _touch(c, v, i, mark, rowv, cols, m):
    """Add ``v`` to column ``c`` of the row of point ``i``; returns the touched-column count."""
    if mark[c] != i:
        mark[c] = i
        rowv[c] = v
        cols[m] = c
        return m + 1
    rowv[c] += v
    return m


@njit(cache=True, nogil=True)
def _evaluate(p, x, y, sw, n, base, cheb, glob, phase_idx, ph, bq, fbase, cos2, i_int, wl,
              wl_ratio, k2, cutoff, f, r, jac, dense, a, g, normal, free, work, iwork):
    """Model into ``f[:n]``, weighted residuals ``r = sw (y − f)``; returns χ².

    ``dense``: also the Jacobian into ``jac[:n, :npar]``; ``normal``: ``a = JᵀWJ`` and
    ``g = JᵀWr`` accumulated point by point over the ``free`` columns (0 elsewhere).  ``work`` (≥ 2·npar + _NL·L) and ``iwork``
    (≥ 2·npar + 4·L) are float / int64 scratch, L = 2 × reflections.
    """
    npar = p.size
    nk = ph.size * 2
    tab = work[2 * npar:2 * npar + _NL * nk].reshape((nk, _NL))
    rowv = work[:npar]
    mark = iwork[:npar]
    cols = iwork[npar:2 * npar]
    lk = iwork[2 * npar:2 * npar + nk]
    rng = iwork[2 * npar + nk:2 * npar + 3 * nk].reshape((nk, 2))
    order = iwork[2 * npar + 3 * nk:2 * npar + 4 * nk]
    active = np.empty(nk, np.int64)
    nl = _lines(p, x, n, glob, phase_idx, ph, bq, fbase, cos2, i_int, wl, wl_ratio, k2,
                cutoff, tab, lk, rng)
    starts = rng[:nl, 0].copy()
    order[:nl] = np.argsort(starts)
    nbg = cheb.shape[1]
    ibg, iz, idp = glob[2], glob[0], glob[1]
    want_row = dense or normal
    if normal:
        for i in range(npar):
            g[i] = 0.0
            for j in range(npar):
                a[i, j] = 0.0
    for j in range(npar):
        mark[j] = -1
    chi2 = 0.0
    nxt = 0
    nact = 0
    changed = True
    buf = np.empty((npar if normal else 1, _RUN))
    rcols = np.empty(npar, np.int64)
    nrun = 0
    mrun = 0
    for i in range(n):
        while nxt < nl and rng[order[nxt], 0] <= i:
            if rng[order[nxt], 1] > i:
                active[nact] = order[nxt]
                nact += 1
                changed = True
            nxt += 1
        v = base[i]
        m = 0
        for mm in range(nbg):
            v += p[ibg + mm] * cheb[i, mm]
            if want_row:
                m = _touch(ibg + mm, cheb[i, mm], i, mark, rowv, cols, m)
        dz, dd = 0.0, 0.0
        u = 0
        while u < nact:
            ln = active[u]
            if rng[ln, 1] <= i:
                nact -= 1
                active[u] = active[nact]
                changed = True
                continue
            u += 1
            gam = tab[ln, _L_GAM]
            amp = tab[ln, _L_AMP]
            if not want_row:
                v += amp * pv_window_value(x[i] - tab[ln, _L_C], gam, tab[ln, _L_ETA], cutoff)
                continue
            val, dcv, dwv, dev = pv_window(x[i] - tab[ln, _L_C], gam, tab[ln, _L_ETA],
                                         cutoff)
            v += amp * val
            k = lk[ln]
            jp = ph[k]
            ac = amp * dcv
            dz += ac
            dd += ac * tab[ln, _L_CTH]
            iq0, nq = phase_idx[jp, 5], phase_idx[jp, 6]
            acq = ac * tab[ln, _L_FQ]
            for j in range(nq):
                m = _touch(iq0 + j, acq * bq[k, j], i, mark, rowv, cols, m)
            aw = amp * (dwv * tab[ln, _L_GG0] + dev * tab[ln, _L_EG0]) * 0.5 / tab[ln, _L_G0]
            m = _touch(phase_idx[jp, 1], aw * tab[ln, _L_T2], i, mark, rowv, cols, m)
            m = _touch(phase_idx[jp, 2], aw, i, mark, rowv, cols, m)
            m = _touch(phase_idx[jp, 3], amp * (dwv * tab[ln, _L_GE] + dev * tab[ln, _L_EE]),
                       i, mark, rowv, cols, m)
            if phase_idx[jp, 7] >= 0:
                m = _touch(phase_idx[jp, 7], amp * (dwv * tab[ln, _L_GS] + dev * tab[ln, _L_ES]),
                           i, mark, rowv, cols, m)
            if i_int[k] >= 0:
                m = _touch(i_int[k], tab[ln, _L_W] * val, i, mark, rowv, cols, m)
            else:
                m = _touch(phase_idx[jp, 0], tab[ln, _L_FS] * val, i, mark, rowv, cols, m)
                if phase_idx[jp, 4] >= 0:
                    m = _touch(phase_idx[jp, 4], tab[ln, _L_FR] * val, i, mark, rowv, cols, m)
        f[i] = v
        ri = sw[i] * (y[i] - v)
        r[i] = ri
        chi2 += ri * ri
        if not want_row:
            continue
        if iz >= 0:
            m = _touch(iz, dz, i, mark, rowv, cols, m)
        if idp >= 0:
            m = _touch(idp, dd, i, mark, rowv, cols, m)
        if dense:
            for j in range(npar):
                jac[i, j] = 0.0
            for u in range(m):
                jac[i, cols[u]] = rowv[cols[u]]
        w = sw[i]
        if normal and w != 0.0:
            # rows of one run (same active lines: same columns, same order) are buffered in
            # ``buf`` and added to ``a`` as one block product when the run ends
            if changed or nrun == _RUN:
                _flush(a, buf, rcols, mrun, nrun)
                nrun = 0
                mrun = 0
                for u in range(m):
                    if free[cols[u]]:
                        rcols[mrun] = cols[u]
                        mrun += 1
                changed = False
            for u in range(mrun):
                cu = rcols[u]
                ju = rowv[cu] * w
                buf[u, nrun] = ju
                g[cu] += ju * ri
            nrun += 1
    if normal:
        _flush(a, buf, rcols, mrun, nrun)
        # lower triangle by touch order: symmetrise
        for i in range(npar):
            for j in range(i):
                s = a[i, j] + a[j, i]
                a[i, j] = s
                a[j, i] = s
    return chi2


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
    phase_idx : int64 ndarray (P, 8)
        Per phase: scale, U, W, η, PO r (-1 none), first q, number of q, stacking-fault
        breadth Δl (-1 none).
    ph, bq, fbase, cos2, i_int : per reflection (K,), (K, 6), (K,), (K, 2), (K,)
        Phase, 1/d² coefficients of q, m|F|²·DW, [cos²α of the PO axis, |l| c*²/d* (Å⁻¹)
        of a stacking-fault-broadened reflection or 0], index of the free (Pawley)
        amplitude or -1 for a structure amplitude.
    wl, wl_ratio, k2, cutoff : float
        λ1 (Å), λ2/λ1, I2/I1 (0: no Kα2), half window in FWHM.
    """
    npar = p.size
    nk = 2 * ph.size
    work = np.empty(2 * npar + _NL * nk)
    iwork = np.empty(2 * npar + 4 * nk, np.int64)
    zeros = np.zeros(n)
    r = np.empty(n)
    a = np.empty((1, 1))
    g = np.empty(1)
    _evaluate(p, x, zeros, zeros, n, base, cheb, glob, phase_idx, ph, bq, fbase, cos2, i_int,
              wl, wl_ratio, k2, cutoff, f, r, jac, want_jac, a, g, False, np.ones(npar, np.bool_),
              work, iwork)


@njit(cache=True, nogil=True)
def fit_pattern(p, lb, ub, x, y, sw, n, base, cheb, glob, phase_idx, ph, bq, fbase, cos2, i_int,
                wl, wl_ratio, k2, cutoff, maxiter, tol, f, cov, held):
    """Levenberg–Marquardt fit of :func:`pattern_model` in place (the shared core of
    :mod:`phasetrace._kernels.lm`).

    ``p`` (npar,) start values, overwritten; ``lb == ub`` fixes a slot.  ``f`` (n,) receives
    the model at the solution, ``cov`` (npar, npar) the covariance ``(JᵀWJ)⁻¹ χ²_ν`` over the
    free slots not held at a bound (0 elsewhere), ``held`` (npar,) is set True for free slots
    that end on a bound with the gradient pointing outwards.

    Convergence (:func:`phasetrace._kernels.lm.lm_propose`): a Gauss–Newton step whose
    predicted χ² decrease is below ``tol × max(χ²_ν, 1)`` (χ² in units of σ²; every parameter
    would move by less than √tol esd: 0.03 esd for ``tol = 1e-3``) and an actual change as
    small, along the step behind or (``verify`` mode, χ² only) the step ahead; a decrease below ten
    times that over ten Jacobians, or damping that can no longer lower χ² (a minimum within
    the bounds).  ``maxiter``: Jacobians allowed.

    Returns
    -------
    status : int
        ``FIT_CONVERGED``, ``FIT_ITERATION_LIMIT``, ``FIT_SINGULAR`` (normal matrix not
        positive definite at the solution) or ``FIT_NO_DATA``.
    chi2 : float
    nfev, n_iter, dof : int
    """
    npar = p.size
    nk = 2 * ph.size
    work = np.empty(2 * npar + _NL * nk)
    iwork = np.empty(2 * npar + 4 * nk, np.int64)
    jac = np.empty((1, 1))
    ft = np.empty(n)
    r = np.empty(n)
    rt = np.empty(n)
    a = np.empty((npar, npar))
    at = np.empty((npar, npar))
    lo = np.empty((npar, npar))
    g = np.empty(npar)
    gt = np.empty(npar)
    step = np.empty(npar)
    diag = np.empty(npar)
    pt = np.empty(npar)
    col = np.empty(npar)
    e = np.empty(npar)
    free = np.empty(npar, np.bool_)
    act = np.empty(npar, np.bool_)
    for j in range(npar):
        held[j] = False
    dof = init_free(sw, n, p, lb, ub, free, npar, cov)
    if dof < 1:
        return FIT_NO_DATA, math.nan, 0, 0, dof
    fc = np.empty(n)
    chi2 = _evaluate(p, x, y, sw, n, base, cheb, glob, phase_idx, ph, bq, fbase, cos2, i_int,
                     wl, wl_ratio, k2, cutoff, fc, r, jac, False, a, g, True, free, work, iwork)
    nfev = 1
    state = lm_start(chi2, True)
    last_accepted = True
    while True:
        status = lm_propose(state, a, g, p, pt, lb, ub, free, act, diag, lo, step, npar, dof,
                            maxiter, tol)
        if status != LM_CONTINUE:
            break
        # after an accepted step the next is usually accepted too: its normal equations are
        # formed in the same pass as its χ² (into at, gt; kept only if accepted); after a
        # rejection, and for a verification trial (not taken when it confirms the minimum),
        # χ² alone, the normal equations then follow at an accepted point.  Either way the
        # same arithmetic gives the same values (the χ²-only line shape is bit-identical).
        with_normal = last_accepted and not lm_verifying(state)
        chi2t = _evaluate(pt, x, y, sw, n, base, cheb, glob, phase_idx, ph, bq, fbase, cos2,
                          i_int, wl, wl_ratio, k2, cutoff, ft, rt, jac, False, at, gt,
                          with_normal, free, work, iwork)
        nfev += 1
        accepted, status = lm_judge(state, chi2t, dof, tol)
        last_accepted = accepted
        if accepted:
            for j in range(npar):
                p[j] = pt[j]
            if not with_normal:
                _evaluate(pt, x, y, sw, n, base, cheb, glob, phase_idx, ph, bq, fbase, cos2,
                          i_int, wl, wl_ratio, k2, cutoff, ft, rt, jac, False, at, gt, True,
                          free, work, iwork)
            fc, ft = ft, fc
            r, rt = rt, r
            a, at = at, a
            g, gt = gt, g
        if status != LM_CONTINUE:
            break
    chi2 = state[1]
    for i in range(n):
        f[i] = fc[i]
    active_set(g, p, lb, ub, free, act, npar)
    for j in range(npar):
        held[j] = free[j] and not act[j]
    ok = cov_from_normal(a, act, npar, chi2 / dof, lo, diag, e, col, cov)
    kstat = FIT_CONVERGED if status == LM_CONVERGED else FIT_ITERATION_LIMIT
    if not ok:
        return (FIT_SINGULAR if kstat == FIT_CONVERGED else kstat), chi2, nfev, \
            lm_iterations(state), dof
    return kstat, chi2, nfev, lm_iterations(state), dof
