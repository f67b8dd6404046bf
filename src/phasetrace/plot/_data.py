"""Read what the figures need from a results Dataset, tolerating anything missing.

Every accessor here returns something drawable (possibly empty) instead of
raising when a variable, coordinate or attribute is absent: a run that
identified no phase still gets its contour map.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any, Literal

import numpy as np
import xarray as xr

from ..errors import ConfigError
from ..schema import two_theta_to_d, two_theta_to_q

logger = logging.getLogger(__name__)

XAxis = Literal["voltage", "capacity", "time", "scan", "temperature", "x_na"]
PatternAxis = Literal["two_theta", "d", "q"]
Scale = Literal["linear", "sqrt", "log"]

X_CHOICES = ("voltage", "capacity", "time", "scan", "temperature", "x_na")
AXIS_CHOICES = ("two_theta", "d", "q")
SCALE_CHOICES = ("linear", "sqrt", "log")

_X_COORD = {"voltage": "voltage_V", "capacity": "capacity_mAh_g", "time": "time_s",
            "temperature": "temperature_K"}
_X_LABEL = {"capacity": "Capacity (mAh g$^{-1}$)", "scan": "Scan number",
            "temperature": "Temperature (K)", "x_na": "x in Na$_x$ (from capacity)"}
#: a temperature span below this (K) is regulation noise of a fixed-temperature run, not a series.
TEMPERATURE_SERIES_MIN_SPAN_K = 2.0


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``; raise :class:`ConfigError` otherwise."""
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not understood; expected one of {', '.join(choices)}")
    return value


def coord(results: xr.Dataset, name: str) -> np.ndarray | None:
    """Return a float scan coordinate, or None when absent or all NaN."""
    if name not in results.coords and name not in results.data_vars:
        return None
    try:
        values = np.asarray(results[name].values, dtype=float)
    except (TypeError, ValueError):
        return None
    if values.ndim != 1 or not np.any(np.isfinite(values)):
        return None
    return values


def n_scans(results: xr.Dataset) -> int:
    """Number of scans (0 when there is no ``scan`` dimension)."""
    return int(results.sizes.get("scan", 0))


def time_unit(seconds: np.ndarray) -> tuple[float, str]:
    """Divisor and unit for showing a time span: minutes below 3 h, hours above."""
    span = float(np.nanmax(seconds) - np.nanmin(seconds)) if np.any(np.isfinite(seconds)) else 0.0
    return (60.0, "min") if span < 3 * 3600 else (3600.0, "h")


def voltage_label(results: xr.Dataset) -> str:
    """``Voltage (V vs Na⁺/Na)`` only when the record names its reference electrode, else ``Voltage (V)``."""
    ref = ""
    if "voltage_V" in results.coords or "voltage_V" in results.data_vars:
        ref = str(results["voltage_V"].attrs.get("reference", "") or "")
    ref = ref or str(results.attrs.get("voltage_reference", "") or "")
    ref = ref.replace("+", "$^+$") if ref else ""
    return f"Voltage (V vs {ref})" if ref else "Voltage (V)"


def is_temperature_series(results: xr.Dataset) -> bool:
    """True when temperature varies (span > 2 K) and no voltage is known: T is the series' axis."""
    temp = coord(results, "temperature_K")
    if temp is None or np.count_nonzero(np.isfinite(temp)) < 2:
        return False
    if coord(results, "voltage_V") is not None:
        return False
    return float(np.nanmax(temp) - np.nanmin(temp)) > TEMPERATURE_SERIES_MIN_SPAN_K


def thermal_direction(results: xr.Dataset) -> np.ndarray:
    """Per scan ``"heating"``, ``"cooling"`` or ``""`` from the sign of the temperature step."""
    temp = coord(results, "temperature_K")
    n = n_scans(results)
    if temp is None:
        return np.full(n, "", dtype=object)
    step = np.gradient(np.where(np.isfinite(temp), temp, np.nan)) if n > 1 else np.zeros(n)
    out = np.where(step > 0, "heating", np.where(step < 0, "cooling", ""))
    return out.astype(object)


def sodium_content(capacity_mAh_g: np.ndarray, x_initial: float,
                   capacity_per_na_mAh_g: float) -> np.ndarray:
    """x in Na_x from the cycler capacity: x = x₀ − Q / Q₁.

    ``capacity_per_na_mAh_g`` (Q₁) is the theoretical capacity of one Na per
    formula unit, F / (3.6 M) with M in g/mol (e.g. 257.8 mAh/g for NaMnO₂).
    Capacity counts charge passed on charge (Na removed) as positive.
    """
    return x_initial - np.asarray(capacity_mAh_g, dtype=float) / float(capacity_per_na_mAh_g)


def x_na_params(results: xr.Dataset) -> tuple[float, float] | None:
    """(x₀, Q₁) from the attributes ``x_na_initial`` and ``capacity_per_na_mAh_g``, if both are set."""
    try:
        x0 = float(results.attrs.get("x_na_initial", math.nan))
        q1 = float(results.attrs.get("capacity_per_na_mAh_g", math.nan))
    except (TypeError, ValueError):
        return None
    return (x0, q1) if math.isfinite(x0) and math.isfinite(q1) and q1 > 0 else None


def _x_na(results: xr.Dataset) -> np.ndarray | None:
    cap = coord(results, "capacity_mAh_g")
    params = x_na_params(results)
    if cap is None or params is None:
        return None
    return sodium_content(cap, *params)


def scan_x(results: xr.Dataset, x: str) -> tuple[np.ndarray, str, str]:
    """Values on the scan axis for ``x`` (voltage, capacity, time, scan, temperature or x_na).

    Returns
    -------
    values : ndarray, shape (n_scans,)
        Voltage in V, capacity in mAh/g, time in h or min, temperature in K,
        x in Na_x, or the scan number.
    label : str
        Axis label with units.
    used : str
        The choice actually used: a missing coordinate falls back to ``"scan"``.
        ``x_na`` needs ``capacity_mAh_g`` and the attributes ``x_na_initial``
        and ``capacity_per_na_mAh_g`` (see :func:`sodium_content`).
    """
    check_choice("x", x, X_CHOICES)
    n = n_scans(results)
    if x == "x_na":
        values = _x_na(results)
        if values is not None:
            return values, _X_LABEL[x], x
        logger.info("no capacity with x_na_initial/capacity_per_na_mAh_g; using the scan number")
    elif x != "scan":
        values = coord(results, _X_COORD[x])
        if values is not None:
            if x == "time":
                div, unit = time_unit(values)
                span = float(np.nanmax(values) - np.nanmin(values))
                # keep the experiment clock (a subset starts where it starts), unless it is an epoch
                start = float(np.nanmin(values)) if np.nanmin(values) > 10 * max(span, 1.0) else 0.0
                return (values - start) / div, f"Time ({unit})", x
            label = voltage_label(results) if x == "voltage" else _X_LABEL[x]
            return values, label, x
        logger.info("results have no %s coordinate; using the scan number instead", _X_COORD[x])
    if "scan" in results.coords:
        return np.asarray(results["scan"].values, dtype=float), _X_LABEL["scan"], "scan"
    return np.arange(n, dtype=float), _X_LABEL["scan"], "scan"


def default_x(results: xr.Dataset) -> str:
    """Temperature for a temperature series, else time when known, else the scan number."""
    if is_temperature_series(results):
        return "temperature"
    return "time" if coord(results, "time_s") is not None else "scan"


def ordered_axis(used: str) -> bool:
    """Whether points along this axis follow the measurement order (so they may be joined)."""
    return used in ("time", "scan", "temperature")


def phase_labels(results: xr.Dataset, *, cells: bool = False) -> list[str]:
    """Phase labels in the results, electrode phases only unless ``cells``."""
    if "phase" not in results.coords and "phase" not in results.dims:
        return []
    labels = [str(p) for p in np.atleast_1d(results["phase"].values)]
    if cells:
        return labels
    flags = is_cell(results)
    return [p for p in labels if not flags.get(p, False)]


def is_cell(results: xr.Dataset) -> dict[str, bool]:
    """Map phase label → True for cell components (current collector, window ...)."""
    if "phase" not in results.coords and "phase" not in results.dims:
        return {}
    labels = [str(p) for p in np.atleast_1d(results["phase"].values)]
    if "is_cell_component" in results.coords or "is_cell_component" in results:
        flags = np.atleast_1d(results["is_cell_component"].values).astype(bool)
        return dict(zip(labels, flags.tolist()))
    seq = sequence(results)
    cells = set(seq.get("cell_components", []) or [])
    return {p: p in cells for p in labels}


def _phase_column(results: xr.Dataset, name: str, label: str) -> np.ndarray | None:
    """(n_scans,) values of the (scan, phase) variable ``name`` for ``label``, or None.

    Read through the Dataset's variables and the phase index, not ``results[name].sel``:
    building a DataArray with every coordinate of a results Dataset costs milliseconds, and
    the report and viewer ask for hundreds of columns."""
    var = results.variables.get(name)
    if var is None or name not in results.data_vars or "phase" not in var.dims or "scan" not in var.dims:
        return None
    try:
        index = results.xindexes["phase"].index.get_loc(label)
    except KeyError:
        raise KeyError(f"no phase {label!r} in the results") from None
    column = np.take(np.asarray(var.values), index, axis=var.dims.index("phase"))
    rest = [d for d in var.dims if d != "phase"]
    return np.moveaxis(column, rest.index("scan"), 0)


def phase_var(results: xr.Dataset, name: str, label: str) -> np.ndarray | None:
    """Values of a (scan, phase) variable for one phase, NaN where not present; None if absent."""
    raw = _phase_column(results, name, label)
    if raw is None:
        return None
    values = np.asarray(raw, dtype=float)
    if name != "present":
        present = presence(results, label)
        if present is not None:
            values = np.where(present, values, np.nan)
    return values


def presence(results: xr.Dataset, label: str) -> np.ndarray | None:
    """Boolean (n_scans,) presence of a phase, from ``present`` or a finite ``fraction``."""
    values = _phase_column(results, "present", label)
    if values is not None:
        return np.where(np.isnan(values.astype(float)), False, values.astype(bool))
    frac = _phase_column(results, "fraction", label)
    if frac is not None:
        frac = np.asarray(frac, dtype=float)
        return np.isfinite(frac) & (frac > 0)
    return None


def _json_attr(results: xr.Dataset, name: str) -> dict[str, Any]:
    raw = results.attrs.get(name)
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        logger.debug("attribute %s is not valid JSON; ignored", name)
        return {}
    return value if isinstance(value, dict) else {}


def sequence(results: xr.Dataset) -> dict[str, Any]:
    """The sequence.json record of the results (empty dict when absent or unreadable)."""
    from ..transitions import sequence_of

    return sequence_of(results)


def provenance(results: xr.Dataset) -> dict[str, Any]:
    """The parsed ``provenance_json`` attribute (empty dict when absent)."""
    return _json_attr(results, "provenance_json")


def options(results: xr.Dataset) -> dict[str, Any]:
    """The parsed ``options_json`` attribute (empty dict when absent)."""
    return _json_attr(results, "options_json")


def reference_dir(results: xr.Dataset) -> str | None:
    """The run's ``--reference-dir`` (from ``options_json``) when it still exists, else None."""
    from pathlib import Path

    phases = options(results).get("phases")
    value = phases.get("reference_dir") if isinstance(phases, dict) else None
    return str(value) if value and Path(str(value)).is_dir() else None


def transition_temperature(tr: dict[str, Any], seq: dict[str, Any]) -> float:
    """Transition temperature, K: the critical point found on a temperature axis, else the mid-range."""
    def num(v: Any) -> float:
        try:
            return float(v)
        except (TypeError, ValueError):
            return math.nan

    if str(seq.get("x", "")).startswith("temperature") and math.isfinite(num(tr.get("x_critical"))):
        return num(tr.get("x_critical"))
    lo, hi = num(tr.get("temperature_start")), num(tr.get("temperature_end"))
    return 0.5 * (lo + hi) if math.isfinite(lo) and math.isfinite(hi) else math.nan


def stage_phases(entry: dict[str, Any], key: str = "phases") -> list[str]:
    """Phase list of a stage/transition entry; accepts a list or an ``"A/B"`` string."""
    value = entry.get(key, [])
    if isinstance(value, str):
        return [p for p in value.split("/") if p]
    return [str(p) for p in value or []]


def wavelength(results: xr.Dataset) -> float:
    """Primary wavelength in Å, NaN when unknown."""
    try:
        value = float(results.attrs.get("wavelength_A", math.nan))
    except (TypeError, ValueError):
        return math.nan
    return value if value > 0 else math.nan


def pattern_axis(two_theta: np.ndarray, axis: str, wavelength_A: float) -> tuple[np.ndarray, str, str]:
    """Convert a 2θ grid (deg) to the plotted axis.

    Returns the values, an axis label with units, and the axis actually used:
    d and Q need a wavelength and fall back to 2θ without one.
    """
    check_choice("axis", axis, AXIS_CHOICES)
    if axis != "two_theta" and not math.isfinite(wavelength_A):
        logger.warning("no wavelength in the results; plotting against 2θ instead of %s", axis)
        axis = "two_theta"
    if axis == "d":
        return two_theta_to_d(two_theta, wavelength_A), "d (Å)", axis
    if axis == "q":
        return two_theta_to_q(two_theta, wavelength_A), "Q (Å$^{-1}$)", axis
    label = "2θ (°)"
    if math.isfinite(wavelength_A):
        label = f"2θ (°, λ = {wavelength_A:.4g} Å)"
    return np.asarray(two_theta, dtype=float), label, axis


def scale_intensity(values: np.ndarray, scale: str) -> tuple[np.ndarray, str]:
    """Apply the intensity scale; returns the scaled array and a colour-bar label."""
    check_choice("scale", scale, SCALE_CHOICES)
    v = np.asarray(values, dtype=float)
    if scale == "sqrt":
        return np.sqrt(np.clip(v, 0.0, None)), "√I (counts$^{1/2}$)"
    if scale == "log":
        finite = v[np.isfinite(v) & (v > 0)]
        floor = float(np.nanpercentile(finite, 1)) if finite.size else 1.0
        return np.log10(np.clip(v, floor, None)), "log$_{10}$ I (counts)"
    return v, "I (counts)"


def net_intensity(results: xr.Dataset) -> np.ndarray | None:
    """Intensity minus background, shape (n_scans, n_points); None without intensity."""
    if "intensity" not in results.data_vars:
        return None
    y = np.asarray(results["intensity"].transpose("scan", "two_theta").values, dtype=float)
    if "background" in results.data_vars:
        bg = np.asarray(results["background"].transpose("scan", "two_theta").values, dtype=float)
        y = y - np.where(np.isfinite(bg), bg, 0.0)
    return y
