"""A window fit that iterates only the peaks the data show (the stack peak fit's screen).

Phases come and go along an operando stack, so in a typical scan half of the peaks of a
window are absent.  Iterating them costs most of the fit (an absent peak's centre and
width are undetermined: Levenberg–Marquardt wanders) and decides nothing the linear
amplitude at its tracked position does not.  :func:`fit_window` therefore

1. fits non-linearly (:func:`.lm.lm_fit`) only the peaks detected in the previous scan of
   the window (their warm start is that scan's solution) and the peaks within one FWHM of
   them (a blend, which only a fit of both resolves: the area of one beside the other held
   at its fitted shape says nothing), or just the linear background when there are none;
2. tests each other peak against the residual of that fit: the area ``A`` of its profile
   (start shape, with its Kα2 copy) fitted linearly together with a background shift, with
   its σ (the *marginal* fit: the area of this peak given the fitted window).  The test is
   the package's detection rule (:func:`.batch._store`): height ``A × h₁`` above
   ``detect`` × the counting σ at the centre, and area above one σ.  It is made at centres
   spaced half the template FWHM over the peak's whole centre range, with the start width
   and half of it, so a line that moved while it was absent is not missed: a line off the
   grid by at most FWHM/4 keeps ≥ 91 % of its least-squares amplitude (Gaussian
   ``exp(−δ²/4σ²)`` = 0.917, Lorentzian ``1/(1 + (δ/Γ)²)`` = 0.94), and a line down to
   half the template width is matched by the narrow template.  The counting σ is not
   scaled by the fit's χ²_ν here (a line missing from the model raises it); the final
   status of a peak that enters is decided by the full rule after its fit.
3. greedy: the best line found goes to the untested peak whose start centre is nearest to
   it (a line at another peak's tracked position is that peak's); it is taken out of the
   residual and the others search again.  The peaks found join the window, which is fitted
   again from the first fit's solution.

A peak that does not enter is below detection in this scan: it is reported with its
marginal area ± esd at the tracked position (esd × √χ²_ν of the window's final fit, an
estimate consistent with zero, which may be negative); its centre and width, which the
data do not determine, are not reported, as for every peak below detection.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .lm import LM_CONVERGED, LM_NO_DATA, lm_fit, model_jac
from .profiles import NP, P_AREA, P_CENTER, P_FWHM, P_SHAPE, PROF_TCH, add_peak, peak_height

#: columns of a peak's record ``scr[k]`` (window-local peak ``k``): in the fit (1: tracked,
#: 2: found by the search, 0: left out), marginal area, σ, height, σ (unscaled), start centre
#: and width scale.
S_KEEP, S_AREA, S_AREA_ESD, S_HEIGHT, S_HEIGHT_ESD, S_CENTER, S_WSCALE = 0, 1, 2, 3, 4, 5, 6
SCREEN = 7

#: template widths tried by the search, relative to the start width.
_WIDTHS = (1.0, 0.5)
#: a trial profile is evaluated within this many template FWHM of its lines (the rest of
#: a pseudo-Voigt's area beyond ±6 FWHM: ≤ 5 % of its Lorentzian part, spread thinly).
_REACH = 6.0


@njit(cache=True, nogil=True)
def _unit(xw, i0, i1, p, base, prof, ratio, k2, centre, wscale, col, tmp, d, dummy):
    """Unit-area profile of the peak at ``p[base:]`` moved to ``centre``, widths × ``wscale``,
    into ``col[i0:i1]``; returns its Kα1 height per unit area."""
    for j in range(NP):
        tmp[j] = p[base + j]
    tmp[P_CENTER] = centre
    tmp[P_FWHM] *= wscale
    if prof == PROF_TCH:
        tmp[P_SHAPE] *= wscale
    tmp[P_AREA] = 1.0
    for i in range(i0, i1):
        col[i] = 0.0
    add_peak(xw[i0:i1], i1 - i0, tmp, prof, ratio, k2, col[i0:i1], dummy, -1, d)
    return peak_height(tmp, prof, d)


@njit(cache=True, nogil=True)
def _noise(xw, sww, n, c):
    """Counting σ at the point nearest ``c``."""
    j = min(max(np.searchsorted(xw[:n], c), 0), n - 1)
    return 1.0 / sww[j] if sww[j] > 0.0 else math.inf


@njit(cache=True, nogil=True)
def _margin(area, esd, height, noise, detect):
    """Detection margin: > 1 when detected (area > 1 σ and height > detect × noise)."""
    z = area / esd if esd > 0.0 else -math.inf
    if detect > 0.0 and noise > 0.0:
        z = min(z, height / (detect * noise))
    return z if z == z else -math.inf


@njit(cache=True, nogil=True)
def _bg_sums(xw, sww, n, xmid, res, sums):
    """Weighted sums of the background block and the residual: Σw², Σw²t, Σw²t², Σw²r, Σw²tr."""
    for j in range(5):
        sums[j] = 0.0
    for r in range(n):
        w2 = sww[r] * sww[r]
        t = xw[r] - xmid
        sums[0] += w2
        sums[1] += w2 * t
        sums[2] += w2 * t * t
        sums[3] += w2 * res[r]
        sums[4] += w2 * t * res[r]


@njit(cache=True, nogil=True)
def _marginal(xw, sww, i0, i1, xmid, fcol, res, sums):
    """Area and its σ (unscaled) of the profile ``fcol[i0:i1]`` fitted to the residual with a
    linear background shift (Schur complement of the background block, ``sums``)."""
    s0f = 0.0
    s1f = 0.0
    sff = 0.0
    rf = 0.0
    for r in range(i0, i1):
        w2f = sww[r] * sww[r] * fcol[r]
        s0f += w2f
        s1f += w2f * (xw[r] - xmid)
        sff += w2f * fcol[r]
        rf += w2f * res[r]
    s00, s01, s11, r0, r1 = sums[0], sums[1], sums[2], sums[3], sums[4]
    det = s00 * s11 - s01 * s01
    u0 = (s11 * s0f - s01 * s1f) / det
    u1 = (s00 * s1f - s01 * s0f) / det
    den = sff - (s0f * u0 + s1f * u1)
    if not den > 0.0:
        return math.nan, math.nan
    return (rf - (r0 * u0 + r1 * u1)) / den, math.sqrt(1.0 / den)


@njit(cache=True, nogil=True)
def _trial(xw, sww, n, p, base, prof, ratio, k2, c, ws, fw, full, res, fcol, xmid, sums,
           tmp, d, dummy):
    """Marginal area, σ and height factor of the peak at ``p[base:]`` tried at ``(c, ws)``."""
    i0, i1 = 0, n
    if not full:
        reach = _REACH * ws * fw
        top = c
        if k2 > 0.0:
            sn = ratio * math.sin(0.5 * math.radians(c))
            top = 2.0 * math.degrees(math.asin(sn)) if sn < 1.0 else c
        i0 = np.searchsorted(xw[:n], c - reach)
        i1 = np.searchsorted(xw[:n], top + reach)
        if i1 - i0 < 1:
            return math.nan, math.nan, 0.0
    hfac = _unit(xw, i0, i1, p, base, prof, ratio, k2, c, ws, fcol, tmp, d, dummy)
    area, esd = _marginal(xw, sww, i0, i1, xmid, fcol, res, sums)
    return area, esd, hfac


@njit(cache=True, nogil=True)
def _best_trial(i, xw, sww, n, p, lb, ub, prof, ratio, k2, dci, detect, res, fcol, xmid, sums,
                tmp, d, dummy, record, scr, k):
    """Best trial centre and width of slot group ``i``: ``(margin, centre, width scale)``.
    ``record``: write the marginal values at the start centre (full window) into ``scr[k]``."""
    base = 2 + NP * i
    c0 = p[base + P_CENTER]
    fw = p[base + P_FWHM] + (p[base + P_SHAPE] if prof == PROF_TCH else 0.0)
    fixed_w = not lb[base + P_FWHM] < ub[base + P_FWHM]
    best = -math.inf
    bc = c0
    bw = 1.0
    if record:
        area, esd, hfac = _trial(xw, sww, n, p, base, prof, ratio, k2, c0, 1.0, fw, True, res,
                                 fcol, xmid, sums, tmp, d, dummy)
        scr[k, S_AREA] = area
        scr[k, S_AREA_ESD] = esd
        scr[k, S_HEIGHT] = area * hfac
        scr[k, S_HEIGHT_ESD] = esd * hfac
    for iw in range(len(_WIDTHS)):
        ws = _WIDTHS[iw]
        if iw > 0 and fixed_w:
            break
        spacing = 0.5 * ws * fw
        nj = int(math.floor(dci / spacing + 1e-9)) if spacing > 0.0 else 0
        for jj in range(2 * nj + 1):
            c = c0 + (jj - nj) * spacing
            if c < xw[0] or c > xw[n - 1]:
                continue
            area, esd, hfac = _trial(xw, sww, n, p, base, prof, ratio, k2, c, ws, fw, False,
                                     res, fcol, xmid, sums, tmp, d, dummy)
            z = _margin(area, esd, area * hfac, _noise(xw, sww, n, c), detect)
            if z > best:
                best, bc, bw = z, c, ws
    return best, bc, bw


@njit(cache=True, nogil=True)
def _search(xw, sww, n, p, lb, ub, nfit, nact, loc, peaks, prof, ratio, k2, xmid, dc, detect,
            scr, res, fcol):
    """Steps 2–3: mark (``S_KEEP`` = 2) the left-out peaks whose line the residual shows;
    returns their number."""
    tmp = np.empty(NP)
    d = np.empty(NP)
    dummy = np.empty((0, 0))
    sums = np.empty(5)
    nfound = 0
    for rnd in range(nact - nfit):
        _bg_sums(xw, sww, n, xmid, res, sums)
        if not sums[0] * sums[2] - sums[1] * sums[1] > 0.0:
            break
        zbest = 1.0
        ibest = -1
        cbest = 0.0
        wbest = 1.0
        for i in range(nfit, nact):
            k = loc[i]
            if scr[k, S_KEEP] > 0.0:
                continue
            z, c, ws = _best_trial(i, xw, sww, n, p, lb, ub, prof, ratio, k2, dc[peaks[k]],
                                   detect, res, fcol, xmid, sums, tmp, d, dummy, rnd == 0, scr, k)
            if z > zbest:
                zbest, ibest, cbest, wbest = z, i, c, ws
        if ibest < 0:
            break
        owner = ibest
        dmin = abs(cbest - p[2 + NP * ibest + P_CENTER])
        for i in range(nfit, nact):
            di = abs(cbest - p[2 + NP * i + P_CENTER])
            if scr[loc[i], S_KEEP] == 0.0 and di < dmin and di <= dc[peaks[loc[i]]]:
                owner = i
                dmin = di
        base = 2 + NP * owner
        k = loc[owner]
        fwu = p[base + P_FWHM] + (p[base + P_SHAPE] if prof == PROF_TCH else 0.0)
        area, _, _ = _trial(xw, sww, n, p, base, prof, ratio, k2, cbest, wbest, fwu, True, res,
                            fcol, xmid, sums, tmp, d, dummy)
        scr[k, S_KEEP] = 2.0
        scr[k, S_CENTER] = cbest
        scr[k, S_WSCALE] = wbest
        scr[k, S_AREA] = area
        for r in range(n):
            res[r] -= area * fcol[r]
        nfound += 1
    return nfound


@njit(cache=True, nogil=True)
def _blended(p, nact, loc, prev_ok, prof):
    """Mark (``S_KEEP`` = 1 in the caller) the untracked peaks within one FWHM of a tracked
    one: returns a bool mask over the slot groups."""
    out = np.zeros(nact, dtype=np.bool_)
    for i in range(nact):
        if prev_ok[loc[i]]:
            continue
        ci = p[2 + NP * i + P_CENTER]
        for j in range(nact):
            if not prev_ok[loc[j]]:
                continue
            base = 2 + NP * j
            fw = p[base + P_FWHM] + (p[base + P_SHAPE] if prof == PROF_TCH else 0.0)
            if abs(p[base + P_CENTER] - ci) < fw:
                out[i] = True
    return out


@njit(cache=True, nogil=True)
def reorder(p, lb, ub, nact, loc, scr):
    """Move the slot groups (and ``loc`` entries) of the peaks in the fit first, in order;
    returns their number."""
    order = np.empty(nact, dtype=np.int64)
    nin = 0
    for i in range(nact):
        if scr[loc[i], S_KEEP] > 0.0:
            order[nin] = i
            nin += 1
    j = nin
    for i in range(nact):
        if not scr[loc[i], S_KEEP] > 0.0:
            order[j] = i
            j += 1
    tp = p[2:2 + NP * nact].copy()
    tl = lb[2:2 + NP * nact].copy()
    tu = ub[2:2 + NP * nact].copy()
    tloc = loc[:nact].copy()
    for i in range(nact):
        io = order[i]
        loc[i] = tloc[io]
        for j in range(NP):
            p[2 + NP * i + j] = tp[NP * io + j]
            lb[2 + NP * i + j] = tl[NP * io + j]
            ub[2 + NP * i + j] = tu[NP * io + j]
    return nin


@njit(cache=True, nogil=True)
def _background_only(xw, yw, sww, n, p, xmid):
    """Weighted linear background into ``p[0:2]``; returns ``(χ², dof)``."""
    s00 = 0.0
    s01 = 0.0
    s11 = 0.0
    b0 = 0.0
    b1 = 0.0
    for r in range(n):
        w2 = sww[r] * sww[r]
        t = xw[r] - xmid
        s00 += w2
        s01 += w2 * t
        s11 += w2 * t * t
        b0 += w2 * yw[r]
        b1 += w2 * t * yw[r]
    det = s00 * s11 - s01 * s01
    if not det > 0.0 or n < 3:
        return math.nan, 0
    p[0] = (s11 * b0 - s01 * b1) / det
    p[1] = (s00 * b1 - s01 * b0) / det
    chi2 = 0.0
    for r in range(n):
        chi2 += (sww[r] * (yw[r] - p[0] - p[1] * (xw[r] - xmid))) ** 2
    return chi2, n - 2


@njit(cache=True, nogil=True)
def fit_window(xw, yw, sww, n, p, lb, ub, nact, loc, peaks, prev_ok, prof, ratio, k2, xmid,
               dc, detect, maxiter, tol, cov, scr, ws, wsm, wv, wb):
    """Fit a window's ``nact`` peaks (start values in ``p``, :func:`.lm.lm_fit` layout) as in
    the module notes.

    ``loc`` (window-local peak of each slot group), ``p``, ``lb`` and ``ub`` are reordered:
    the fitted peaks come first.  ``scr`` rows of the left-out peaks hold their marginal
    values (:data:`S_AREA` ...).  ``prev_ok``: window-local peaks detected in the previous
    scan; ``peaks``: their stack indices; ``dc``: centre half-ranges of the stack's peaks.

    Returns
    -------
    (nfit, status, chi2, nfev, dof)
        Number of fitted peaks, ``LM_*`` status, χ², model evaluations and degrees of
        freedom of the final fit (the linear background's when no peak is fitted).
    """
    blend = _blended(p, nact, loc, prev_ok, prof)
    for i in range(nact):
        scr[loc[i], S_KEEP] = 1.0 if prev_ok[loc[i]] or blend[i] else 0.0
    nfit = reorder(p, lb, ub, nact, loc, scr)
    npar = 2 + NP * nfit
    if nfit > 0:
        st, chi2, nfev, dof = lm_fit(xw, yw, sww, n, p[:npar], lb[:npar], ub[:npar], nfit, prof,
                                     ratio, k2, xmid, maxiter, tol, cov[:npar, :npar], ws, wsm,
                                     wv, wb)
    else:
        chi2, dof = _background_only(xw, yw, sww, n, p, xmid)
        st, nfev = (LM_CONVERGED, 1) if dof > 0 else (LM_NO_DATA, 0)
    if nfit == nact or st == LM_NO_DATA:
        return nfit, st, chi2, nfev, dof
    res = ws[3]
    fcol = ws[4]
    d = np.empty(NP)
    model_jac(xw, n, p, nfit, prof, ratio, k2, xmid, fcol, wsm, d, False)
    for r in range(n):
        res[r] = yw[r] - fcol[r]
    if _search(xw, sww, n, p, lb, ub, nfit, nact, loc, peaks, prof, ratio, k2, xmid, dc, detect,
               scr, res, fcol) == 0:
        return nfit, st, chi2, nfev, dof
    nfit = reorder(p, lb, ub, nact, loc, scr)
    npar = 2 + NP * nfit
    for i in range(nfit):
        k = loc[i]
        if scr[k, S_KEEP] == 2.0:
            base = 2 + NP * i
            p[base + P_CENTER] = scr[k, S_CENTER]
            p[base + P_FWHM] *= scr[k, S_WSCALE]
            if prof == PROF_TCH:
                p[base + P_SHAPE] *= scr[k, S_WSCALE]
            p[base + P_AREA] = scr[k, S_AREA]
    st, chi2, nf2, dof = lm_fit(xw, yw, sww, n, p[:npar], lb[:npar], ub[:npar], nfit, prof, ratio,
                                k2, xmid, maxiter, tol, cov[:npar, :npar], ws, wsm, wv, wb)
    return nfit, st, chi2, nfev + nf2, dof


@njit(cache=True, nogil=True)
def store_left_out(s, peaks, loc, nfit, nact, scr, redchi, out_p, out_esd, out_h, out_hesd):
    """Write the marginal area and height of the left-out peaks (below detection), with
    esds scaled by √χ²_ν of the window's final fit (``redchi``), as every reported esd."""
    scale = math.sqrt(redchi) if redchi > 0.0 else math.nan
    for i in range(nfit, nact):
        k = loc[i]
        q = peaks[k]
        for j in range(NP):
            out_p[s, q, j] = math.nan
            out_esd[s, q, j] = math.nan
        out_p[s, q, P_AREA] = scr[k, S_AREA]
        out_esd[s, q, P_AREA] = scr[k, S_AREA_ESD] * scale
        out_h[s, q] = scr[k, S_HEIGHT]
        out_hesd[s, q] = scr[k, S_HEIGHT_ESD] * scale
