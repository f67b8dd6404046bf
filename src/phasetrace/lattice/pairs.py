"""Distorted phase beside its parent: find the parent hidden under the distorted variant.

A distorted variant (P'2, O'3, P'3) and its undistorted parent (P2, O3, P3) share most
reflections: the split reflections of the variant bracket the parent's, and 00l lines nearly
coincide.  Where the variant dominates, the peak search attributes every parent peak to it and
a free Pawley refinement lets the variant's cell drift to absorb the parent's intensity (its
distortion is a degenerate degree of freedom there).  This pass tests, scan by scan walking
away from scans where both are present, whether the parent is still there:

* the variant's cell is held within ``rel_tol`` of its cell in the neighbouring scan where
  both phases were refined together (the stack prior: in a two-phase region both cells stay
  put), so it cannot drift to take the parent's intensity;
* the parent starts from its cell in the nearest scan where it is present, held within
  ``parent_tol``;
* the parent is accepted when (i) the reduced χ² falls by at least ``min_gain`` relative to
  the unconstrained variant-only refinement, (ii) the parent's Hill–Howard weight fraction is
  at least ``min_fraction`` and (iii) the unconstrained variant shows the signature of
  absorbing the parent: its distortion is smaller than its prior's (pulled toward the
  undistorted cell).  Without (iii), a variant whose cell keeps evolving in a single-phase
  region (its distortion usually grows away from the two-phase boundary) fits slightly worse
  when held at the prior, and the parent's free intensities take up that misfit.

The walk stops on each side at the first scan that fails, so a parent is never added to a
scan that is not connected to scans where it is established.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ..errors import FitError
from ..phases.cell import cell_from_free
from ..phases.reference import ReferencePhase
from ..refine import RefineOptions, RefineResult, refine_pattern, warm_start

__all__ = ["parent_pass"]

logger = logging.getLogger(__name__)

Refined = list[tuple[list[ReferencePhase], RefineResult | None]]


def _labels(refined: Refined) -> list[set[str]]:
    return [{p.label for p in kept} if res is not None else set() for kept, res in refined]


def _free_of(refined: Refined, s: int, label: str) -> np.ndarray | None:
    kept, res = refined[s]
    for p, f in zip(kept, res.free if res is not None else []):
        if p.label == label:
            return np.asarray(f, float)
    return None


def _test_scan(ctx: dict[str, Any], refined: Refined, labels, s: int, variant: ReferencePhase,
               parent: ReferencePhase, src: int, opts: dict[str, Any]
               ) -> RefineResult | None:
    """Refine scan ``s`` with the parent added; the new result when the parent is accepted."""
    kept, res = refined[s]
    prior = _free_of(refined, src, variant.label)   # two-phase region: cells stay put
    parent_free = _free_of(refined, src, parent.label)
    phases = list(kept) + [parent]
    starts = [np.asarray(f, float) for f in res.free] + [parent_free]
    bounds: list[np.ndarray | None] = [None] * len(phases)
    i_var = [p.label for p in kept].index(variant.label)
    starts[i_var] = prior.copy()
    tol_v, tol_p = opts["pair_rel_tol"], opts["pair_parent_tol"]
    bounds[i_var] = np.stack([prior - tol_v * np.abs(prior), prior + tol_v * np.abs(prior)], 1)
    bounds[-1] = np.stack([parent_free - tol_p * np.abs(parent_free),
                           parent_free + tol_p * np.abs(parent_free)], 1)
    try:
        options = RefineOptions(
            intensities=opts["intensities"], pawley_labels=tuple(opts["pawley_phases"]),
            geometry=opts["geometry"], n_background=opts["n_background"], zero0=res.zero,
            max_zero_deg=opts["zero_drift_deg"], displacement0=res.displacement,
            max_displacement_deg=opts["zero_drift_deg"], max_iter=opts["max_nfev"])
        new = refine_pattern(ctx["tt"], ctx["obs"][s], ctx["sigma"][s], ctx["bg"][s], phases,
                             starts, wavelength_A=ctx["wl"], wavelength2_A=ctx["wl2"],
                             kalpha2_ratio=ctx["ratio"], fwhm_deg=ctx["fwhm"], options=options,
                             free_bounds=bounds, warm=warm_start(res))
    except FitError:
        return None
    frac = new.phases[-1].weight_fraction
    frac = frac if np.isfinite(frac) else 0.0
    gain = 1.0 - new.redchi / max(res.redchi, 1e-300)
    d_free = float(variant.distortion(cell_from_free(variant.crystal_system, res.free[i_var])))
    d_prior = float(variant.distortion(cell_from_free(variant.crystal_system, prior)))
    accept = bool(gain >= opts["pair_min_gain"] and frac >= opts["pair_min_fraction"]
                  and d_free < d_prior)
    logger.debug("scan %d: %s beside %s: χ² gain %.3f, fraction %.3f, distortion free %.5f "
                 "prior %.5f -> %s", s, parent.label, variant.label, gain, frac, d_free, d_prior,
                 accept)
    return new if accept else None


def parent_pass(ctx: dict[str, Any], library: list[ReferencePhase], refined: Refined,
                opts: dict[str, Any]) -> list[int]:
    """Add a parent phase hidden under its distorted variant next to scans where it is present.

    Parameters
    ----------
    ctx : dict
        Analysis context: ``tt`` (N,), ``obs``/``sigma``/``bg`` (S, N), ``wl``, ``wl2``, ``ratio``,
        ``fwhm`` (degrees).
    library : list of ReferencePhase
    refined : list of (phases, RefineResult or None)
        Per-scan refinement, updated in place where a parent is added.
    opts : dict
        ``pair_rel_tol``, ``pair_parent_tol`` (relative),
        ``pair_min_gain``, ``pair_min_fraction``, ``zero_drift_deg``, ``max_nfev``.

    Returns
    -------
    list of int
        Scans where a parent was added.
    """
    by_label = {p.label: p for p in library}
    added: list[int] = []
    for variant in library:
        parent = by_label.get(variant.parent) if variant.parent else None
        if parent is None or parent.is_cell_component:
            continue
        labels = _labels(refined)
        tested: set[int] = set()
        changed = True
        while changed:
            changed = False
            for s in range(len(refined)):
                if s in tested or variant.label not in labels[s] or parent.label in labels[s]:
                    continue
                src = next((t for t in (s - 1, s + 1) if 0 <= t < len(refined)
                            and {variant.label, parent.label} <= labels[t]), None)
                if src is None:
                    continue
                tested.add(s)
                new = _test_scan(ctx, refined, labels, s, variant, parent, src, opts)
                if new is not None:
                    refined[s] = (list(refined[s][0]) + [parent], new)
                    labels[s] = labels[s] | {parent.label}
                    added.append(s)
                    changed = True
    return sorted(added)
