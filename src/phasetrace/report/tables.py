"""Publication tables of a transition analysis (Table-1 style) and their writers.

:func:`sequence_table` gives one row per material (starting phases, voltage
window, sequence); :func:`stages_table` and :func:`transitions_table` one row
per stage/transition.  :func:`to_csv`, :func:`to_markdown` and :func:`to_latex`
write any of them without extra dependencies (no ``tabulate``/``jinja2``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import OutputError, SchemaError

__all__ = ["sequence_table", "stages_table", "transitions_table", "to_csv", "to_markdown", "to_latex",
           "latex_escape"]

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_LATEX_UNICODE = {"→": r"$\rightarrow$", "⇄": r"$\rightleftarrows$", "–": "--", "—": "---", "≈": r"$\approx$",
                  "±": r"$\pm$", "°": r"$^\circ$", "Å": r"\AA{}", "√": r"$\surd$", "·": r"$\cdot$"}


def _window(values: Iterable[float], unit: str, digits: int = 2) -> str:
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return ""
    return f"{min(finite):.{digits}f}–{max(finite):.{digits}f} {unit}"


def _as_dict(result: Any) -> dict[str, Any]:
    """The ``sequence.json`` dict of a TransitionResult, a dict, or a results Dataset."""
    if hasattr(result, "to_dict") and hasattr(result, "stages"):
        return result.to_dict()
    attrs = getattr(result, "attrs", None)
    if isinstance(attrs, Mapping) and "sequence_json" in attrs:
        from ..transitions import sequence_of

        return sequence_of(result)
    if isinstance(result, Mapping) and ("stages" in result or "sequence" in result):
        return dict(result)
    raise SchemaError(f"cannot make a table from {type(result).__name__}: expected a TransitionResult, "
                      "a sequence.json dict or a results Dataset with attrs['sequence_json']")


def _label(phases: Any) -> str:
    return phases if isinstance(phases, str) else "/".join(phases)


def _f(value: Any) -> float:
    return math.nan if value is None else float(value)


def sequence_table(result: Any, *, material: str | None = None) -> pd.DataFrame:
    """One Table-1 style row: material, starting phases, window and sequence.

    Parameters
    ----------
    result : TransitionResult, dict or xarray.Dataset
        Output of :func:`phasetrace.transitions.detect_transitions`, its
        ``to_dict()`` (``sequence.json``), or a results Dataset carrying it in
        ``attrs["sequence_json"]``.
    material : str, optional
        Name of the material (e.g. ``"Na2/3Ni1/3Mn2/3O2"``); empty when not given.

    Returns
    -------
    pandas.DataFrame, shape (1, 7)
        Columns ``material``, ``starting phases``, ``voltage window`` (V, e.g.
        ``"1.50–4.28 V"``; the temperature window in K for a temperature series),
        ``sequence`` (stages joined with " → "), ``transitions`` (kinds),
        ``reversible`` (bool) and ``cell components``.

    Raises
    ------
    SchemaError
        For an object that holds no transition result.

    Examples
    --------
    >>> from phasetrace.simulate import phases_from_states
    >>> from phasetrace.transitions import detect_transitions
    >>> ds = phases_from_states([{"P2": 1.0}] * 4 + [{"O2": 1.0}] * 4, voltage_V=[3.0, 3.5, 4.0, 4.2, 4.3, 4.4, 4.5, 4.6])
    >>> sequence_table(detect_transitions(ds), material="NNMO")["sequence"].iloc[0]
    'P2 → O2'
    """
    seq = _as_dict(result)
    stages = seq.get("stages") or []
    ranges = seq.get("ranges") or {}
    volts = [_f(st.get(k)) for st in stages for k in ("voltage_start", "voltage_end")]
    window = _window(volts + [_f(v) for v in ranges.get("voltage_V", ())], "V")
    if not window:
        temps = [_f(st.get(k)) for st in stages for k in ("temperature_start", "temperature_end")]
        window = _window(temps + [_f(v) for v in ranges.get("temperature_K", ())], "K", 1)
    kinds = ", ".join(dict.fromkeys(t.get("kind", "") for t in seq.get("transitions") or [])) or "none"
    rev = (seq.get("reversibility") or {}).get("reversible", False)
    row = {"material": material or "", "starting phases": _label(stages[0]["phases"]) if stages else "",
           "voltage window": window, "sequence": seq.get("sequence", ""), "transitions": kinds,
           "reversible": bool(rev), "cell components": ", ".join(seq.get("cell_components") or [])}
    return pd.DataFrame([row])


def _num(value: Any, digits: int) -> float:
    value = _f(value)
    return round(value, digits) if math.isfinite(value) else math.nan


def stages_table(result: Any) -> pd.DataFrame:
    """One row per stage: phases, scans, voltage/capacity bounds, direction, confidence.

    Parameters
    ----------
    result : TransitionResult, dict or xarray.Dataset
        As for :func:`sequence_table`.

    Returns
    -------
    pandas.DataFrame, shape (n_stages, ...)
        Voltages in V (3 decimals), capacities in mAh/g (1 decimal), temperatures
        in K; all-NaN columns are dropped.
    """
    rows = [{"stage": i, "phases": _label(s["phases"]), "first scan": s["first_scan"], "last scan": s["last_scan"],
             "voltage start (V)": _num(s.get("voltage_start"), 3), "voltage end (V)": _num(s.get("voltage_end"), 3),
             "capacity start (mAh/g)": _num(s.get("capacity_start"), 1),
             "capacity end (mAh/g)": _num(s.get("capacity_end"), 1),
             "temperature start (K)": _num(s.get("temperature_start"), 1),
             "temperature end (K)": _num(s.get("temperature_end"), 1),
             "direction": s.get("direction", ""),
             "solid solution": ", ".join(r["phase"] for r in s.get("solid_solution") or []),
             "confidence": s.get("confidence", math.nan)}
            for i, s in enumerate(_as_dict(result).get("stages") or [])]
    return pd.DataFrame(rows).dropna(axis=1, how="all") if rows else pd.DataFrame(rows)


def transitions_table(result: Any) -> pd.DataFrame:
    """One row per transition: from → to, kind, scans, onset/end voltages, direction.

    Parameters
    ----------
    result : TransitionResult, dict or xarray.Dataset
        As for :func:`sequence_table`.

    Returns
    -------
    pandas.DataFrame, shape (n_transitions, ...)
        Voltages in V (3 decimals); temperature columns for temperature series.
        All-NaN columns are dropped.
    """
    rows = [{"transition": f"{_label(t['from'])} → {_label(t['to'])}", "kind": t.get("kind", ""),
             "first scan": t["first_scan"], "last scan": t["last_scan"],
             "voltage start (V)": _num(t.get("voltage_start"), 3), "voltage end (V)": _num(t.get("voltage_end"), 3),
             "voltage mid (V)": _num(t.get("voltage_mid"), 3),
             "temperature start (K)": _num(t.get("temperature_start"), 1),
             "temperature end (K)": _num(t.get("temperature_end"), 1),
             "direction": t.get("direction", ""), "basis": t.get("basis", "phases"),
             "confidence": t.get("confidence", math.nan)}
            for t in _as_dict(result).get("transitions") or []]
    return pd.DataFrame(rows).dropna(axis=1, how="all") if rows else pd.DataFrame(rows)


def _write(text: str, path: str | Path | None) -> str:
    if path is not None:
        try:
            Path(path).write_text(text, encoding="utf-8")
        except OSError as err:
            raise OutputError(f"{path}: cannot write table ({err.strerror or err}); check the folder exists "
                              "and is writable") from err
    return text


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{value:g}"
    return str(value)


def to_csv(table: pd.DataFrame, path: str | Path | None = None) -> str:
    """CSV text (UTF-8, header row, no index); also written to ``path`` when given."""
    return _write(table.to_csv(index=False), path)


def to_markdown(table: pd.DataFrame, path: str | Path | None = None) -> str:
    """GitHub-flavoured Markdown table; ``|`` in cells is escaped.

    Examples
    --------
    >>> to_markdown(pd.DataFrame([{"sequence": "P2 → O2"}])).splitlines()
    ['| sequence |', '| --- |', '| P2 → O2 |']
    """
    def esc(v: Any) -> str:
        return _cell(v).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(esc(c) for c in table.columns) + " |",
             "| " + " | ".join("---" for _ in table.columns) + " |"]
    lines += ["| " + " | ".join(esc(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return _write("\n".join(lines) + "\n", path)


def latex_escape(text: str) -> str:
    r"""Escape LaTeX special characters and map arrows/dashes to LaTeX.

    Examples
    --------
    >>> latex_escape("P2/P3 → OP4 & 5%")
    'P2/P3 $\\rightarrow$ OP4 \\& 5\\%'
    """
    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))
    return "".join(_LATEX_UNICODE.get(ch, ch) for ch in out)


def to_latex(table: pd.DataFrame, path: str | Path | None = None, *, caption: str | None = None,
             label: str | None = None) -> str:
    """A ``table``/``tabular`` LaTeX block (booktabs rules), cells escaped.

    Parameters
    ----------
    table : pandas.DataFrame
    path : str or Path, optional
        Also write the text there.
    caption, label : str, optional
        ``\\caption`` (escaped) and ``\\label`` (used verbatim) of the float.

    Returns
    -------
    str
    """
    cols = "l" * max(len(table.columns), 1)
    lines = [r"\begin{table}", r"\centering", rf"\begin{{tabular}}{{{cols}}}", r"\toprule",
             " & ".join(latex_escape(c) for c in table.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(latex_escape(_cell(v)) for v in row) + r" \\" for row in table.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines.append(rf"\caption{{{latex_escape(caption)}}}")
    if label:
        lines.append(rf"\label{{{label}}}")
    lines.append(r"\end{table}")
    return _write("\n".join(lines) + "\n", path)
