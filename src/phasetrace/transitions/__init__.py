"""phasetrace.transitions: stages, transitions and publication sequences.

Public API
----------
detect_transitions(phases_ds, *, x="auto", min_fraction=0.05, min_scans=3, smooth=3,
                   max_stage_change=0.25, distortion_tol=1e-4, solid_solution_min=2e-3,
                   detection_limit=0.25) -> TransitionResult
TransitionResult, Stage, Transition, SolidSolutionRegion, Reversibility (frozen dataclasses;
TransitionResult.to_dict() is the CONTRACT ``sequence.json``)
sort_phases(labels) -> list[str]; join_phases(labels) -> str (canonical order within a stage:
code point order, as the truth files: "OP4/P2/P3", "P'2/S", "O3/P2")

How it works (see :mod:`._segment`): per-scan fractions are median-filtered; steady
runs of one assemblage are stage candidates; each exchange between consecutive
candidates is fitted with a clipped line against scan number, which sets the stage
bounds; candidates that are not steady, too short, only a minor-phase flicker, or
merely a slice of one longer exchange are dropped.  Kinds: distortion (a phase
turns into its distorted variant, ``phase_parent``), two-phase (old and new coexist),
solid-solution (no coexistence).  Lattice-only distortions (a cell relation such as
b = c collapsing with temperature) are reported with ``basis="lattice"``.
"""

from __future__ import annotations

from .detect import detect_transitions
from .result import (
    ARROW, Reversibility, SolidSolutionRegion, Stage, Transition, TransitionResult, join_phases, sequence_of,
    sequence_variables, sort_phases,
)

__all__ = [
    "detect_transitions", "TransitionResult", "Stage", "Transition", "SolidSolutionRegion",
    "Reversibility", "sort_phases", "join_phases", "ARROW", "sequence_of", "sequence_variables",
]
