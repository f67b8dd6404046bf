"""A single self-contained ``report.html`` for one run (figures embedded, no external assets)."""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..errors import OutputError
from . import tables
from .summary import lattice_summary

logger = logging.getLogger(__name__)

__all__ = ["write_html", "render_html"]

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:1.5em auto;
padding:0 2em;color:#222;line-height:1.45;max-width:2400px}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;border-bottom:1px solid #ccc;padding-bottom:.2em;
margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f3f3f3}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.seq{font-size:1.3em;font-weight:600;margin:.4em 0}.muted{color:#666;font-size:.9em}
.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,640px),1fr));gap:1.2em 2em;
align-items:start}
figure{margin:0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figure.wide{grid-column:1/-1}
figcaption{font-size:.9em;color:#444}pre{background:#f7f7f7;padding:.7em;overflow-x:auto;font-size:.85em}
.ph{font-weight:700}
"""

_CAPTIONS = {
    "contour": "Intensity map (background removed, each panel normalised) beside the {curve}; "
               "dashed lines and grey bands mark transitions, labels the steady stages.",
    "lattice": "Lattice parameters, interlayer spacing, volume per formula unit of all phases on one "
               "axis (relative change of the mean volume across each transition written on it) and "
               "volume strain ΔV/V₀ of each phase (relative to the first scan where it is present), "
               "against {axis}, with esd bars; open markers: {open}.",
    "fractions": "Phase fractions of the electrode phases against {axis}.",
    "waterfall": "Selected patterns (background removed), labelled by {label}, with reflection tick "
                 "marks.",
    "fit": "Fit of one scan: observed, calculated (model + background), background, difference "
           "(observed − calculated) and tick marks.",
    "fit_quality": "R_wp and goodness of fit of every scan against {axis}; scans above the flag "
                   "level stand out in red.",
}
#: figures drawn across the whole page width, and any figure wider than this (a full-page one), inches.
_WIDE = ("contour", "fit")
_WIDE_IN = 5.0
#: screen pixels per figure inch: 7–8 pt figure text reads as 13–14 px.
_PX_PER_IN = 130


def _png_width_in(data: bytes) -> float:
    """Width in inches of a PNG from its IHDR and pHYs chunks (NaN when not a PNG or no pHYs)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        return math.nan
    width = int.from_bytes(data[16:20], "big")
    pos = 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        if kind == b"pHYs" and length >= 9 and data[pos + 16] == 1:  # unit: metre
            ppm = int.from_bytes(data[pos + 8:pos + 12], "big")
            return width / (ppm * 0.0254) if ppm else math.nan
        if kind in (b"IDAT", b"IEND"):
            break
        pos += 12 + length
    return math.nan


def _captions(results: xr.Dataset) -> dict[str, str]:
    """Captions worded for the run: temperature series say temperature, never voltage."""
    from ..plot import _data

    temp = _data.is_temperature_series(results)
    has_v = _data.coord(results, "voltage_V") is not None
    axis = {"temperature": "temperature", "time": "time", "scan": "scan number"}[
        _data.default_x(results)]
    words = {
        "curve": ("temperature axis" if temp else "voltage curve" if has_v else "scan axis"),
        "axis": axis, "open": "cooling" if temp else "discharge",
        "label": "temperature" if temp else "voltage" if has_v else "scan number",
    }
    return {k: v.format(**words) for k, v in _CAPTIONS.items()}


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _json_attr(results: xr.Dataset, name: str) -> dict[str, Any]:
    raw = results.attrs.get(name)
    if not raw:
        return {}
    try:
        value = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except (TypeError, ValueError):
        logger.warning("attribute %s is not valid JSON; left out of the report", name)
        return {}
    return value if isinstance(value, dict) else {}


def _sequence(results: xr.Dataset) -> dict[str, Any]:
    from ..plot._data import sequence

    return sequence(results)


def _phases_html(phases: Any) -> str:
    from ..plot import phase_color

    items = phases.split("/") if isinstance(phases, str) else list(phases or [])
    spans = [f'<span class="ph" style="color:{phase_color(str(p))}">{_e(p)}</span>' for p in items]
    return "/".join(spans) or "—"


def _fmt(value: Any, digits: int = 2, unit: str = "") -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "—"
    return f"{v:.{digits}f}{unit}" if math.isfinite(v) else "—"


def _fractions(value: Any) -> str:
    if not isinstance(value, Mapping) or not value:
        return "—"
    return ", ".join(f"{_e(k)} {_fmt(v, 2)}" for k, v in value.items())


def _range_cell(entry: Mapping[str, Any], temperature: bool) -> str:
    if temperature:
        return (f"{_fmt(entry.get('temperature_start'), 1)} → {_fmt(entry.get('temperature_end'), 1)}")
    return f"{_fmt(entry.get('voltage_start'))} → {_fmt(entry.get('voltage_end'))}"


def _stages_table(seq: dict[str, Any]) -> str:
    temperature = tables.is_temperature_sequence(seq)
    rows = []
    for k, st in enumerate(seq.get("stages", []) or []):
        rows.append(
            f"<tr><td class=num>{k + 1}</td><td>{_phases_html(st.get('phases'))}</td>"
            f"<td class=num>{_e(st.get('first_scan', '—'))}–{_e(st.get('last_scan', '—'))}</td>"
            f"<td class=num>{_range_cell(st, temperature)}</td>"
            f"<td>{_e(st.get('direction') or '—')}</td><td>{_fractions(st.get('fractions'))}</td></tr>")
    if not rows:
        return "<p class=muted>No stages in these results.</p>"
    unit = "temperature (K)" if temperature else "voltage (V)"
    return (f"<table><tr><th>#</th><th>phases</th><th>scans</th><th>{unit}</th>"
            "<th>direction</th><th>median fractions</th></tr>"
            + "".join(rows) + "</table>")


def _transitions_table(seq: dict[str, Any]) -> str:
    temperature = tables.is_temperature_sequence(seq)
    rows = []
    for tr in seq.get("transitions", []) or []:
        extra = (f"<td class=num>{_fmt(tables.transition_temperature(tr, seq), 1)}</td>"
                 if temperature else "")
        rows.append(
            f"<tr><td>{_phases_html(tr.get('from'))} → {_phases_html(tr.get('to'))}</td>"
            f"<td>{_e(tr.get('kind', '—'))}"
            + (f" ({_e(tr['mechanism'])})" if tr.get("mechanism") not in (None, "", tr.get("kind"))
               else "") + "</td>"
            f"<td class=num>{_e(tr.get('first_scan', '—'))}–{_e(tr.get('last_scan', '—'))}</td>"
            f"<td class=num>{_range_cell(tr, temperature)}</td>{extra}"
            f"<td>{_e(tr.get('direction') or '—')}</td></tr>")
    if not rows:
        return "<p class=muted>No transitions detected.</p>"
    head = ("<th>temperature (K)</th><th>transition temperature (K)</th>" if temperature
            else "<th>voltage (V)</th>")
    return (f"<table><tr><th>transition</th><th>kind</th><th>scans</th>{head}<th>direction</th></tr>"
            + "".join(rows) + "</table>")


def _transition_temperatures(seq: dict[str, Any]) -> str:
    """One sentence per transition of a temperature series: where it happens, in K."""
    if not tables.is_temperature_sequence(seq):
        return ""
    items = []
    for tr in seq.get("transitions", []) or []:
        tc = tables.transition_temperature(tr, seq)
        if not math.isfinite(tc):
            continue
        items.append(f"<li>{_phases_html(tr.get('from'))} → {_phases_html(tr.get('to'))} "
                     f"({_e(tr.get('kind', ''))}): T = {tc:.1f} K, between "
                     f"{_fmt(tr.get('temperature_start'), 1)} and {_fmt(tr.get('temperature_end'), 1)} K "
                     f"(scans {_e(tr.get('first_scan'))}–{_e(tr.get('last_scan'))}, "
                     f"{_e(tr.get('direction') or '')})</li>")
    return f"<p><b>Transition temperature</b></p><ul>{''.join(items)}</ul>" if items else ""


def _lattice_section(results: xr.Dataset) -> str:
    summary = lattice_summary(results)
    if not summary:
        return "<p class=muted>No phase identified: no lattice parameters.</p>"
    from ..plot import _data
    from ..plot.volume import volume_jumps

    temperature = _data.is_temperature_series(results)
    at = "at (K)" if temperature else "at (V)"
    bullets = "".join(f"<li>{_e(s.sentence())}</li>" for s in summary)
    rows = "".join(
        f"<tr><td>{_phases_html([s.phase])}</td><td class=num>{s.n_scans}</td>"
        f"<td class=num>{s.first_scan}–{s.last_scan}</td>"
        f"<td class=num>{_fmt(s.a_min_A, 4)} – {_fmt(s.a_max_A, 4)}</td>"
        f"<td class=num>{_fmt(s.d_min_A, 3)} – {_fmt(s.d_max_A, 3)}</td>"
        f"<td class=num>{_fmt(s.strain_pct, 2)}</td>"
        f"<td class=num>{_fmt(s.strain_temperature_K, 1) if temperature else _fmt(s.strain_voltage_V)}"
        "</td></tr>"
        for s in summary)
    jumps = volume_jumps(results)
    jump_html = ""
    if jumps:
        items = "".join(
            f"<li>{_e(j.label())}: {j.volume_before_A3:.2f} → {j.volume_after_A3:.2f} Å³ per f.u. "
            f"(scan {j.before_scan} → {j.after_scan})</li>" for j in jumps)
        jump_html = ("<p><b>Volume change across transitions</b> (mean volume per formula unit of "
                     f"the electrode, weighted by phase fractions)</p><ul>{items}</ul>")
    return (f"<ul>{bullets}</ul>{jump_html}<table><tr><th>phase</th><th>scans present</th><th>range</th>"
            "<th>a (Å)</th><th>d<sub>interlayer</sub> (Å)</th><th>largest ΔV/V<sub>0</sub> (%)</th>"
            f"<th>{at}</th></tr>{rows}</table>")


def _data_section(results: xr.Dataset) -> str:
    from ..plot import _data
    from ..plot.quality import rwp_gof

    n = int(results.sizes.get("scan", 0))
    parts = [f"{n} scans"]
    if "two_theta" in results.coords and results.sizes.get("two_theta", 0):
        tt = np.asarray(results["two_theta"].values, float)
        parts.append(f"2θ {tt.min():.3f}–{tt.max():.3f}° ({tt.size} points)")
    wl = results.attrs.get("wavelength_A")
    try:
        if wl is not None and math.isfinite(float(wl)):
            parts.append(f"λ = {float(wl):.5g} Å")
    except (TypeError, ValueError):
        pass
    for key in ("radiation", "source_format"):
        if results.attrs.get(key):
            parts.append(f"{key.replace('_', ' ')}: {results.attrs[key]}")
    for name, unit, digits, what in (("voltage_V", "V", 2, "voltage"),
                                     ("capacity_mAh_g", "mAh/g", 1, "capacity"),
                                     ("temperature_K", "K", 1, "temperature")):
        v = _data.coord(results, name)
        if v is not None:
            parts.append(f"{what} {np.nanmin(v):.{digits}f}–{np.nanmax(v):.{digits}f} {unit}")
    if _data.is_temperature_series(results):
        dirs = [d for d in dict.fromkeys(_data.thermal_direction(results)) if d]
        parts.append("temperature series (" + (" then ".join(dirs) or "constant") + ")")
    text = "<p>" + _e(" · ".join(parts)) + "</p>"
    if "intensity" in results.data_vars:
        rwp, _ = rwp_gof(results)
        if np.any(np.isfinite(rwp)):
            worst = int(np.nanargmax(rwp))
            number = int(results["scan"].values[worst]) if "scan" in results.coords else worst
            text += (f"<p>Fit quality: median R<sub>wp</sub> {np.nanmedian(rwp):.1f} % "
                     f"(calculated pattern including the background); worst scan {number} "
                     f"at {rwp[worst]:.1f} %.</p>")
    return text + _presence_table(results)


def _presence_table(results: xr.Dataset) -> str:
    """Per phase: scans present and the weakest evidence among them (log10 p of the last
    presence test, phasetrace.phases.presence; present when below log10 α)."""
    if "presence_log10_p" not in results or "present" not in results:
        return ""
    present = np.asarray(results["present"].values, bool)
    logp = np.asarray(results["presence_log10_p"].values, float)
    alpha = results["presence_log10_p"].attrs.get("alpha", results.attrs.get("identify_alpha"))
    rows = []
    for j, label in enumerate(results["phase"].values):
        on = present[:, j]
        if not on.any():
            continue
        weakest = np.nanmax(np.where(on, logp[:, j], np.nan)) if np.isfinite(logp[on, j]).any() else math.nan
        rows.append(f"<tr><td>{_e(label)}</td><td>{int(on.sum())}</td>"
                    f"<td>{_fmt(weakest, 1)}</td></tr>")
    if not rows:
        return ""
    head = (f"<p>Phase presence: F-test on nested whole-pattern refinements, α = {_e(alpha)} "
            "(log10 p of the weakest scan; a phase is present where log10 p &lt; log10 α).</p>")
    return (head + "<table><tr><th>phase</th><th>scans present</th><th>weakest log10 p</th>"
            "</tr>" + "".join(rows) + "</table>")


def _figure_bytes(fig: Any, fmt: str, dpi: int) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi)
    return buf.getvalue()


def _embed(name: str, item: Any, dpi: int, captions: Mapping[str, str] | None = None) -> str:
    """``<figure>`` with a base64 PNG/SVG data URI from a Figure, a file path or raw bytes."""
    mime = "image/png"
    if isinstance(item, (str, Path)):
        path = Path(item)
        data = path.read_bytes()
        mime = "image/svg+xml" if path.suffix.lower() == ".svg" else "image/png"
    elif isinstance(item, (bytes, bytearray)):
        data = bytes(item)
        mime = "image/svg+xml" if data.lstrip()[:5] in (b"<?xml", b"<svg ") else "image/png"
    else:
        data = _figure_bytes(item, "png", dpi)
    uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    caption = (captions or _CAPTIONS).get(name, "")
    width_in = _png_width_in(data)
    wide = ' class="wide"' if name in _WIDE or width_in > _WIDE_IN else ""
    size = f' style="width:{width_in * _PX_PER_IN:.0f}px"' if math.isfinite(width_in) else ""
    return (f'<figure id="fig-{_e(name)}"{wide}><img alt="{_e(name)}"{size} src="{uri}">'
            f"<figcaption><b>{_e(name)}</b>. {_e(caption)}</figcaption></figure>")


def _figures_section(results: xr.Dataset, figures: Any, dpi: int) -> str:
    if figures is None:
        from ..plot import FIGURES, render

        figures = {}
        for name in FIGURES:
            try:
                figures[name] = render(results, name)
            except Exception as err:  # noqa: BLE001 - a figure that cannot be drawn is skipped
                logger.warning("report: figure %s not drawn: %s", name, err)
    elif isinstance(figures, Sequence) and not isinstance(figures, (str, bytes)):
        figures = {Path(p).stem: p for p in figures}
    parts = []
    captions = _captions(results)
    for name, item in dict(figures).items():
        try:
            parts.append(_embed(str(name), item, dpi, captions))
        except OSError as err:
            logger.warning("report: figure %s not embedded (%s)", name, err)
    return f"<div class=figs>{''.join(parts)}</div>" if parts else "<p class=muted>No figures.</p>"


def _provenance_section(results: xr.Dataset) -> str:
    prov = _json_attr(results, "provenance_json")
    opts = _json_attr(results, "options_json") or prov.get("options", {})
    from .. import __version__

    version = prov.get("version", __version__)
    inputs = prov.get("input_sha256") or prov.get("inputs") or prov.get("input_hashes") or {}
    rows = ""
    if isinstance(inputs, Mapping):
        rows = "".join(f"<tr><td>{_e(k)}</td><td><code>{_e(v)}</code></td></tr>" for k, v in inputs.items())
    table = (f"<table><tr><th>input</th><th>hash</th></tr>{rows}</table>" if rows
             else "<p class=muted>No input hashes recorded.</p>")
    other = {k: v for k, v in prov.items() if k not in ("input_sha256", "inputs", "input_hashes", "options", "version")}
    return (f"<p>phasetrace {_e(version)}</p><h3>Options</h3>"
            f"<pre>{_e(json.dumps(opts, indent=2, ensure_ascii=False, default=str))}</pre>"
            f"<h3>Inputs</h3>{table}"
            + (f"<pre>{_e(json.dumps(other, indent=2, ensure_ascii=False, default=str))}</pre>"
               if other else ""))


def render_html(results: xr.Dataset, *, figures: Any = None, title: str | None = None,
                dpi: int = 150, viewer: bool = False) -> str:
    """The report as one HTML string (see :func:`write_html`)."""
    seq = _sequence(results)
    cells = seq.get("cell_components") or []
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    title = title or "phasetrace report"
    body = [
        f"<h1>{_e(title)}</h1><p class=muted>generated {stamp}</p>",
        "<h2>Data</h2>", _data_section(results),
        "<h2>Phase sequence</h2>",
        f"<p class=seq>{_e(seq.get('sequence') or 'not determined')}</p>",
        (f"<p>Cell components (not part of the sequence): {_phases_html(cells)}</p>" if cells else ""),
        _transition_temperatures(seq),
        "<h3>Stages</h3>", _stages_table(seq),
        "<h3>Transitions</h3>", _transitions_table(seq),
        "<h2>Lattice and strain</h2>", _lattice_section(results),
        "<h2>Figures</h2>",
        ("<p>Interactive view of the whole run (linked map, patterns, cells): "
         "<a href=\"viewer.html\">viewer.html</a> beside this file.</p>" if viewer else ""),
        _figures_section(results, figures, dpi),
        "<h2>Options and provenance</h2>", _provenance_section(results),
    ]
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            f"<meta name=viewport content='width=device-width,initial-scale=1'><title>{_e(title)}</title>"
            f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n")


def write_html(results: xr.Dataset, path: str | Path, *, figures: Any = None,
               title: str | None = None, dpi: int = 150, viewer: bool = False) -> Path:
    """Write one self-contained ``report.html`` (no server, no external files).

    Parameters
    ----------
    results : xarray.Dataset
        Results Dataset (``results.nc`` layout); every part may be missing.
    path : str or Path
        Output file, or an existing folder (then ``report.html`` inside it).
    figures : None, mapping or sequence, optional
        None draws every figure of :mod:`phasetrace.plot`; a mapping
        ``name -> Figure | PNG/SVG path | bytes`` or a sequence of PNG/SVG paths
        embeds those instead (base64 data URIs); an empty one embeds none.
    title : str, optional
        Page title.
    dpi : int
        Resolution of figures rendered here, dots per inch.
    viewer : bool
        Link to ``viewer.html`` written beside the report.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    OutputError
        When the file cannot be written.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from phasetrace.schema import make_stack
    >>> stack = make_stack(np.linspace(10, 40, 301), np.ones((3, 301)), wavelength_A=1.5406)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     text = write_html(stack, tmp, figures={}).read_text(encoding="utf-8")
    >>> "3 scans" in text and "not determined" in text
    True
    """
    out = Path(path)
    if out.is_dir():
        out = out / "report.html"
    text = render_html(results, figures=figures, title=title, dpi=dpi, viewer=viewer)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as err:
        raise OutputError(f"{out}: cannot write the report ({err.strerror or err})") from err
    logger.info("wrote %s", out)
    return out
