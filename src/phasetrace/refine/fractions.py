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

from .model import volume_and_gradient

__all__ = ["phase_fractions"]


def _normalised(x, dx):
    """Fractions ``x / Σx`` and their Jacobian from ∂x (rows: phases, columns: parameters)."""
    total = x.sum()
    if not total > 0:
        return np.full(x.size, np.nan), np.full(dx.shape, np.nan)
    f = x / total
    return f, (dx - np.outer(f, dx.sum(axis=0))) / total


def phase_fractions(phases, sols, layout, cov) -> None:
    """Fill weight/volume fractions and esds of the Rietveld phases in ``sols`` (in place)."""
    idx = [j for j, s in enumerate(sols)
           if s.mode == "rietveld" and not phases[j].is_cell_component
           and np.isfinite(phases[j].cell_mass)]
    if not idx:
        return
    cols = []
    n = len(idx)
    xw, xv = np.zeros(n), np.zeros(n)
    blocks = []
    for k, j in enumerate(idx):
        i_s, iq0, nq = (int(layout.phase_idx[j, m]) for m in (0, 5, 6))
        vol, grad = volume_and_gradient(phases[j].crystal_system, sols[j].q, sols[j].tie)
        scale, mass = sols[j].scale, float(phases[j].cell_mass)
        xw[k], xv[k] = scale * mass * vol, scale * vol * vol
        blocks.append((len(cols), nq, mass * vol, scale * mass * grad, vol * vol,
                       2 * scale * vol * grad))
        cols.append(i_s)
        cols.extend(range(iq0, iq0 + nq))
    dw, dv = np.zeros((n, len(cols))), np.zeros((n, len(cols)))
    for k, (start, nq, dws, dwq, dvs, dvq) in enumerate(blocks):
        dw[k, start], dw[k, start + 1:start + 1 + nq] = dws, dwq
        dv[k, start], dv[k, start + 1:start + 1 + nq] = dvs, dvq
    fw, jw = _normalised(xw, dw)
    fv, jv = _normalised(xv, dv)
    c = cov[np.ix_(cols, cols)]
    finite = np.all(np.isfinite(c))
    esd_w = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", jw, c, jw), 0.0)) if finite else \
        np.full(n, np.nan)
    esd_v = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", jv, c, jv), 0.0)) if finite else \
        np.full(n, np.nan)
    for k, j in enumerate(idx):
        sols[j].weight_fraction, sols[j].esd_weight_fraction = float(fw[k]), float(esd_w[k])
        sols[j].volume_fraction, sols[j].esd_volume_fraction = float(fv[k]), float(esd_v[k])
