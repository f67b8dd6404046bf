"""Which structure sits on a lattice that several library phases share.

O'3 and P'3 share one C2/m lattice, O3 and P3 one rhombohedral lattice: the same line
positions, different atoms.  The add test of :mod:`.stack` asks *whether* a lattice carries
intensity the model lacks; these functions ask *which* structure it is, once a phase has been
added (:func:`best_structure`), and whether a phase already in the model should move to the
added lattice instead of standing beside it (:func:`moved_lattice`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import TYPE_CHECKING

import numpy as np

from ..refine import RefineStatus, warm_start

if TYPE_CHECKING:
    from .stack import StackIdentifier

__all__ = ["best_structure", "chi2_of", "determined", "moved_lattice"]

logger = logging.getLogger(__name__)


def chi2_of(res) -> float:
    """χ² of a refinement (σ units)."""
    return float(res.redchi) * max(res.n_points - res.n_params, 1)


def determined(res, label: str, i: int) -> bool:
    """Phase ``i`` converged with no parameter of its own held on a bound."""
    if res.phases[i].status != RefineStatus.CONVERGED:
        return False
    return not any(p.at_bound for p in res.params if p.name == f"{label}.po_r")


def _alternative(alt, cand, free) -> bool:
    """``alt`` is another structure of ``cand``'s crystal system and family whose lattice
    range holds the cell ``free`` (a second instance of one structure, S#2, is none)."""
    if (alt.is_cell_component or alt.label == cand.label or alt.source == cand.source
            or alt.crystal_system != cand.crystal_system or alt.family != cand.family
            or alt.free_names != cand.free_names):
        return False
    bounds = alt.free_bounds
    return bool(np.all((free >= bounds[:, 0]) & (free <= bounds[:, 1])))


def moved_lattice(ident: StackIdentifier, s: int, phases: list, cand, trial):
    """A model phase of the added one's family that takes the added lattice instead.

    When the model already holds a structure that could sit on the lattice ``cand``
    refined to (same crystal system, family and range; another structure), the simpler
    explanation is that phase, at that lattice, in place of both: its own earlier cell
    was the wrong one.  The model with both is kept only when it is significantly better
    (the F-test of the presence tests at α).  Returns (phases, refinement) of the simpler
    model when it wins, else None.
    """
    free = np.asarray(trial.free[-1], float)
    for i, alt in enumerate(phases):
        if not _alternative(alt, cand, free):
            continue
        rest = phases[:i] + phases[i + 1:]
        starts = [f for j, f in enumerate(trial.free[:-1]) if j != i] + [free]
        warm = warm_start(trial)
        warm.pop(alt.label, None)
        warm.pop(cand.label, None)
        small = ident._refit(s, rest + [alt], starts, warm)
        if small is None or not determined(small, alt.label, len(rest)):
            continue
        f, lp, _ = ident._compare(s, small, trial)
        if lp >= ident.log_alpha:
            logger.debug("scan %d: %s moves to the lattice of %s (log10 p %.1f of both)",
                         s, alt.label, cand.label, lp)
            return rest + [alt], small
    return None


def best_structure(ident: StackIdentifier, s: int, phases: list, cand, trial, have):
    """The structure that fits best on the lattice the added ``cand`` refined to.

    Every other library phase of its crystal system and family whose lattice range holds
    that cell (O'3 and P'3 share one C2/m lattice, O3 and P3 one rhombohedral lattice;
    the atoms differ; a second instance of one structure, S#2, is no alternative) is
    refined in its place from that cell.  These are non-nested alternatives with the same
    parameters, so their likelihood ratio (and AIC, BIC) reduces to the χ² difference:
    the lowest χ² is kept.  Returns (phase, refinement).
    """
    free = np.asarray(trial.free[-1], float)
    best = (chi2_of(trial), cand, trial)
    for alt in ident.library:
        if alt.label in have or not _alternative(alt, cand, free):
            continue
        warm = warm_start(trial)      # the others as refined; alt scaled from scratch
        warm.pop(cand.label, None)
        other = ident._refit(s, phases + [alt], list(trial.free), warm)
        if (other is not None and determined(other, alt.label, len(phases))
                and chi2_of(other) < best[0]):
            logger.debug("scan %d: %s fits the lattice of %s better (χ² %.1f < %.1f)", s,
                         alt.label, cand.label, chi2_of(other), best[0])
            best = (chi2_of(other), alt, other)
    return best[1], best[2]


def swap_warm(res, i: int, label: str) -> dict:
    """Warm start of ``res`` with phase ``i`` replaced by ``label``, its parent or variant.

    The variant and its parent are one crystal with and without the distortion, so the
    new phase starts from phase ``i``'s profile (Caglioti U, W, η, March–Dollase r, fault
    breadth) rather than the defaults; its scale and reflection intensities start from
    the linear fit (its reflection list differs)."""
    warm = warm_start(res)
    warm[label] = dataclasses.replace(res.phases[i], label=label, scale=math.nan,
                                      hkl=np.zeros((0, 3), int), intensity=np.zeros(0))
    return warm
