"""Whole-pattern refinement of one scan: structure-aware (Rietveld) or free-intensity (Pawley)
model, declared parameters and results, honest status (see :mod:`.params`)."""

from .fit import refine_pattern, warm_start
from .params import (STATUS_MEANINGS, Parameter, PhaseSolution, RefineOptions, RefineResult,
                     RefineStatus)

__all__ = ["refine_pattern", "warm_start", "RefineOptions", "RefineResult", "PhaseSolution",
           "Parameter", "RefineStatus", "STATUS_MEANINGS"]
