"""Phase fractions from Rietveld scale factors (Hill & Howard 1987), with esds.

With intensities ``I_k = S_p m|F_k|² LP`` (|F|² per cell), ``S_p ∝ v_p / V_p²`` (v_p the phase's
volume fraction, V_p its cell volume).  Hence

* volume fraction  ``v_p = S_p V_p² / Σ_q S_q V_q²``,
* weight fraction  ``W_p = S_p (ZM)_p V_p / Σ_q S_q (ZM)_q V_q``  (``ZM`` = mass of the cell).

Both assume the reference structures are right (atoms fixed, B = 1 Å²) and no
microabsorption (particles small against the absorption length, or equal absorption).
Cell components and Pawley-mode phases carry no scale and get NaN.  Esds are propagated from
the full covariance of the scales and cells (delta method).
"""

from __future__ import annotations

import numpy as np

from .model import volume_from_q

__all__ = ["phase_fractions"]


def _fractions(x, spec):
    """(weight, volume) fractions of the phases in ``spec`` from the parameter subset ``x``."""
    w, v = [], []
    for i_s, sl, system, tie, mass in spec:
        vol = volume_from_q(system, x[sl], tie)
        w.append(x[i_s] * mass * vol)
        v.append(x[i_s] * vol * vol)
    w, v = np.array(w), np.array(v)
    return np.concatenate([w / w.sum(), v / v.sum()]) if w.sum() > 0 else np.full(2 * w.size, np.nan)


def phase_fractions(phases, sols, layout, cov) -> None:
    """Fill weight/volume fractions and esds of the Rietveld phases in ``sols`` (in place)."""
    idx = [j for j, s in enumerate(sols)
           if s.mode == "rietveld" and not phases[j].is_cell_component
           and np.isfinite(phases[j].cell_mass)]
    if not idx:
        return
    cols, spec = [], []
    for j in idx:
        i_s, iq0, nq = (int(layout.phase_idx[j, k]) for k in (0, 5, 6))
        start = len(cols)
        cols.append(i_s)
        cols.extend(range(iq0, iq0 + nq))
        spec.append((start, slice(start + 1, start + 1 + nq), phases[j].crystal_system,
                     sols[j].tie, float(phases[j].cell_mass)))
    x0 = np.zeros(len(cols))
    for j, (start, sl, *_rest) in zip(idx, spec):
        x0[start] = sols[j].scale
        x0[sl] = sols[j].q
    val = _fractions(x0, spec)
    c = cov[np.ix_(cols, cols)]
    jac = np.empty((val.size, x0.size))
    for m in range(x0.size):
        h = 1e-6 * max(abs(x0[m]), 1e-30)
        d = np.zeros(x0.size)
        d[m] = h
        jac[:, m] = (_fractions(x0 + d, spec) - _fractions(x0 - d, spec)) / (2 * h)
    var = np.einsum("ij,jk,ik->i", jac, c, jac) if np.all(np.isfinite(c)) else np.full(val.size, np.nan)
    esd = np.sqrt(np.maximum(var, 0.0))
    n = len(idx)
    for k, j in enumerate(idx):
        sols[j].weight_fraction, sols[j].esd_weight_fraction = float(val[k]), float(esd[k])
        sols[j].volume_fraction, sols[j].esd_volume_fraction = float(val[n + k]), float(esd[n + k])
