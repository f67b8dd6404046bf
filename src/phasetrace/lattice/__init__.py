"""Lattice refinement per scan and the stack-level phase analysis."""

from ..refine import RefineResult
from .analyse import analyse_phases
from .output import lattice_table
from .pawley import pawley_refine

#: former name of the per-scan result (now the whole-pattern engine's :class:`RefineResult`).
PawleyResult = RefineResult

__all__ = ["analyse_phases", "lattice_table", "pawley_refine", "PawleyResult", "RefineResult"]
