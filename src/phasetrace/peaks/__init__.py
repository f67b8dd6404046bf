"""Peak finding, tracking and fitting over whole stacks.

Dataset API: :func:`find_peaks`, :func:`fit_stack` (and :func:`fit_arrays`
for plain 2θ/intensity arrays).  ndarray API: :func:`fit_stack_array`.
Lineshapes with named parameters: :mod:`phasetrace.peaks.profiles`.
"""

from .arrays import ArrayFit, default_bounds, fit_stack_array, group_peaks
from .fit import fit_arrays, fit_stack
from .tracks import find_peaks

__all__ = ["find_peaks", "fit_stack", "fit_arrays", "fit_stack_array", "ArrayFit",
           "group_peaks", "default_bounds"]
