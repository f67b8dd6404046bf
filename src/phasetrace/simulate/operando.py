"""Operando stacks: phases vs state of charge, electrochemistry, scan log and truth.

A :class:`Scenario` describes one charge–discharge cycle by the state of
charge (SOC, 0–1).  Each :class:`PhaseTrack` gives a phase's cell and fraction as
piecewise-linear functions of SOC (separately on charge and discharge, so
two-phase regions can show hysteresis); a fraction ramp between knots is a
two-phase region (fractions exchange), a moving cell is a solid solution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from ..errors import ConfigError
from ..schema import make_stack
from .pattern import Instrument, PhaseContribution, add_noise, calculate_pattern
from .structures import SPACE_GROUPS, formula_units, reflections, reflections_from_cif

__all__ = ["PhaseTrack", "Scenario", "OperandoSimulation", "simulate_operando"]

Knots = tuple[tuple[float, float], ...]


def _interp(knots: Knots, x: np.ndarray) -> np.ndarray:
    xs, ys = zip(*sorted(knots))
    return np.interp(x, xs, ys)


@dataclass(frozen=True)
class PhaseTrack:
    """Cell and fraction of one phase against state of charge.

    Attributes
    ----------
    label : str
        Phase label (a prototype of :mod:`phasetrace.simulate.structures`, or any
        label when ``cif`` is given).
    a, c : tuple of (soc, value)
        Knots of the cell lengths, Å; no ``c`` means cubic (c = b = a).
    b : tuple of (soc, value)
        Knots of b, Å, for orthorhombic/monoclinic cells; none means b = a
        (hexagonal when ``c`` is given: γ = 120°).
    beta : tuple of (soc, value)
        Knots of β, degrees (monoclinic); none means 90°.
    fraction_charge, fraction_discharge : tuple of (soc, value)
        Knots of the phase fraction (0–1) on charge and on discharge.
    is_cell_component : bool
        A part of the cell (Al foil, Be window): constant, kept out of fractions.
    scale : float
        Scale of a cell component's peaks relative to the sample's.
    cif : str
        Optional CIF of the structure (e.g. ``reference_phases/P'2.cif``); its
        reflections are used instead of a built-in prototype.
    formula_units : float
        Formula units per conventional cell for ``volume_per_fu`` in the truth;
        0 means the prototype's value, or (CIF) the number of O atoms / 2.
    """

    label: str
    a: Knots
    c: Knots = ()
    fraction_charge: Knots = ((0.0, 1.0), (1.0, 1.0))
    fraction_discharge: Knots | None = None
    is_cell_component: bool = False
    scale: float = 1.0
    b: Knots = ()
    beta: Knots = ()
    cif: str = ""
    formula_units: float = 0.0

    def cell(self, soc: np.ndarray) -> np.ndarray:
        """Conventional cells (n, 6): a, b, c (Å), α, β, γ (°)."""
        a = _interp(self.a, soc)
        b = _interp(self.b, soc) if self.b else a
        c = _interp(self.c, soc) if self.c else a
        beta = _interp(self.beta, soc) if self.beta else np.full_like(a, 90.0)
        gamma = np.full_like(a, 120.0 if (self.c and not self.b) else 90.0)
        return np.column_stack([a, b, c, np.full_like(a, 90.0), beta, gamma])

    def fraction(self, soc: np.ndarray, charging: np.ndarray) -> np.ndarray:
        """Fractions (n,) at the given SOC, using the charge or discharge knots."""
        down = self.fraction_discharge or self.fraction_charge
        return np.where(charging, _interp(self.fraction_charge, soc), _interp(down, soc))


@dataclass(frozen=True)
class Scenario:
    """One cycle of an operando experiment.

    Attributes
    ----------
    name : str
        Case name (``truth["name"]``).
    tracks : tuple of PhaseTrack
    voltage_charge, voltage_discharge : tuple of (soc, V)
        Voltage curves against SOC.
    capacity_mAh_g : float
        Capacity at SOC = 1, mAh/g.
    current_mA, mass_g : float
        Cycling current (mA, positive on charge) and active mass (g).
    n_scans : int
        Scans over the whole cycle (half on charge).
    scan_gap_s : float
        Dead time between scans, s.
    start : {"charge", "discharge"}
        Which half-cycle comes first (discharge first starts at SOC 1).
    instrument : Instrument
    two_theta : tuple of float
        (start, stop, step) of the 2θ grid, deg.
    peak_scale : float
        Integrated counts (× deg, before Lorentz-polarisation) of the strongest
        reflection of the most strongly scattering sample phase when pure.  Phase
        fractions are volume fractions (≈ molar fractions for the polymorphs of
        one composition).
    size_fwhm_deg : float
        Sample broadening, deg 2θ.
    published_sequence : str
        The sequence the scenario is built to show.
    """

    name: str
    tracks: tuple[PhaseTrack, ...]
    voltage_charge: Knots
    voltage_discharge: Knots
    capacity_mAh_g: float = 150.0
    current_mA: float = 0.1
    mass_g: float = 0.003
    n_scans: int = 100
    scan_gap_s: float = 20.0
    start: str = "charge"
    instrument: Instrument = field(default_factory=lambda: Instrument(wavelength_A=1.540593))
    two_theta: tuple[float, float, float] = (10.0, 70.0, 0.03)
    peak_scale: float = 600.0
    size_fwhm_deg: float = 0.08
    published_sequence: str = ""

    def __post_init__(self) -> None:
        if self.n_scans < 4 or self.n_scans % 2:
            raise ConfigError(f"n_scans={self.n_scans!r}: expected an even number of scans ≥ 4")
        if self.start not in ("charge", "discharge"):
            raise ConfigError(f"start={self.start!r}: expected 'charge' or 'discharge'")
        if self.current_mA <= 0 or self.mass_g <= 0 or self.capacity_mAh_g <= 0:
            raise ConfigError("current_mA, mass_g and capacity_mAh_g must be positive")
        _check_tracks(self.tracks)

    @property
    def half_cycle_s(self) -> float:
        """Duration of one half-cycle, s."""
        return self.capacity_mAh_g * self.mass_g / self.current_mA * 3600.0


@dataclass(frozen=True)
class OperandoSimulation:
    """A simulated experiment: stack, cycler record, scan log and truth.

    Attributes
    ----------
    stack : xarray.Dataset
        Stack in the schema (counts, σ, scan coords, wavelengths).
    echem : dict of str to ndarray
        ``time_s``, ``voltage_V``, ``current_mA``, ``capacity_mAh_g`` sampled every 10 s.
    scan_log : dict of str to ndarray
        ``file``, ``start_time_s``, ``end_time_s``.
    truth : dict
        The shared-case ``truth.json`` layout.
    """

    stack: xr.Dataset
    echem: dict[str, np.ndarray]
    scan_log: dict[str, np.ndarray]
    truth: dict[str, Any]


def _soc(s: Scenario, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SOC (0–1) and charging flag at times t (s)."""
    half = s.half_cycle_s
    u = np.clip(t / half, 0.0, 2.0)
    first = u <= 1.0
    soc_first = u if s.start == "charge" else 1.0 - u
    soc_second = 2.0 - u if s.start == "charge" else u - 1.0
    soc = np.where(first, soc_first, soc_second)
    charging = first if s.start == "charge" else ~first
    return np.clip(soc, 0.0, 1.0), charging


def _voltage(s: Scenario, soc: np.ndarray, charging: np.ndarray) -> np.ndarray:
    return np.where(charging, _interp(s.voltage_charge, soc), _interp(s.voltage_discharge, soc))


def _echem(s: Scenario, rng: np.random.Generator) -> dict[str, np.ndarray]:
    t = np.arange(0.0, 2 * s.half_cycle_s + 5.0, 10.0)
    soc, charging = _soc(s, t)
    return {"time_s": t, "voltage_V": _voltage(s, soc, charging) + rng.normal(0.0, 5e-4, t.size),
            "current_mA": np.where(charging, s.current_mA, -s.current_mA),
            "capacity_mAh_g": soc * s.capacity_mAh_g}


def _fractions(s: Scenario, soc: np.ndarray, charging: np.ndarray) -> dict[str, np.ndarray]:
    out = {tr.label: tr.fraction(soc, charging) for tr in s.tracks if not tr.is_cell_component}
    total = np.sum(list(out.values()), axis=0)
    return {k: np.divide(v, total, out=np.zeros_like(v), where=total > 0) for k, v in out.items()}


def _truth(s: Scenario, soc: np.ndarray, charging: np.ndarray, volts: np.ndarray) -> dict[str, Any]:
    frac = _fractions(s, soc, charging)
    eps = 1e-4
    ahead = _fractions(s, np.clip(soc + eps, 0, 1), charging)
    behind = _fractions(s, np.clip(soc - eps, 0, 1), charging)
    cells = {tr.label: tr.cell(soc) for tr in s.tracks if not tr.is_cell_component}
    info = {tr.label: _track_reflections(tr) for tr in s.tracks if not tr.is_cell_component}
    groups = {lab: v[1] for lab, v in info.items()}
    fu = {lab: v[2] for lab, v in info.items()}
    scans, labels, transitional = [], [], []
    for i in range(soc.size):
        phases = {}
        for lab in sorted(frac):
            f = float(frac[lab][i])
            if f <= 1e-6:
                continue
            a, b, c, al, be, ga = (float(v) for v in cells[lab][i])
            vol = a * b * c * math.sqrt(1 - sum(math.cos(math.radians(x)) ** 2 for x in (al, be, ga))
                                        + 2 * math.prod(math.cos(math.radians(x)) for x in (al, be, ga)))
            phases[lab] = {"fraction": f, "a": a, "b": b, "c": c, "volume": vol,
                           "volume_per_fu": vol / fu[lab], "space_group": groups[lab],
                           "conventional": [round(v, 5) for v in (a, b, c, al, be, ga)]}
        moving = any(abs(ahead[k][i] - behind[k][i]) > 1e-9 for k in frac)
        labels.append("/".join(sorted(phases)))
        transitional.append(bool(moving))
        scans.append({"scan": i, "voltage": float(volts[i]), "phases": phases, "stage": labels[-1],
                      "transitional": bool(moving), "direction": "charge" if charging[i] else "discharge",
                      "soc": float(soc[i])})
    stages = []
    for i in range(soc.size):
        if transitional[i]:
            continue
        if stages and stages[-1]["last_scan"] == i - 1 and stages[-1]["phases"] == labels[i]:
            stages[-1].update(last_scan=i, voltage_last=float(volts[i]))
        else:
            stages.append({"phases": labels[i], "first_scan": i, "last_scan": i,
                           "voltage_first": float(volts[i]), "voltage_last": float(volts[i])})
    return {"name": s.name, "wavelength_A": s.instrument.wavelength_A, "published_sequence": s.published_sequence,
            "stages": stages, "sequence": " → ".join(st["phases"] for st in stages), "scans": scans}


def _track_reflections(tr: PhaseTrack) -> tuple[Any, str, float]:
    """(reflections, space group, formula units per cell) of a track."""
    if tr.cif:
        refl, group, n_oxygen = reflections_from_cif(tr.cif)
        return refl, group, tr.formula_units or max(n_oxygen / 2.0, 1.0)
    refl = reflections(tr.label, a=tr.a[0][1], c=tr.c[0][1] if tr.c else None)
    return refl, SPACE_GROUPS[tr.label], tr.formula_units or formula_units(tr.label)


def _scan_times(s: Scenario) -> tuple[np.ndarray, np.ndarray]:
    period = 2 * s.half_cycle_s / s.n_scans
    start = np.arange(s.n_scans) * period
    return start, start + period - s.scan_gap_s


def simulate_operando(scenario: Scenario, *, seed: int = 0) -> OperandoSimulation:
    """Simulate a whole operando experiment (deterministic for a given seed).

    Parameters
    ----------
    scenario : Scenario
    seed : int
        Seed of :func:`numpy.random.default_rng` (counting noise, cycler noise).

    Returns
    -------
    OperandoSimulation
    """
    s = scenario
    rng = np.random.default_rng(seed)
    start, end = _scan_times(s)
    mid = 0.5 * (start + end)
    soc, charging = _soc(s, mid)
    volts = _voltage(s, soc, charging)
    tt = np.arange(s.two_theta[0], s.two_theta[1] + s.two_theta[2] / 2, s.two_theta[2])
    frac = _fractions(s, soc, charging)
    refl = {tr.label: _track_reflections(tr)[0] for tr in s.tracks}
    cells = {tr.label: tr.cell(soc) for tr in s.tracks}
    # sample phases: scale ∝ volume fraction (weights are per unit volume); the strongest
    # sample line of a pure phase gets ``peak_scale``; a cell component gets ``scale`` × that
    norm = max(float(refl[tr.label].weight.max()) for tr in s.tracks if not tr.is_cell_component)
    counts = np.empty((s.n_scans, tt.size))
    for i in range(s.n_scans):
        contribs = [PhaseContribution(
            refl[tr.label], tuple(cells[tr.label][i]),
            s.peak_scale * (tr.scale * norm / float(refl[tr.label].weight.max()) if tr.is_cell_component
                            else frac[tr.label][i]) / norm,
            0.0 if tr.is_cell_component else s.size_fwhm_deg)
            for tr in s.tracks]
        counts[i] = calculate_pattern(tt, contribs, s.instrument)
    counts, sigma = add_noise(counts, rng)
    files = np.array([f"scan_{i:04d}.xye" for i in range(s.n_scans)])
    inst = s.instrument
    stack = make_stack(tt, counts, sigma, wavelength_A=inst.wavelength_A, wavelength2_A=inst.wavelength2_A,
                       kalpha2_ratio=inst.kalpha2_ratio, radiation="simulated", source_format="phasetrace.simulate",
                       coords={"file": files, "time_s": mid, "time_start_s": start, "time_end_s": end,
                               "voltage_V": volts, "capacity_mAh_g": soc * s.capacity_mAh_g,
                               "current_mA": np.where(charging, s.current_mA, -s.current_mA),
                               "cycle": np.ones(s.n_scans, dtype=int),
                               "direction": np.where(charging, "charge", "discharge"),
                               "temperature_K": np.full(s.n_scans, 298.15)})
    return OperandoSimulation(stack=stack, echem=_echem(s, rng),
                              scan_log={"file": files, "start_time_s": start, "end_time_s": end},
                              truth=_truth(s, soc, charging, volts))


def _check_tracks(tracks: Sequence[PhaseTrack]) -> None:
    if not any(not t.is_cell_component for t in tracks):
        raise ConfigError("scenario has no sample phase; add at least one PhaseTrack that is not a cell component")
