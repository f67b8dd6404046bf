"""Lattice refinement per scan and the stack-level phase analysis."""

from .analyse import DEFAULT_OPTIONS, analyse_phases
from .output import lattice_table
from .pawley import PawleyResult, pawley_refine

__all__ = ["analyse_phases", "lattice_table", "pawley_refine", "PawleyResult", "DEFAULT_OPTIONS"]
