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

__all__ = ["best_structure", "chi2_of", "determined", "moved_lattice", "rechoose",
           "void_evidence"]

logger = logging.getLogger(__name__)


def chi2_of(res) -> float:
    """χ² of a refinement (σ units)."""
    return float(res.redchi) * max(res.n_points - res.n_params, 1)


def determined(res, label: str, i: int) -> bool:
    """Phase ``i`` converged with no parameter of its own held on a bound."""
    if res.phases[i].status != RefineStatus.CONVERGED:
        return False
    return not any(p.at_bound for p in res.params if p.name == f"{label}.po_r")


def void_evidence(big, label: str, i: int, removing: bool) -> bool:
    """Whether phase ``i`` of ``big`` gives no evidence to a presence test.

    A phase not :func:`determined` (the fit not converged, its cell, r or a global term on
    a bound) gives none to an add test.  A remove test of a model that is singular or
    stopped at its iteration limit as a whole, with none of the phase's own cell components
    or r on a bound, keeps its F: χ² at a singular minimum is still the minimum (only the
    esds are undefined), at the iteration limit it is an upper bound of it (F a lower
    bound), and neither says which phase is absent.  (Void for all, every phase's remove
    test had p = 1 and the first phase of the model went, e.g. P2 at F = 1270.)"""
    if determined(big, label, i):
        return False
    if not removing or big.phases[i].status not in (RefineStatus.SINGULAR,
                                                    RefineStatus.ITERATION_LIMIT):
        return True
    own = (f"{label}.po_r", f"{label}.q")
    return any(p.at_bound for p in big.params if p.name.startswith(own))


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


def rechoose(ident: StackIdentifier, s: int, phases: list, res, matches):
    """Each model phase against the other structures of its crystal system and family, again.

    :func:`best_structure` chose the structure when the phase was added, from what may be
    its first weak lines, and only among structures whose lattice range holds the cell it
    refined to.  On every survey scan (a fixed set of scans spread over the stack, where
    candidates are proposed whatever the residual) the choice is taken again: each proposed
    structure of the same crystal system, family and
    free parameters (score ≥ ``propose_score``) replaces the phase, from the phase's cell
    where its range holds it, else from its own searched cell, with the phase's profile
    (:func:`swap_warm`).  These are non-nested alternatives with the same parameters, so
    the lowest χ² is kept.  Returns (phases, refinement)."""
    for i in range(len(phases)):
        phase, free = phases[i], np.asarray(res.free[i], float)
        if phase.is_cell_component:
            continue
        have = {p.label for p in phases}
        best = (chi2_of(res), None, None)
        for alt in ident.library:
            if (alt.label in have or alt.is_cell_component or alt.source == phase.source
                    or alt.crystal_system != phase.crystal_system or alt.family != phase.family
                    or alt.free_names != phase.free_names
                    or matches[alt.label].score < ident.cfg.propose_score):
                continue
            start = free if _alternative(alt, phase, free) else matches[alt.label].free
            new = phases[:i] + [alt] + phases[i + 1:]
            starts = list(res.free)
            starts[i] = start
            other = ident._refit(s, new, starts, swap_warm(res, i, alt.label))
            if (other is not None and determined(other, alt.label, i)
                    and chi2_of(other) < best[0]):
                best = (chi2_of(other), new, other)
        if best[1] is not None:
            logger.debug("scan %d: %s fits better than %s (χ² %.1f < %.1f)", s,
                         best[1][i].label, phase.label, best[0], chi2_of(res))
            phases, res = best[1], best[2]
    return phases, res


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
