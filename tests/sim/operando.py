"""An operando cycling experiment: stages, two-phase transitions, lattice drift → scans + truth.

A case is a sequence of *stages* (steady assemblages: phase → volume fraction)
along one or more charge/discharge cycles.  Between consecutive stages the
fractions are exchanged linearly over ``transition_scans`` scans (a two-phase
reaction: the leaving phases shrink, the entering ones grow, the rest stay).
Cells move with the voltage (solid solution): each phase has a cell at the
lower voltage limit and cell derivatives per volt.  The voltage rises linearly
with time on charge and falls on discharge; scans are taken back to back with
a short dead time, and the cycler record is sampled every 10 s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .crystal import Cell, cell_volume, load_structure, reflections
from .pattern import Instrument, background, lines_to_pattern, phase_lines

__all__ = ["PhaseModel", "Case", "SimResult", "simulate", "Z_FU", "SPACE_GROUP"]

#: formula units (one transition metal; AB2O4 for the spinel) per conventional cell
Z_FU = {"P2": 2, "P3": 3, "O3": 3, "O2": 2, "O1": 1, "OP4": 4, "OP2": 2, "P'2": 4, "O'3": 2,
        "P'3": 2, "S": 8, "Al": 4}
SPACE_GROUP = {"P2": "P6_3/mmc", "P3": "R3m", "O3": "R-3m", "O2": "P6_3mc", "OP4": "P-6m2",
               "OP2": "P-3m1", "P'2": "Cmcm", "O'3": "C2/m", "P'3": "C2/m", "S": "Fd-3m",
               "Al": "Fm-3m"}
HEXAGONAL = {"P2", "P3", "O3", "O2", "O1", "OP4", "OP2"}
LAYERED = HEXAGONAL | {"P'2", "O'3", "P'3"}


@dataclass(frozen=True)
class PhaseModel:
    """A phase's cell at the lower voltage limit, its change per volt, and its line broadening."""

    cell: Cell
    dcell_dv: tuple[float, float, float] = (0.0, 0.0, 0.0)   # da, db, dc (Å/V)
    fault: float = 0.0                                        # stacking-fault rod breadth Δl (l units)
    strain: float = 0.0                                       # extra Lorentzian × tan θ (deg)

    def at(self, v: float, v0: float) -> Cell:
        da, db, dc = self.dcell_dv
        c = self.cell
        if abs(c.gamma - 120) < 1e-9 or (c.a == c.b == c.c):   # a = b (= c) kept equal
            db = da
        cube = c.a == c.b == c.c
        a = c.a + da * (v - v0)
        return Cell(a, a if cube else c.b + db * (v - v0), a if cube else c.c + dc * (v - v0),
                    c.alpha, c.beta, c.gamma)


@dataclass(frozen=True)
class Case:
    """One simulated operando experiment."""

    name: str
    published: str                         # sequence as written in the source
    stages: list[dict[str, float]]         # steady assemblages, volume fractions (sum 1)
    phases: dict[str, PhaseModel]
    instrument: Instrument
    n_scans: int = 80
    transition_scans: int = 5
    cycles: int = 1
    v_range: tuple[float, float] = (1.5, 4.3)
    counts: float = 1.0                    # counts scale (×0.3 for a low-count case)
    peak_counts: float = 4000.0            # scale: strongest line of a pure phase, roughly
    bg_level: float = 250.0
    po_r: float = 1.0                      # March–Dollase r of the layered phases
    cell_components: dict[str, float] = field(default_factory=dict)   # e.g. {"Al": 0.05}
    seed: int = 0


@dataclass
class SimResult:
    """Simulated scans and their truth."""

    two_theta: np.ndarray        # (n_points,)
    counts: np.ndarray           # (n_scans, n_points)
    voltage: np.ndarray          # (n_scans,) at mid-scan
    fractions: list[dict[str, float]]
    cells: list[dict[str, Cell]]
    stage_of_scan: list[int]     # stage index, or −1 in a transition
    times: np.ndarray            # (n_scans, 2) start, end (s)
    echem: np.ndarray            # (n_rec, 4) time_s, voltage_V, current_mA, capacity_mAh_g


def _stage_schedule(case: Case) -> tuple[list[int], list[dict[str, float]]]:
    """Stage index per scan (−1 inside transitions) and the fractions of every scan."""
    n_st = len(case.stages)
    n_tr = (n_st - 1) * case.transition_scans
    steady = case.n_scans - n_tr
    if steady < 3 * n_st:
        raise ValueError(f"{case.name}: {case.n_scans} scans too few for {n_st} stages")
    lengths = [steady // n_st + (1 if i < steady % n_st else 0) for i in range(n_st)]
    idx, frac = [], []
    for i, st in enumerate(case.stages):
        idx += [i] * lengths[i]
        frac += [dict(st)] * lengths[i]
        if i + 1 < n_st:
            nxt = case.stages[i + 1]
            names = sorted(set(st) | set(nxt))
            for j in range(case.transition_scans):
                t = (j + 1) / (case.transition_scans + 1)
                f = {p: (1 - t) * st.get(p, 0.0) + t * nxt.get(p, 0.0) for p in names}
                idx.append(-1)
                frac.append({p: v for p, v in f.items() if v > 0})
    return idx, frac


def simulate(case: Case) -> SimResult:
    """Scans (Poisson counts) and truth of ``case``."""
    rng = np.random.default_rng(case.seed)
    inst = case.instrument
    x = inst.grid()
    d_min = inst.wavelength / (2 * np.sin(np.radians(x[-1] + 1) / 2))
    names = sorted({p for st in case.stages for p in st} | set(case.cell_components))
    structs = {p: load_structure(p) for p in names}
    refl = {p: reflections(structs[p], d_min) for p in names}
    idx, frac = _stage_schedule(case)
    scan_s, dead_s = 600.0, 20.0
    starts = np.arange(case.n_scans) * (scan_s + dead_s)
    times = np.column_stack([starts, starts + scan_s])
    t_end = times[-1, 1] + 10.0
    rec_t = np.arange(0.0, t_end, 10.0)
    period = t_end / case.cycles
    lo, hi = case.v_range
    phase = (rec_t / period) % 1
    rec_v = lo + (hi - lo) * (1 - np.abs(2 * phase - 1))
    current = np.where(phase < 0.5, 0.25, -0.25)
    capacity = np.cumsum(np.abs(current)) * 10.0 / 3600.0 / 0.00756   # mAh/g for a 7.56 mg electrode
    mid = times.mean(axis=1)
    volts = np.interp(mid, rec_t, rec_v)
    bg = background(x, inst.wavelength, level=case.bg_level)
    # intensity constant: the strongest line of the first phase, pure, reaches peak_counts
    first = names[0] if not case.stages else sorted(case.stages[0], key=lambda p: -case.stages[0][p])[0]
    probe = phase_lines(structs[first], refl[first], case.phases[first].cell, 1.0, inst)
    k_int = case.peak_counts / np.max(probe.area / probe.fwhm)
    counts = np.empty((case.n_scans, x.size))
    cells: list[dict[str, Cell]] = []
    for s in range(case.n_scans):
        cell_s, lines = {}, []
        for p, vf in list(frac[s].items()) + list(case.cell_components.items()):
            model = case.phases[p]
            cell = model.at(volts[s], lo) if p not in case.cell_components else model.cell
            cell_s[p] = cell
            lines.append(phase_lines(structs[p], refl[p], cell, vf, inst,
                                     po_r=case.po_r if p in LAYERED else 1.0,
                                     fault=model.fault, strain_l=model.strain))
        cells.append({p: c for p, c in cell_s.items() if p not in case.cell_components})
        model_counts = case.counts * (bg + lines_to_pattern(x, lines, k_int))
        counts[s] = rng.poisson(model_counts)
    echem = np.column_stack([rec_t, rec_v, current, capacity])
    return SimResult(x, counts, volts, frac, cells, idx, times, echem)


def volume_per_fu(name: str, cell: Cell) -> float:
    """Cell volume per formula unit (Å³)."""
    return cell_volume(cell) / Z_FU[name]
