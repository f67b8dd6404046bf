"""Agreement of the calculated pattern with the data: total calc, R_wp and GoF per scan.

The refinement stores its model pattern either with the background already in
it or without (the background then lives in ``background``).  Figures compare
the *total* calculated pattern — model + background — with the observed one,
so the difference curve and R_wp do not carry the background.

R_wp = 100 · √(Σ w (o − c)² / Σ w o²) and GoF = √(Σ w (o − c)² / (N − P)),
w = 1/σ², with σ from ``intensity_sigma`` (else √max(o, 1), counting
statistics).  The number of refined parameters P is not stored; it is taken as
0, which changes GoF by less than 1 % for P < 2 % of N (a Pawley fit of a few
dozen reflections against thousands of points).  When the refinement wrote its
own ``rwp`` (%) and ``gof`` per scan, those are used instead.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from . import _data
from ._style import PAGE_IN, style

__all__ = ["total_calc", "rwp_gof", "fit_quality", "RWP_NAMES", "GOF_NAMES"]

#: names of a total calculated pattern (model + background), newest first.
TOTAL_NAMES = ("calc_total", "calc_with_background", "model_total")
#: names of a model pattern without background.
MODEL_NAMES = ("calc", "calc_net", "model")
#: names of the background that goes with the model.
BACKGROUND_NAMES = ("background_refined", "calc_background", "background")
#: per-scan R_wp (%) and goodness of fit written by the refinement, if any.
RWP_NAMES = ("rwp", "rwp_pct", "r_wp", "Rwp")
GOF_NAMES = ("gof", "goodness_of_fit", "GoF")
#: R_wp above which a scan is flagged in the strip (%): a Pawley fit of a
#: correctly identified phase set gives R_wp ≈ R_exp (a few %) on counting data;
#: three times a typical 10 % marks a scan whose phases or profile are wrong.
RWP_FLAG_PCT = 30.0


def _first(results: xr.Dataset, names: tuple[str, ...]) -> xr.DataArray | None:
    for name in names:
        if name in results.data_vars:
            return results[name]
    return None


def _grid(var: xr.DataArray) -> np.ndarray:
    return np.asarray(var.transpose("scan", "two_theta").values, dtype=float)


def _includes_background(var: xr.DataArray) -> bool:
    flag = var.attrs.get("includes_background", var.attrs.get("with_background", 0))
    if isinstance(flag, str):
        return flag.strip().lower() in ("1", "true", "yes")
    return bool(flag)


def total_calc(results: xr.Dataset) -> np.ndarray | None:
    """Calculated pattern including the background, shape (n_scans, n_points); None without one."""
    total = _first(results, TOTAL_NAMES)
    if total is not None:
        return _grid(total)
    model = _first(results, MODEL_NAMES)
    if model is None or "two_theta" not in model.dims:
        return None
    calc = _grid(model)
    if _includes_background(model) or "calc_background" in results:
        return calc  # the refinement's calc is model + background (calc_background: its background part)
    bg = _first(results, BACKGROUND_NAMES)
    if bg is not None and "two_theta" in bg.dims:
        calc = calc + _grid(bg)
    return calc


def background(results: xr.Dataset) -> np.ndarray | None:
    """The background that goes with :func:`total_calc`, shape (n_scans, n_points)."""
    bg = _first(results, BACKGROUND_NAMES)
    return _grid(bg) if bg is not None and "two_theta" in bg.dims else None


def _stored(results: xr.Dataset, names: tuple[str, ...], percent: bool) -> np.ndarray | None:
    var = _first(results, names)
    if var is None or var.dims != ("scan",):
        return None
    values = np.asarray(var.values, dtype=float)
    if percent and str(var.attrs.get("units", "%")).strip() in ("1", "fraction", ""):
        values = 100.0 * values
    return values if np.any(np.isfinite(values)) else None


def computed_rwp_gof(obs: np.ndarray, calc: np.ndarray, sigma: np.ndarray | None
                     ) -> tuple[float, float]:
    """(R_wp %, GoF) of one pattern (see module docstring); NaN without overlap."""
    obs, calc = np.asarray(obs, float), np.asarray(calc, float)
    s = np.sqrt(np.clip(obs, 1.0, None)) if sigma is None else np.asarray(sigma, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = 1.0 / np.where(s > 0, s, np.nan) ** 2
    ok = np.isfinite(w) & np.isfinite(obs) & np.isfinite(calc)
    if ok.sum() < 2:
        return math.nan, math.nan
    chi2 = float(np.sum(w[ok] * (obs[ok] - calc[ok]) ** 2))
    norm = float(np.sum(w[ok] * obs[ok] ** 2))
    rwp = 100.0 * math.sqrt(chi2 / norm) if norm > 0 else math.nan
    return rwp, math.sqrt(chi2 / ok.sum())


def rwp_gof(results: xr.Dataset, *, sel: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-scan R_wp (%) and GoF: the refinement's own when stored, else computed here.

    ``sel`` (a boolean mask on 2θ) restricts the computed values to a window;
    stored values always refer to the whole refined range.
    """
    n = _data.n_scans(results)
    rwp = _stored(results, RWP_NAMES, True) if sel is None else None
    gof = _stored(results, GOF_NAMES, False) if sel is None else None
    if rwp is not None and gof is not None:
        return rwp, gof
    calc = total_calc(results)
    out_r, out_g = np.full(n, np.nan), np.full(n, np.nan)
    if calc is None or "intensity" not in results.data_vars:
        return (rwp if rwp is not None else out_r), (gof if gof is not None else out_g)
    obs = _grid(results["intensity"])
    sigma = _grid(results["intensity_sigma"]) if "intensity_sigma" in results.data_vars else None
    mask = np.ones(obs.shape[1], bool) if sel is None else np.asarray(sel, bool)
    for k in range(n):
        out_r[k], out_g[k] = computed_rwp_gof(
            obs[k, mask], calc[k, mask], None if sigma is None else sigma[k, mask])
    return (rwp if rwp is not None else out_r), (gof if gof is not None else out_g)


def fit_quality(results: xr.Dataset, *, x: str | None = None, width_in: float = PAGE_IN,
                flag_pct: float = RWP_FLAG_PCT, scans: Any = None) -> Figure:
    """Strip of R_wp (%) and GoF per scan, so that a bad fit stands out.

    Scans with R_wp above ``flag_pct`` are drawn in red and counted in the title.
    """
    from . import _common

    x = x or _data.default_x(results)
    _data.check_choice("x", x, _data.X_CHOICES)
    results = _common.select_scans(results, scans)
    rwp, gof = rwp_gof(results)
    xv, xlabel, used = _data.scan_x(results, x)
    with style():
        fig = Figure(figsize=(width_in, 1.9), layout="constrained")
        ax_r, ax_g = fig.subplots(1, 2, sharex=True)
        if not np.any(np.isfinite(rwp)):
            for ax in (ax_r, ax_g):
                ax.set_axis_off()
            ax_r.text(0.5, 0.5, "No calculated pattern in these results", ha="center",
                      va="center", transform=ax_r.transAxes)
            return fig
        bad = np.isfinite(rwp) & (rwp > flag_pct)
        for ax, v, label in ((ax_r, rwp, "R$_{wp}$ (%)"), (ax_g, gof, "GoF")):
            ls = "-" if _data.ordered_axis(used) else "none"
            ax.plot(xv, v, color="0.2", lw=0.6, ls=ls, marker="o", ms=2.2, mew=0)
            if bad.any():
                ax.plot(xv[bad], v[bad], ls="none", marker="o", ms=3.2, color="#D55E00",
                        label=f"R$_{{wp}}$ > {flag_pct:g} %")
            ax.set_ylabel(label)
            ax.set_xlabel(xlabel)
            top = np.nanmax(v) if np.any(np.isfinite(v)) else 1.0
            ax.set_ylim(0, 1.12 * top if top > 0 else 1.0)
        ax_r.set_title(f"median R$_{{wp}}$ {np.nanmedian(rwp):.1f} %, "
                       f"{int(bad.sum())} of {bad.size} scans above {flag_pct:g} %", loc="left")
        if bad.any():
            ax_r.legend(loc="upper right")
    return fig
