"""Drawing helpers shared by several figures: stage bands, phase labels, windows."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.offsetbox import AnnotationBbox, HPacker, TextArea

from ..errors import ConfigError
from ..schema import two_theta_to_d
from . import _data
from ._style import phase_color

#: d-spacing ranges (Å) searched for the (00l) and (10l) regions of layered oxides.
LOW_ANGLE_D_A = (3.6, 12.0)
MID_ANGLE_D_A = (2.0, 2.75)


def select_scans(results: xr.Dataset, scans: Any) -> xr.Dataset:
    """Subset scans by a ``slice``, a ``(start, stop)`` pair or None (all)."""
    if scans is None:
        return results
    if isinstance(scans, slice):
        sub = results.isel(scan=scans)
    elif isinstance(scans, Sequence) and len(scans) == 2:
        sub = results.isel(scan=slice(scans[0], scans[1]))
    else:
        raise ConfigError(f"scans={scans!r} is not understood; expected a slice or (start, stop)")
    if sub.sizes.get("scan", 0) == 0:
        raise ConfigError(
            f"scans={scans!r} selects no scan out of {results.sizes.get('scan', 0)}")
    return sub


def scan_numbers(results: xr.Dataset) -> np.ndarray:
    """The scan numbers (the ``scan`` coordinate, or 0..n-1)."""
    if "scan" in results.coords:
        return np.asarray(results["scan"].values, dtype=float)
    return np.arange(_data.n_scans(results), dtype=float)


def _clip_span(results: xr.Dataset, first: float, last: float) -> tuple[float, float] | None:
    """Clip a scan-number span to the scans present; None when it lies outside them."""
    numbers = scan_numbers(results)
    if numbers.size == 0:
        return None
    lo, hi = float(numbers.min()), float(numbers.max())
    if last < lo - 0.5 or first > hi + 0.5:
        return None
    return max(first, lo - 0.5), min(last, hi + 0.5)


def scan_to_y(results: xr.Dataset, yvals: np.ndarray, scan: float) -> float:
    """Position on a scan-indexed axis of a (possibly fractional) scan number."""
    numbers = scan_numbers(results)
    ok = np.isfinite(yvals)
    if ok.sum() == 0:
        return math.nan
    if ok.sum() == 1:
        return float(yvals[ok][0])
    lo, hi = numbers[ok].min(), numbers[ok].max()
    if scan < lo - 0.5 or scan > hi + 0.5:
        return math.nan
    return float(np.interp(min(max(scan, lo), hi), numbers[ok], yvals[ok]))


def auto_window(results: xr.Dataset, *, d_range: tuple[float, float] = LOW_ANGLE_D_A,
                pad_frac: float = 0.07) -> tuple[float, float] | None:
    """2θ window (deg) around the strongest peak with d inside ``d_range`` (Å).

    The window spans the positions of that peak in every scan (so the whole
    excursion of a (00l) reflection is shown), widened by ``pad_frac`` in d.
    Returns None when the data do not cover the range or there is no wavelength.
    """
    wl = _data.wavelength(results)
    y = _data.net_intensity(results)
    if y is None or not math.isfinite(wl):
        return None
    tt = np.asarray(results["two_theta"].values, dtype=float)
    d = two_theta_to_d(tt, wl)
    inside = (d >= d_range[0]) & (d <= d_range[1])
    if inside.sum() < 5:
        return None
    sub = np.where(np.isfinite(y[:, inside]), y[:, inside], -np.inf)
    strong = np.nanmax(sub, axis=1)
    good = np.isfinite(strong)
    if not good.any():
        return None
    cut = 0.1 * float(np.max(strong[good]))  # scans with a real peak there, however weak
    idx = np.argmax(sub, axis=1)[good & (strong >= cut)]
    d_peaks = d[inside][idx]
    d_hi, d_lo = float(d_peaks.max()) * (1 + pad_frac), float(d_peaks.min()) / (1 + pad_frac)
    lo = float(np.rad2deg(2 * np.arcsin(min(1.0, wl / (2 * d_hi)))))
    hi = float(np.rad2deg(2 * np.arcsin(min(1.0, wl / (2 * d_lo)))))
    return max(lo, float(tt[0])), min(hi, float(tt[-1]))


def default_windows(results: xr.Dataset) -> list[tuple[float, float]]:
    """The (00l) window and, when covered, the (10l)/(hk0) window, in 2θ (deg)."""
    out = []
    low = auto_window(results)
    if low is not None:
        out.append(low)
    wl = _data.wavelength(results)
    tt = np.asarray(results["two_theta"].values, dtype=float) if "two_theta" in results else None
    if tt is not None and math.isfinite(wl):
        lo_d, hi_d = MID_ANGLE_D_A
        lo = float(np.rad2deg(2 * np.arcsin(min(1.0, wl / (2 * hi_d)))))
        hi = float(np.rad2deg(2 * np.arcsin(min(1.0, wl / (2 * lo_d)))))
        lo, hi = max(lo, tt[0]), min(hi, tt[-1])
        if hi - lo > 0.2 * (tt[-1] - tt[0]) / 10 and (low is None or lo >= low[1]):
            out.append((lo, hi))
    if not out and tt is not None:
        out.append((float(tt[0]), float(tt[-1])))
    return out


def phase_label_box(ax: Axes, xy: tuple[float, float], phases: Sequence[str], *,
                    xycoords: Any = "data", cells: dict[str, bool] | None = None,
                    fontsize: float = 7.0, box_alpha: float = 0.85, align: str = "left") -> None:
    """Write ``A/B`` with each phase in its own colour, in a white box at ``xy``."""
    parts: list[TextArea] = []
    for k, p in enumerate(phases):
        if k:
            parts.append(TextArea("/", textprops={"color": "black", "fontsize": fontsize}))
        color = phase_color(p, cell_component=bool((cells or {}).get(p, False)))
        parts.append(TextArea(p, textprops={"color": color, "fontsize": fontsize,
                                            "fontweight": "bold"}))
    if not parts:
        return
    box = HPacker(children=parts, align="baseline", pad=0, sep=0)
    x_box = {"left": 0.0, "right": 1.0, "center": 0.5}[align]
    ab = AnnotationBbox(box, xy, xycoords=xycoords, box_alignment=(x_box, 0.5), frameon=True,
                        pad=0.15, bboxprops={"facecolor": "white", "edgecolor": "none",
                                             "alpha": box_alpha})
    ab.set_zorder(5)
    ax.add_artist(ab)


def shade_transitions(axes: Sequence[Axes], results: xr.Dataset, yvals: np.ndarray, *,
                      vertical: bool = True, lines_only: Sequence[Axes] = ()) -> int:
    """Mark transition regions from ``sequence_json`` on scan-indexed axes.

    ``vertical`` True: the scan axis is y (contour); False: it is x (lattice
    vs time/scan).  Axes in ``lines_only`` get dashed boundary lines instead of
    a grey band.  Returns the number of transitions drawn.
    """
    seq = _data.sequence(results)
    count = 0
    for tr in seq.get("transitions", []) or []:
        try:
            span = _clip_span(results, float(tr["first_scan"]) - 0.5, float(tr["last_scan"]) + 0.5)
        except (KeyError, TypeError, ValueError):
            continue
        if span is None:
            continue
        a, b = (scan_to_y(results, yvals, v) for v in span)
        if not (math.isfinite(a) and math.isfinite(b)):
            continue
        count += 1
        for ax in axes:
            if ax in lines_only:
                for v in (a, b):
                    line = ax.axhline if vertical else ax.axvline
                    line(v, color="white", lw=0.6, ls=(0, (3, 2)), alpha=0.9, zorder=4)
            else:
                span = ax.axhspan if vertical else ax.axvspan
                span(min(a, b), max(a, b), color="0.85", lw=0, zorder=0)
    return count


def stage_midpoints(results: xr.Dataset, yvals: np.ndarray) -> list[tuple[float, list[str]]]:
    """(position on the scan axis, phases) of every stage in ``sequence_json``."""
    out = []
    for st in _data.sequence(results).get("stages", []) or []:
        try:
            span = _clip_span(results, float(st["first_scan"]), float(st["last_scan"]))
        except (KeyError, TypeError, ValueError):
            continue
        if span is None:
            continue
        a, b = (scan_to_y(results, yvals, v) for v in span)
        if math.isfinite(a) and math.isfinite(b):
            out.append((0.5 * (a + b), _data.stage_phases(st)))
    return out
