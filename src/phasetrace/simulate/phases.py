"""Build per-(scan, phase) Datasets like :func:`phasetrace.lattice.analyse_phases` output.

Used to drive :func:`phasetrace.transitions.detect_transitions` from known
truth (a ``truth.json`` of the shared cases or of :mod:`phasetrace.simulate`)
and from hand-written phase states in tests and examples.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..errors import SchemaError

__all__ = ["phases_from_states", "phases_from_truth", "CELL_COMPONENTS", "PHASE_FAMILIES"]

#: labels treated as parts of the cell (current collector, window, anode).
CELL_COMPONENTS = frozenset({"Al", "Be", "Cu", "Na", "Kapton"})

#: structural family of the known labels (``phase_family`` coord).
PHASE_FAMILIES = {"P2": "layered", "P3": "layered", "O3": "layered", "O2": "layered", "O1": "layered",
                  "OP4": "layered", "OP2": "layered", "O'3": "layered", "P'2": "layered", "P'3": "layered",
                  "S": "spinel", "T": "tunnel", "Al": "cell", "Be": "cell", "Cu": "cell", "Na": "cell"}

_CELL_VARS = ("a", "b", "c", "alpha", "beta", "gamma", "volume", "volume_per_fu")


def _parent(label: str) -> str:
    return label.replace("'", "") if "'" in label else ""


def phases_from_states(
    states: Sequence[Mapping[str, Any]],
    *,
    voltage_V: Any = None,
    temperature_K: Any = None,
    time_s: Any = None,
    capacity_mAh_g: Any = None,
    direction: Any = None,
    cell_components: Sequence[str] = (),
) -> xr.Dataset:
    """Phases Dataset from one mapping per scan.

    Parameters
    ----------
    states : sequence of mapping, length n_scans
        For each scan, ``{label: fraction}`` or ``{label: {"fraction": f, "a": Å,
        "b": Å, "c": Å, "alpha": °, "beta": °, "gamma": °, "volume": Å³,
        "volume_per_fu": Å³, "esd_a": Å, ...}}``.  A label missing from a scan is absent.
    voltage_V, temperature_K, time_s, capacity_mAh_g : array_like, shape (n_scans,), optional
        Scan coordinates (V, K, s, mAh/g); NaN when not given.
    direction : array_like of str, shape (n_scans,), optional
        ``"charge"``/``"discharge"``/``"rest"``.
    cell_components : sequence of str
        Labels added as cell components, present in every scan (e.g. ``["Al"]``).

    Returns
    -------
    xarray.Dataset
        Over (``scan``, ``phase``): ``present``, ``fraction``, cell variables and
        their ``esd_*``; phase coords ``phase_family``, ``is_cell_component``,
        ``phase_parent``.
    """
    n = len(states)
    labels: list[str] = []
    for st in states:
        labels.extend(k for k in st if k not in labels)
    labels.extend(c for c in cell_components if c not in labels)
    p = len(labels)
    data = {v: np.full((n, p), np.nan) for v in ("fraction", *_CELL_VARS,
                                                  *(f"esd_{c}" for c in ("a", "b", "c", "volume")))}
    present = np.zeros((n, p), dtype=bool)
    for i, st in enumerate(states):
        for j, lab in enumerate(labels):
            if lab in cell_components and lab not in st:
                present[i, j] = True
                continue
            if lab not in st:
                continue
            entry = st[lab]
            entry = {"fraction": entry} if not isinstance(entry, Mapping) else entry
            present[i, j] = True
            for key, arr in data.items():
                if key in entry and entry[key] is not None:
                    arr[i, j] = float(entry[key])
    coords: dict[str, Any] = {"scan": np.arange(n), "phase": labels,
                              "phase_family": ("phase", [PHASE_FAMILIES.get(lab, "") for lab in labels]),
                              "is_cell_component": ("phase", [lab in cell_components for lab in labels]),
                              "phase_parent": ("phase", [_parent(lab) for lab in labels])}
    for name, values in (("voltage_V", voltage_V), ("temperature_K", temperature_K), ("time_s", time_s),
                         ("capacity_mAh_g", capacity_mAh_g)):
        arr = np.full(n, np.nan) if values is None else np.asarray(values, dtype=float)
        if arr.shape != (n,):
            raise SchemaError(f"{name} has shape {arr.shape}, expected ({n},) (one value per scan)")
        coords[name] = ("scan", arr)
    coords["direction"] = ("scan", np.asarray([""] * n if direction is None else direction).astype(str))
    ds = xr.Dataset({"present": (("scan", "phase"), present),
                     **{k: (("scan", "phase"), v) for k, v in data.items()}}, coords=coords)
    return ds


def _truth_entry(ph: Mapping[str, Any]) -> dict[str, float]:
    conv = ph.get("conventional")
    entry = {"fraction": ph.get("fraction", math.nan), "volume": ph.get("volume", math.nan),
             "volume_per_fu": ph.get("volume_per_fu", math.nan)}
    if conv is not None and len(conv) == 6:
        entry.update(zip(("a", "b", "c", "alpha", "beta", "gamma"), map(float, conv)))
    return entry


def phases_from_truth(truth: Mapping[str, Any] | str | Path, *, cell_components: Sequence[str] = ()) -> xr.Dataset:
    """Phases Dataset from a ``truth.json`` (shared-case layout).

    Parameters
    ----------
    truth : mapping or path
        The parsed truth or the path of ``truth.json``.  Each element of
        ``truth["scans"]`` has ``voltage`` (V) and ``phases``: ``{label: {fraction,
        conventional: [a, b, c, α, β, γ], volume, volume_per_fu, ...}}``; optional
        ``time_s``, ``capacity_mAh_g``, ``temperature_K`` and ``direction``.
    cell_components : sequence of str
        Cell phases to add in every scan (the shared truths list none).

    Returns
    -------
    xarray.Dataset
        See :func:`phases_from_states`; cells in the conventional setting.
    """
    if not isinstance(truth, Mapping):
        truth = json.loads(Path(truth).read_text())
    scans = truth.get("scans")
    if not scans:
        raise SchemaError("truth: no 'scans' list; expected the truth.json layout of the shared cases")
    states = [{lab: _truth_entry(ph) for lab, ph in s["phases"].items()} for s in scans]

    def col(*keys: str) -> np.ndarray:
        return np.asarray([next((s[k] for k in keys if s.get(k) is not None), math.nan) for s in scans],
                          dtype=float)

    volt = col("voltage", "voltage_V")
    direction = [s.get("direction", "") for s in scans]
    if not any(direction) and np.isfinite(volt).sum() > 2:
        dv = np.gradient(volt)
        direction = list(np.where(dv > 0, "charge", np.where(dv < 0, "discharge", "rest")))
    return phases_from_states(states, voltage_V=volt, time_s=col("time_s"), capacity_mAh_g=col("capacity_mAh_g"),
                              temperature_K=col("temperature_K"), direction=direction,
                              cell_components=cell_components)
