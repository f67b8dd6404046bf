"""Intensity map over 2θ (or d, Q) and time/scan beside the voltage curve."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr
from matplotlib import transforms
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..errors import ConfigError
from ..schema import d_to_two_theta, q_to_two_theta
from . import _common, _data
from ._style import PAGE_IN, style

logger = logging.getLogger(__name__)

__all__ = ["contour"]


def _vertical(results: xr.Dataset, y: str | None) -> tuple[np.ndarray, str]:
    if y is None:
        y = _data.default_x(results)
    if y not in ("time", "scan", "temperature"):
        raise ConfigError(f"y={y!r} is not understood; expected 'time', 'scan' or 'temperature'")
    values, label, _ = _data.scan_x(results, y)
    return values, label


def _window_to_2theta(window: tuple[float, float], axis: str, wl: float) -> tuple[float, float]:
    lo, hi = float(window[0]), float(window[1])
    if axis == "d":
        a, b = d_to_two_theta(hi, wl), d_to_two_theta(lo, wl)
    elif axis == "q":
        a, b = q_to_two_theta(lo, wl), q_to_two_theta(hi, wl)
    else:
        a, b = lo, hi
    return tuple(sorted((float(a), float(b))))  # type: ignore[return-value]


def _side_curve(results: xr.Dataset, side: str | None) -> tuple[str, str, str] | None:
    """(coordinate, full-record variable prefix, label) of the side panel, or None."""
    choices = {"voltage": ("voltage_V", _data.voltage_label(results)),
               "temperature": ("temperature_K", "Temperature (K)")}
    if side is None:
        for name in choices:
            if _data.coord(results, choices[name][0]) is not None:
                side = name
                break
        else:
            return None
    if side == "none":
        return None
    if side not in choices:
        raise ConfigError(f"side={side!r} is not understood; expected voltage, temperature or none")
    name, label = choices[side]
    if _data.coord(results, name) is None:
        logger.info("results have no %s; contour drawn without the side curve", name)
        return None
    return side, name, label


def _draw_side(ax: Axes, results: xr.Dataset, yvals: np.ndarray, name: str, label: str) -> None:
    """Per-scan (or, when stored, full-record ``echem_*``) curve against the shared vertical axis."""
    values = _data.coord(results, name)
    full_t, full_v = results.get("echem_time_s"), results.get(f"echem_{name}")
    t_scan = _data.coord(results, "time_s")
    if full_t is not None and full_v is not None and t_scan is not None:
        ft, fv = np.asarray(full_t.values, float), np.asarray(full_v.values, float)
        keep = (ft >= np.nanmin(t_scan)) & (ft <= np.nanmax(t_scan))
        fy = np.interp(ft[keep], t_scan, yvals)
        ax.plot(fv[keep], fy, color="black", lw=0.8)
    else:
        ax.plot(values, yvals, color="black", lw=0.8, marker="o", ms=1.6, mew=0)
    ax.set_xlabel(label)
    ax.tick_params(labelleft=False)
    lo, hi = np.nanmin(values), np.nanmax(values)
    pad = 0.08 * (hi - lo) if hi > lo else 0.1
    ax.set_xlim(lo - pad, hi + pad)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=3, steps=[1, 2, 5, 10]))


def _edges(centres: np.ndarray, half_width: float = 0.5) -> np.ndarray:
    """Cell edges around sorted centres (n + 1,); a single centre gets ± ``half_width``."""
    c = np.asarray(centres, dtype=float)
    if c.size == 1:
        return np.array([c[0] - half_width, c[0] + half_width])
    mid = 0.5 * (c[1:] + c[:-1])
    return np.concatenate(([c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]))


def _draw_window(ax: Axes, x: np.ndarray, yvals: np.ndarray, z: np.ndarray, axis: str,
                 cmap: str) -> Any:
    finite = z[np.isfinite(z)]
    lo, hi = (np.percentile(finite, [1.0, 99.7]) if finite.size else (0.0, 1.0))
    norm = (z - lo) / (hi - lo) if hi > lo else np.zeros_like(z)
    order = np.argsort(yvals)
    y_sorted = yvals[order]
    x_order = np.argsort(x)
    x_edges = _edges(x[x_order])
    y_edges = _edges(y_sorted)
    mesh = ax.pcolormesh(x_edges, y_edges, norm[order][:, x_order], shading="flat", cmap=cmap,
                         vmin=0.0, vmax=1.0, rasterized=True)
    ax.set_xlim((x.max(), x.min()) if axis == "d" else (x.min(), x.max()))
    lo, hi = float(y_sorted[0]), float(y_sorted[-1])
    ax.set_ylim((lo, hi) if hi > lo else (y_edges[0], y_edges[-1]))
    return mesh


def _label_stages(ax: Axes, results: xr.Dataset, yvals: np.ndarray) -> None:
    cells = _data.is_cell(results)
    trans = transforms.blended_transform_factory(ax.transAxes, ax.transData)
    for ymid, phases in _common.stage_midpoints(results, yvals):
        phases = [p for p in phases if not cells.get(p, False)]
        _common.phase_label_box(ax, (0.04, ymid), phases, xycoords=trans, cells=cells)


def _resolve_windows(results: xr.Dataset, windows: Sequence[tuple[float, float]] | None,
                     axis: str) -> tuple[list[tuple[float, float]], str]:
    """Windows as 2θ ranges (deg) clipped to the data, and the pattern axis actually used."""
    wl = _data.wavelength(results)
    tt = np.asarray(results["two_theta"].values, dtype=float)
    axis = axis if math.isfinite(wl) else "two_theta"  # d and Q need a wavelength
    if windows is None:
        win_tt = _common.default_windows(results)
    else:
        win_tt = [_window_to_2theta(w, axis, wl) for w in windows]
    win_tt = [(max(a, tt[0]), min(b, tt[-1])) for a, b in win_tt]
    win_tt = [w for w in win_tt if np.count_nonzero((tt >= w[0]) & (tt <= w[1])) >= 2]
    if not win_tt:
        raise ConfigError(
            f"windows {list(windows or [])} do not overlap the data "
            f"(2θ {tt[0]:.3g}–{tt[-1]:.3g}°); give ranges in the units of axis={axis!r}")
    return win_tt, axis


def _draw_maps(map_axes: list[Axes], results: xr.Dataset, win_tt: list[tuple[float, float]],
               z_all: np.ndarray, yvals: np.ndarray, *, axis: str, cmap: str) -> None:
    tt = np.asarray(results["two_theta"].values, dtype=float)
    xfull, xlabel, axis = _data.pattern_axis(tt, axis, _data.wavelength(results))
    if len(win_tt) > 1 and "," in xlabel:  # λ goes to the colour-bar label instead
        xlabel = xlabel.split(",")[0].rstrip() + ")"
    for k, (ax, (a, b)) in enumerate(zip(map_axes, win_tt)):
        sel = (tt >= a) & (tt <= b)
        _draw_window(ax, xfull[sel], yvals, z_all[:, sel], axis, cmap)
        ax.set_xlabel(xlabel)
        ax.tick_params(colors="white", which="both", labelcolor="black")
        if k:
            ax.tick_params(labelleft=False)


def contour(
    results: xr.Dataset,
    *,
    windows: Sequence[tuple[float, float]] | None = None,
    axis: str = "two_theta",
    scale: str = "sqrt",
    y: str | None = None,
    side: str | None = None,
    scans: Any = None,
    cmap: str = "viridis",
    labels: bool = True,
    width_in: float = PAGE_IN,
    height_in: float = 4.2,
) -> Figure:
    """Intensity map (one panel per window) beside the voltage (or temperature) curve.

    Parameters
    ----------
    results : xarray.Dataset
        Results (or stack) with ``intensity`` (scan, two_theta); ``background``
        is subtracted when present.  Missing coordinates and attributes are
        tolerated.
    windows : sequence of (float, float), optional
        Ranges of the pattern axis to show, in its units (2θ deg, d Å or Q Å⁻¹).
        Default: the (00l) region around the strongest low-angle peak
        (d 3.6–12 Å) followed by the (10l) region (d 2.0–2.75 Å) when covered.
    axis : {"two_theta", "d", "q"}
        Pattern axis.
    scale : {"linear", "sqrt", "log"}
        Intensity scale; each panel is then normalised to its 1–99.7 percentiles.
    y : {"time", "scan", "temperature"}, optional
        Vertical axis; default temperature for a temperature series, else time
        when known.
    side : {"voltage", "temperature", "none"}, optional
        Curve drawn on the right with the same vertical axis; default the
        first one available.
    scans : slice or (int, int), optional
        Scans to show (positions, stop excluded).
    cmap : str
        Matplotlib colour map (default viridis, perceptually uniform).
    labels : bool
        Draw stage phase labels and transition boundaries from ``sequence_json``.
    width_in, height_in : float
        Figure size, inches (default full page width, 7 in).

    Returns
    -------
    matplotlib.figure.Figure
    """
    _data.check_choice("axis", axis, _data.AXIS_CHOICES)
    _data.check_choice("scale", scale, _data.SCALE_CHOICES)
    if "intensity" not in results.data_vars:
        raise ConfigError("results have no 'intensity' variable: nothing to draw in a contour map")
    results = _common.select_scans(results, scans)
    win_tt, axis = _resolve_windows(results, windows, axis)
    z_all, zlabel = _data.scale_intensity(_data.net_intensity(results), scale)
    yvals, ylabel = _vertical(results, y)
    if side is None and ylabel.startswith("Temperature"):
        side = "none"  # the vertical axis already is the temperature
    side_spec = _side_curve(results, side)
    with style():
        fig = Figure(figsize=(width_in, height_in), layout="constrained")
        mean_width = max(1e-9, float(np.mean([b - a for a, b in win_tt])))
        ratios = [max(0.6, min(2.0, (b - a) / mean_width)) for a, b in win_tt]
        ncol = len(win_tt) + (1 if side_spec else 0)
        axes = fig.subplots(1, ncol, sharey=True, width_ratios=ratios + ([0.55] if side_spec else []),
                            squeeze=False)[0]
        map_axes = list(axes[: len(win_tt)])
        _draw_maps(map_axes, results, win_tt, z_all, yvals, axis=axis, cmap=cmap)
        map_axes[0].set_ylabel(ylabel)
        if side_spec:
            _draw_side(axes[-1], results, yvals, side_spec[1], side_spec[2])
        if labels:
            _common.shade_transitions(list(axes), results, yvals, vertical=True, lines_only=map_axes)
            _label_stages(map_axes[0], results, yvals)
        cbar = fig.colorbar(ScalarMappable(Normalize(0, 1), cmap=cmap), ax=map_axes,
                            location="top", fraction=0.05, pad=0.01, aspect=40)
        wl = _data.wavelength(results)
        wl_text = f"   (λ = {wl:.4g} Å)" if math.isfinite(wl) and len(win_tt) > 1 else ""
        cbar.set_label(f"{zlabel.split(' (')[0]}, normalised per panel{wl_text}")
        cbar.set_ticks([0, 0.5, 1])
    return fig
