"""Phase evolution of a synthesis/heating run: presence bars and weight-fraction curves.

Top panel: one bar per sample phase from its onset to its end (``sequence.json``
``phase_evolution``), in order of onset; bottom panel: its weight fraction in every scan.
The x axis is the temperature when it is known and varies, else the scan number.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from . import _data
from ._style import COLUMN_IN, PHASE_COLORS, phase_color, style

__all__ = ["evolution"]

#: key of the evolution list in sequence.json (see phasetrace.transitions.evolution).
_KEY = "phase_evolution"
#: colours, in order of onset, of phases without a fixed colour (a synthesis has many user
#: phases; hashed colours would repeat).  Okabe–Ito and Tol bright.
_ORDERED = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
            "#000000", "#EE6677", "#228833", "#4477AA", "#AA3377")


def _x(results: xr.Dataset) -> tuple[np.ndarray, str]:
    n = _data.n_scans(results)
    temp = _data.coord(results, "temperature_K")
    if temp is not None and np.isfinite(temp).sum() >= 2 and np.nanmax(temp) - np.nanmin(temp) > 0:
        return np.asarray(temp, dtype=float), "Temperature (K)"
    return np.arange(n, dtype=float), "Scan"


def evolution(results: xr.Dataset, *, x: str = "auto") -> Figure:
    """Presence bars and weight fractions of every sample phase (see module docstring).

    Parameters
    ----------
    results : xarray.Dataset
        Results with ``attrs["sequence_json"]`` holding ``phase_evolution`` and ``fraction``
        on (scan, phase).
    x : {"auto", "scan"}
        ``"auto"``: temperature when it varies, else scan number.

    Raises
    ------
    ValueError
        When the results hold no phase evolution (no sample phase identified).
    """
    entries = _data.sequence(results).get(_KEY) or []
    if not entries:
        raise ValueError("no phase evolution in these results (no sample phase identified)")
    xs, label = _x(results) if x == "auto" else (np.arange(_data.n_scans(results), dtype=float), "Scan")
    with style():
        fig = Figure(figsize=(COLUMN_IN * 1.6, 2.4 + 0.16 * len(entries)), layout="constrained")
        bars, curves = fig.subplots(2, 1, sharex=True, height_ratios=[0.3 + 0.08 * len(entries), 1.0])
        fixed = {PHASE_COLORS[e["phase"]] for e in entries if e["phase"] in PHASE_COLORS}
        free = iter([c for c in _ORDERED if c not in fixed] * 3)
        for row, entry in enumerate(entries):
            phase = entry["phase"]
            color = phase_color(phase) if phase in PHASE_COLORS else next(free)
            lo, hi = xs[entry["first_scan"]], xs[entry["last_scan"]]
            bars.plot([lo, hi], [row, row], color=color, lw=5, solid_capstyle="butt")
            bars.text(lo, row - 0.35, phase, fontsize=6, va="bottom")
            frac = _data.phase_var(results, "fraction", phase)
            if frac is not None and np.isfinite(frac).any():
                curves.plot(xs, frac, marker="o", ms=2.5, lw=0.9, color=color, label=phase)
        bars.set_ylim(len(entries) - 0.4, -0.8)
        bars.set_yticks([])
        bars.set_ylabel("present")
        curves.set_ylabel("Weight fraction")
        curves.set_ylim(0, 1.02)
        curves.set_xlabel(label)
        if curves.lines:
            curves.legend(fontsize=6, ncol=min(4, len(curves.lines)), frameon=False)
    return fig
