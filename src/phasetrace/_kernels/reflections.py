"""Numba kernel selecting the reflections of one phase for the whole-pattern model.

:func:`select_reflections` is the per-scan part of :func:`phasetrace.refine.model.build_layout`:
at the start cell it keeps the reflections whose 2θ lies in the window and whose intensity
``m|F|² · LP · DW`` is at least ``rel_min`` times the strongest there, and tabulates what the
pattern kernel needs of them (1/d², ``m|F|²·DW``, the cos² of the angle to the layer normal c*
for preferred orientation and the stacking-fault factor ``|l| c*²/d*`` of the h − k ≠ 3n,
l ≠ 0 reflections).  One pass over the phase's reflection list instead of some thirty NumPy
calls on arrays of ~50 entries (most of whose cost is call overhead).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["select_reflections"]


@njit(cache=True, nogil=True)
def select_reflections(h, prods, mult_f2, m, wl, b_iso, tt_lo, tt_hi, rel_min, use_po, use_sf,
                       sel, q2s, fbase, orient):
    """Reflections of a phase at the reciprocal metric ``m`` (6,); returns their count ``n``.

    ``h`` (K, 3) indices, ``prods`` (K, 6) products with ``1/d² = prods @ m``, ``mult_f2`` (K,)
    multiplicity × |F|²; ``b_iso`` (Å²) the Debye–Waller factor ``exp(−B/(4d²))``.  Kept: 1/d²
    > 0, ``λ/(2d) ≤ 1``, 2θ in the open interval (``tt_lo``, ``tt_hi``) (deg) and intensity
    ≥ ``rel_min`` × the strongest kept.  Outputs (first ``n`` entries, caller-allocated
    (K,) / (K, 2)): ``sel`` indices, ``q2s`` 1/d², ``fbase`` ``m|F|²·DW``, ``orient[:, 0]``
    cos²(reflection, c*) (``use_po``, else 0; ``G*·h`` along c* over |d*| |c*|),
    ``orient[:, 1]`` ``|l| c*²/d*`` (Å⁻¹) of faulted reflections (``use_sf``, else 0).
    """
    nk = prods.shape[0]
    inten = np.zeros(nk)
    q2 = np.empty(nk)
    imax = 0.0
    for k in range(nk):
        q = 0.0
        for j in range(6):
            q += prods[k, j] * m[j]
        q2[k] = q
        inten[k] = -1.0
        if not q > 0.0:
            continue
        s = 0.5 * wl * math.sqrt(q)
        if s > 1.0:
            continue
        th = math.asin(s)
        tt = 2.0 * math.degrees(th)
        if not (tt > tt_lo and tt < tt_hi):
            continue
        c2t = math.cos(2.0 * th)
        inten[k] = mult_f2[k] * (1.0 + c2t * c2t) / (s * s * math.cos(th)) * math.exp(-b_iso * q / 4.0)
        imax = max(imax, inten[k])
    n = 0
    for k in range(nk):
        if inten[k] < 0.0 or inten[k] < rel_min * imax:
            continue
        q = q2[k]
        sel[n] = k
        q2s[n] = q
        fbase[n] = mult_f2[k] * math.exp(-b_iso * q / 4.0)
        orient[n, 0] = 0.0
        orient[n, 1] = 0.0
        if use_po:
            ghz = h[k, 0] * m[4] + h[k, 1] * m[5] + h[k, 2] * m[2]
            orient[n, 0] = min(max(ghz * ghz / max(q * m[2], 1e-300), 0.0), 1.0)
        if use_sf:
            hh, kk, ll = round(h[k, 0]), round(h[k, 1]), round(h[k, 2])
            if (hh - kk) % 3 != 0 and ll != 0:
                orient[n, 1] = abs(h[k, 2]) * m[2] / math.sqrt(max(q, 1e-300))
        n += 1
    return n
