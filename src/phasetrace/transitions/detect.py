"""Detection of phase transitions in an operando (or temperature) series.

Dataset API: :func:`detect_transitions` takes the per-(scan, phase) output of
:func:`phasetrace.lattice.analyse_phases` and returns a :class:`TransitionResult`
whose :meth:`~TransitionResult.to_dict` is the CONTRACT ``sequence.json``.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Callable, Literal

import numpy as np
import xarray as xr

from ..errors import ConfigError
from . import _lattice
from ._features import PhaseTable, directions, phase_table, resolve_x, running_median
from ._candidates import segment
from ._segment import STAGE_SHARE, RampFit, Span
from .result import (
    ARROW, Reversibility, SolidSolutionRegion, Stage, Transition, TransitionResult, sort_phases,
)

logger = logging.getLogger(__name__)

__all__ = ["detect_transitions"]

XChoice = Literal["voltage_V", "temperature_K", "time_s", "capacity_mAh_g", "auto"]
_QUANTITIES = (("voltage", "voltage_V"), ("capacity", "capacity_mAh_g"),
               ("time", "time_s"), ("temperature", "temperature_K"))


def _check_options(x: str, min_fraction: float, min_scans: int, smooth: int,
                   max_stage_change: float, distortion_tol: float, solid_solution_min: float) -> None:
    if x not in ("voltage_V", "temperature_K", "time_s", "capacity_mAh_g", "auto"):
        raise ConfigError(f"x={x!r}: expected 'voltage_V', 'temperature_K', 'time_s', 'capacity_mAh_g' or 'auto'")
    if not 0.0 <= min_fraction < 1.0:
        raise ConfigError(f"min_fraction={min_fraction!r}: expected a phase fraction 0 <= f < 1")
    if int(min_scans) != min_scans or min_scans < 1:
        raise ConfigError(f"min_scans={min_scans!r}: expected a positive integer number of scans")
    if int(smooth) != smooth or smooth < 1 or smooth % 2 == 0:
        raise ConfigError(f"smooth={smooth!r}: expected an odd window length in scans (1 = no smoothing)")
    if not 0.0 < max_stage_change <= 1.0:
        raise ConfigError(f"max_stage_change={max_stage_change!r}: expected a fraction change in (0, 1]")
    for name, value in (("distortion_tol", distortion_tol), ("solid_solution_min", solid_solution_min)):
        if not 0.0 < value < 0.1:
            raise ConfigError(f"{name}={value!r}: expected a small relative deviation, 0 < value < 0.1")


def detect_transitions(
    phases_ds: xr.Dataset,
    *,
    x: XChoice = "auto",
    min_fraction: float = 0.05,
    min_scans: int = 3,
    smooth: int = 3,
    max_stage_change: float = 0.25,
    distortion_tol: float = 1e-4,
    solid_solution_min: float = 2e-3,
    detection_limit: float = 0.25,
) -> TransitionResult:
    """Find the stages (steady phase assemblages) and the transitions between them.

    Parameters
    ----------
    phases_ds : xarray.Dataset
        Over (``scan``, ``phase``): ``present`` (bool) and ``fraction`` (0–1, NaN
        where absent); optionally cell variables ``a, b, c, alpha, beta, gamma,
        volume_per_fu, esd_*``; coords on ``phase``: ``is_cell_component``,
        ``phase_parent``; scan coords ``voltage_V, capacity_mAh_g, time_s,
        temperature_K, direction, current_mA`` (any may be missing).
    x : {"auto", "voltage_V", "temperature_K", "time_s", "capacity_mAh_g"}
        Main axis of the series; ``"auto"`` picks the first that varies of
        voltage, temperature, time, capacity.  Stages are always in scan order.
    min_fraction : float, default 0.05
        Phase fraction (0–1) at or above which a phase belongs to an assemblage.
    min_scans : int, default 3
        Least number of scans of a stage; shorter steady runs are transitional.
    smooth : int, default 3
        Odd window (scans) of the running median applied to the fractions first;
        3 removes any single misidentified scan.
    max_stage_change : float, default 0.25
        Largest change of a phase fraction between the first and last third of a
        stage; a longer exchange with a constant assemblage is a transition.
    distortion_tol : float, default 1e-4
        Smallest relative deviation |x/(r·y) − 1| of a cell relation (b = c,
        b = √3·a, ...) that can count as a distortion; the threshold adapts to
        the level and scatter of the undistorted scans (see
        :func:`._lattice.distortion_runs`).
    solid_solution_min : float, default 2e-3
        Least relative excursion (0.2 %) of a cell axis in a stage reported as a
        solid-solution region.
    detection_limit : float, default 0.25
        Phase fraction (0–1) that phase identification may miss.  Scans next to
        an exchange that show only the old (or only the new) phases are allowed
        to hold up to this much of the other side, so the exchange is extrapolated
        from the scans where both are seen.  0 trusts absences fully.

    Returns
    -------
    TransitionResult
        ``to_dict()`` gives the ``sequence.json`` structure.

    Raises
    ------
    SchemaError
        When ``phases_ds`` lacks the ``scan``/``phase`` dims or fractions/presence.
    ConfigError
        For an invalid option.

    Notes
    -----
    Phases in a stage are sorted by :func:`~phasetrace.transitions.sort_phases`
    (code point order, as in ``"P'2/S"``, ``"OP4/P2/P3"``).  Stage bounds come
    from a clipped-linear fit of the progress of each exchange, so noisy
    fractions shift them by less than one scan; see :mod:`._segment`.

    Examples
    --------
    >>> from phasetrace.simulate import phases_from_states
    >>> ds = phases_from_states([{"P2": 1.0}] * 6 + [{"P2": 0.5, "O2": 0.5}] + [{"O2": 1.0}] * 6,
    ...                         voltage_V=np.linspace(3.5, 4.4, 13))
    >>> detect_transitions(ds).sequence
    'P2 → O2'
    """
    _check_options(x, min_fraction, min_scans, smooth, max_stage_change, distortion_tol, solid_solution_min)
    if not 0.0 <= detection_limit < 0.5:
        raise ConfigError(f"detection_limit={detection_limit!r}: expected a phase fraction 0 <= f < 0.5")
    min_fraction = max(float(min_fraction), 1e-6)
    table = phase_table(phases_ds)
    axis = resolve_x(table.coords, x)
    options = {"x": axis, "min_fraction": min_fraction, "min_scans": int(min_scans), "smooth": int(smooth),
               "max_stage_change": max_stage_change, "distortion_tol": distortion_tol,
               "solid_solution_min": solid_solution_min, "detection_limit": detection_limit}
    if table.scans.size == 0:
        return TransitionResult((), (), tuple(table.cell_components), axis,
                                message="no scan with a sample phase", options=options)
    frac = running_median(table.fraction, window=int(smooth))
    t = table.scans.astype(float)
    spans, fits = segment(t, frac, min_fraction=min_fraction, min_scans=int(min_scans),
                          max_stage_change=max_stage_change, detection_limit=detection_limit)
    dirs = directions(table.coords)
    cell = cache(lambda lab: _lattice.cell_of(phases_ds, lab, table.index))  # one read per phase, not per stage
    stages = [_stage(table, frac, span, dirs, min_fraction, phases_ds, solid_solution_min, int(min_scans), cell)
              for span in spans]
    transitions = [_transition(table, frac, t, spans[k], spans[k + 1], fits[k], stages[k], stages[k + 1],
                               dirs, min_fraction) for k in range(len(fits))]
    transitions += _lattice_transitions(phases_ds, table, stages, spans, dirs, cell,
                                        tol=distortion_tol, min_scans=int(min_scans), x=axis)
    transitions.sort(key=lambda tr: (tr.first_scan, tr.last_scan))
    result = TransitionResult(stages=tuple(stages), transitions=tuple(transitions),
                              cell_components=tuple(table.cell_components), x=axis,
                              reversibility=_reversibility(stages, transitions), options=options)
    message = _message(result, table, frac, axis)
    logger.info("%s", message)
    ranges = {}
    for _, name in _QUANTITIES:
        v = table.coords[name]
        ranges[name] = (float(np.nanmin(v)), float(np.nanmax(v))) if np.isfinite(v).any() else (np.nan, np.nan)
    return TransitionResult(stages=result.stages, transitions=result.transitions,
                            cell_components=result.cell_components, x=axis,
                            reversibility=result.reversibility, message=message, options=options,
                            ranges=ranges)


def _value(table: PhaseTable, name: str, pos: float) -> float:
    """Coordinate ``name`` at (fractional) position ``pos`` in the valid-scan arrays."""
    v = table.coords[name]
    i = int(np.clip(np.floor(pos), 0, v.size - 1))
    j = min(i + 1, v.size - 1)
    w = float(pos - i) if j > i else 0.0
    a, b = float(v[i]), float(v[j])
    if w == 0.0 or not np.isfinite(b):
        return a
    return a + w * (b - a) if np.isfinite(a) else b


def _direction(dirs: np.ndarray, lo: int, hi: int) -> str:
    seen: list[str] = []
    for d in dirs[max(lo, 0):hi + 1]:
        if d in ("charge", "discharge", "heating", "cooling", "rest") and (not seen or seen[-1] != d):
            seen.append(str(d))
    moving = [d for d in seen if d != "rest"] or seen
    ordered = list(dict.fromkeys(moving))
    return "+".join(ordered)


def _stage_phases(table: PhaseTable, frac: np.ndarray, span: Span, min_fraction: float) -> tuple[str, ...]:
    sl = slice(span.start, span.stop + 1)
    med = np.median(frac[sl], axis=0)
    share = table.present[sl].mean(axis=0)
    return tuple(sort_phases(lab for lab, m, s in zip(table.labels, med, share) if m >= STAGE_SHARE * min_fraction and s >= 0.5))


def _stage(table: PhaseTable, frac: np.ndarray, span: Span, dirs: np.ndarray, min_fraction: float,
           ds: xr.Dataset, ss_min: float, min_scans: int, cell_of: Callable[[str], _lattice.Cell]) -> Stage:
    phases = _stage_phases(table, frac, span, min_fraction)
    sl = slice(span.start, span.stop + 1)
    raw = table.fraction[sl] >= min_fraction
    want = np.array([lab in phases for lab in table.labels])
    agree = float(np.mean(np.all(raw == want, axis=1)))
    med = np.median(frac[sl], axis=0)
    bounds = {}
    for q, name in _QUANTITIES:
        bounds[f"{q}_start"] = _value(table, name, span.start)
        bounds[f"{q}_end"] = _value(table, name, span.stop)
    regions = []
    for lab in phases:
        if not any(v in ds for v in ("a", "c")):
            break
        d = _lattice.drift(cell_of(lab), span.start, span.stop, min_change=ss_min)
        if d is not None and span.n >= min_scans:
            regions.append(SolidSolutionRegion(
                phase=lab, first_scan=int(table.scans[span.start]), last_scan=int(table.scans[span.stop]),
                voltage_start=bounds["voltage_start"], voltage_end=bounds["voltage_end"],
                parameter=d.parameter, value_start=d.value_start, value_end=d.value_end,
                relative_change=d.relative_change, volume_change=d.volume_change, monotonic=d.monotonic))
    return Stage(phases=phases, first_scan=int(table.scans[span.start]), last_scan=int(table.scans[span.stop]),
                 direction=_direction(dirs, span.start, span.stop),
                 fractions={lab: float(m) for lab, m in zip(table.labels, med) if lab in phases},
                 n_scans=span.n, confidence=round(agree * min(1.0, span.n / (2.0 * min_scans)), 3),
                 solid_solution=tuple(regions), **bounds)


def _kind(table: PhaseTable, frac: np.ndarray, old: Stage, new: Stage, lo: int, hi: int,
          min_fraction: float) -> tuple[str, str]:
    gone = set(old.phases) - set(new.phases)
    came = set(new.phases) - set(old.phases)
    parent = dict(zip(table.labels, table.parents))
    col = {lab: i for i, lab in enumerate(table.labels)}
    inside = frac[lo:hi + 1] if hi >= lo else frac[:0]
    if gone and came:
        g = inside[:, [col[p] for p in gone]] >= min_fraction
        c = inside[:, [col[p] for p in came]] >= min_fraction
        coexist = bool(np.any(g.any(axis=1) & c.any(axis=1)))
    else:
        coexist = inside.shape[0] > 0
    mechanism = "two-phase" if coexist else "solid-solution"
    distortion = any(parent.get(n) in gone for n in came) or any(parent.get(g) in came for g in gone)
    return ("distortion" if distortion else mechanism), mechanism


def _bracket(table: PhaseTable, last_old: int, first_new: int) -> dict[str, float]:
    """Start/end of a transition: midpoints between the steady and transitional scans."""
    out = {}
    gap = first_new - last_old > 1
    for q, name in _QUANTITIES:
        out[f"{q}_start"] = _value(table, name, last_old + (0.5 if gap else 0.0))
        out[f"{q}_end"] = _value(table, name, first_new - (0.5 if gap else 0.0))
    return out


def _transition(table: PhaseTable, frac: np.ndarray, t: np.ndarray, a: Span, b: Span, fit: RampFit,
                old: Stage, new: Stage, dirs: np.ndarray, min_fraction: float) -> Transition:
    lo, hi = a.stop + 1, b.start - 1
    kind, mechanism = _kind(table, frac, old, new, lo, hi, min_fraction)
    inside = frac[lo:hi + 1] if hi >= lo else frac[:0]
    seen = {lab for j, lab in enumerate(table.labels) if inside.shape[0] and inside[:, j].max() >= min_fraction}
    extra = tuple(sort_phases(seen - set(old.phases) - set(new.phases)))
    first, last = (lo, hi) if hi >= lo else (a.stop, b.start)
    mid_pos = float(np.interp(fit.t_mid, t, np.arange(t.size)))
    confidence = max(0.0, min(1.0, fit.r2)) * (0.5 + 0.5 * max(fit.monotonic, 0.0))
    detail = (f"{'/'.join(old.phases)}{ARROW}{'/'.join(new.phases)}: exchange over scans "
              f"{int(t[first])}–{int(t[last])}, half done at scan {fit.t_mid:.1f}")
    return Transition(from_phases=old.phases, to_phases=new.phases, first_scan=int(t[first]),
                      last_scan=int(t[last]), kind=kind, mechanism=mechanism,
                      voltage_mid=_value(table, "voltage_V", mid_pos),
                      direction=_direction(dirs, a.stop, b.start), basis="phases", detail=detail,
                      intermediate_phases=extra, confidence=round(confidence, 3),
                      **_bracket(table, a.stop, b.start))


def _lattice_transitions(ds: xr.Dataset, table: PhaseTable, stages: list[Stage], spans: list[Span],
                         dirs: np.ndarray, cell_of: Callable[[str], _lattice.Cell], *, tol: float,
                         min_scans: int, x: str) -> list[Transition]:
    """Distortions seen only in the cell of one phase whose label does not change
    (``cell_of(label)``: the phase's cell on all valid scans)."""
    if not all(v in ds for v in ("a", "b", "c")):
        return []
    out = []
    for stage, span in zip(stages, spans):
        for lab in stage.phases:
            cell = cell_of(lab).rows(span.start, span.stop)
            axis = resolve_x(table.coords, x)
            xv = table.coords[axis][span.start:span.stop + 1] if axis in table.coords else None
            for ch in _lattice.distortion_runs(cell, tol=tol, min_scans=min_scans, x=xv):
                lo, hi = span.start + ch.last_before, span.start + ch.first_after
                word = "collapses" if ch.collapse else "appears"
                where = ch.critical if np.isfinite(ch.critical) else _value(table, axis, lo + 0.5 * (hi - lo))
                out.append(Transition(
                    from_phases=(lab,), to_phases=(lab,), first_scan=int(table.scans[lo]),
                    last_scan=int(table.scans[hi]), kind="distortion", mechanism="continuous",
                    voltage_mid=_value(table, "voltage_V", lo + 0.5 * (hi - lo)),
                    direction=_direction(dirs, lo, hi), basis="lattice",
                    detail=(f"{lab}: distortion {word} ({ch.description}; largest |deviation| "
                            f"{ch.largest:.2e}) between scans {int(table.scans[lo])} and "
                            f"{int(table.scans[hi])}, at {axis} ≈ {where:.4g}"
                            + (" (Landau m² extrapolation)" if np.isfinite(ch.critical) else "")),
                    x_critical=ch.critical, confidence=1.0,
                    **{k: v for k, v in _bracket(table, lo, hi).items()}))
    return out


def _reversibility(stages: list[Stage], transitions: list[Transition]) -> Reversibility:
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, s in enumerate(stages):
        groups.setdefault(s.phases, []).append(i)
    recurring = tuple(tuple(g) for g in groups.values() if len(g) > 1)
    pairs, used = [], set()
    phase_tr = [(i, tr) for i, tr in enumerate(transitions) if tr.basis == "phases"]
    for i, tr in phase_tr:
        for j, other in phase_tr:
            if j <= i or j in used or i in used:
                continue
            if other.from_phases == tr.to_phases and other.to_phases == tr.from_phases:
                up, down = (tr, other) if "charge" in tr.direction.split("+")[:1] else (other, tr)
                pairs.append({"forward": i, "reverse": j,
                              "phases": f"{'/'.join(tr.from_phases)} ⇄ {'/'.join(tr.to_phases)}",
                              "hysteresis_V": up.voltage_mid - down.voltage_mid})
                used.update((i, j))
    reversible = len(stages) > 1 and stages[0].phases == stages[-1].phases
    return Reversibility(recurring_stages=recurring, transition_pairs=tuple(pairs), reversible=reversible)


def _message(result: TransitionResult, table: PhaseTable, frac: np.ndarray, axis: str) -> str:
    phase_tr = [tr for tr in result.transitions if tr.basis == "phases"]
    lattice = [tr.detail for tr in result.transitions if tr.basis == "lattice"]
    if not result.stages:
        return f"no steady stage found in {table.scans.size} scans (all transitional or too short)"
    if not phase_tr:
        s = result.stages[0]
        change = float(np.max(frac.max(axis=0) - frac.min(axis=0)))
        head = "no change of phase assemblage" if lattice else "no phase transition detected"
        msg = (f"{head}: one stage ({s.label}) over scans {s.first_scan}–{s.last_scan}; "
               f"largest change of a phase fraction {change:.3f}; no phase appeared or vanished (axis {axis})")
        return msg + ("; lattice distortion: " + "; ".join(lattice) if lattice else "")
    return (f"{len(result.stages)} stages, {len(phase_tr)} transitions: {result.sequence}"
            + ("; lattice: " + "; ".join(lattice) if lattice else ""))
