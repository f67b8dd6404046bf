"""Numba peak profiles with analytic derivatives (the one copy used by every fit).

Every peak is packed into ``NP`` consecutive slots of a parameter vector; the
index constants below are the only place this layout is defined.

==========  =======================  =====================  ========================
slot        pseudo-Voigt / split     Pearson VII            TCH pseudo-Voigt
==========  =======================  =====================  ========================
P_CENTER    centre 2θ (deg)          centre 2θ (deg)        centre 2θ (deg)
P_FWHM      FWHM (deg)               FWHM (deg)             Gaussian FWHM Γ_G (deg)
P_SHAPE     η (Lorentz fraction)     exponent m             Lorentzian FWHM Γ_L (deg)
P_AREA      integrated area          integrated area        integrated area
P_ASYM      asymmetry a (split only) unused                 unused
==========  =======================  =====================  ========================

The split pseudo-Voigt has FWHM ``fwhm*(1-a)`` on the low-angle side and
``fwhm*(1+a)`` on the high-angle side; both halves share one height, so the
area is that of the symmetric profile.

A Kα1/Kα2 doublet adds, for each peak, a copy at
``2θ₂ = 2 asin((λ₂/λ₁) sin θ₁)`` with the same widths and ``k2`` times the area;
``area`` is always the Kα1 area.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

NP = 5
P_CENTER = 0
P_FWHM = 1
P_SHAPE = 2
P_AREA = 3
P_ASYM = 4

PROF_PV = 0
PROF_SPLIT_PV = 1
PROF_PEARSON7 = 2
PROF_TCH = 3

#: profile name -> kernel code.
PROFILE_CODES = {"pseudo_voigt": PROF_PV, "split_pseudo_voigt": PROF_SPLIT_PV,
                 "pearson7": PROF_PEARSON7, "tch_pseudo_voigt": PROF_TCH}

_AG = 4.0 * math.log(2.0)
_CG = math.sqrt(_AG / math.pi)
_CL = 2.0 / math.pi
_LN2 = math.log(2.0)
_DEG = math.pi / 180.0


@njit(cache=True, nogil=True)
def pv_height_factor(eta: float) -> float:
    """Height of a unit-area, unit-FWHM pseudo-Voigt: ``η 2/π + (1-η) √(4 ln 2/π)``."""
    return eta * _CL + (1.0 - eta) * _CG


@njit(cache=True, nogil=True)
def digamma(x: float) -> float:
    """Digamma function ψ(x) for x > 0 (recurrence + asymptotic series, ~1e-12)."""
    acc = 0.0
    while x < 10.0:
        acc -= 1.0 / x
        x += 1.0
    inv = 1.0 / x
    inv2 = inv * inv
    return acc + math.log(x) - 0.5 * inv - inv2 * (
        1.0 / 12.0 - inv2 * (1.0 / 120.0 - inv2 * (1.0 / 252.0 - inv2 * (1.0 / 240.0))))


@njit(cache=True, nogil=True)
def p7_area_factor(m: float) -> float:
    """Area of a unit-height, unit-FWHM Pearson VII of exponent ``m`` (> 0.5)."""
    k = 2.0 ** (1.0 / m) - 1.0
    return math.sqrt(math.pi) * math.exp(math.lgamma(m - 0.5) - math.lgamma(m)) / (2.0 * math.sqrt(k))


@njit(cache=True, nogil=True)
def p7_dlog_area_factor(m: float) -> float:
    """Derivative of ``log(p7_area_factor(m))`` with respect to ``m``."""
    t = 2.0 ** (1.0 / m)
    dk = -t * _LN2 / (m * m)
    return digamma(m - 0.5) - digamma(m) - 0.5 * dk / (t - 1.0)


@njit(cache=True, nogil=True)
def tch_mix(fg: float, fl: float):
    """Thompson–Cox–Hastings total FWHM and η from Γ_G, Γ_L, with derivatives.

    Returns ``(f, eta, df/dfg, df/dfl, deta/dfg, deta/dfl)``.
    """
    s = (fg ** 5 + 2.69269 * fg ** 4 * fl + 2.42843 * fg ** 3 * fl ** 2
         + 4.47163 * fg ** 2 * fl ** 3 + 0.07842 * fg * fl ** 4 + fl ** 5)
    ds_g = (5 * fg ** 4 + 4 * 2.69269 * fg ** 3 * fl + 3 * 2.42843 * fg ** 2 * fl ** 2
            + 2 * 4.47163 * fg * fl ** 3 + 0.07842 * fl ** 4)
    ds_l = (2.69269 * fg ** 4 + 2 * 2.42843 * fg ** 3 * fl + 3 * 4.47163 * fg ** 2 * fl ** 2
            + 4 * 0.07842 * fg * fl ** 3 + 5 * fl ** 4)
    f = s ** 0.2
    df_ds = 0.2 * f / s
    df_g = df_ds * ds_g
    df_l = df_ds * ds_l
    q = fl / f
    eta = 1.36603 * q - 0.47719 * q * q + 0.11116 * q * q * q
    deta_dq = 1.36603 - 2.0 * 0.47719 * q + 3.0 * 0.11116 * q * q
    deta_g = deta_dq * (-fl / (f * f)) * df_g
    deta_l = deta_dq * (1.0 / f - fl / (f * f) * df_l)
    return f, eta, df_g, df_l, deta_g, deta_l


@njit(cache=True, nogil=True)
def tch_split(eta):
    """Gaussian and Lorentzian FWHM per unit total FWHM (ρ, q) of the Thompson–Cox–Hastings
    pseudo-Voigt whose mixing is ``eta`` (the inverse of
    :func:`tch_mix`, so ``tch_mix(ρΓ, qΓ) = (Γ, eta)``), and
    dρ/dη, dq/dη.  Newton on η(q) (concave, increasing on [0, 1]) then on the TCH quintic
    S(ρ, q) = 1 (convex, increasing in ρ): both converge monotonically."""
    eta = min(max(eta, 0.0), 1.0)
    q = eta
    for _ in range(60):
        fq = 1.36603 * q - 0.47719 * q * q + 0.11116 * q * q * q - eta
        dq = fq / (1.36603 - 0.95438 * q + 0.33348 * q * q)
        q -= dq
        if abs(dq) < 1e-15:
            break
    q = min(max(q, 0.0), 1.0)
    r = 1.0
    for _ in range(60):
        s = (r ** 5 + 2.69269 * r ** 4 * q + 2.42843 * r ** 3 * q * q + 4.47163 * r * r * q ** 3
             + 0.07842 * r * q ** 4 + q ** 5)
        ds = (5 * r ** 4 + 4 * 2.69269 * r ** 3 * q + 3 * 2.42843 * r * r * q * q
              + 2 * 4.47163 * r * q ** 3 + 0.07842 * q ** 4)
        dr = (s - 1.0) / ds
        r -= dr
        if abs(dr) < 1e-15:
            break
    r = max(r, 0.0)
    ds_r = (5 * r ** 4 + 4 * 2.69269 * r ** 3 * q + 3 * 2.42843 * r * r * q * q
            + 2 * 4.47163 * r * q ** 3 + 0.07842 * q ** 4)
    ds_q = (2.69269 * r ** 4 + 2 * 2.42843 * r ** 3 * q + 3 * 4.47163 * r * r * q * q
            + 4 * 0.07842 * r * q ** 3 + 5 * q ** 4)
    dq_de = 1.0 / (1.36603 - 0.95438 * q + 0.33348 * q * q)
    return r, q, -ds_q / ds_r * dq_de, dq_de


@njit(cache=True, nogil=True)
def pv_unit(dx: float, f: float, eta: float):
    """Unit-area pseudo-Voigt at offset ``dx`` and derivatives.

    Returns ``(value, d/d(center), d/d(fwhm), d/d(eta))``.  Beyond 4 FWHM the Gaussian
    part (< exp(−4 ln2 · 64) ≈ 1e-77 of its peak) is exactly 0: no exponential in the tails.
    """
    inv = 1.0 / f
    u2 = dx * dx * inv * inv
    g = _CG * inv * math.exp(-_AG * u2) if u2 < 64.0 else 0.0
    iden = 1.0 / (1.0 + 4.0 * u2)
    lo = _CL * inv * iden
    val = eta * lo + (1.0 - eta) * g
    dxi2 = dx * inv * inv
    dg_dc = g * (2.0 * _AG * dxi2)
    dl_dc = lo * (8.0 * dxi2) * iden
    dg_df = g * (-1.0 + 2.0 * _AG * u2) * inv
    dl_df = lo * (-1.0 + 8.0 * u2 * iden) * inv
    return val, eta * dl_dc + (1.0 - eta) * dg_dc, eta * dl_df + (1.0 - eta) * dg_df, lo - g


@njit(cache=True, nogil=True)
def peak_constants(pk: np.ndarray, prof: int):
    """Per-peak constants used by :func:`peak_point` (a 6-tuple of floats).

    Pearson VII: ``(k, 1/(fwhm N(m)), dk/dm, dlogN/dm, 0, 0)``; TCH: the
    output of :func:`tch_mix`; other profiles: zeros.
    """
    if prof == PROF_PEARSON7:
        f = pk[P_FWHM]
        m = pk[P_SHAPE]
        t = 2.0 ** (1.0 / m)
        return (4.0 * (t - 1.0), 1.0 / (f * p7_area_factor(m)), -4.0 * t * _LN2 / (m * m),
                p7_dlog_area_factor(m), 0.0, 0.0)
    if prof == PROF_TCH:
        return tch_mix(pk[P_FWHM], pk[P_SHAPE])
    return (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


@njit(cache=True, nogil=True)
def peak_point(dx: float, pk: np.ndarray, prof: int, d: np.ndarray, cst) -> float:
    """Value of one peak component at offset ``dx`` from its centre; fills ``d``.

    Parameters
    ----------
    dx : float
        ``x - center`` (deg).
    pk : ndarray, shape (NP,)
        Peak parameters (see module table).
    prof : int
        Profile code (``PROF_*``).
    d : ndarray, shape (NP,)
        Output: derivatives w.r.t. each slot; ``d[P_CENTER]`` is w.r.t. the
        component centre.
    cst : tuple of float
        ``peak_constants(pk, prof)``.

    Returns
    -------
    float
        Profile value (counts).
    """
    area = pk[P_AREA]
    if prof == PROF_PEARSON7:
        f = pk[P_FWHM]
        m = pk[P_SHAPE]
        k, inv_norm, dk, dlog = cst[0], cst[1], cst[2], cst[3]
        u = dx / f
        b = 1.0 + k * u * u
        shape = b ** (-m) * inv_norm
        v = area * shape
        d[P_CENTER] = v * 2.0 * m * k * u / (f * b)
        d[P_FWHM] = v * (-1.0 + 2.0 * m * k * u * u / b) / f
        d[P_SHAPE] = v * (-dlog - math.log(b) - m * dk * u * u / b)
        d[P_AREA] = shape
        d[P_ASYM] = 0.0
        return v
    if prof == PROF_SPLIT_PV:
        a = pk[P_ASYM]
        f = pk[P_FWHM]
        sgn = -1.0 if dx < 0.0 else 1.0
        ks = 1.0 + sgn * a
        fs = f * ks
        val, dc, dfs, de = pv_unit(dx, fs, pk[P_SHAPE])
        d[P_CENTER] = area * ks * dc
        d[P_FWHM] = area * ks * dfs * ks
        d[P_SHAPE] = area * ks * de
        d[P_AREA] = ks * val
        d[P_ASYM] = area * sgn * (val + ks * dfs * f)
        return area * ks * val
    if prof == PROF_TCH:
        f, eta, df_g, df_l, de_g, de_l = cst[0], cst[1], cst[2], cst[3], cst[4], cst[5]
        val, dc, dfw, de = pv_unit(dx, f, eta)
        d[P_CENTER] = area * dc
        d[P_FWHM] = area * (dfw * df_g + de * de_g)
        d[P_SHAPE] = area * (dfw * df_l + de * de_l)
        d[P_AREA] = val
        d[P_ASYM] = 0.0
        return area * val
    val, dc, dfw, de = pv_unit(dx, pk[P_FWHM], pk[P_SHAPE])
    d[P_CENTER] = area * dc
    d[P_FWHM] = area * dfw
    d[P_SHAPE] = area * de
    d[P_AREA] = val
    d[P_ASYM] = 0.0
    return area * val


@njit(cache=True, nogil=True)
def doublet_center(c1: float, ratio: float):
    """Kα2 position (deg) of a Kα1 peak at ``c1`` and d(c2)/d(c1); NaN if unreachable."""
    s = ratio * math.sin(0.5 * c1 * _DEG)
    if s >= 1.0:
        return math.nan, 0.0
    c2 = 2.0 * math.asin(s) / _DEG
    dc2 = ratio * math.cos(0.5 * c1 * _DEG) / math.cos(0.5 * c2 * _DEG)
    return c2, dc2


@njit(cache=True, nogil=True)
def _add_pv(x, n, pk, c1, c2, dc2, k2, f, jac, col):
    """:func:`add_peak` for the plain pseudo-Voigt: the same arithmetic as
    :func:`peak_point` (bit-identical values and derivatives) with the slots kept in
    registers instead of the ``d`` scratch array (about 3× faster)."""
    fw = pk[P_FWHM]
    eta = pk[P_SHAPE]
    area = pk[P_AREA]
    two = k2 > 0.0 and c2 == c2
    for i in range(n):
        val, dc, dfw, de = pv_unit(x[i] - c1, fw, eta)
        v = area * val
        jc = area * dc
        jf = area * dfw
        je = area * de
        ja = val
        if two:
            val2, dc_2, dfw2, de2 = pv_unit(x[i] - c2, fw, eta)
            v += k2 * (area * val2)
            jc += k2 * (area * dc_2) * dc2
            jf += k2 * (area * dfw2)
            je += k2 * (area * de2)
            ja += k2 * val2
        if col >= 0:
            jac[i, col + P_CENTER] = jc
            jac[i, col + P_FWHM] = jf
            jac[i, col + P_SHAPE] = je
            jac[i, col + P_AREA] = ja
            jac[i, col + P_ASYM] = 0.0
        f[i] += v


@njit(cache=True, nogil=True)
def add_peak(x: np.ndarray, n: int, pk: np.ndarray, prof: int, ratio: float, k2: float,
             f: np.ndarray, jac: np.ndarray, col: int, d: np.ndarray) -> None:
    """Add one peak (and its Kα2 copy when ``k2 > 0``) to ``f[:n]`` and fill its Jacobian.

    Parameters
    ----------
    x : ndarray, shape (>= n,)
        2θ (deg) of the points.
    n : int
        Number of points used.
    pk : ndarray, shape (NP,)
        Peak parameters.
    prof : int
        Profile code.
    ratio, k2 : float
        λ₂/λ₁ and I(Kα2)/I(Kα1); ``k2 = 0`` for no doublet.
    f : ndarray, shape (>= n,)
        Model values, added to in place.
    jac : ndarray, shape (>= n, >= col + NP)
        Columns ``col .. col+NP-1`` are overwritten with d(model)/d(slot);
        pass a 0-column array with ``col = -1`` to skip.
    col : int
        First Jacobian column of this peak, or -1 to skip the Jacobian.
    d : ndarray, shape (NP,)
        Scratch.
    """
    c1 = pk[P_CENTER]
    c2 = math.nan
    dc2 = 0.0
    if k2 > 0.0:
        c2, dc2 = doublet_center(c1, ratio)
    if prof == PROF_PV:
        _add_pv(x, n, pk, c1, c2, dc2, k2, f, jac, col)
        return
    cst = peak_constants(pk, prof)
    for i in range(n):
        v = peak_point(x[i] - c1, pk, prof, d, cst)
        if col >= 0:
            for j in range(NP):
                jac[i, col + j] = d[j]
        if k2 > 0.0 and c2 == c2:
            v2 = peak_point(x[i] - c2, pk, prof, d, cst)
            v += k2 * v2
            if col >= 0:
                jac[i, col + P_CENTER] += k2 * d[P_CENTER] * dc2
                for j in range(1, NP):
                    jac[i, col + j] += k2 * d[j]
        f[i] += v


@njit(cache=True, nogil=True)
def peak_height(pk: np.ndarray, prof: int, g: np.ndarray) -> float:
    """Kα1 peak height (counts) and its gradient ``g`` (shape (NP,)) w.r.t. the slots."""
    for j in range(NP):
        g[j] = 0.0
    area = pk[P_AREA]
    if prof == PROF_PEARSON7:
        f = pk[P_FWHM]
        m = pk[P_SHAPE]
        h = area / (f * p7_area_factor(m))
        g[P_FWHM] = -h / f
        g[P_SHAPE] = -h * p7_dlog_area_factor(m)
        g[P_AREA] = h / area if area != 0.0 else 1.0 / (f * p7_area_factor(m))
        return h
    if prof == PROF_TCH:
        f, eta, df_g, df_l, de_g, de_l = tch_mix(pk[P_FWHM], pk[P_SHAPE])
        c = pv_height_factor(eta)
        h = area * c / f
        dh_df = -h / f
        dh_de = area * (_CL - _CG) / f
        g[P_FWHM] = dh_df * df_g + dh_de * de_g
        g[P_SHAPE] = dh_df * df_l + dh_de * de_l
        g[P_AREA] = c / f
        return h
    f = pk[P_FWHM]
    eta = pk[P_SHAPE]
    c = pv_height_factor(eta)
    h = area * c / f
    g[P_FWHM] = -h / f
    g[P_SHAPE] = area * (_CL - _CG) / f
    g[P_AREA] = c / f
    return h


@njit(cache=True, nogil=True)
def eval_peaks(x: np.ndarray, pks: np.ndarray, prof: int, ratio: float, k2: float,
               out: np.ndarray) -> None:
    """Sum of peaks ``pks`` (shape (n_peaks, NP)) on ``x`` into ``out`` (overwritten).

    Peaks with a NaN centre or area are skipped.
    """
    n = x.shape[0]
    for i in range(n):
        out[i] = 0.0
    d = np.empty(NP)
    dummy = np.empty((0, 0))
    for p in range(pks.shape[0]):
        if pks[p, P_CENTER] == pks[p, P_CENTER] and pks[p, P_AREA] == pks[p, P_AREA]:
            add_peak(x, n, pks[p], prof, ratio, k2, out, dummy, -1, d)
