"""Build the arrays of the whole-pattern model (:mod:`phasetrace._kernels.pattern`) for one scan.

Cells are refined through linear reciprocal-metric parameters ``q`` with ``m = T q`` (``m`` the
six coefficients of 1/d² = A h² + B k² + C l² + 2(D hk + E hl + F kl)), so 1/d² of every
reflection is a fixed linear form of ``q``.  ``T`` encodes the crystal system and optional ties
(``"b=c"``: an orthorhombic cell refined with b and c equal, the higher-symmetry cell).
"""

from __future__ import annotations

import functools
import itertools
import math
import weakref
from dataclasses import dataclass

import numpy as np

from .._kernels.reflections import select_reflections
from ..phases.cell import free_from_cell, metric_from_free
from ..phases.reference import B_ISO_A2, ReferencePhase
from ..schema import WAVELENGTHS_A
from .params import RefineOptions

__all__ = ["metric_basis", "free_from_q", "q_from_free", "volume_from_q", "free_jacobian",
           "volume_and_gradient", "Layout", "build_layout",
           "resolve_geometry", "chebyshev", "stacking_fault_sensitive"]

_BASIS = {
    "cubic": [[1, 1, 1, 0, 0, 0]],
    "hexagonal": [[1, 1, 0, 0.5, 0, 0], [0, 0, 1, 0, 0, 0]],
    "tetragonal": [[1, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0]],
    "orthorhombic": [[1, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0]],
    "monoclinic": [[1, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0],
                   [0, 0, 0, 0, 1, 0]],
    "triclinic": np.eye(6).tolist(),
}
_TIED = {("orthorhombic", "b=c"): [[1, 0, 0, 0, 0, 0], [0, 1, 1, 0, 0, 0]],
         ("orthorhombic", "a=c"): [[1, 0, 1, 0, 0, 0], [0, 1, 0, 0, 0, 0]],
         ("orthorhombic", "a=b"): [[1, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0]]}


@functools.lru_cache(maxsize=64)
def _basis(system: str, tie: str) -> tuple[np.ndarray, np.ndarray]:
    rows = _TIED[(system, tie)] if tie else _BASIS[system]
    t = np.asarray(rows, float).T
    return t, np.linalg.pinv(t)


def metric_basis(system: str, tie: str = "") -> np.ndarray:
    """``T`` (6, nq) with reciprocal metric ``m = T q`` for a crystal system (and tie)."""
    return _basis(system, tie)[0]


def q_from_free(system: str, free: np.ndarray, tie: str = "") -> np.ndarray:
    return _basis(system, tie)[1] @ metric_from_free(system, np.asarray(free, float))


def free_from_q(system: str, q: np.ndarray, tie: str = "") -> np.ndarray:
    """Free cell parameters (Å, degrees) of the metric ``T q``."""
    q = np.asarray(q, float)
    if system == "cubic":
        return 1.0 / np.sqrt(q)
    if system == "hexagonal":
        return np.array([np.sqrt(4.0 / (3.0 * q[0])), 1.0 / np.sqrt(q[1])])
    if system == "tetragonal":
        return 1.0 / np.sqrt(q[:2])
    m = _basis(system, tie)[0] @ q
    if system == "orthorhombic":
        return 1.0 / np.sqrt(m[:3])
    gs = np.array([[m[0], m[3], m[4]], [m[3], m[1], m[5]], [m[4], m[5], m[2]]])
    g = np.linalg.inv(gs)
    a, b, c = np.sqrt(np.diag(g))
    cell = np.array([a, b, c, math.degrees(math.acos(g[1, 2] / (b * c))),
                     math.degrees(math.acos(g[0, 2] / (a * c))),
                     math.degrees(math.acos(g[0, 1] / (a * b)))])
    return free_from_cell(system, cell)


def free_jacobian(system: str, q: np.ndarray, tie: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Free cell parameters of ``T q`` and their Jacobian ∂free/∂q (n_free, nq).

    Closed form where each axis is ``1/√(metric entry)`` (cubic, hexagonal, tetragonal,
    orthorhombic, tied or not: ∂(m^-1/2) = −½ m^-3/2 ∂m); central differences of
    :func:`free_from_q` (step 1e-7 relative) for monoclinic and triclinic cells."""
    q = np.asarray(q, float)
    if system in ("cubic", "tetragonal"):
        free = 1.0 / np.sqrt(q)
        return free, np.diag(-0.5 * free / q)
    if system == "hexagonal":
        free = free_from_q(system, q, tie)
        return free, np.diag(-0.5 * free / q)
    if system == "orthorhombic":
        t = _basis(system, tie)[0][:3]
        m = t @ q
        free = 1.0 / np.sqrt(m)
        return free, (-0.5 * free / m)[:, None] * t
    free = free_from_q(system, q, tie)
    jac = np.empty((free.size, q.size))
    for k in range(q.size):
        h = 1e-7 * max(abs(q[k]), 1e-12)
        dq = np.zeros(q.size)
        dq[k] = h
        jac[:, k] = (free_from_q(system, q + dq, tie) - free_from_q(system, q - dq, tie)) / (2 * h)
    return free, jac


def volume_and_gradient(system: str, q: np.ndarray, tie: str = "") -> tuple[float, np.ndarray]:
    """Cell volume (Å³) of ``T q`` and ∂V/∂q: ``V = det(G*)^-1/2`` so
    ``∂V/∂m = −½ V ∂det/∂m / det`` with the cofactors of the symmetric G*."""
    t = _basis(system, tie)[0]
    m0, m1, m2, m3, m4, m5 = t @ np.asarray(q, float)
    det = m0 * m1 * m2 - m0 * m5 * m5 - m2 * m3 * m3 + 2 * m3 * m4 * m5 - m1 * m4 * m4
    if not det > 0:
        return math.nan, np.full(t.shape[1], math.nan)
    vol = 1.0 / math.sqrt(det)
    ddet = np.array([m1 * m2 - m5 * m5, m0 * m2 - m4 * m4, m0 * m1 - m3 * m3,
                     2 * (m4 * m5 - m2 * m3), 2 * (m3 * m5 - m1 * m4), 2 * (m3 * m4 - m0 * m5)])
    return vol, (-0.5 * vol / det) * (ddet @ t)


def volume_from_q(system: str, q: np.ndarray, tie: str = "") -> float:
    """Cell volume (Å³) = 1/√det G* of the metric ``T q``."""
    m = _basis(system, tie)[0] @ np.asarray(q, float)
    det = (m[0] * (m[1] * m[2] - m[5] * m[5]) - m[3] * (m[3] * m[2] - m[5] * m[4])
           + m[4] * (m[3] * m[5] - m[1] * m[4]))
    return float(1.0 / math.sqrt(det)) if det > 0 else math.nan


#: shortest laboratory wavelength measured in reflection by default, Å (see resolve_geometry).
REFLECTION_MIN_WAVELENGTH_A = 1.0


def resolve_geometry(geometry: str, wavelength_A: float) -> str:
    """``"reflection"`` or ``"transmission"``.

    ``"auto"``: reflection (zero shift + sample displacement) for a laboratory Kα1 line of
    λ ≥ 1 Å (Cr, Fe, Co, Cu; ±0.0015 Å of a line in ``WAVELENGTHS_A``), transmission
    (zero shift only) for shorter wavelengths (Mo, Ag Kα, synchrotron).  Pass ``geometry``
    explicitly for a Mo source in reflection.

    Why the wavelength decides: the geometry an operando cell can be measured in is set by
    absorption.  At Cu Kα (8 keV) a layered Na–TM oxide electrode (ρ ≈ 4 g cm⁻³,
    μ/ρ ≈ 100–270 cm² g⁻¹ for Mn/Fe/Ni oxides) has an absorption length of 10–25 µm,
    shorter than the 50–100 µm coating, and a whole cell (electrode, separator, Na, casing)
    is opaque: Cu/Co/Fe/Cr instruments measure in Bragg–Brentano reflection through a Be
    or Kapton window.  There the sample-height error ``s`` shifts every line by
    Δ2θ = −2 s cos θ / R (rad, R the goniometer radius), the first-order term refined as the
    displacement ``D cos θ`` besides the zero.  Mo/Ag Kα (17–22 keV, λ 0.71/0.56 Å) and
    synchrotron beams (λ ≲ 0.8 Å) lengthen the absorption length ten- to hundredfold
    (μ ∝ λ³ between edges), so cells are measured in transmission (flat cell across the beam
    or capillary, area detector); there a sample off the axis changes the sample–detector
    distance, which a calibrated distance/wavelength takes up, and leaves no cos θ term.
    1 Å (12.4 keV) lies between the two groups: no common anode line falls between Mo
    (0.71 Å) and Cu (1.54 Å)."""
    if geometry in ("reflection", "transmission"):
        return geometry
    lab = any(abs(w1 - wavelength_A) <= 0.0015 for w1, _, _ in WAVELENGTHS_A.values())
    return "reflection" if lab and wavelength_A >= REFLECTION_MIN_WAVELENGTH_A else "transmission"


#: the last grid's basis (a stack's scans share one grid): (grid copy, n, basis), replaced
#: as one tuple so that concurrent callers never mix two grids
_CHEB_LAST: tuple = (np.zeros(0), 0, np.zeros((0, 0)))


def chebyshev(x: np.ndarray, n: int) -> np.ndarray:
    """Chebyshev polynomials T_0..T_(n-1) of x mapped onto [-1, 1], shape (N, n); the array
    may be shared with other calls on the same grid: do not modify it."""
    global _CHEB_LAST
    last = _CHEB_LAST
    if last[1] == n and np.array_equal(last[0], x):
        return last[2]
    u = 2.0 * (x - x[0]) / max(x[-1] - x[0], 1e-12) - 1.0
    out = np.empty((x.size, n))
    for m in range(n):      # T_0 = 1, T_1 = u, T_(m+1) = 2u T_m − T_(m−1)
        out[:, m] = 1.0 if m == 0 else (u if m == 1 else 2 * u * out[:, m - 1] - out[:, m - 2])
    _CHEB_LAST = (np.array(x, float), n, out)
    return out


@dataclass
class Layout:
    """Parameter names, start values, bounds and kernel index tables of one scan's model."""

    names: list[str]
    p0: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    flagged: np.ndarray          # bool: a bound here biases values (at_bound status)
    flagged_upper: np.ndarray    # bool: only the upper bound does (lower bound physical: 0)
    owner: np.ndarray            # int: phase owning the parameter, -1 global
    glob: np.ndarray             # (3,) Z, D, first background coefficient
    phase_idx: np.ndarray        # (P, 8) scale, U, W, eta, r, first q, nq, sf Δl (-1 none)
    ph: np.ndarray
    bq: np.ndarray
    fbase: np.ndarray
    cos2: np.ndarray             # (K, 2) cos² to the PO axis, |l|c*²/d* of faulted lines or 0
    i_int: np.ndarray
    hkl: list[np.ndarray]
    modes: list[str]
    ties: list[str]
    warm_complete: bool = False  # every phase (same reflections) and the background warm
    q_index: np.ndarray | None = None  # (K, 6) slot of q_j in [p, 0] for each bq[:, j]


def _q_box(phase, lo_hi_free, tie) -> tuple[np.ndarray, np.ndarray]:
    """Box of q containing the metric of every corner of the free-parameter box."""
    return _q_box_cached(phase.crystal_system, tuple(tuple(float(v) for v in r)
                                                     for r in lo_hi_free), tie)


@functools.lru_cache(maxsize=256)
def _q_box_cached(system, lo_hi_free, tie):
    corners = np.array([q_from_free(system, np.array(c), tie)
                        for c in itertools.product(*lo_hi_free)])
    return corners.min(axis=0), corners.max(axis=0)


#: per reference phase (by identity): h, k, l as floats and the six products of 1/d² (all
#: reflections), built once; the per-scan selection is then a few array operations.
_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _hkl_table(phase) -> tuple[np.ndarray, np.ndarray]:
    tab = _TABLES.get(phase)
    if tab is None:
        h = np.asarray(phase.hkl, float).reshape(-1, 3)
        prods = np.stack([h[:, 0] ** 2, h[:, 1] ** 2, h[:, 2] ** 2, 2 * h[:, 0] * h[:, 1],
                          2 * h[:, 0] * h[:, 2], 2 * h[:, 1] * h[:, 2]], axis=1)
        tab = _TABLES[phase] = (h, prods)
    return tab


def stacking_fault_sensitive(phase, labels=()) -> bool:
    """Whether the stacking-fault breadth Δl is refined for ``phase``.

    A layered phase refined in a hexagonal cell whose MO2 slabs can glide by (1/3, 2/3) into
    another stacking broadens along the c* rod every reflection with h − k ≠ 3n and l ≠ 0
    and leaves h − k = 3n and 00l sharp (Warren 1969 §13; Hendricks & Teller 1942).  By
    default the term is refined for the O/P intergrowths only (OP4, OP2: labels ``OP…``, the
    PHASES.md nomenclature of mixed O and P interlayers), whose stacking *is* an ordered
    sequence of such glides and is faulted as a rule; ``labels`` adds other layered hexagonal
    phases (P2, P3, O3, O2, O1) known to be faulted.  Giving every layered phase the extra
    width would let a phase that is absent soak up residuals with broad lines.  Distorted
    (orthorhombic/monoclinic) variants, spinels and cell parts: never."""
    if phase.family != "layered" or phase.crystal_system != "hexagonal":
        return False
    return phase.label.startswith("OP") or phase.label in labels


def _reflections(phase, free, wl, tt_lo, tt_hi, rel_min, use_po, use_sf=False):
    """Reflections of ``phase`` at cell ``free`` with 2θ in (tt_lo, tt_hi) and intensity
    ``m|F|²·LP·DW`` ≥ ``rel_min`` × the strongest there
    (:func:`phasetrace._kernels.reflections.select_reflections`): (indices, 1/d², ``m|F|²·DW``,
    (n, 2) array of the cos² of the angle to the layer normal c* (zeros without PO) and
    ``|l| c*²/d*`` of the h − k ≠ 3n, l ≠ 0 reflections (hexagonal axes; zeros without
    stacking faults): a breadth Δl along c* projects onto d* as Δd* = Δl |l| c*²/d*)."""
    h, prods = _hkl_table(phase)
    m = metric_from_free(phase.crystal_system, free)
    nk = prods.shape[0]
    sel, q2, fbase, orient = np.empty(nk, np.int64), np.empty(nk), np.empty(nk), np.empty((nk, 2))
    n = select_reflections(h, prods, np.ascontiguousarray(phase.mult_f2, float), m, float(wl),
                           B_ISO_A2, float(tt_lo), float(tt_hi), float(rel_min), bool(use_po),
                           bool(use_sf), sel, q2, fbase, orient)
    return sel[:n], q2[:n], fbase[:n], orient[:n]


def build_layout(phases: list[ReferencePhase], free0, two_theta, *, wavelength_A, fwhm_deg,
                 options: RefineOptions, geometry: str, free_bounds=None, ties=None,
                 warm: dict | None = None) -> Layout:
    """Parameters and reflection tables for ``phases`` starting at cells ``free0``.

    ``warm`` maps a phase label to a previous :class:`PhaseSolution` (profile, scale, PO start)
    and may hold ``"zero"``, ``"displacement"``, ``"background"``.
    """
    warm = warm or {}
    ties = list(ties) if ties is not None else [""] * len(phases)
    free_bounds = list(free_bounds) if free_bounds is not None else [None] * len(phases)
    names, p0, lb, ub, flag, owner, flag_up = [], [], [], [], [], [], []

    def add(name, v, lo, hi, flagged=False, own=-1, upper=False):
        names.append(name)
        p0.append(v)
        lb.append(lo)
        ub.append(hi)
        flag.append(flagged)
        flag_up.append(upper)
        owner.append(own)
        return len(names) - 1

    z0 = float(warm.get("zero", options.zero0))
    iz = add("zero", z0, options.zero0 - options.max_zero_deg, options.zero0
             + options.max_zero_deg, options.max_zero_deg > 0)
    d0 = float(warm.get("displacement", options.displacement0)) if geometry == "reflection" else 0.0
    span_d = options.max_displacement_deg if geometry == "reflection" else 0.0
    idisp = add("displacement", d0, options.displacement0 - span_d,
                options.displacement0 + span_d, span_d > 0)
    if geometry != "reflection":
        lb[idisp] = ub[idisp] = 0.0
    bg_warm = np.asarray(warm.get("background", np.zeros(options.n_background)), float)
    ibg = len(names)
    for m in range(options.n_background):
        add(f"background.c{m}", float(bg_warm[m]) if m < bg_warm.size else 0.0, -np.inf, np.inf)
    reach = 3 * fwhm_deg + options.max_zero_deg + options.max_displacement_deg
    tt_lo, tt_hi = two_theta[0] - reach, two_theta[-1] + reach
    phase_idx = np.zeros((len(phases), 8), np.int64)
    ph, bq, fb, c2, ii, hkls, modes = [], [], [], [], [], [], []
    for j, phase in enumerate(phases):
        prev = warm.get(phase.label)
        pawley = (options.intensities == "pawley" or phase.label in options.pawley_labels
                  or phase.is_cell_component or phase.mult_f2.size == 0)
        mode = "pawley" if pawley else "rietveld"
        lab = phase.label
        i_s = add(f"{lab}.scale", float(prev.scale) if prev is not None and np.isfinite(
            prev.scale) else 1.0, 0.0, np.inf, own=j)
        w0 = (0.8 * fwhm_deg) ** 2
        i_u = add(f"{lab}.U", float(prev.u) if prev is not None else 0.0, 0.0,
                  (5 * fwhm_deg) ** 2, False, j)
        i_w = add(f"{lab}.W", float(prev.w) if prev is not None else w0, (0.2 * fwhm_deg) ** 2,
                  (3 * fwhm_deg) ** 2, False, j)
        i_e = add(f"{lab}.eta", float(prev.eta) if prev is not None else 0.5, 0.0, 1.0, own=j)
        use_po = (mode == "rietveld" and options.preferred_orientation
                  and phase.family == "layered")
        i_r = add(f"{lab}.po_r", float(prev.po_r) if prev is not None and use_po else 1.0,
                  0.3, 3.0, own=j) if use_po else -1
        use_sf = options.stacking_faults and stacking_fault_sensitive(
            phase, options.stacking_fault_labels)
        i_sf = add(f"{lab}.sf_dl", float(prev.sf_dl) if prev is not None and np.isfinite(
            prev.sf_dl) else 0.0, 0.0, options.max_sf_dl, own=j, upper=True) if use_sf else -1
        if mode == "pawley":
            lb[i_s] = ub[i_s] = p0[i_s] = 1.0
        free = np.asarray(free0[j], float)
        box = free_bounds[j]
        if box is None:
            fbnd = phase.free_bounds.copy()
            width = fbnd[:, 1] - fbnd[:, 0]
            fbnd[:, 0] -= 0.02 * width
            fbnd[:, 1] += 0.02 * width
        else:
            fbnd = np.asarray(box, float)
        tie = ties[j]
        q0 = q_from_free(phase.crystal_system, free, tie)
        qlo, qhi = _q_box(phase, [tuple(r) for r in fbnd], tie)
        iq0 = len(names)
        for m, v in enumerate(q0):
            add(f"{lab}.q{m}", float(v), float(qlo[m]), float(qhi[m]), True, j)
        phase_idx[j] = (i_s, i_u, i_w, i_e, i_r, iq0, q0.size, i_sf)
        # a free (Pawley) intensity needs its line's centre on the grid: beyond the grid's
        # ends only the tail would constrain it, which the window taper takes to 0
        # (an unmeasurable parameter, whose undamped step diverges); a structure amplitude
        # is tied to the scale, so a line outside still models its tail inside
        lo_k, hi_k = (two_theta[0], two_theta[-1]) if mode == "pawley" else (tt_lo, tt_hi)
        sel, q2, fbase, cos2 = _reflections(phase, free, wavelength_A, lo_k, hi_k,
                                            1e-3 if mode == "pawley" else 1e-4, use_po, use_sf)
        hkl = phase.hkl[sel]
        coef = np.zeros((sel.size, 6))
        coef[:, :q0.size] = _hkl_table(phase)[1][sel] @ metric_basis(phase.crystal_system, tie)
        ph.append(np.full(sel.size, j))
        bq.append(coef)
        fb.append(fbase)
        c2.append(cos2)
        if mode == "pawley":
            same = (prev is not None and prev.hkl.shape == hkl.shape
                    and np.array_equal(prev.hkl, hkl))
            start_i = prev.intensity if same else np.ones(len(hkl))
            idx = [add(f"{lab}.I{tuple(int(v) for v in hk)}", float(a0), 0.0, np.inf, own=j)
                   for hk, a0 in zip(hkl, start_i)]
            ii.append(np.asarray(idx, np.int64).reshape(-1))
        else:
            ii.append(np.full(sel.size, -1, np.int64))
        hkls.append(hkl.astype(int))
        modes.append(mode)
    ph_all = np.concatenate(ph + [np.zeros(0, np.int64)]).astype(np.int64)
    slot = np.arange(6)
    q_index = np.where(slot < phase_idx[ph_all, 6][:, None],
                       phase_idx[ph_all, 5][:, None] + slot, len(names))
    complete = all(warm.get(p.label) is not None and warm[p.label].hkl.shape == h.shape
                   and np.array_equal(warm[p.label].hkl, h) for p, h in zip(phases, hkls))
    return Layout(
        warm_complete=bool(complete) and "background" in warm,
        names=names, p0=np.array(p0, float), lb=np.array(lb, float), ub=np.array(ub, float),
        flagged=np.array(flag, bool), flagged_upper=np.array(flag_up, bool),
        owner=np.array(owner, np.int64),
        glob=np.array([iz, idisp, ibg], np.int64), phase_idx=phase_idx,
        ph=np.ascontiguousarray(ph_all), q_index=q_index,
        bq=np.ascontiguousarray(np.concatenate(bq + [np.zeros((0, 6))])),
        fbase=np.ascontiguousarray(np.concatenate(fb + [np.zeros(0)])),
        cos2=np.ascontiguousarray(np.concatenate(c2 + [np.zeros((0, 2))])),
        i_int=np.ascontiguousarray(np.concatenate(ii + [np.zeros(0, np.int64)])),
        hkl=hkls, modes=modes, ties=ties)
