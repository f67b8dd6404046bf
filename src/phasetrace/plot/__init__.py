"""phasetrace.plot: publication figures drawn from a results Dataset.

Every function takes the results Dataset (``results.nc``) first and returns a
:class:`matplotlib.figure.Figure` (built without pyplot, so no GUI backend is
needed); :func:`save_all` writes the whole set.  Phase colours come from one
palette (:func:`phase_color`) and are the same in every figure.

Examples
--------
>>> import numpy as np
>>> from phasetrace.schema import make_stack
>>> tt = np.linspace(10.0, 40.0, 1501)
>>> patterns = [100 + 1e3 * np.exp(-0.5 * ((tt - 15.9 - 0.02 * k) / 0.05) ** 2) for k in range(5)]
>>> stack = make_stack(tt, patterns, wavelength_A=1.5406)
>>> fig = contour(stack, windows=[(14.0, 18.0)])
>>> [round(float(v), 2) for v in fig.axes[0].get_xlim()]
[14.0, 18.0]
>>> fig.axes[0].get_ylabel()
'Scan number'
"""

from __future__ import annotations

from ._style import PHASE_COLORS, phase_color
from .contour import contour
from .lattice import fractions, lattice
from .patterns import fit, waterfall
from .quality import fit_quality, rwp_gof, total_calc
from .save import FIGURES, render, save_all, save_figure
from .ticks import reflection_ticks

__all__ = [
    "contour", "lattice", "fractions", "waterfall", "fit", "fit_quality", "rwp_gof", "total_calc",
    "save_all", "save_figure", "render", "FIGURES", "phase_color", "PHASE_COLORS", "reflection_ticks"]


class _CallablePlot(__import__("types").ModuleType):
    """Lets ``phasetrace.plot(results, "contour", ...)`` draw one figure (the notebook verb)."""

    def __call__(self, results, figure: str = "contour", **options):
        from ..output import map_view

        return render(map_view(results), figure, **options)


__import__("sys").modules[__name__].__class__ = _CallablePlot
