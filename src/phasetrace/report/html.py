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
from .summary import lattice_summary

logger = logging.getLogger(__name__)

__all__ = ["write_html", "render_html"]

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:1000px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;border-bottom:1px solid #ccc;padding-bottom:.2em;
margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f3f3f3}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.seq{font-size:1.3em;font-weight:600;margin:.4em 0}.muted{color:#666;font-size:.9em}
figure{margin:1.2em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#444}pre{background:#f7f7f7;padding:.7em;overflow-x:auto;font-size:.85em}
.ph{font-weight:700}
"""

_CAPTIONS = {
    "contour": "Intensity map (background removed, each panel normalised) beside the voltage curve; "
               "dashed lines and grey bands mark transitions, labels the steady stages.",
    "lattice": "Lattice parameters, interlayer spacing and volume strain (relative to the first scan "
               "where each phase is present) with esd bars; open markers: discharge.",
    "fractions": "Phase fractions of the electrode phases.",
    "waterfall": "Selected patterns (background removed) with reflection tick marks.",
    "fit": "Fit of one scan: observed, calculated, background, difference and tick marks.",
}


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


def _stages_table(seq: dict[str, Any]) -> str:
    rows = []
    for k, st in enumerate(seq.get("stages", []) or []):
        rows.append(
            f"<tr><td class=num>{k + 1}</td><td>{_phases_html(st.get('phases'))}</td>"
            f"<td class=num>{_e(st.get('first_scan', '—'))}–{_e(st.get('last_scan', '—'))}</td>"
            f"<td class=num>{_fmt(st.get('voltage_start'))} → {_fmt(st.get('voltage_end'))}</td>"
            f"<td>{_e(st.get('direction') or '—')}</td><td>{_fractions(st.get('fractions'))}</td></tr>")
    if not rows:
        return "<p class=muted>No stages in these results.</p>"
    return ("<table><tr><th>#</th><th>phases</th><th>scans</th><th>voltage (V)</th>"
            "<th>direction</th><th>median fractions</th></tr>"
            + "".join(rows) + "</table>")


def _transitions_table(seq: dict[str, Any]) -> str:
    rows = []
    for tr in seq.get("transitions", []) or []:
        rows.append(
            f"<tr><td>{_phases_html(tr.get('from'))} → {_phases_html(tr.get('to'))}</td>"
            f"<td>{_e(tr.get('kind', '—'))}"
            + (f" ({_e(tr['mechanism'])})" if tr.get("mechanism") not in (None, "", tr.get("kind"))
               else "") + "</td>"
            f"<td class=num>{_e(tr.get('first_scan', '—'))}–{_e(tr.get('last_scan', '—'))}</td>"
            f"<td class=num>{_fmt(tr.get('voltage_start'))} → {_fmt(tr.get('voltage_end'))}</td></tr>")
    if not rows:
        return "<p class=muted>No transitions detected.</p>"
    return ("<table><tr><th>transition</th><th>kind</th><th>scans</th><th>voltage (V)</th></tr>"
            + "".join(rows) + "</table>")


def _lattice_section(results: xr.Dataset) -> str:
    summary = lattice_summary(results)
    if not summary:
        return "<p class=muted>No phase identified: no lattice parameters.</p>"
    bullets = "".join(f"<li>{_e(s.sentence())}</li>" for s in summary)
    rows = "".join(
        f"<tr><td>{_phases_html([s.phase])}</td><td class=num>{s.n_scans}</td>"
        f"<td class=num>{s.first_scan}–{s.last_scan}</td>"
        f"<td class=num>{_fmt(s.a_min_A, 4)} – {_fmt(s.a_max_A, 4)}</td>"
        f"<td class=num>{_fmt(s.d_min_A, 3)} – {_fmt(s.d_max_A, 3)}</td>"
        f"<td class=num>{_fmt(s.strain_pct, 2)}</td><td class=num>{_fmt(s.strain_voltage_V)}</td></tr>"
        for s in summary)
    return (f"<ul>{bullets}</ul><table><tr><th>phase</th><th>scans present</th><th>range</th>"
            "<th>a (Å)</th><th>d<sub>interlayer</sub> (Å)</th><th>largest ΔV/V<sub>0</sub> (%)</th>"
            f"<th>at (V)</th></tr>{rows}</table>")


def _data_section(results: xr.Dataset) -> str:
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
    if "voltage_V" in results.coords:
        v = np.asarray(results["voltage_V"].values, float)
        if np.any(np.isfinite(v)):
            parts.append(f"voltage {np.nanmin(v):.2f}–{np.nanmax(v):.2f} V")
    return "<p>" + _e(" · ".join(parts)) + "</p>"


def _figure_bytes(fig: Any, fmt: str, dpi: int) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi)
    return buf.getvalue()


def _embed(name: str, item: Any, dpi: int) -> str:
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
    caption = _CAPTIONS.get(name, "")
    return (f'<figure id="fig-{_e(name)}"><img alt="{_e(name)}" src="{uri}">'
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
    for name, item in dict(figures).items():
        try:
            parts.append(_embed(str(name), item, dpi))
        except OSError as err:
            logger.warning("report: figure %s not embedded (%s)", name, err)
    return "".join(parts) or "<p class=muted>No figures.</p>"


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
                dpi: int = 150) -> str:
    """The report as one HTML string (see :func:`write_html`)."""
    from ..transitions import sequence_of

    seq = sequence_of(results)
    cells = seq.get("cell_components") or []
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    title = title or "phasetrace report"
    body = [
        f"<h1>{_e(title)}</h1><p class=muted>generated {stamp}</p>",
        "<h2>Data</h2>", _data_section(results),
        "<h2>Phase sequence</h2>",
        f"<p class=seq>{_e(seq.get('sequence') or 'not determined')}</p>",
        (f"<p>Cell components (not part of the sequence): {_phases_html(cells)}</p>" if cells else ""),
        "<h3>Stages</h3>", _stages_table(seq),
        "<h3>Transitions</h3>", _transitions_table(seq),
        "<h2>Lattice and strain</h2>", _lattice_section(results),
        "<h2>Figures</h2>", _figures_section(results, figures, dpi),
        "<h2>Options and provenance</h2>", _provenance_section(results),
    ]
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            f"<meta name=viewport content='width=device-width,initial-scale=1'><title>{_e(title)}</title>"
            f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n")


def write_html(results: xr.Dataset, path: str | Path, *, figures: Any = None,
               title: str | None = None, dpi: int = 150) -> Path:
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
    text = render_html(results, figures=figures, title=title, dpi=dpi)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as err:
        raise OutputError(f"{out}: cannot write the report ({err.strerror or err})") from err
    logger.info("wrote %s", out)
    return out
