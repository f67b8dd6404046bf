"""Bounded Levenberg–Marquardt for one fit window (peaks + linear background).

Parameter vector of a window with ``npk`` peaks::

    p = [b0, b1, peak_0 (NP slots), peak_1, ...]     length 2 + NP * npk

with model ``b0 + b1 (x - xmid) + Σ peaks`` (see :mod:`.profiles`).  A slot
with ``lb == ub`` is fixed.  Bounds are kept by projection, and a parameter
sitting on a bound with the gradient pointing outwards is frozen for that step
(a simple active-set rule).  The Jacobian is analytic.

The solver itself (damped step, bounds, acceptance, convergence, covariance) is the shared
core at the end of this module, used by this window fit and by the whole-pattern engine
(:mod:`.pattern`) alike.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .profiles import NP, P_AREA, add_peak

LM_CONVERGED = 0
LM_NOT_CONVERGED = 1
LM_NO_DATA = 2
LM_SINGULAR = 3


@njit(cache=True, nogil=True)
def model_jac(x, n, p, npk, prof, ratio, k2, xmid, f, jac, d, want_jac):
    """Window model into ``f[:n]`` and (if ``want_jac``) its Jacobian into ``jac[:n, :2+NP*npk]``."""
    col = -1
    for i in range(n):
        t = x[i] - xmid
        f[i] = p[0] + p[1] * t
        if want_jac:
            jac[i, 0] = 1.0
            jac[i, 1] = t
    for k in range(npk):
        if want_jac:
            col = 2 + NP * k
        add_peak(x, n, p[2 + NP * k: 2 + NP * (k + 1)], prof, ratio, k2, f, jac, col, d)


@njit(cache=True, nogil=True)
def chol_factor(a, free, npar, lo):
    """Cholesky factor of the free sub-matrix of ``a`` into ``lo`` (identity on fixed slots).

    Returns False when that sub-matrix is not positive definite.
    """
    for i in range(npar):
        for j in range(i + 1):
            if not (free[i] and free[j]):
                lo[i, j] = 1.0 if i == j else 0.0
                continue
            s = a[i, j]
            for k in range(j):
                s -= lo[i, k] * lo[j, k]
            if i == j:
                if s <= 0.0 or s != s:
                    return False
                lo[i, i] = math.sqrt(s)
            else:
                lo[i, j] = s / lo[j, j]
    return True


@njit(cache=True, nogil=True)
def chol_subst(lo, b, free, npar, out):
    """Solve ``lo loᵀ x = b`` by substitution; fixed entries of ``out`` are 0."""
    for i in range(npar):
        s = b[i] if free[i] else 0.0
        for k in range(i):
            s -= lo[i, k] * out[k]
        out[i] = s / lo[i, i]
    for i in range(npar - 1, -1, -1):
        s = out[i]
        for k in range(i + 1, npar):
            s -= lo[k, i] * out[k]
        out[i] = s / lo[i, i] if free[i] else 0.0


@njit(cache=True, nogil=True)
def chol_solve(a, b, free, npar, lo, out):
    """Solve ``a x = b`` on the free sub-system by Cholesky (``lo``: (npar, npar) scratch).

    Returns False when ``a`` is not positive definite there.
    """
    if not chol_factor(a, free, npar, lo):
        return False
    chol_subst(lo, b, free, npar, out)
    return True


@njit(cache=True, nogil=True)
def normal_eq(jac, r, sw, n, npar, a, g):
    """``a = Jwᵀ Jw`` and ``g = Jwᵀ r`` with ``Jw = sw * J`` (r already weighted)."""
    for i in range(npar):
        g[i] = 0.0
        for j in range(npar):
            a[i, j] = 0.0
    for k in range(n):
        w = sw[k]
        if w == 0.0:
            continue
        w2 = w * w
        rk = r[k] * w
        for i in range(npar):
            ji = jac[k, i]
            if ji == 0.0:
                continue
            g[i] += ji * rk
            wi = ji * w2
            for j in range(i + 1):
                a[i, j] += wi * jac[k, j]
    for i in range(npar):
        for j in range(i + 1, npar):
            a[i, j] = a[j, i]


@njit(cache=True, nogil=True)
def chi2_of(y, sw, f, n, r):
    """Weighted residuals ``r = sw (y - f)`` and χ²."""
    c = 0.0
    for i in range(n):
        r[i] = sw[i] * (y[i] - f[i])
        c += r[i] * r[i]
    return c


@njit(cache=True, nogil=True)
def init_free(sw, n, p, lb, ub, free, npar, cov):
    """Mark free slots, clip ``p`` into its bounds, zero ``cov``; returns the degrees of freedom."""
    npts = 0
    for i in range(n):
        if sw[i] > 0.0:
            npts += 1
    nfree = 0
    for j in range(npar):
        free[j] = lb[j] < ub[j]
        if free[j]:
            nfree += 1
            p[j] = min(max(p[j], lb[j]), ub[j])
        else:
            p[j] = lb[j]
        for i in range(npar):
            cov[i, j] = 0.0
    return npts - nfree


@njit(cache=True, nogil=True)
def damped_step(a, g, p, lb, ub, free, act, diag, lo, step, lam, npar):
    """Solve ``(a + λ D) step = g`` for the free slots not held at a bound.

    Held: slots on a bound whose gradient points out of the box, then (binding set of a
    projected Newton step, Bertsekas 1982) slots on a bound whose *step* points out of it:
    the step is solved again without them, so that clipping at the bound never leaves the
    other slots with a step computed for a move that cannot happen.
    ``D`` is diag(a), floored at 1e-9 of its largest active entry.  (Tried: no floor, scale
    invariant — 7–8 → 4 Jacobians per warm scan of bench_refine, but slots the data barely
    see, e.g. a free intensity whose line only grazes the grid, then take undamped steps and
    ``analyse_phases`` on tests/lattice/test_analyse.py found a spurious P'2.)  ``a`` is
    restored on return.  Returns False when the damped matrix is not positive definite.
    """
    active_set(g, p, lb, ub, free, act, npar)
    amax = 0.0
    for j in range(npar):
        if act[j] and a[j, j] > amax:
            amax = a[j, j]
    for j in range(npar):
        diag[j] = a[j, j]
        a[j, j] = diag[j] + lam * max(diag[j], 1e-9 * amax + 1e-300)
    ok = chol_solve(a, g, act, npar, lo, step)
    for _ in range(npar):
        if not ok:
            break
        again = False
        for j in range(npar):
            if act[j] and ((p[j] <= lb[j] and step[j] < 0.0) or (p[j] >= ub[j] and step[j] > 0.0)):
                act[j] = False
                again = True
        if not again:
            break
        ok = chol_solve(a, g, act, npar, lo, step)
    for j in range(npar):
        a[j, j] = diag[j]
    return ok


@njit(cache=True, nogil=True)
def covariance(a, p, lb, free, npk, redchi, lo, diag, e, col, cov):
    """Covariance ``a⁻¹ χ²ᵣ`` of the free slots into ``cov`` (NaN if singular; returns False).

    A peak whose area sits at its lower bound contributes only its area slot
    (its centre and widths are then undetermined).  ``diag``, ``e``, ``col``: (npar,) scratch.
    """
    npar = 2 + NP * npk
    for k in range(npk):
        base = 2 + NP * k
        if free[base + P_AREA] and p[base + P_AREA] <= lb[base + P_AREA]:
            for j in range(NP):
                if j != P_AREA:
                    free[base + j] = False
    return cov_from_normal(a, free, npar, redchi, lo, diag, e, col, cov)


@njit(cache=True, nogil=True)
def lm_fit(x, y, sw, n, p, lb, ub, npk, prof, ratio, k2, xmid, maxiter, tol, cov, ws, wsm, wv, wb):
    """Fit one window in place.

    Parameters
    ----------
    x, y, sw : ndarray, shape (>= n,)
        2θ (deg), intensity and 1/σ (0 for a masked point).
    n : int
        Number of points.
    p : ndarray, shape (npar,)
        Start values, overwritten with the solution.
    lb, ub : ndarray, shape (npar,)
        Bounds; ``lb == ub`` fixes a slot.
    npk, prof, ratio, k2, xmid :
        Peak count, profile code, λ₂/λ₁, I₂/I₁ (0: no doublet), background origin (deg).
    maxiter : int
        Maximum number of Jacobian evaluations.
    tol : float
        Convergence of the shared solver core (:func:`lm_propose`): a Gauss–Newton step
        predicting a χ² decrease below ``tol × max(χ²ᵣ, 1)`` (every parameter would move
        by less than ``√tol`` esd: 0.01 esd for 1e-4), or a decrease below ten times that
        over ten Jacobians (:func:`lm_judge`).
    cov : ndarray, shape (npar, npar)
        Output covariance, scaled by the reduced χ² (0 for fixed slots).
    ws : ndarray, shape (5, >= n)
        Scratch rows: f, r, ftrial, rtrial, spare.
    wsm : ndarray, shape (>= 2*n + 2*npar, npar)
        Scratch: two Jacobians then the a, lo matrices.
    wv : ndarray, shape (6, >= npar)
        Scratch vectors.
    wb : ndarray of bool, shape (2, >= npar)
        Scratch masks.

    Returns
    -------
    status : int
        ``LM_*`` code.
    chi2 : float
        Final χ².
    nfev : int
        Number of model evaluations.
    dof : int
        Degrees of freedom (points - free slots).
    """
    npar = 2 + NP * npk
    jac = wsm[:n]
    jact = wsm[n:2 * n]
    a = wsm[2 * n:2 * n + npar]
    lo = wsm[2 * n + npar:2 * n + 2 * npar]
    f = ws[0]
    r = ws[1]
    ft = ws[2]
    rt = ws[3]
    d = wv[0, :NP]
    g = wv[1, :npar]
    step = wv[2, :npar]
    diag = wv[4, :npar]
    pt = wv[3, :npar]
    col = wv[5, :npar]
    free = wb[0, :npar]
    act = wb[1, :npar]
    dof = init_free(sw, n, p, lb, ub, free, npar, cov)
    if dof < 1:
        return LM_NO_DATA, math.nan, 0, dof
    model_jac(x, n, p, npk, prof, ratio, k2, xmid, f, jac, d, True)
    chi2 = chi2_of(y, sw, f, n, r)
    normal_eq(jac, r, sw, n, npar, a, g)
    nfev = 1
    state = lm_start(chi2)
    while True:
        status = lm_propose(state, a, g, p, pt, lb, ub, free, act, diag, lo, step, npar, dof,
                            maxiter, tol)
        # a window is cheap: the converged step is taken too (windows of noise-free
        # or very strong peaks keep full precision, not √tol of a vanishing esd)
        final = status == LM_CONVERGED
        if status != LM_CONTINUE and not final:
            break
        model_jac(x, n, pt, npk, prof, ratio, k2, xmid, ft, jact, d, True)
        nfev += 1
        accepted, code = lm_judge(state, chi2_of(y, sw, ft, n, rt), dof, tol)
        if accepted:
            for j in range(npar):
                p[j] = pt[j]
            f, ft = ft, f
            r, rt = rt, r
            jac, jact = jact, jac
            normal_eq(jac, r, sw, n, npar, a, g)
        if final:
            break
        if code != LM_CONTINUE:
            status = code
            break
    chi2 = state[1]
    if not covariance(a, p, lb, free, npk, chi2 / dof, lo, diag, pt, col, cov):
        return (LM_SINGULAR if status == LM_CONVERGED else status), chi2, nfev, dof
    return status, chi2, nfev, dof


# --------------------------------------------------------------------------------------------
# The Levenberg–Marquardt solver core, shared by the peak engine (:func:`lm_fit`) and the
# whole-pattern engine (:func:`phasetrace._kernels.pattern.fit_pattern`).  It works by reverse
# communication: the caller owns the model and its buffers, the core owns every decision
# (damping, bounds, acceptance, convergence), so the two engines run one LM::
#
#     state = lm_start(chi2)                       # a, g at p
#     while True:
#         code = lm_propose(state, ...)             # pt = trial point, or a final status
#         if code != LM_CONTINUE: break
#         chi2t = <model at pt>
#         accepted, code = lm_judge(state, chi2t, dof, tol)
#         if accepted: p ← pt, and a, g ← the normal equations at the new p
#         if code != LM_CONTINUE: break
# --------------------------------------------------------------------------------------------

LM_CONTINUE = -1

#: damping below which a step is a Gauss–Newton step for the convergence test (the damped
#: step differs from the Gauss–Newton one by less than 0.1 % in every direction of a).
LM_LAM_GN = 1e-3

# slots of the solver state vector
_S_LAM, _S_CHI2, _S_REF, _S_IT, _S_PRED, _S_DEC, _S_VER, _S_CHK = 0, 1, 2, 3, 4, 5, 6, 7


@njit(cache=True, nogil=True)
def lm_start(chi2, verify=False):
    """Solver state at the start point (χ² there; the caller has a, g at p).

    ``verify``: a small Gauss–Newton step after a large decrease is checked by χ² alone
    (:func:`lm_judge`) instead of by a new Jacobian (for models whose Jacobian costs several
    χ² evaluations).
    """
    state = np.empty(8)
    state[_S_VER] = 1.0 if verify else 0.0
    state[_S_CHK] = 0.0
    state[_S_LAM] = 1e-3
    state[_S_CHI2] = chi2
    state[_S_REF] = chi2
    state[_S_IT] = 1.0
    state[_S_PRED] = math.inf
    state[_S_DEC] = math.inf
    return state


@njit(cache=True, nogil=True)
def active_set(g, p, lb, ub, free, act, npar):
    """Free slots not held on a bound by a gradient pointing out of the box (into ``act``)."""
    for j in range(npar):
        act[j] = free[j]
        if free[j] and ((p[j] <= lb[j] and g[j] < 0.0) or (p[j] >= ub[j] and g[j] > 0.0)):
            act[j] = False


@njit(cache=True, nogil=True)
def lm_propose(state, a, g, p, pt, lb, ub, free, act, diag, lo, step, npar, dof, maxiter, tol):
    """Next trial point ``pt`` from the normal equations ``a``, ``g`` at ``p``.

    Returns ``LM_CONTINUE`` (evaluate χ² at ``pt`` and call :func:`lm_judge`) or a final
    status: ``LM_CONVERGED`` when a Gauss–Newton step (damping ≤ ``LM_LAM_GN``) predicts a χ²
    decrease ``pred = 2gᵀδ − δᵀaδ ≤ tol × max(χ²_ν, 1)`` and the last accepted step lowered
    χ² by no more than that either (actual and predicted reductions both small, as MINPACK's
    ``ftol`` test; the prediction alone can stop a fit at its start point on a misfit model
    whose linearisation is poor).  Since ``δ_j² ≤ (a⁻¹)_jj δᵀaδ`` and
    ``δᵀaδ ≤ pred``, every parameter would move by less than ``√tol`` of its esd (0.03 esd
    for ``tol = 1e-3``): the point is the minimum to that precision and the step is not taken.
    ``LM_NOT_CONVERGED`` when ``maxiter`` Jacobians were used or the damped matrix cannot be
    factored at any damping.  In ``verify`` mode (:func:`lm_start`) a small Gauss–Newton step
    after a large decrease is returned as a trial to be checked by :func:`lm_judge`.
    """
    thr = tol * max(state[_S_CHI2] / dof, 1.0)
    while True:
        if state[_S_IT] > maxiter:
            return LM_NOT_CONVERGED
        lam = state[_S_LAM]
        if damped_step(a, g, p, lb, ub, free, act, diag, lo, step, lam, npar):
            break
        state[_S_LAM] = lam * 10.0
        if state[_S_LAM] > 1e12:
            return LM_NOT_CONVERGED
    pred = 0.0
    for j in range(npar):
        pt[j] = min(max(p[j] + step[j], lb[j]), ub[j]) if free[j] else p[j]
        step[j] = pt[j] - p[j]
    for i in range(npar):
        if step[i] == 0.0:
            continue
        s = 2.0 * g[i]
        for j in range(npar):
            s -= a[i, j] * step[j]
        pred += s * step[i]
    state[_S_PRED] = pred
    gn_small = state[_S_LAM] <= LM_LAM_GN and pred <= thr
    if gn_small and state[_S_DEC] <= thr:
        return LM_CONVERGED
    state[_S_CHK] = 1.0 if gn_small and state[_S_VER] > 0.0 else 0.0
    return LM_CONTINUE


@njit(cache=True, nogil=True)
def lm_judge(state, chi2t, dof, tol):
    """Accept or reject the trial of χ² ``chi2t``; returns ``(accepted, code)``.

    Accepted when χ² does not rise (damping / 10, one more Jacobian); rejected otherwise
    (damping × 10).  Final codes: ``LM_CONVERGED`` on stagnation (χ² lowered by less than
    ten times the :func:`lm_propose` threshold over ten Jacobians) or when damping reaches
    1e10 without lowering χ² (a minimum within the bounds); else ``LM_CONTINUE``.

    Verification (trial of a small Gauss–Newton step flagged by :func:`lm_propose`): when χ²
    at the trial differs from χ² at ``p`` by no more than the threshold, the predicted and the
    actual change are both small — MINPACK's ``ftol`` test on the step ahead rather than on
    the step behind — so ``p`` is the minimum to √tol esd, as for an :func:`lm_propose` stop:
    returns ``(False, LM_CONVERGED)`` and the step is not taken (``a``, ``g``, χ² stay those
    of ``p``).  Otherwise the trial is judged as any other.
    """
    chi2 = state[_S_CHI2]
    if state[_S_CHK] > 0.0 and chi2t == chi2t and abs(chi2 - chi2t) <= tol * max(chi2 / dof, 1.0):
        return False, LM_CONVERGED
    if chi2t == chi2t and chi2t <= chi2:
        state[_S_DEC] = chi2 - chi2t
        state[_S_CHI2] = chi2t
        state[_S_LAM] = max(state[_S_LAM] * 0.1, 1e-10)
        state[_S_IT] += 1.0
        thr = tol * max(chi2t / dof, 1.0)
        if int(state[_S_IT]) % 10 == 0:
            if state[_S_REF] - chi2t < 10.0 * thr:
                return True, LM_CONVERGED
            state[_S_REF] = chi2t
        return True, LM_CONTINUE
    state[_S_LAM] *= 10.0
    if state[_S_LAM] > 1e10:
        return False, LM_CONVERGED
    return False, LM_CONTINUE


@njit(cache=True, nogil=True)
def lm_verifying(state):
    """Whether the trial just proposed is a verification (:func:`lm_judge` will not take it
    when χ² confirms the minimum)."""
    return state[_S_CHK] > 0.0


@njit(cache=True, nogil=True)
def lm_iterations(state):
    """Jacobians used (the start point's included)."""
    return int(state[_S_IT])


@njit(cache=True, nogil=True)
def cov_from_normal(a, act, npar, redchi, lo, diag, e, col, cov):
    """Covariance ``a⁻¹ χ²_ν`` over the ``act`` slots into ``cov`` (0 elsewhere).

    ``a`` is equilibrated to a unit diagonal before the Cholesky factorisation (and restored),
    so parameters of very different scale (cells in Å⁻², intensities in counts) do not lose
    precision.  Returns False (``cov`` NaN) when ``a`` is not positive definite there.
    ``lo`` (npar, npar), ``diag``, ``e``, ``col`` (npar,): scratch.
    """
    for j in range(npar):
        if act[j] and not a[j, j] > 0.0:
            act[j] = False
        diag[j] = 1.0 / math.sqrt(a[j, j]) if act[j] else 0.0
    for i in range(npar):
        for j in range(npar):
            cov[i, j] = a[i, j] * diag[i] * diag[j]
    ok = chol_factor(cov, act, npar, lo)
    for i in range(npar):
        for j in range(npar):
            cov[i, j] = math.nan if not ok else 0.0
    if not ok:
        return False
    for j in range(npar):
        if not act[j]:
            continue
        for i in range(npar):
            e[i] = 1.0 if i == j else 0.0
        chol_subst(lo, e, act, npar, col)
        for i in range(npar):
            cov[i, j] = col[i] * redchi * diag[i] * diag[j] if act[i] else 0.0
    return True
