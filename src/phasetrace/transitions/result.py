"""Result types of transition detection (frozen dataclasses, CONTRACT ``sequence.json``).

All voltages are in V, capacities in mAh/g, times in s and temperatures in K;
a quantity that is unknown for the input (e.g. no voltage in a temperature
series) is NaN in the dataclasses and ``null`` in :meth:`TransitionResult.to_dict`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = [
    "ARROW", "Stage", "Transition", "SolidSolutionRegion", "Reversibility", "TransitionResult",
    "sort_phases", "join_phases", "sequence_variables", "sequence_of", "SEQUENCE_ATTR",
]

#: attribute holding the whole sequence record (all of ``sequence.json``) in results.nc.
SEQUENCE_ATTR = "sequence_json"

#: separator of stages in the ``sequence`` string (CONTRACT.md).
ARROW = " → "


def sort_phases(labels: Any) -> list[str]:
    """Canonical order of phases within a stage.

    Labels are sorted by Unicode code point (plain :func:`sorted`), which is the
    order used by the shared truth files: ``"OP4/P2/P3"``, ``"P'2/P2/S"``,
    ``"O3/P2"``.  The prime (U+0027) sorts before digits, so a distorted phase
    comes before its parent.

    Parameters
    ----------
    labels : iterable of str
        Phase labels.

    Returns
    -------
    list of str
        Unique labels in canonical order.

    Examples
    --------
    >>> sort_phases(["S", "P2", "P'2"])
    ["P'2", 'P2', 'S']
    """
    return sorted({str(x) for x in labels})


def join_phases(labels: Any) -> str:
    """Join labels in canonical order with ``/`` (e.g. ``"P2/P3"``)."""
    return "/".join(sort_phases(labels))


def _clean(value: Any) -> Any:
    """Turn NaN/inf floats into ``None`` and numpy scalars into Python ones (JSON-safe)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _as_dict(obj: Any, rename: dict[str, str] | None = None) -> dict[str, Any]:
    rename = rename or {}
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if hasattr(value, "to_dict"):
            value = value.to_dict()
        elif isinstance(value, tuple) and value and hasattr(value[0], "to_dict"):
            value = [v.to_dict() for v in value]
        out[rename.get(f.name, f.name)] = _clean(value)
    return out


@dataclass(frozen=True)
class SolidSolutionRegion:
    """A phase whose cell moves continuously inside one stage.

    Attributes
    ----------
    phase : str
        Phase label.
    first_scan, last_scan : int
        Scan range (inclusive) of the region.
    voltage_start, voltage_end : float
        Voltage at the first and last scan, V.
    parameter : str
        Cell parameter that moves most (relative to its mean): ``"a"``, ``"c"``, ...
    value_start, value_end : float
        That parameter at the start and end of the region (robust local medians), Å or °.
    relative_change : float
        Largest excursion of the parameter over the region divided by its mean.
    volume_change : float
        Largest excursion of the volume per formula unit over the region divided by its mean.
    monotonic : bool
        Whether the parameter moves one way only (Spearman |ρ| > 0.8).
    """

    phase: str
    first_scan: int
    last_scan: int
    voltage_start: float
    voltage_end: float
    parameter: str
    value_start: float
    value_end: float
    relative_change: float
    volume_change: float
    monotonic: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return _as_dict(self)


@dataclass(frozen=True)
class Stage:
    """A steady phase assemblage.

    Attributes
    ----------
    phases : tuple of str
        Phases of the stage in canonical order (:func:`sort_phases`); never cell components.
    first_scan, last_scan : int
        Scan numbers (inclusive, from 0 in input order).
    voltage_start, voltage_end : float
        Voltage at the first and last scan, V.
    capacity_start, capacity_end : float
        Capacity at the first and last scan, mAh/g.
    time_start, time_end : float
        Mid-scan time of the first and last scan, s.
    temperature_start, temperature_end : float
        Temperature at the first and last scan, K.
    direction : str
        ``"charge"``, ``"discharge"``, ``"rest"``, ``"charge+discharge"`` (a stage
        that spans the end of charge) or ``""`` when unknown.
    fractions : dict
        Median phase fraction over the stage, by label (0–1).
    n_scans : int
        Number of scans in the stage.
    confidence : float
        0–1: share of the stage's scans whose own (unsmoothed) assemblage equals
        the stage's, scaled down for very short stages.
    solid_solution : tuple of SolidSolutionRegion
        Phases whose cell moves continuously inside the stage.
    """

    phases: tuple[str, ...]
    first_scan: int
    last_scan: int
    voltage_start: float
    voltage_end: float
    capacity_start: float
    capacity_end: float
    time_start: float
    time_end: float
    temperature_start: float
    temperature_end: float
    direction: str
    fractions: dict[str, float]
    n_scans: int
    confidence: float
    solid_solution: tuple[SolidSolutionRegion, ...] = ()

    @property
    def label(self) -> str:
        """Phases joined with ``/`` (e.g. ``"P2/P3"``)."""
        return "/".join(self.phases)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (``phases`` as a sorted list)."""
        out = _as_dict(self)
        out["phases"] = list(self.phases)
        return out


@dataclass(frozen=True)
class Transition:
    """A change between two stages (or a lattice distortion inside one).

    Attributes
    ----------
    from_phases, to_phases : tuple of str
        Phases before and after, canonical order (``from``/``to`` in the dict).
    first_scan, last_scan : int
        Transitional scans (inclusive).  For an abrupt change without
        transitional scans, the last scan of the old stage and the first of the new.
    kind : str
        ``"two-phase"`` (old and new phases coexist while fractions exchange),
        ``"solid-solution"`` (the assemblage changes without coexistence) or
        ``"distortion"`` (a phase turns into its distorted/undistorted variant, e.g.
        P2 → P'2, O3 → O'3, or a cell metric such as b/c → 1 collapses).
    mechanism : str
        For a distortion, whether it went through coexistence (``"two-phase"``)
        or continuously (``"continuous"``); equals ``kind`` otherwise.
    voltage_start, voltage_end : float
        Onset and end of the transition, V: midpoints between the last steady
        scan and the first transitional scan (and between the last transitional
        scan and the first scan of the new stage).
    voltage_mid : float
        Voltage where the exchange is half done, V (from a clipped-linear fit of
        the progress of the exchange against scan number).
    capacity_start, capacity_end, time_start, time_end, temperature_start, temperature_end : float
        The same bounds in mAh/g, s and K.
    direction : str
        Direction of cycling during the transition (``"charge"``, ``"discharge"``, ...).
    basis : str
        ``"phases"`` (the assemblage changes) or ``"lattice"`` (a metric of one
        phase's cell collapses while its label does not change).
    detail : str
        Human-readable evidence (e.g. ``"b/c → 1 at 135.2 K"``).
    intermediate_phases : tuple of str
        Phases seen only inside the transition (too short-lived for a stage).
    x_critical : float
        For a lattice distortion, the critical value of the main axis (e.g. K)
        from a Landau extrapolation (distortion² linear in x); NaN otherwise.
    confidence : float
        0–1: how cleanly the fractions exchange (monotonic progress and fit quality).
    """

    from_phases: tuple[str, ...]
    to_phases: tuple[str, ...]
    first_scan: int
    last_scan: int
    kind: str
    mechanism: str
    voltage_start: float
    voltage_end: float
    voltage_mid: float
    capacity_start: float
    capacity_end: float
    time_start: float
    time_end: float
    temperature_start: float
    temperature_end: float
    direction: str
    basis: str = "phases"
    detail: str = ""
    intermediate_phases: tuple[str, ...] = ()
    x_critical: float = math.nan
    confidence: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary with ``from`` and ``to`` keys (CONTRACT)."""
        out = _as_dict(self, {"from_phases": "from", "to_phases": "to"})
        out["from"] = list(self.from_phases)
        out["to"] = list(self.to_phases)
        out["intermediate_phases"] = list(self.intermediate_phases)
        return out


@dataclass(frozen=True)
class Reversibility:
    """Which stages recur and the voltage hysteresis of reverse transitions.

    Attributes
    ----------
    recurring_stages : tuple of tuple of int
        Groups of stage indices with the same phases (only groups of 2 or more).
    transition_pairs : tuple of dict
        ``{"forward": i, "reverse": j, "phases": "P2 ⇄ O2", "hysteresis_V": float}``;
        hysteresis is the mid-transition voltage of the charge-side transition
        minus that of the discharge-side one, V.
    reversible : bool
        True when the last stage has the same phases as the first.
    """

    recurring_stages: tuple[tuple[int, ...], ...] = ()
    transition_pairs: tuple[dict[str, Any], ...] = ()
    reversible: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {"recurring_stages": [list(g) for g in self.recurring_stages],
                "transition_pairs": _clean([dict(p) for p in self.transition_pairs]),
                "reversible": bool(self.reversible)}


@dataclass(frozen=True)
class TransitionResult:
    """Outcome of :func:`phasetrace.transitions.detect_transitions`.

    Attributes
    ----------
    stages : tuple of Stage
        Steady assemblages in scan order.
    transitions : tuple of Transition
        Changes between consecutive stages, plus lattice-only distortions
        (``basis="lattice"``), in scan order.
    cell_components : tuple of str
        Phases of the cell (current collector, window, ...), sorted.
    x : str
        Name of the scan coordinate used as the main axis.
    reversibility : Reversibility
        Recurring stages and hysteresis.
    message : str
        One-line summary; ``"no phase transition detected: ..."`` with evidence
        when there is a single stage.
    options : dict
        The options used (for provenance).
    ranges : dict of str to (float, float)
        Smallest and largest value over the analysed scans of each scan
        coordinate (``voltage_V`` in V, ``capacity_mAh_g``, ``time_s``,
        ``temperature_K``); NaN where unknown.
    """

    stages: tuple[Stage, ...]
    transitions: tuple[Transition, ...]
    cell_components: tuple[str, ...]
    x: str
    reversibility: Reversibility = field(default_factory=Reversibility)
    message: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def sequence(self) -> str:
        """Stages joined with ``" → "`` and phases within a stage with ``/``."""
        return ARROW.join(s.label for s in self.stages)

    def to_dict(self) -> dict[str, Any]:
        """The CONTRACT ``sequence.json`` structure, plus extra fields.

        Returns
        -------
        dict
            ``sequence``, ``stages``, ``transitions``, ``cell_components``, then
            ``x``, ``reversibility``, ``message``, ``options`` and ``ranges``.
        """
        return {
            "sequence": self.sequence,
            "stages": [s.to_dict() for s in self.stages],
            "transitions": [t.to_dict() for t in self.transitions],
            "cell_components": list(self.cell_components),
            "x": self.x,
            "reversibility": self.reversibility.to_dict(),
            "message": self.message,
            "options": _clean(dict(self.options)),
            "ranges": _clean({k: list(v) for k, v in self.ranges.items()}),
        }


def sequence_variables(sequence: dict[str, Any], scans: Any) -> dict[str, Any]:
    """Stages and transitions as Dataset variables (xarray ``(dims, values)`` tuples).

    Parameters
    ----------
    sequence : dict
        The ``sequence.json`` record (:meth:`TransitionResult.to_dict`).
    scans : array_like of int
        The ``scan`` labels of the results.

    Returns
    -------
    dict
        ``stage`` on ``scan`` (index of the stage a scan belongs to, -1 for scans in
        a transition or outside every stage); on ``stage_index``: ``stage_phases``,
        ``stage_first_scan``, ``stage_last_scan``, ``stage_voltage_start``,
        ``stage_voltage_end``; on ``transition``: ``transition_from``,
        ``transition_to``, ``transition_kind``, ``transition_first_scan``,
        ``transition_last_scan``, ``transition_voltage_start``, ``transition_voltage_end``
        (phases joined with ``/``; voltages in V, NaN where unknown).
    """
    import numpy as np

    scans = np.asarray(scans, dtype=int)
    stages = sequence.get("stages", [])
    trans = sequence.get("transitions", [])
    stage = np.full(scans.size, -1, dtype=int)
    for i, st in enumerate(stages):
        stage[(scans >= st["first_scan"]) & (scans <= st["last_scan"])] = i

    def num(items: list[dict[str, Any]], key: str) -> Any:
        return np.array([math.nan if d.get(key) is None else float(d[key]) for d in items], dtype=float)

    def ints(items: list[dict[str, Any]], key: str) -> Any:
        return np.array([int(d[key]) for d in items], dtype=int)

    sd, td = "stage_index", "transition"
    return {
        "stage": ("scan", stage, {"description": "index of the stage (stage_index) the scan belongs to; "
                                                 "-1 inside a transition"}),
        "stage_phases": (sd, np.array([join_phases(st["phases"]) for st in stages], dtype=str)),
        "stage_first_scan": (sd, ints(stages, "first_scan")),
        "stage_last_scan": (sd, ints(stages, "last_scan")),
        "stage_voltage_start": (sd, num(stages, "voltage_start"), {"units": "V"}),
        "stage_voltage_end": (sd, num(stages, "voltage_end"), {"units": "V"}),
        "transition_from": (td, np.array([join_phases(t["from"]) for t in trans], dtype=str)),
        "transition_to": (td, np.array([join_phases(t["to"]) for t in trans], dtype=str)),
        "transition_kind": (td, np.array([str(t.get("kind", "")) for t in trans], dtype=str)),
        "transition_first_scan": (td, ints(trans, "first_scan")),
        "transition_last_scan": (td, ints(trans, "last_scan")),
        "transition_voltage_start": (td, num(trans, "voltage_start"), {"units": "V"}),
        "transition_voltage_end": (td, num(trans, "voltage_end"), {"units": "V"}),
    }


def sequence_of(results: Any) -> dict[str, Any]:
    """The ``sequence.json`` record of a results Dataset (new or old results.nc), or of a dict.

    Reads the full record kept with the results; a results file that has only the
    stage/transition variables gives the contract keys rebuilt from them.  An
    empty dict when the results carry no sequence.
    """
    import json

    if isinstance(results, dict) and "attrs" not in results:
        return dict(results)
    attrs = getattr(results, "attrs", {})
    raw = attrs.get(SEQUENCE_ATTR)
    if isinstance(raw, dict):
        return dict(raw)
    if isinstance(raw, str) and raw:
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
    if hasattr(results, "data_vars") and "stage_phases" in results:
        return _rebuild(results)
    return {}


def _rebuild(ds: Any) -> dict[str, Any]:
    def f(v: Any) -> Any:
        v = float(v)
        return v if math.isfinite(v) else None

    stages = [{"phases": str(p).split("/") if str(p) else [], "first_scan": int(a), "last_scan": int(b),
               "voltage_start": f(v0), "voltage_end": f(v1)}
              for p, a, b, v0, v1 in zip(ds["stage_phases"].values, ds["stage_first_scan"].values,
                                         ds["stage_last_scan"].values, ds["stage_voltage_start"].values,
                                         ds["stage_voltage_end"].values)]
    trans = [{"from": str(a).split("/"), "to": str(b).split("/"), "kind": str(k), "first_scan": int(s0),
              "last_scan": int(s1), "voltage_start": f(v0), "voltage_end": f(v1)}
             for a, b, k, s0, s1, v0, v1 in zip(
                 ds["transition_from"].values, ds["transition_to"].values, ds["transition_kind"].values,
                 ds["transition_first_scan"].values, ds["transition_last_scan"].values,
                 ds["transition_voltage_start"].values, ds["transition_voltage_end"].values)]
    return {"sequence": ARROW.join(join_phases(s["phases"]) for s in stages), "stages": stages,
            "transitions": trans, "cell_components": []}
