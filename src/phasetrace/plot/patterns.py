"""Pattern figures: stacked (waterfall) patterns and the fit view of one scan."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..errors import ConfigError
from . import _common, _data, quality
from ._style import COLUMN_IN, PAGE_IN, phase_color, style
from .ticks import reflection_ticks

logger = logging.getLogger(__name__)

__all__ = ["waterfall", "fit", "phase_cell"]

_CELL = ("a", "b", "c", "alpha", "beta", "gamma")


def phase_cell(results: xr.Dataset, label: str, position: int) -> tuple[float, ...] | None:
    """Cell (a, b, c Å; α, β, γ deg) of a phase at scan position ``position``, or None."""
    values = []
    for name in _CELL:
        v = _data.phase_var(results, name, label)
        if v is None:
            return None
        values.append(float(v[position]))
    return tuple(values) if all(math.isfinite(v) for v in values) else None


def _present_at(results: xr.Dataset, position: int, *, cells: bool) -> list[str]:
    out = []
    for p in _data.phase_labels(results, cells=cells):
        pres = _data.presence(results, p)
        if pres is not None and bool(pres[position]):
            out.append(p)
    return out


def _draw_ticks(ax: Axes, rows: list[tuple[str, tuple[float, ...], str]], wl: float,
                tt_range: tuple[float, float], axis: str, flags: dict[str, bool],
                reference_dir: str | None = None) -> int:
    """One row of tick marks per (phase, cell, note); returns the number of ticks drawn."""
    drawn = 0
    for k, (label, cell, note) in enumerate(rows):
        _, tt, inten = reflection_ticks(label, cell, wl, tt_range, reference_dir=reference_dir)
        if tt.size == 0:
            continue
        pos, _, _ = _data.pattern_axis(tt, axis, wl)
        rel = inten / inten.max() if inten.size and np.nanmax(inten) > 0 else np.ones(tt.size)
        height = 0.35 + 0.45 * np.clip(rel, 0, 1) ** 0.5
        y0 = -k - 0.5
        color = phase_color(label, cell_component=flags.get(label, False))
        ax.vlines(pos, y0 - height / 2, y0 + height / 2, color=color, lw=0.8)
        ax.text(1.01, y0, f"{label}{note}", transform=ax.get_yaxis_transform(), color=color,
                fontsize=6.5, fontweight="bold", va="center", ha="left", clip_on=False)
        drawn += tt.size
    ax.set_ylim(-max(1, len(rows)), 0)
    ax.set_yticks([])
    ax.tick_params(left=False, right=False)
    return drawn


def _pattern_slice(results: xr.Dataset, axis: str, window: tuple[float, float] | None
                   ) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Boolean mask on 2θ, plotted x values, x label and the axis used."""
    tt = np.asarray(results["two_theta"].values, dtype=float)
    xv, xlabel, axis = _data.pattern_axis(tt, axis, _data.wavelength(results))
    if window is None:
        sel = np.ones(tt.size, dtype=bool)
    else:
        lo, hi = sorted(float(w) for w in window)
        sel = (xv >= lo) & (xv <= hi)
        if sel.sum() < 2:
            raise ConfigError(f"window {window} holds no data point on axis {axis!r} "
                              f"(data {np.nanmin(xv):.4g}–{np.nanmax(xv):.4g})")
    return sel, xv, xlabel, axis


def _trace_label(results: xr.Dataset, position: int) -> str:
    """What the scan stands for: its temperature in a temperature series, else its voltage, else its number."""
    number = int(_common.scan_numbers(results)[position])
    temp = _data.coord(results, "temperature_K")
    if _data.is_temperature_series(results) and temp is not None and math.isfinite(temp[position]):
        return f"{temp[position]:.0f} K"
    volt = _data.coord(results, "voltage_V")
    if volt is not None and math.isfinite(volt[position]):
        return f"{volt[position]:.2f} V"
    return f"scan {number}"


#: smallest automatic step between traces (units of the largest trace): each trace is filled
#: white below, so a lower trace hides what lies behind it, and a quarter of the strongest peak
#: keeps medium peaks of neighbouring traces apart.
_MIN_OFFSET = 0.25
#: smallest vertical step between waterfall labels, inches (a 6 pt label is 0.083 in tall).
_LABEL_STEP_IN = 0.11


def auto_offset(z: np.ndarray, margin: float = 0.03) -> float:
    """Smallest step (in units of the largest trace) at which consecutive traces never cross."""
    if z.shape[0] < 2:
        return 1.0
    gap = np.nanmax(z[:-1] - z[1:]) if np.any(np.isfinite(z)) else 1.0
    return float(min(1.0, max(_MIN_OFFSET, gap + margin)))


def _set_xlim(ax: Axes, x: np.ndarray, axis: str) -> None:
    lo, hi = float(np.nanmin(x)), float(np.nanmax(x))
    ax.set_xlim((hi, lo) if axis == "d" else (lo, hi))


def waterfall(
    results: xr.Dataset,
    *,
    scans: Any = None,
    max_traces: int = 14,
    axis: str = "two_theta",
    window: tuple[float, float] | None = None,
    scale: str = "linear",
    offset: float | None = None,
    ticks: bool = True,
    width_in: float = COLUMN_IN,
) -> Figure:
    """Stacked patterns (background removed) with reference-phase tick marks.

    Parameters
    ----------
    results : xarray.Dataset
        Results or stack with ``intensity``; ``background`` is subtracted if present.
    scans : slice or (int, int), optional
        Scans to choose from; at most ``max_traces`` evenly spaced ones are drawn,
        scan 0 at the bottom.
    max_traces : int
        Largest number of traces.
    axis : {"two_theta", "d", "q"}
        Pattern axis.
    window : (float, float), optional
        Range of the pattern axis (its units); default the full range.
    scale : {"linear", "sqrt", "log"}
        Intensity scale before normalising to the largest trace.
    offset : float, optional
        Vertical step between traces, in units of the largest trace; default
        the smallest step at which consecutive traces do not cross (at most 1).
        Traces are labelled with their temperature (temperature series) or
        voltage, else the scan number.
    ticks : bool
        Draw tick marks of each electrode phase (cell of the first drawn scan
        where it is present) and of cell components.
    width_in : float
        Figure width, inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _data.check_choice("scale", scale, _data.SCALE_CHOICES)
    if "intensity" not in results.data_vars:
        raise ConfigError("results have no 'intensity' variable: nothing to draw")
    results = _common.select_scans(results, scans)
    sel, xv, xlabel, axis = _pattern_slice(results, axis, window)
    n = _data.n_scans(results)
    picks = np.unique(np.linspace(0, n - 1, min(max_traces, n)).round().astype(int))
    net = _data.net_intensity(results)[picks][:, sel]
    z, zlabel = _data.scale_intensity(net - _rowmin(net), scale)
    z = z - _rowmin(z)
    top = np.fmax.reduce(z, axis=None) if z.size else np.nan
    z = z / (top if np.isfinite(top) and top > 0 else 1.0)
    rows = _tick_rows(results, picks) if ticks else []
    offset = auto_offset(z) if offset is None else float(offset)
    # tall enough that consecutive labels (one step apart) do not overlap
    main_in = max(0.16 * picks.size, _LABEL_STEP_IN * ((picks.size - 1) + 1.0 / offset)) + 0.3
    main_in = min(main_in, 8.0)
    with style():
        fig = Figure(figsize=(width_in, 0.9 + main_in + 0.14 * len(rows)), layout="constrained")
        if rows:
            ax, tax = fig.subplots(2, 1, sharex=True, height_ratios=[main_in,
                                                                     0.14 * len(rows) + 0.05])
        else:
            ax, tax = fig.add_subplot(), None
        _draw_traces(ax, results, picks, xv[sel], z, offset=offset, ylabel=zlabel)
        _set_xlim(ax, xv[sel], axis)
        if tax is not None:
            tt = np.asarray(results["two_theta"].values, float)[sel]
            _draw_ticks(tax, rows, _data.wavelength(results), (float(tt.min()), float(tt.max())),
                        axis, _data.is_cell(results), _data.reference_dir(results))
            ax.tick_params(labelbottom=False)
        (tax or ax).set_xlabel(xlabel)
    return fig


def _draw_traces(ax: Axes, results: xr.Dataset, picks: np.ndarray, x: np.ndarray, z: np.ndarray,
                 *, offset: float, ylabel: str) -> None:
    n = len(picks)
    for k, p in enumerate(picks):
        # lower traces in front: each one hides (white fill) the traces above it
        ax.fill_between(x, k * offset, np.where(np.isfinite(z[k]), z[k], 0.0) + k * offset,
                        color="white", lw=0, zorder=2 * (n - k))
        ax.plot(x, z[k] + k * offset, color="black", lw=0.55, zorder=2 * (n - k) + 1)
        ax.text(1.01, k * offset, _trace_label(results, int(p)), fontsize=6,
                transform=ax.get_yaxis_transform(), va="bottom", ha="left", clip_on=False)
    ax.set_ylabel(f"{ylabel.split(' (')[0]} + offset (norm.)")
    ax.set_yticks([])


def _rowmin(z: np.ndarray) -> np.ndarray:
    """Row minimum ignoring NaN, 0 for an all-NaN row (no warning); shape (n, 1)."""
    low = np.fmin.reduce(z, axis=1, keepdims=True)
    return np.where(np.isfinite(low), low, 0.0)


def _tick_rows(results: xr.Dataset, picks: np.ndarray) -> list[tuple[str, tuple[float, ...], str]]:
    if not math.isfinite(_data.wavelength(results)):
        return []
    rows = []
    numbers = _common.scan_numbers(results)
    for label in _data.phase_labels(results, cells=True):
        pres = _data.presence(results, label)
        if pres is None:
            continue
        for p in picks:
            if pres[p] and (cell := phase_cell(results, label, int(p))) is not None:
                rows.append((label, cell, f" (scan {int(numbers[p])})"))
                break
    flags = _data.is_cell(results)
    rows.sort(key=lambda r: flags.get(r[0], False))
    return rows


def fit(
    results: xr.Dataset,
    *,
    scan: int | None = None,
    axis: str = "two_theta",
    window: tuple[float, float] | None = None,
    width_in: float = PAGE_IN,
) -> Figure:
    """Fit view of one scan: observed, calculated, background, difference and tick marks.

    Parameters
    ----------
    results : xarray.Dataset
        Results with ``intensity`` and, when available, ``calc`` (model
        pattern), ``background`` and ``intensity_sigma``.
    scan : int, optional
        Scan number (value of the ``scan`` coordinate); default the first scan.
    axis : {"two_theta", "d", "q"}
        Pattern axis.
    window : (float, float), optional
        Range of the pattern axis (its units); default the full range.
    width_in : float
        Figure width, inches.

    Returns
    -------
    matplotlib.figure.Figure
        The title gives the scan, its voltage and R_wp (%) when ``calc`` exists.

    Raises
    ------
    ConfigError
        When ``scan`` is not in the results.
    """
    if "intensity" not in results.data_vars:
        raise ConfigError("results have no 'intensity' variable: nothing to draw")
    scan, pos = _scan_position(results, scan)
    sel, xv, xlabel, axis = _pattern_slice(results, axis, window)
    x = xv[sel]
    obs = np.asarray(results["intensity"].transpose("scan", "two_theta").values[pos], float)[sel]
    calc = _finite_row(quality.total_calc(results), pos, sel)
    bg = _finite_row(quality.background(results), pos, sel)
    rows = [(p, c, "") for p in _present_at(results, pos, cells=True)
            if (c := phase_cell(results, p, pos)) is not None]
    with style():
        fig = Figure(figsize=(width_in, 3.2 + 0.14 * len(rows)), layout="constrained")
        ratios = [4.0, 0.25 + 0.18 * len(rows)] if rows else [4.0]
        axes = fig.subplots(len(ratios), 1, sharex=True, height_ratios=ratios, squeeze=False)[:, 0]
        ax = axes[0]
        title = f"Scan {scan} ({_trace_label(results, pos)})"
        title += _draw_fit(ax, x, obs, calc, bg, rwp=lambda: _rwp_gof(results, pos, sel, window))
        ax.set_title(title, loc="left")
        ax.set_ylabel("Intensity (counts)")
        ax.legend(loc="upper right", ncol=4, handlelength=1.5)
        ax.margins(y=0.08)
        _set_xlim(ax, x, axis)
        if rows:
            tt = np.asarray(results["two_theta"].values, float)[sel]
            _draw_ticks(axes[1], rows, _data.wavelength(results),
                        (float(tt.min()), float(tt.max())), axis, _data.is_cell(results),
                        _data.reference_dir(results))
            ax.tick_params(labelbottom=False)
        axes[-1].set_xlabel(xlabel)
    return fig


def _scan_position(results: xr.Dataset, scan: int | None) -> tuple[int, int]:
    """(scan number, position) of a scan; the first scan when None."""
    numbers = _common.scan_numbers(results)
    if numbers.size == 0:
        raise ConfigError("results have no scan: nothing to draw")
    if scan is None:
        scan = int(numbers[0])
    hits = np.flatnonzero(numbers == scan)
    if hits.size == 0:
        raise ConfigError(f"scan {scan} is not in the results (scans {int(numbers.min())}–"
                          f"{int(numbers.max())})")
    return int(scan), int(hits[0])


def _draw_fit(ax: Axes, x: np.ndarray, obs: np.ndarray, calc: np.ndarray | None,
              bg: np.ndarray | None, *, rwp: Any) -> str:
    """Observed, background, calculated and difference curves; returns the title suffix."""
    ax.plot(x, obs, ls="none", marker="o", ms=1.4, mfc="none", mec="0.45", mew=0.4,
            label="observed")
    if bg is not None:
        ax.plot(x, bg, color="0.55", lw=0.7, ls="--", label="background")
    if not np.any(np.isfinite(obs)):
        return " — no data in this scan"
    if calc is None:
        return " — no calculated pattern in these results"
    ax.plot(x, calc, color="#D55E00", lw=0.7, label="calculated")
    diff = obs - calc
    base = np.nanmin(obs) - 0.1 * np.nanmax(obs) - np.nanmax(diff)
    ax.axhline(base, color="0.7", lw=0.4)
    ax.plot(x, diff + base, color="0.3", lw=0.5, label="obs − calc")
    r, g = rwp()
    text = f", R$_{{wp}}$ = {r:.1f} %" if math.isfinite(r) else ""
    return text + (f", GoF = {g:.2f}" if math.isfinite(g) else "")


def _finite_row(grid: np.ndarray | None, pos: int, sel: np.ndarray) -> np.ndarray | None:
    if grid is None:
        return None
    values = grid[pos][sel]
    return values if np.any(np.isfinite(values)) else None


def _rwp_gof(results: xr.Dataset, pos: int, sel: np.ndarray, window: Any) -> tuple[float, float]:
    """R_wp (%) and GoF of one scan: over the whole range (stored when refined), else the window."""
    rwp, gof = quality.rwp_gof(results, sel=None if window is None else sel)
    return float(rwp[pos]), float(gof[pos])
