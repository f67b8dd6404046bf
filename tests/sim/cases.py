"""The simulated measurement set (issue 12): Table-1 sequences of ../shared/PHASES.md and more.

Every Table-1 row is included except those with the tunnel phase T (rows 8, 9,
10, 15, 16: its atom positions are schematic) and row 6 (it needs the phases
"S1" and "Z", which have no model); plus the literature sequences named in
PHASES.md, an O3/P3 coexistence with < 1 % volume difference, a two-cycle case
and a low-count case (counts × 0.3).  Row 4 is simulated on two cycles here.

Physics covered across the set: Cu Kα1/Kα2 lab reflection geometry with
specimen displacement, zero shift and March–Dollase orientation of 00l; Mo and
synchrotron transmission; Caglioti + Lorentzian widths (TCH pseudo-Voigt);
stacking-fault broadening of OP4/OP2 (rod breadth Δl 0.12 / 0.06: the same fault
probability per slab, four / two slabs per c); 6 % minor spinel; four-phase stages;
an Al current collector (a cell component); lattice drift with voltage;
two-phase transitions with linear fraction exchange.  Cells are typical values
of PHASES.md, not fitted to anything.
"""

from __future__ import annotations

from dataclasses import replace

from .crystal import Cell
from .operando import Case, PhaseModel
from .pattern import Instrument

__all__ = ["CASES", "INSTRUMENTS", "PHASES", "case_by_name"]

HEX = dict(alpha=90.0, beta=90.0, gamma=120.0)

INSTRUMENTS = {
    # lab Cu Kα1/Kα2, Bragg–Brentano reflection, 0.08 mm specimen displacement
    "cu": Instrument(wavelength=1.540593, wavelength2=1.544414, kalpha2_ratio=0.5,
                     two_theta=(10.0, 70.0, 3001), polarisation=0.5, geometry="reflection",
                     displacement_mm=0.08, zero_deg=0.012, uvw=(0.0045, -0.0025, 0.0030),
                     xy=(0.030, 0.020)),
    # lab Mo Kα1 (monochromated), transmission
    "mo": Instrument(wavelength=0.7093, two_theta=(5.0, 35.0, 3001), polarisation=0.5,
                     geometry="transmission", zero_deg=-0.006, uvw=(0.0020, -0.0010, 0.0012),
                     xy=(0.012, 0.010)),
    # synchrotron, transmission, beam polarised perpendicular to the scattering plane
    "sync": Instrument(wavelength=0.4959, two_theta=(3.0, 25.0, 3000), polarisation=0.03,
                       geometry="transmission", zero_deg=0.003, uvw=(0.0006, -0.0003, 0.0004),
                       xy=(0.006, 0.006)),
}

#: cells at the lower voltage limit (Å, deg) and their change per volt (Å/V)
PHASES = {
    "P2": PhaseModel(Cell(2.885, 2.885, 11.12, **HEX), (-0.012, -0.012, 0.050)),
    "P3": PhaseModel(Cell(2.905, 2.905, 16.56, **HEX), (-0.014, -0.014, 0.120)),
    "O3": PhaseModel(Cell(2.965, 2.965, 15.90, **HEX), (-0.020, -0.020, 0.090)),
    "O2": PhaseModel(Cell(2.835, 2.835, 8.95, **HEX), (-0.004, -0.004, -0.030)),
    "OP4": PhaseModel(Cell(2.845, 2.845, 20.40, **HEX), (-0.004, -0.004, -0.040), fault=0.12),
    "OP2": PhaseModel(Cell(2.840, 2.840, 10.15, **HEX), (-0.004, -0.004, -0.020), fault=0.06),
    "O'3": PhaseModel(Cell(5.14, 2.88, 5.65, 90.0, 110.0, 90.0), (-0.020, -0.010, 0.030)),
    "P'3": PhaseModel(Cell(5.05, 2.86, 5.88, 90.0, 106.0, 90.0), (-0.015, -0.008, 0.030)),
    "P'2": PhaseModel(Cell(2.84, 5.20, 11.10, 90.0, 90.0, 90.0), (-0.010, -0.015, 0.040)),
    "S": PhaseModel(Cell(8.24, 8.24, 8.24), (-0.020, -0.020, -0.020)),
    "Al": PhaseModel(Cell(4.0495, 4.0495, 4.0495)),
}


def _case(name, published, stages, inst, **kw) -> Case:
    return Case(name=name, published=published, stages=stages, phases=PHASES,
                instrument=INSTRUMENTS[inst], **kw)


PP = {"P2": 0.45, "P3": 0.55}
CASES = [
    _case("sim_row01_p2o3_p2p3_op", "P2/O3 → P2/P3 → OP4/OP2 → P2/P3 → P2/O3",
          [{"P2": 0.5, "O3": 0.5}, {"P2": 0.5, "P3": 0.5}, {"OP4": 0.6, "OP2": 0.4},
           {"P2": 0.5, "P3": 0.5}, {"P2": 0.5, "O3": 0.5}], "cu", n_scans=90, po_r=0.85,
          cell_components={"Al": 0.04}, seed=1),
    _case("sim_row02_four_phase", "P2/O3 → P2/O3/O'3 → P2/O3/O'3/OP4 → P2/O3/O'3 → P2/O3",
          [{"P2": 0.6, "O3": 0.4}, {"P2": 0.5, "O3": 0.3, "O'3": 0.2},
           {"P2": 0.35, "O3": 0.25, "O'3": 0.2, "OP4": 0.2}, {"P2": 0.5, "O3": 0.3, "O'3": 0.2},
           {"P2": 0.6, "O3": 0.4}], "mo", n_scans=90, seed=2),
    _case("sim_row03_p2p3", "P2/P3", [dict(PP)], "sync", n_scans=60, seed=3),
    _case("sim_row04_two_cycles", "P2/P3 → OP4 → P2/P3 (two cycles)",
          [dict(PP), {"OP4": 1.0}, dict(PP), {"OP4": 1.0}, dict(PP)], "mo", n_scans=100,
          cycles=2, seed=4),
    _case("sim_row05_p2p3s_distort", "P2/P3/S → P2/P3'/S",
          [{"P2": 0.5, "P3": 0.44, "S": 0.06}, {"P2": 0.5, "P'3": 0.44, "S": 0.06},
           {"P2": 0.5, "P3": 0.44, "S": 0.06}], "cu", n_scans=75, po_r=0.85, seed=5),
    _case("sim_row07_p2s_distort", "P2/S → P2'/S → P2/S",
          [{"P2": 0.8, "S": 0.2}, {"P'2": 0.8, "S": 0.2}, {"P2": 0.8, "S": 0.2}], "sync",
          n_scans=70, seed=7),
    _case("sim_row11_p2p3o3_op", "P2/P3/O3 → P2/P3 → OP2/OP4 → P2/P3 → P2/P3/O3",
          [{"P2": 0.4, "P3": 0.35, "O3": 0.25}, {"P2": 0.4, "P3": 0.6}, {"OP2": 0.5, "OP4": 0.5},
           {"P2": 0.4, "P3": 0.6}, {"P2": 0.4, "P3": 0.35, "O3": 0.25}], "cu", n_scans=90,
          po_r=0.85, seed=11),
    _case("sim_row12_minor_spinel",
          "O3/P2/S → O3/P3/P2/S → P3/P2/S → OP2/P2/S → P3/P2/S → O3/P3/P2/S → O3/P2/S",
          [{"O3": 0.5, "P2": 0.44, "S": 0.06}, {"O3": 0.25, "P3": 0.25, "P2": 0.44, "S": 0.06},
           {"P3": 0.5, "P2": 0.44, "S": 0.06}, {"OP2": 0.5, "P2": 0.44, "S": 0.06},
           {"P3": 0.5, "P2": 0.44, "S": 0.06}, {"O3": 0.25, "P3": 0.25, "P2": 0.44, "S": 0.06},
           {"O3": 0.5, "P2": 0.44, "S": 0.06}], "mo", n_scans=100, transition_scans=4, seed=12),
    _case("sim_row13_o3p3p2", "O3/P2 → P3/P2 → O3/P3/P2 → O3/P2",
          [{"O3": 0.6, "P2": 0.4}, {"P3": 0.6, "P2": 0.4}, {"O3": 0.3, "P3": 0.3, "P2": 0.4},
           {"O3": 0.6, "P2": 0.4}], "cu", n_scans=80, po_r=0.85, cell_components={"Al": 0.04},
          seed=13),
    _case("sim_row14_o3_distort", "O3/P2 → O'3/P2 → P3/P2 → O3'/P2 → P3/P2 → O'3/P2 → O3/P2",
          [{"O3": 0.7, "P2": 0.3}, {"O'3": 0.7, "P2": 0.3}, {"P3": 0.7, "P2": 0.3},
           {"O'3": 0.7, "P2": 0.3}, {"P3": 0.7, "P2": 0.3}, {"O'3": 0.7, "P2": 0.3},
           {"O3": 0.7, "P2": 0.3}], "sync", n_scans=100, transition_scans=4, seed=14),
    _case("sim_lit_p2_o2", "P2 → O2 → P2", [{"P2": 1.0}, {"O2": 1.0}, {"P2": 1.0}], "cu",
          n_scans=70, po_r=0.85, seed=21),
    _case("sim_lit_o3_p3_distort", "O3 → O'3 → P3 → P'3",
          [{"O3": 1.0}, {"O'3": 1.0}, {"P3": 1.0}, {"P'3": 1.0}], "mo", n_scans=80, seed=22),
]

# O3/P3 coexistence with < 1 % volume difference (high-entropy O3, near-zero strain)
_NEAR = dict(PHASES, O3=PhaseModel(Cell(2.930, 2.930, 16.20, **HEX), (-0.006, -0.006, 0.020)),
             P3=PhaseModel(Cell(2.900, 2.900, 16.48, **HEX), (-0.006, -0.006, 0.025)))
CASES.append(Case(name="sim_he_o3p3_zero_strain", published="O3 → O3/P3 → P3",
                  stages=[{"O3": 1.0}, {"O3": 0.5, "P3": 0.5}, {"P3": 1.0}], phases=_NEAR,
                  instrument=INSTRUMENTS["cu"], n_scans=70, po_r=0.85, seed=31))
# low counts (× 0.3) on a distortion case and a three-phase case
CASES.append(replace(CASES[5], name="sim_row07_lowcounts_x0.3", counts=0.3, seed=71))
CASES.append(replace(CASES[8], name="sim_row13_lowcounts_x0.3", counts=0.3, seed=131))


def case_by_name(name: str) -> Case:
    for c in CASES:
        if c.name == name:
            return c
    raise KeyError(f"no simulated case {name!r}; known: {[c.name for c in CASES]}")
