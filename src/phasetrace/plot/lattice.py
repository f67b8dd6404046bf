"""Lattice parameters, interlayer spacing, volume strain and phase fractions vs scan axis."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from . import _common, _data
from ._style import COLUMN_IN, PAGE_IN, phase_color, phase_marker, style

logger = logging.getLogger(__name__)

__all__ = ["lattice", "fractions", "lattice_panels", "panel_values"]

_LABELS = {
    "a": "a (Å)", "b": "b (Å)", "c": "c (Å)", "b,c": "b, c (Å)",
    "interlayer_d": "$d_{\\rm interlayer}$ (Å)",
    "volume_strain": "ΔV/V$_0$ (%)",
    "volume_per_fu": "V per f.u. (Å$^3$)",
}
#: a phase whose median differs from its neighbour's by more than this ratio gets its own panel.
_SPLIT_RATIO = 1.3
#: quantities drawn by default: volume per f.u. of all phases on one axis beside per-phase strain.
DEFAULT_QUANTITIES = ("a", "b", "c", "interlayer_d", "volume_per_fu", "volume_strain")
#: quantities whose phases share one axis whatever their size.
_SHARED = ("volume_strain", "volume_per_fu")


def _strain(results: xr.Dataset, label: str) -> np.ndarray | None:
    """Volume strain in %, from ``volume_strain`` or else from ``volume_per_fu``."""
    v = _data.phase_var(results, "volume_strain", label)
    if v is not None and np.any(np.isfinite(v)):
        return 100.0 * v
    vol = _data.phase_var(results, "volume_per_fu", label)
    if vol is None:
        vol = _data.phase_var(results, "volume", label)
    if vol is None or not np.any(np.isfinite(vol)):
        return None
    first = vol[np.flatnonzero(np.isfinite(vol))[0]]
    return 100.0 * (vol / first - 1.0)


def _values(results: xr.Dataset, quantity: str, label: str) -> tuple[np.ndarray, np.ndarray] | None:
    if quantity == "volume_strain":
        v = _strain(results, label)
        esd = _data.phase_var(results, "esd_volume", label)
        vol = _data.phase_var(results, "volume", label)
        if v is not None and esd is not None and vol is not None:
            err = 100.0 * esd / vol
        else:
            err = np.full(v.shape, np.nan) if v is not None else None
    else:
        v = _data.phase_var(results, quantity, label)
        err = _data.phase_var(results, f"esd_{quantity}", label)
    if v is None or not np.any(np.isfinite(v)):
        return None
    if err is None:
        err = np.full(v.shape, np.nan)
    return v, err


def panel_values(results: xr.Dataset, quantity: str, label: str
                 ) -> tuple[np.ndarray, np.ndarray] | None:
    """(values, esd) of one phase in a panel of :func:`lattice_panels` (strain in %)."""
    return _values(results, quantity, label)


def _wanted(results: xr.Dataset, quantity: str, label: str) -> bool:
    """Whether a phase belongs in a quantity's panel (skip redundant b, c)."""
    a = _data.phase_var(results, "a", label)
    if quantity == "b":
        b = _data.phase_var(results, "b", label)
        return a is not None and b is not None and _differs(b, a)
    if quantity == "c":
        d = _data.phase_var(results, "interlayer_d", label)
        c = _data.phase_var(results, "c", label)
        if d is not None and np.any(np.isfinite(d)):
            return False
        return a is not None and c is not None and _differs(c, a)
    return True


def _differs(x: np.ndarray, a: np.ndarray) -> bool:
    """Whether x differs from a by more than 0.1 % anywhere both are refined."""
    rel = np.abs(x - a) / a
    rel = rel[np.isfinite(rel)]
    return bool(rel.size and rel.max() > 1e-3)


def _bc_together(results: xr.Dataset, label: str) -> bool:
    """b and c of a (pseudo-)orthorhombic cell of similar length go in one panel (b/c convergence)."""
    if not (_wanted(results, "b", label) and _wanted(results, "c", label)):
        return False
    b, c = _values(results, "b", label), _values(results, "c", label)
    if b is None or c is None:
        return False
    mb, mc = float(np.nanmedian(b[0])), float(np.nanmedian(c[0]))
    return max(mb, mc) / min(mb, mc) < _SPLIT_RATIO


def lattice_panels(results: xr.Dataset, quantities: tuple[str, ...] = DEFAULT_QUANTITIES,
                   ) -> list[tuple[str, list[str]]]:
    """Panels of the lattice figure: ``[(quantity, [phase, ...]), ...]``.

    Phases of very different size (e.g. spinel a ≈ 8.2 Å beside layered
    a ≈ 2.9 Å) go to separate panels of the same quantity; b is drawn only for
    phases where b ≠ a, and c only for phases without an interlayer spacing.
    b and c of similar length (an orthorhombic distortion of a tetragonal or
    cubic cell) share one panel, quantity ``"b,c"``, so their convergence shows.
    Volume strain and volume per formula unit put every phase on one axis.
    """
    panels = []
    labels = _data.phase_labels(results)
    together = [p for p in labels if "b" in quantities and "c" in quantities and _bc_together(results, p)]
    for q in quantities:
        meds = []
        for p in labels:
            if q in ("b", "c") and p in together:
                continue
            vals = _values(results, q, p)
            if vals is not None and _wanted(results, q, p):
                meds.append((float(np.nanmedian(vals[0])), p))
        meds.sort()
        group: list[str] = []
        last = math.nan
        for med, p in meds:
            if group and q not in _SHARED and abs(med) > _SPLIT_RATIO * abs(last):
                panels.append((q, group))
                group = []
            group.append(p)
            last = med
        if group:
            panels.append((q, group))
        if q == "c":
            panels += [("b,c", [p]) for p in together]
    return panels


def _direction_filled(results: xr.Dataset, n: int) -> np.ndarray:
    """Filled markers: charge (or heating); open: discharge (or cooling of a temperature series)."""
    if _data.is_temperature_series(results):
        return _data.thermal_direction(results).astype(str) != "cooling"
    if "direction" not in results.coords:
        return np.ones(n, dtype=bool)
    d = np.asarray(results["direction"].values).astype(str)
    return d != "discharge"


def _open_meaning(results: xr.Dataset) -> str:
    return "cooling" if _data.is_temperature_series(results) else "discharge"


def _plot_series(ax: Axes, x: np.ndarray, v: np.ndarray, err: np.ndarray, label: str,
                 *, connect: bool, filled: np.ndarray) -> None:
    color, marker = phase_color(label), phase_marker(label)
    ok = np.isfinite(x) & np.isfinite(v)
    if connect:
        ax.plot(x, np.where(ok, v, np.nan), color=color, lw=0.6, alpha=0.7, zorder=2)
    ax.errorbar(x[ok], v[ok], yerr=np.where(np.isfinite(err[ok]), err[ok], 0.0), fmt="none",
                ecolor=color, elinewidth=0.6, alpha=0.8, zorder=2)
    for mask, face in ((filled, color), (~filled, "white")):
        sel = ok & mask
        if sel.any():
            ax.plot(x[sel], v[sel], ls="none", marker=marker, ms=2.8, mfc=face, mec=color,
                    mew=0.6, zorder=3)


def _empty(message: str, width_in: float) -> Figure:
    fig = Figure(figsize=(width_in, 1.6), layout="constrained")
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    return fig


def _legend(fig: Figure, labels: list[str], *, open_markers: bool, meaning: str = "discharge") -> None:
    handles = [Line2D([], [], color=phase_color(p), marker=phase_marker(p), ms=3.5, lw=0.8, label=p)
               for p in labels]
    if open_markers:
        handles.append(Line2D([], [], color="0.3", marker="o", mfc="white", ls="none", ms=3.5,
                              label=f"open: {meaning}"))
    fig.legend(handles=handles, loc="outside upper center", ncol=min(len(handles), 6),
               handlelength=1.6, columnspacing=1.2)


def _draw_panels(axes: np.ndarray, panels: list[tuple[str, list[str]]], results: xr.Dataset,
                 xv: np.ndarray, xlabel: str, *, connect: bool, filled: np.ndarray) -> None:
    """Fill a (nrow, ncol) grid column by column; the last panel of each column gets the x label."""
    nrow, ncol = axes.shape
    cells = _data.is_cell(results)
    shown = {p for _, ps in panels for p in ps}
    for k, (q, phases) in enumerate(panels):
        ax = axes[k % nrow, k // nrow]
        if q == "b,c":
            _draw_bc(ax, results, phases[0], xv, connect=connect, filled=filled)
        else:
            for p in phases:
                v, err = _values(results, q, p)  # type: ignore[misc]
                _plot_series(ax, xv, v, err, p, connect=connect, filled=filled)
            if set(phases) != shown:  # a panel of some phases only: say which
                _common.phase_label_box(ax, (0.02, 0.88), phases, xycoords="axes fraction",
                                        cells=cells)
        ax.set_ylabel(_LABELS.get(q, q))
        if q == "volume_strain":
            ax.axhline(0.0, color="0.6", lw=0.5, zorder=1)
        if q == "volume_per_fu":
            _annotate_jumps(ax, results, xv)
        if connect:
            _common.shade_transitions([ax], results, xv, vertical=False)
        _mark_transition_temperatures(ax, results, first=k % nrow == 0, used=xlabel)
    for k in range(len(panels), nrow * ncol):
        axes[k % nrow, k // nrow].set_visible(False)
    for c in range(ncol):
        col = [axes[r, c] for r in range(nrow) if r + c * nrow < len(panels)]
        if col:
            col[-1].set_xlabel(xlabel)
            col[-1].xaxis.set_tick_params(labelbottom=True)


def _draw_bc(ax: Axes, results: xr.Dataset, label: str, xv: np.ndarray, *, connect: bool,
             filled: np.ndarray) -> None:
    """b (filled/phase marker, solid) and c (dashed, diamond) of one phase, labelled in the panel."""
    color = phase_color(label)
    handles = []
    for q, marker, ls in (("b", phase_marker(label), "-"), ("c", "D", "--")):
        v, err = _values(results, q, label)  # type: ignore[misc]
        ok = np.isfinite(xv) & np.isfinite(v)
        if connect:
            ax.plot(xv, np.where(ok, v, np.nan), color=color, lw=0.6, ls=ls, alpha=0.8, zorder=2)
        ax.errorbar(xv[ok], v[ok], yerr=np.where(np.isfinite(err[ok]), err[ok], 0.0), fmt="none",
                    ecolor=color, elinewidth=0.6, alpha=0.8, zorder=2)
        face = np.where(filled[ok], color, "white")
        ax.scatter(xv[ok], v[ok], s=7, marker=marker, c=list(face), edgecolors=color,
                   linewidths=0.6, zorder=3)
        handles.append(Line2D([], [], color=color, ls=ls, marker=marker, ms=3, label=f"{q} ({label})"))
    ax.legend(handles=handles, loc="best", fontsize=6.5)


def _mark_transition_temperatures(ax: Axes, results: xr.Dataset, *, first: bool, used: str) -> None:
    """Dashed line at each transition temperature on a temperature axis, labelled in top panels."""
    if not used.startswith("Temperature"):
        return
    seq = _data.sequence(results)
    for tr in seq.get("transitions", []) or []:
        tc = _data.transition_temperature(tr, seq)
        if not math.isfinite(tc):
            continue
        ax.axvline(tc, color="0.25", lw=0.7, ls=(0, (4, 2)), zorder=1)
        if first:
            ax.text(tc, 0.03, f" T = {tc:.1f} K", transform=ax.get_xaxis_transform(), ha="left",
                    va="bottom", fontsize=6.5, color="0.2",
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 0.5})


def _sodium_axis(top_axes: np.ndarray, results: xr.Dataset) -> None:
    """x in Na_x on top of a capacity axis, when x₀ and the capacity per Na are known."""
    params = _data.x_na_params(results)
    if params is None:
        return
    x0, q1 = params
    for ax in np.atleast_1d(top_axes):
        if ax.get_visible():
            sec = ax.secondary_xaxis("top", functions=(lambda q: x0 - q / q1, lambda x: (x0 - x) * q1))
            sec.set_xlabel("x in Na$_x$")


def _annotate_jumps(ax: Axes, results: xr.Dataset, xv: np.ndarray) -> None:
    """Write the relative change of the mean volume per f.u. across each transition."""
    from .volume import volume_jumps

    numbers = _common.scan_numbers(results)
    for k, jump in enumerate(volume_jumps(results)):
        i = int(np.flatnonzero(numbers == jump.before_scan)[0])
        j = int(np.flatnonzero(numbers == jump.after_scan)[0])
        if not (math.isfinite(xv[i]) and math.isfinite(xv[j])):
            continue
        xm = 0.5 * (xv[i] + xv[j])
        ax.annotate("", xy=(xv[j], jump.volume_after_A3), xytext=(xv[i], jump.volume_before_A3),
                    arrowprops={"arrowstyle": "->", "color": "0.2", "lw": 0.7}, zorder=4)
        ax.text(xm, 0.96 - 0.2 * (k % 2), jump.label(), transform=ax.get_xaxis_transform(),
                ha="center", va="top", fontsize=6.5, zorder=5,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 0.5})


def lattice(
    results: xr.Dataset,
    *,
    x: str | None = None,
    quantities: tuple[str, ...] = DEFAULT_QUANTITIES,
    scans: Any = None,
    width_in: float | None = None,
) -> Figure:
    """Lattice parameters, interlayer spacing and volume strain per phase, with esd bars.

    Parameters
    ----------
    results : xarray.Dataset
        Results with (scan, phase) variables ``a, b, c, interlayer_d,
        volume_strain`` (+ ``esd_*``); whatever is missing is skipped.
    x : {"voltage", "capacity", "time", "scan", "temperature", "x_na"}, optional
        Horizontal axis; default temperature for a temperature series, else
        time (h) when known, else the scan number.
    quantities : tuple of str
        Which of ``a, b, c, interlayer_d, volume_per_fu, volume_strain`` to draw
        (volume strain in %, relative to the first scan where the phase is
        present; volume per f.u. of all phases on one axis, with the relative
        change of the mean volume across each transition written on it).
    scans : slice or (int, int), optional
        Scans to show.
    width_in : float, optional
        Figure width, inches; default 3.5 (one column) for up to 4 panels, else 7.

    Returns
    -------
    matplotlib.figure.Figure
        Open markers are scans on discharge when ``direction`` is known.
    """
    x = x or _data.default_x(results)
    _data.check_choice("x", x, _data.X_CHOICES)
    results = _common.select_scans(results, scans)
    panels = lattice_panels(results, quantities)
    with style():
        if not panels:
            return _empty("No lattice parameters in these results\n(no phase identified)",
                          width_in or COLUMN_IN)
        xv, xlabel, used = _data.scan_x(results, x)
        ncol = 1 if len(panels) <= 4 else 2
        nrow = math.ceil(len(panels) / ncol)
        fig = Figure(figsize=(width_in or (COLUMN_IN if ncol == 1 else PAGE_IN), 0.6 + 1.15 * nrow),
                     layout="constrained")
        axes = fig.subplots(nrow, ncol, sharex=True, squeeze=False)
        filled = _direction_filled(results, xv.size)
        _draw_panels(axes, panels, results, xv, xlabel, connect=_data.ordered_axis(used),
                     filled=filled)
        if used == "capacity":
            _sodium_axis(axes[0], results)
        shown = sorted({p for _, ps in panels for p in ps}, key=_data.phase_labels(results).index)
        _legend(fig, shown, open_markers=not bool(filled.all()), meaning=_open_meaning(results))
        fig.align_ylabels()
    return fig


def fractions(results: xr.Dataset, *, x: str | None = None, scans: Any = None,
              width_in: float = COLUMN_IN) -> Figure:
    """Phase fractions of the electrode phases vs time, scan, voltage or capacity.

    Parameters
    ----------
    results : xarray.Dataset
        Results with ``fraction`` (scan, phase); cell components are left out.
    x : {"voltage", "capacity", "time", "scan", "temperature", "x_na"}, optional
        Horizontal axis; default temperature for a temperature series, else time.
    scans : slice or (int, int), optional
        Scans to show.
    width_in : float
        Figure width, inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    x = x or _data.default_x(results)
    _data.check_choice("x", x, _data.X_CHOICES)
    results = _common.select_scans(results, scans)
    labels = [p for p in _data.phase_labels(results)
              if (f := _data.phase_var(results, "fraction", p)) is not None and np.any(np.isfinite(f))]
    with style():
        if not labels:
            return _empty("No phase fractions in these results", width_in)
        xv, xlabel, used = _data.scan_x(results, x)
        fig = Figure(figsize=(width_in, 2.5), layout="constrained")
        ax = fig.add_subplot()
        filled = _direction_filled(results, xv.size)
        connect = _data.ordered_axis(used)
        for p in labels:
            f = _data.phase_var(results, "fraction", p)
            err = _data.phase_var(results, "esd_fraction", p)
            _plot_series(ax, xv, f, err if err is not None else np.full(f.shape, np.nan), p,
                         connect=connect, filled=filled)
        if connect:
            _common.shade_transitions([ax], results, xv, vertical=False)
        _mark_transition_temperatures(ax, results, first=True, used=xlabel)
        ax.set_ylim(-0.03, 1.05)
        ax.set_ylabel("Phase fraction")
        ax.set_xlabel(xlabel)
        _legend(fig, labels, open_markers=not bool(filled.all()), meaning=_open_meaning(results))
    return fig
