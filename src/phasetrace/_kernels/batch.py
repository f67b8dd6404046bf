"""Parallel driver: fit every window of every scan of a stack (the only ``prange``).

Scans are cut into blocks of ``chunk`` consecutive scans; blocks run in
parallel (``prange``) and inside a block the scans are fitted in order so that
each fit is warm-started from the previous scan of the same window.

When windows follow their peaks (``follow``), a block must not start from the
stack's start positions: a peak that drifted by more than the centre range
since scan 0 would be lost.  :func:`pilot_many` therefore first walks every
window through the whole stack in order (parallel over windows), fitting every
``stride``-th scan and every block's first scan, and saves the warm-start state
at each block's first scan; :func:`fit_many` starts each block from it.  The
start centre of a followed peak is the weighted mean of its last few good
centres (:func:`_predict`); a peak that falls below detection is searched for
where it was last seen, not at its start position.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .lm import LM_CONVERGED, LM_NO_DATA, lm_fit
from .profiles import (NP, P_AREA, P_ASYM, P_CENTER, P_FWHM, P_SHAPE, PROF_TCH,
                       doublet_center, peak_height)
from .screen import SCREEN, fit_window, store_left_out

# FitStatus codes (phasetrace.schema.FitStatus); duplicated here because
# kernels import only numpy/numba/math.
ST_CONVERGED = 0
ST_HIT_BOUND = 1
ST_BELOW_DETECTION = 2
ST_NOT_CONVERGED = 3
ST_NO_DATA = 4

#: Warm-start memory of one peak: its last good slots (``NP``), then a ring of
#: the last ``HIST`` good centres and their weights 1/esd², then the ring count.
HIST = 4
STATE = NP + 2 * HIST + 1


@njit(cache=True, nogil=True)
def _select(s, peaks, guess, active, loc):
    """Local indices of the peaks of a window that are fitted in scan ``s``; returns their count."""
    nact = 0
    for k in range(peaks.shape[0]):
        q = peaks[k]
        if active[s, q] and guess[s, q, P_CENTER] == guess[s, q, P_CENTER]:
            loc[nact] = k
            nact += 1
    return nact


@njit(cache=True, nogil=True)
def _predict(prev, k):
    """Start centre of peak ``k``: the 1/esd²-weighted mean of its last ``HIST`` good centres.

    Averaging a few scans keeps a weak peak's window from wandering with the
    noise of single fits; it lags a drift by at most (HIST − 1)/2 fitted scans.
    """
    n = min(int(prev[k, STATE - 1]), HIST)
    sw = 0.0
    sc = 0.0
    for i in range(n):
        w = prev[k, NP + 2 * i + 1]
        sw += w
        sc += w * prev[k, NP + 2 * i]
    return sc / sw if sw > 0.0 else prev[k, NP]


@njit(cache=True, nogil=True)
def _remember(prev, k, p, base, esd_c):
    """Store a good fit of peak ``k`` (slots at ``p[base:]``, centre esd) in the memory."""
    for j in range(NP):
        prev[k, j] = p[base + j]
    cnt = int(prev[k, STATE - 1])
    i = cnt % HIST
    prev[k, NP + 2 * i] = p[base + P_CENTER]
    prev[k, NP + 2 * i + 1] = 1.0 / (esd_c * esd_c) if esd_c > 0.0 else 1.0
    prev[k, STATE - 1] = cnt + 1


@njit(cache=True, nogil=True)
def _setup_params(s, peaks, loc, nact, guess, lbk, ubk, dc, warm, follow, prev, prev_ok,
                  p, lb, ub):
    """Start values and bounds of the fitted peaks ``peaks[loc[:nact]]`` of scan ``s``."""
    p[0] = 0.0
    p[1] = 0.0
    lb[0] = -np.inf
    ub[0] = np.inf
    lb[1] = -np.inf
    ub[1] = np.inf
    for i in range(nact):
        k = loc[i]
        q = peaks[k]
        base = 2 + NP * i
        use_prev = prev_ok[k]
        for j in range(NP):
            v = prev[k, j] if (warm and use_prev) else guess[s, q, j]
            p[base + j] = v
            lb[base + j] = lbk[q, j]
            ub[base + j] = ubk[q, j]
        c0 = _predict(prev, k) if (follow and prev[k, STATE - 1] > 0) else guess[s, q, P_CENTER]
        p[base + P_CENTER] = c0
        lb[base + P_CENTER] = c0 - dc[q]
        ub[base + P_CENTER] = c0 + dc[q]


@njit(cache=True, nogil=True)
def _window(x, p, npk, prof, ratio, k2, wfac):
    """Index range ``[i0, i1)`` of ``x`` covering the fitted peaks of a window."""
    lo = np.inf
    hi = -np.inf
    for k in range(npk):
        base = 2 + NP * k
        c = p[base + P_CENTER]
        w = p[base + P_FWHM]
        if prof == PROF_TCH:
            w = w + p[base + P_SHAPE]
        if c != c or w != w:
            continue
        top = c
        if k2 > 0.0:
            c2, _ = doublet_center(c, ratio)
            if c2 == c2:
                top = c2
        lo = min(lo, c - wfac * w)
        hi = max(hi, top + wfac * w)
    i0 = np.searchsorted(x, lo)
    i1 = np.searchsorted(x, hi)
    return i0, i1


@njit(cache=True, nogil=True)
def _gather(x, y, sw, i0, i1, xw, yw, sww):
    """Copy the finite points of ``[i0, i1)`` into the window buffers; returns their count."""
    n = 0
    for i in range(i0, i1):
        if y[i] == y[i] and sw[i] == sw[i] and sw[i] > 0.0 and abs(y[i]) < np.inf:
            xw[n] = x[i]
            yw[n] = y[i]
            sww[n] = sw[i]
            n += 1
    return n


@njit(cache=True, nogil=True)
def _init_background(xw, yw, n, p, npk):
    """Linear background through the window ends; NaN areas estimated from the data."""
    m = min(3, max(1, n // 4))
    yl = 0.0
    yr = 0.0
    for i in range(m):
        yl += yw[i] / m
        yr += yw[n - 1 - i] / m
    xmid = 0.5 * (xw[0] + xw[n - 1])
    span = xw[n - 1] - xw[0]
    p[0] = 0.5 * (yl + yr)
    p[1] = (yr - yl) / span if span > 0 else 0.0
    for k in range(npk):
        base = 2 + NP * k
        if p[base + P_AREA] == p[base + P_AREA]:
            continue
        c = p[base + P_CENTER]
        j = min(max(np.searchsorted(xw[:n], c), 0), n - 1)
        h = yw[j] - (p[0] + p[1] * (xw[j] - xmid))
        p[base + P_AREA] = max(h, 1e-6) * p[base + P_FWHM] * 1.3
    return xmid


@njit(cache=True, nogil=True)
def _at_bound(p, lb, ub, base, prof):
    """True when a peak's centre, or its width, ended on a bound of a free slot.

    For TCH a Gaussian or Lorentzian width at its lower bound is a pure
    Lorentzian or Gaussian peak, not a failure; only upper bounds count there.
    """
    for j in (P_CENTER, P_FWHM, P_SHAPE):
        if j == P_SHAPE and prof != PROF_TCH:
            continue
        lo_ok = prof == PROF_TCH and j != P_CENTER
        if lb[base + j] < ub[base + j]:
            if p[base + j] >= ub[base + j] or (not lo_ok and p[base + j] <= lb[base + j]):
                return True
    return False


@njit(cache=True, nogil=True)
def _store(s, g, peaks, loc, nact, p, lb, ub, cov, lmst, chi2, dof, nfev, xmid, prof, detect,
           out_p, out_esd, out_h, out_hesd, out_status, out_bg, out_redchi, out_nfev,
           prev, prev_ok, xw, sww, n):
    """Write the results of one window fit and update the warm-start memory.

    Peaks of the window that were not fitted are marked below detection, as
    are fitted peaks whose height is below ``detect`` times the noise σ at
    their centre (× √χ²ᵣ when χ²ᵣ > 1) or whose area is below one esd.
    A peak without a good fit restarts its shape and area from the guess in
    the next scan; its centre memory (:func:`_predict`) is kept.
    """
    gh = np.empty(NP)
    out_bg[s, g, 0] = p[0]
    out_bg[s, g, 1] = p[1]
    out_bg[s, g, 2] = xmid
    out_redchi[s, g] = chi2 / dof if dof > 0 else math.nan
    out_nfev[s, g] = nfev
    for k in range(peaks.shape[0]):
        out_status[s, peaks[k]] = ST_BELOW_DETECTION
        prev_ok[k] = False
    for i in range(nact):
        k = loc[i]
        q = peaks[k]
        base = 2 + NP * i
        if lmst == LM_NO_DATA:
            out_status[s, q] = ST_NO_DATA
            continue
        if lmst != LM_CONVERGED:
            out_status[s, q] = ST_NOT_CONVERGED
            continue
        for j in range(NP):
            out_p[s, q, j] = p[base + j]
            c = cov[base + j, base + j]
            out_esd[s, q, j] = math.sqrt(c) if c >= 0.0 else math.nan
        h = peak_height(p[base:base + NP], prof, gh)
        var = 0.0
        for a in range(NP):
            for b in range(NP):
                var += gh[a] * cov[base + a, base + b] * gh[b]
        out_h[s, q] = h
        out_hesd[s, q] = math.sqrt(var) if var >= 0.0 else math.nan
        area = p[base + P_AREA]
        j0 = min(max(np.searchsorted(xw[:n], p[base + P_CENTER]), 0), n - 1)
        noise = (1.0 / sww[j0] if sww[j0] > 0.0 else math.inf) * math.sqrt(max(out_redchi[s, g], 1.0))
        if area <= 0.0 or not (area > out_esd[s, q, P_AREA]) or not (h > detect * noise):
            out_status[s, q] = ST_BELOW_DETECTION
            for j in (P_CENTER, P_FWHM, P_SHAPE, P_ASYM):
                out_p[s, q, j] = math.nan
                out_esd[s, q, j] = math.nan
            continue
        hit = _at_bound(p, lb, ub, base, prof)
        out_status[s, q] = ST_HIT_BOUND if hit else ST_CONVERGED
        if not hit:
            prev_ok[k] = True
            _remember(prev, k, p, base, out_esd[s, q, P_CENTER])


@njit(cache=True, nogil=True)
def _max_window(gstart):
    """Largest number of peaks in one window."""
    maxk = 1
    for g in range(gstart.shape[0] - 1):
        maxk = max(maxk, gstart[g + 1] - gstart[g])
    return maxk


@njit(cache=True, nogil=True)
def _fit_one(s, so, g, peaks, x, Y, SW, guess, lbk, ubk, dc, active, prof, ratio, k2, wfac,
             warm, follow, maxiter, tol, detect, screen, out_p, out_esd, out_h, out_hesd,
             out_status, out_bg, out_redchi, out_nfev, prev, prev_ok, loc, scr, p, lb, ub, cov,
             xw, yw, sww, ws, wsm, wv, wb):
    """Fit window ``g`` of scan ``s`` from the warm-start memory; results go to output row ``so``."""
    nact = _select(s, peaks, guess, active, loc)
    npar = 2 + NP * nact
    lmst, chi2, nfev, dof = LM_NO_DATA, math.nan, 0, 0
    xmid = math.nan
    n = 0
    nfit = nact
    if nact > 0:
        _setup_params(s, peaks, loc, nact, guess, lbk, ubk, dc, warm, follow,
                      prev, prev_ok, p, lb, ub)
        i0, i1 = _window(x, p[:npar], nact, prof, ratio, k2, wfac)
        n = _gather(x, Y[s], SW[s], i0, i1, xw, yw, sww)
        if n >= 4:
            xmid = _init_background(xw, yw, n, p, nact)
            if screen:  # only the peaks the data show are iterated (.screen)
                nfit, lmst, chi2, nfev, dof = fit_window(xw, yw, sww, n, p, lb, ub, nact, loc,
                                                         peaks, prev_ok, prof, ratio, k2, xmid,
                                                         dc, detect, maxiter, tol, cov, scr, ws,
                                                         wsm, wv, wb)
            else:
                lmst, chi2, nfev, dof = lm_fit(xw, yw, sww, n, p[:npar], lb[:npar], ub[:npar],
                                               nact, prof, ratio, k2, xmid, maxiter, tol,
                                               cov[:npar, :npar], ws, wsm, wv, wb)
    _store(so, g, peaks, loc, nfit, p, lb, ub, cov, lmst, chi2, dof, nfev, xmid, prof,
           detect, out_p, out_esd, out_h, out_hesd, out_status, out_bg, out_redchi,
           out_nfev, prev, prev_ok, xw, sww, n)
    store_left_out(so, peaks, loc, nfit, nact, scr, out_redchi[so, g], out_p, out_esd, out_h,
                   out_hesd)


@njit(cache=True, nogil=True)
def _fit_block(b, s0, s1, x, Y, SW, guess, lbk, ubk, dc, active, gstart, gpeaks, prof, ratio, k2,
               wfac, warm, follow, maxiter, tol, detect, screen, start_p, start_ok,
               out_p, out_esd, out_h, out_hesd, out_status, out_bg, out_redchi, out_nfev):
    """Fit all windows of scans ``s0 .. s1-1`` in order (one worker's share, block ``b``)."""
    nx = x.shape[0]
    ngroups = gstart.shape[0] - 1
    maxk = _max_window(gstart)
    npmax = 2 + NP * maxk
    wsm = np.empty((2 * nx + 2 * npmax, npmax))
    ws = np.empty((5, nx))
    cov = np.empty((npmax, npmax))
    xw = np.empty(nx)
    yw = np.empty(nx)
    sww = np.empty(nx)
    p = np.empty(npmax)
    lb = np.empty(npmax)
    ub = np.empty(npmax)
    prev = np.zeros((maxk, STATE))
    prev_ok = np.zeros(maxk, dtype=np.bool_)
    loc = np.empty(maxk, dtype=np.int64)
    scr = np.empty((maxk, SCREEN))
    wv = np.empty((6, npmax))
    wb = np.empty((2, npmax), dtype=np.bool_)
    use_start = start_ok.shape[0] > b
    for g in range(ngroups):
        peaks = gpeaks[gstart[g]:gstart[g + 1]]
        for k in range(peaks.shape[0]):
            prev_ok[k] = start_ok[b, peaks[k]] if use_start else False
            for j in range(STATE):
                prev[k, j] = start_p[b, peaks[k], j] if use_start else 0.0
        for s in range(s0, s1):
            scr_on = screen and (use_start or s > s0)
            _fit_one(s, s, g, peaks, x, Y, SW, guess, lbk, ubk, dc, active, prof, ratio, k2, wfac,
                     warm, follow, maxiter, tol, detect, scr_on, out_p, out_esd, out_h, out_hesd,
                     out_status, out_bg, out_redchi, out_nfev, prev, prev_ok, loc, scr, p, lb, ub,
                     cov, xw, yw, sww, ws, wsm, wv, wb)


@njit(cache=True, nogil=True, parallel=True)
def pilot_many(x, Y, SW, guess, lbk, ubk, dc, active, gstart, gpeaks, prof, ratio, k2, wfac,
               stride, save_at, warm, maxiter, tol, detect, screen, start_p, start_ok):
    """Warm-start states at the scans ``save_at`` from one in-order pass per window.

    Each window (in parallel over windows) is followed from scan 0 to the last
    scan of ``save_at``, fitting every ``stride``-th scan and every scan of
    ``save_at``; each fit starts from the previous fitted one (centres, shapes
    and areas), so a peak is followed as long as it moves by less than its
    centre range ``dc`` per ``stride`` scans.  A peak that falls below detection
    keeps its centre memory.

    Parameters
    ----------
    stride : int
        Scans between pilot fits (≥ 1).
    save_at : ndarray of int, shape (n_blocks,)
        Increasing scan indices (the blocks' first scans).
    start_p, start_ok : ndarray, shape (n_blocks, n_peaks, STATE) and (n_blocks, n_peaks)
        Output: the state after fitting scan ``save_at[j]`` (``start_ok`` False:
        the peak has not been fitted well yet, start from the guess).

    The other parameters are those of :func:`fit_many`.
    """
    nx = x.shape[0]
    ngroups = gstart.shape[0] - 1
    k_all = guess.shape[1]
    nsave = save_at.shape[0]
    for g in prange(ngroups):
        peaks = gpeaks[gstart[g]:gstart[g + 1]]
        maxk = peaks.shape[0]
        npmax = 2 + NP * maxk
        wsm = np.empty((2 * nx + 2 * npmax, npmax))
        ws = np.empty((5, nx))
        cov = np.empty((npmax, npmax))
        xw = np.empty(nx)
        yw = np.empty(nx)
        sww = np.empty(nx)
        p = np.empty(npmax)
        lb = np.empty(npmax)
        ub = np.empty(npmax)
        prev = np.zeros((maxk, STATE))
        prev_ok = np.zeros(maxk, dtype=np.bool_)
        loc = np.empty(maxk, dtype=np.int64)
        scr = np.empty((maxk, SCREEN))
        wv = np.empty((6, npmax))
        wb = np.empty((2, npmax), dtype=np.bool_)
        # scratch outputs (row 0 only); the real results come from fit_many
        o_p = np.empty((1, k_all, NP))
        o_e = np.empty((1, k_all, NP))
        o_h = np.empty((1, k_all))
        o_he = np.empty((1, k_all))
        o_st = np.empty((1, k_all), dtype=np.int64)
        o_bg = np.empty((1, ngroups, 3))
        o_rc = np.empty((1, ngroups))
        o_nf = np.empty((1, ngroups), dtype=np.int64)
        j = 0
        last = save_at[nsave - 1] if nsave > 0 else -1
        for s in range(last + 1):
            due = j < nsave and save_at[j] == s
            if s % stride != 0 and not due:
                continue
            scr_on = screen and s > 0
            _fit_one(s, 0, g, peaks, x, Y, SW, guess, lbk, ubk, dc, active, prof, ratio, k2,
                     wfac, warm, True, maxiter, tol, detect, scr_on, o_p, o_e, o_h, o_he, o_st,
                     o_bg, o_rc, o_nf, prev, prev_ok, loc, scr, p, lb, ub, cov, xw, yw, sww, ws,
                     wsm, wv, wb)
            while j < nsave and save_at[j] == s:
                for k in range(maxk):
                    q = peaks[k]
                    start_ok[j, q] = prev_ok[k]
                    for i in range(STATE):
                        start_p[j, q, i] = prev[k, i]
                j += 1


@njit(cache=True, nogil=True, parallel=True)
def fit_many(x, Y, SW, guess, lbk, ubk, dc, active, gstart, gpeaks, prof, ratio, k2, wfac,
             chunk, warm, follow, maxiter, tol, detect, screen, start_p, start_ok,
             out_p, out_esd, out_h, out_hesd, out_status, out_bg, out_redchi, out_nfev):
    """Fit every window of every scan.

    Parameters
    ----------
    x : ndarray, shape (n_points,)
        Increasing 2θ grid (deg).
    Y, SW : ndarray, shape (n_scans, n_points)
        Intensities and 1/σ (0 or NaN masks a point).
    guess : ndarray, shape (n_scans, n_peaks, NP)
        Start values per scan; NaN area means "estimate from the data".
    lbk, ubk : ndarray, shape (n_peaks, NP)
        Bounds of the non-centre slots (equal bounds fix a slot).
    dc : ndarray, shape (n_peaks,)
        Half-range (deg) allowed for each centre around its start value.
    active : ndarray of bool, shape (n_scans, n_peaks)
        Peaks to fit; inactive ones are held at zero area.
    gstart, gpeaks : ndarray of int
        Windows: peaks ``gpeaks[gstart[g]:gstart[g+1]]`` are fitted together.
    prof, ratio, k2 : int, float, float
        Profile code, λ₂/λ₁ and I₂/I₁ (``k2 = 0``: single line).
    wfac : float
        Window half-width beyond the outer peaks, in FWHM.
    chunk : int
        Scans per parallel block.
    warm, follow : bool
        Warm-start shape/area (``warm``) and centres (``follow``) from the previous scan.
    maxiter, tol, detect :
        LM iteration cap, χ² tolerance (see :func:`.lm.lm_fit`), and the
        height/σ below which a peak is "below detection".
    screen : bool
        Iterate only the peaks detected in the previous scan and those the residual shows
        (:func:`.screen.fit_window`); the others are reported below detection.  A block's
        first scan without a pilot start (nothing tested yet) fits every peak.
    start_p, start_ok : ndarray, shape (n_blocks, n_peaks, STATE) and (n_blocks, n_peaks)
        Warm-start state of each block's first scan (from :func:`pilot_many`);
        an empty first axis starts every block from ``guess``.
    out_p, out_esd : ndarray, shape (n_scans, n_peaks, NP)
        Fitted slots and esds (NaN-filled by the caller).
    out_h, out_hesd : ndarray, shape (n_scans, n_peaks)
        Kα1 peak height and esd.
    out_status : ndarray of int, shape (n_scans, n_peaks)
        ``ST_*`` codes.
    out_bg : ndarray, shape (n_scans, n_windows, 3)
        Local background ``b0, b1, xmid``: ``b0 + b1 (2θ - xmid)``.
    out_redchi : ndarray, shape (n_scans, n_windows)
        Reduced χ² per window.
    out_nfev : ndarray of int, shape (n_scans, n_windows)
        Model evaluations per window.
    """
    n_scans = Y.shape[0]
    nblocks = (n_scans + chunk - 1) // chunk
    for b in prange(nblocks):
        s0 = b * chunk
        s1 = min(n_scans, s0 + chunk)
        _fit_block(b, s0, s1, x, Y, SW, guess, lbk, ubk, dc, active, gstart, gpeaks, prof, ratio,
                   k2, wfac, warm, follow, maxiter, tol, detect, screen, start_p, start_ok,
                   out_p, out_esd, out_h, out_hesd, out_status, out_bg, out_redchi, out_nfev)
