"""phasetrace.transitions: stages, transitions and publication sequences.

Public API
----------
detect_transitions(phases_ds, *, x="auto", min_fraction=0.05, min_scans=3, ...) -> TransitionResult
TransitionResult, Stage, Transition, SolidSolutionRegion, Reversibility (frozen dataclasses)
sort_phases(labels) -> list[str]; join_phases(labels) -> str (canonical order within a stage)
"""

from __future__ import annotations

from .detect import detect_transitions
from .result import (
    ARROW, Reversibility, SolidSolutionRegion, Stage, Transition, TransitionResult, join_phases, sort_phases,
)

__all__ = [
    "detect_transitions", "TransitionResult", "Stage", "Transition", "SolidSolutionRegion",
    "Reversibility", "sort_phases", "join_phases", "ARROW",
]
