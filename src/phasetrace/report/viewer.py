"""``viewer.html``: one self-contained interactive page of a whole run (Plotly, no server, no network).

The page holds plotly.js inline and the run's data as base64 float32 arrays:

* the intensity map (background removed, √I) beside the voltage, capacity or
  temperature curve on the same scan axis;
* the pattern of the scan under the mouse (hover) or last clicked: observed,
  calculated (model + background), difference and reflection ticks of the
  phases present, with R_wp, and a table of its cells and fractions;
* lattice parameters, volume per formula unit, phase fractions and R_wp on
  one shared scan axis, with the selected scan marked.

Large stacks are thinned for the page only (every k-th scan, every m-th 2θ
point) so that the file stays below about 40 MB; the page says so.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..errors import OutputError

logger = logging.getLogger(__name__)

__all__ = ["write_viewer", "render_viewer", "viewer_payload", "try_write_viewer"]

#: most 2θ points per drawn pattern and most numbers of pattern data in the page
#: (2 × float32 per point: about 4 MB of base64 per million numbers).
MAX_POINTS = 16000
MAX_PATTERN_NUMBERS = 6_000_000
#: most cells of the intensity map (scans × points), a heatmap the browser draws at once.
MAX_MAP_CELLS = 1_500_000
_CELL = ("a", "b", "c", "alpha", "beta", "gamma")
_PANEL_LABELS = {"a": "a (Å)", "b": "b (Å)", "c": "c (Å)", "b,c": "b, c (Å)",
                 "interlayer_d": "d interlayer (Å)", "volume_per_fu": "V per f.u. (Å³)",
                 "volume_strain": "ΔV/V₀ (%)"}


def _b64(values: np.ndarray) -> str:
    """Base64 of little-endian float32 (NaN kept)."""
    return base64.b64encode(np.ascontiguousarray(values, dtype="<f4").tobytes()).decode("ascii")


def _stride(n: int, limit: int) -> int:
    return max(1, int(math.ceil(n / max(1, limit))))


def _scan_axis(results: xr.Dataset) -> dict[str, Any]:
    from ..plot import _data

    x = _data.default_x(results)
    values, label, used = _data.scan_x(results, x)
    return {"values": values, "label": label.replace("$", ""), "used": used}


def _side_curves(results: xr.Dataset) -> list[dict[str, Any]]:
    """Per-scan curves drawn beside the map (y = scan number): voltage, capacity, temperature."""
    from ..plot import _data

    out = []
    for name, label, key in (("voltage_V", _data.voltage_label(results), "voltage"),
                             ("capacity_mAh_g", "Capacity (mAh/g)", "capacity"),
                             ("temperature_K", "Temperature (K)", "temperature")):
        v = _data.coord(results, name)
        if v is not None and (key != "temperature" or np.nanmax(v) - np.nanmin(v) > 0.5):
            out.append({"name": key, "label": label, "values": _b64(v)})
    return out


def _phase_block(results: xr.Dataset, picks: np.ndarray) -> list[dict[str, Any]]:
    from ..plot import _data
    from ..plot._style import phase_color

    cells = _data.is_cell(results)
    out = []
    for label in _data.phase_labels(results, cells=True):
        pres = _data.presence(results, label)
        if pres is None or not pres.any():
            continue
        entry: dict[str, Any] = {"label": label, "cell_component": bool(cells.get(label, False)),
                                 "color": phase_color(label, cell_component=cells.get(label, False))}
        for name in _CELL + ("interlayer_d", "volume_per_fu", "fraction"):
            v = _data.phase_var(results, name, label)
            if v is not None and np.any(np.isfinite(v)):
                entry[name] = _b64(v)
                esd = _data.phase_var(results, f"esd_{name}", label)
                if esd is not None and np.any(np.isfinite(esd)):
                    entry[f"esd_{name}"] = _b64(esd)
        out.append(entry)
    return out


def _panels(results: xr.Dataset) -> list[dict[str, Any]]:
    """Rows of the shared-x plot: the lattice figure's panels, then phase fractions."""
    from ..plot import _data
    from ..plot._style import phase_color
    from ..plot.lattice import lattice_panels, panel_values

    rows = []
    for q, phases in lattice_panels(results):
        series = []
        for p in phases:
            for sub, dash in ((("b", "solid"), ("c", "dash")) if q == "b,c" else ((q, "solid"),)):
                vals = panel_values(results, sub, p)
                if vals is None:
                    continue
                series.append({"phase": p, "name": f"{sub} {p}" if q == "b,c" else p,
                               "color": phase_color(p), "dash": dash,
                               "values": _b64(vals[0]), "esd": _b64(vals[1])})
        label = _PANEL_LABELS.get(q, q)
        rows.append({"label": label, "series": series})
    frac = []
    for p in _data.phase_labels(results):
        f = _data.phase_var(results, "fraction", p)
        if f is not None and np.any(np.isfinite(f)):
            frac.append({"phase": p, "name": p, "color": phase_color(p), "dash": "solid",
                         "values": _b64(f), "esd": None})
    if frac:
        rows.append({"label": "fraction", "series": frac})
    return rows


def _ticks(results: xr.Dataset, picks: np.ndarray, tt: tuple[float, float]) -> list[dict[str, list[float]]]:
    """Per picked scan: phase → tick positions (2θ, deg) from its refined cell."""
    from ..plot import _data
    from ..plot.ticks import reflection_ticks

    wl = _data.wavelength(results)
    if not math.isfinite(wl):
        return [{} for _ in picks]
    cells: dict[str, np.ndarray] = {}
    for label in _data.phase_labels(results, cells=True):
        cols = [_data.phase_var(results, name, label) for name in _CELL]  # NaN where absent
        if all(c is not None for c in cols):
            cells[label] = np.stack(cols, axis=1)
    cache: dict[tuple[str, tuple[float, ...]], list[float]] = {}
    ref = _data.reference_dir(results)
    out = []
    for pos in picks:
        row: dict[str, list[float]] = {}
        for label, grid in cells.items():
            cell = tuple(float(v) for v in grid[pos])
            if not all(math.isfinite(v) for v in cell):
                continue
            key = (label, tuple(round(c, 4) for c in cell))
            if key not in cache:
                _, pos_tt, _ = reflection_ticks(label, cell, wl, tt, reference_dir=ref)
                cache[key] = [round(float(v), 4) for v in pos_tt]
            row[label] = cache[key]
        out.append(row)
    return out


def viewer_payload(results: xr.Dataset) -> dict[str, Any]:
    """Everything the page draws, as JSON-ready values (arrays as base64 float32)."""
    from ..plot import _data
    from ..plot.quality import background, rwp_gof, total_calc

    n = _data.n_scans(results)
    tt = np.asarray(results["two_theta"].values, dtype=float)
    obs = np.asarray(results["intensity"].transpose("scan", "two_theta").values, dtype=float)
    calc = total_calc(results)
    bg = background(results)
    net = obs - (np.where(np.isfinite(bg), bg, 0.0) if bg is not None else 0.0)
    numbers = (np.asarray(results["scan"].values) if "scan" in results.coords else np.arange(n))
    axis = _scan_axis(results)

    # intensity map, thinned to MAX_MAP_CELLS
    p_map = _stride(tt.size, max(200, MAX_MAP_CELLS // max(n, 1)))
    s_map = _stride(n, MAX_MAP_CELLS // max(1, math.ceil(tt.size / p_map)))
    rows = np.arange(0, n, s_map)
    z = np.sqrt(np.clip(net[rows][:, ::p_map], 0.0, None))
    hi = float(np.nanpercentile(z, 99.7)) if np.any(np.isfinite(z)) else 1.0

    # patterns, thinned to MAX_PATTERN_NUMBERS
    p_pat = _stride(tt.size, MAX_POINTS)
    n_pts = math.ceil(tt.size / p_pat)
    s_pat = _stride(n, MAX_PATTERN_NUMBERS // (2 * n_pts))
    picks = np.arange(0, n, s_pat)
    rwp, gof = rwp_gof(results)
    tt_pat = tt[::p_pat]
    seq = _data.sequence(results)
    return {
        "title": str(results.attrs.get("source", "") or "phasetrace run"),
        "sequence": seq.get("sequence") or "not determined",
        "transitions": [{"from": "/".join(_data.stage_phases(t, "from")),
                         "to": "/".join(_data.stage_phases(t, "to")),
                         "first_scan": t.get("first_scan"), "last_scan": t.get("last_scan"),
                         "kind": t.get("kind", "")} for t in seq.get("transitions", []) or []],
        "wavelength_A": _data.wavelength(results),
        "scan_numbers": [int(v) for v in numbers],
        "axis": {"label": axis["label"], "used": axis["used"], "values": _b64(axis["values"])},
        "side": _side_curves(results),
        "map": {"two_theta": _b64(tt[::p_map]), "rows": [int(r) for r in rows],
                "z": _b64(z), "shape": list(z.shape), "zmax": hi},
        "patterns": {"two_theta": _b64(tt_pat), "picks": [int(p) for p in picks],
                     "obs": _b64(obs[picks][:, ::p_pat]),
                     "calc": _b64(calc[picks][:, ::p_pat]) if calc is not None else None,
                     "background": _b64(bg[picks][:, ::p_pat]) if bg is not None else None,
                     "n_points": int(tt_pat.size)},
        "ticks": _ticks(results, picks, (float(tt[0]), float(tt[-1]))),
        "phases": _phase_block(results, picks),
        "panels": _panels(results),
        "rwp": _b64(rwp), "gof": _b64(gof),
        "thinned": {"map_scans": s_map, "map_points": p_map, "pattern_scans": s_pat,
                    "pattern_points": p_pat},
    }


def _clean(value: Any) -> Any:
    """JSON-safe copy: non-finite floats become null (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def render_viewer(results: xr.Dataset, *, title: str | None = None) -> str:
    """The viewer page as one HTML string (plotly.js and the data inline)."""
    from plotly.offline import get_plotlyjs

    from ._viewer_js import CSS, SCRIPT

    if "intensity" not in results.data_vars or "two_theta" not in results.coords:
        raise OutputError("viewer: results have no intensity on two_theta; nothing to show")
    payload = viewer_payload(results)
    title = title or f"phasetrace viewer — {payload['title']}"
    data = json.dumps(_clean(payload), ensure_ascii=True, allow_nan=False).replace("</", "<\\/")
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            f"<meta name=viewport content='width=device-width,initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>{CSS}</style>"
            f"<script>{get_plotlyjs()}</script></head><body>"
            f"<header><h1>{html.escape(title)}</h1>"
            f"<p id=seq>sequence: {html.escape(str(payload['sequence']))}</p>"
            "<p class=hint>Hover over the map or any curve to show that scan; click to keep it.</p>"
            "</header><main>"
            "<section id=left><div id=map></div></section>"
            "<section id=right><h2 id=pattern-title>Scan</h2><div id=pattern></div>"
            "<div id=cells></div></section>"
            "<section id=bottom><div id=lattice></div></section></main>"
            f"<p id=note class=hint></p>"
            f"<script id=phasetrace-data type=application/json>{data}</script>"
            f"<script>{SCRIPT}</script></body></html>\n")


def write_viewer(results: xr.Dataset, path: str | Path, *, title: str | None = None) -> Path:
    """Write ``viewer.html`` (or ``path/viewer.html`` for a folder); no file outside it.

    Raises
    ------
    OutputError
        When the file cannot be written or the results hold no patterns.
    """
    out = Path(path)
    if out.is_dir():
        out = out / "viewer.html"
    text = render_viewer(results, title=title)
    try:
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
    except OSError as err:
        raise OutputError(f"{out}: cannot write the viewer ({err.strerror or err})") from err
    logger.info("wrote %s (%.1f MB)", out, len(text) / 1e6)
    return out


def try_write_viewer(results: xr.Dataset, out_dir: str | Path) -> dict[str, Path]:
    """Write ``out_dir/viewer.html``; ``{"viewer.html": path}``, or ``{}`` with a warning when it cannot be drawn.

    A run's other outputs never fail because of the viewer; a folder that cannot
    be written still raises :class:`OutputError`.
    """
    try:
        return {"viewer.html": write_viewer(results, Path(out_dir) / "viewer.html")}
    except OutputError as err:
        if "cannot write" in str(err):
            raise
        logger.warning("%s", err)
    except ImportError as err:
        logger.warning("viewer.html not written: %s (install plotly)", err)
    return {}
