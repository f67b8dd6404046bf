"""Numba kernels of phasetrace (all ``@njit`` code lives here).

Modules: :mod:`.profiles` (peak shapes and analytic derivatives, parameter
slot constants), :mod:`.lm` (bounded Levenberg–Marquardt for one window),
:mod:`.batch` (parallel driver over scans).  Kernels import only numpy, numba
and math, take float64 C-contiguous inputs, write into caller-allocated
outputs and return status codes instead of raising.
"""
