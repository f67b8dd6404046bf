"""phasetrace.plot: publication figures drawn from a results Dataset.

Every function takes the results Dataset (``results.nc``) first and returns a
:class:`matplotlib.figure.Figure` (built without pyplot, so no GUI backend is
needed); :func:`save_all` writes the whole set.  Phase colours come from one
palette (:func:`phase_color`) and are the same in every figure.
"""

from __future__ import annotations

from ._style import PHASE_COLORS, phase_color
from .contour import contour
from .lattice import fractions, lattice
from .patterns import fit, waterfall
from .save import FIGURES, render, save_all, save_figure
from .ticks import reflection_ticks

__all__ = [
    "contour", "lattice", "fractions", "waterfall", "fit",
    "save_all", "save_figure", "render", "FIGURES", "phase_color", "PHASE_COLORS", "reflection_ticks"]
