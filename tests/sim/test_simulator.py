"""The simulator itself against physical facts (independent of phasetrace's analysis).

Known values: Al (fcc, a = 4.0495 Å) with Cu Kα1 has lines at 2θ = 38.47 (111),
44.72 (200), 65.09 (220), 78.23° (311) (ICDD PDF 04-0787), the fcc extinction
rule (h, k, l all odd or all even) and multiplicities 8, 6, 12, 24, 8.
Intensities are compared with pymatgen's own XRD calculator (an independent
implementation of |F|² × multiplicity × LP).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from sim.crystal import Cell, cell_volume, d_spacing, load_structure, reflections
from sim.operando import Case, PhaseModel, simulate, volume_per_fu
from sim.pattern import (Instrument, bragg_two_theta, lines_to_pattern, march_dollase,
                         phase_lines)
from sim.writer import write_case

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

CU1, CU2 = 1.540593, 1.544414
AL = Cell(4.0495, 4.0495, 4.0495)


def _inst(**kw) -> Instrument:
    base = dict(wavelength=CU1, two_theta=(10.0, 90.0, 16001), polarisation=0.5,
                geometry="transmission", uvw=(0.004, -0.002, 0.002), xy=(0.02, 0.01))
    base.update(kw)
    return Instrument(**base)


def test_al_bragg_positions_extinctions_and_multiplicities():
    refl = reflections(load_structure("Al"), 1.2)
    d = d_spacing(AL, refl.hkl)
    order = np.argsort(-d)
    tt = bragg_two_theta(d[order], CU1)
    assert np.allclose(tt[:4], [38.47, 44.72, 65.09, 78.23], atol=0.01)
    hkl = np.sort(np.abs(refl.hkl[order]), axis=1)[:, ::-1]
    assert hkl[:5].tolist() == [[1, 1, 1], [2, 0, 0], [2, 2, 0], [3, 1, 1], [2, 2, 2]]
    assert refl.multiplicity[order][:5].tolist() == [8, 6, 12, 24, 8]


@pytest.mark.parametrize("name", ["Al", "P2", "O3", "S"])
def test_intensities_match_pymatgen_xrd_calculator(name):
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    st = load_structure(name)
    cell = Cell(*st.lattice.abc, *st.lattice.angles)
    inst = _inst(two_theta=(10.0, 80.0, 1001))
    lines = phase_lines(st, reflections(st, 1.2), cell, 1.0, inst, b_iso=0.0)
    pmg = XRDCalculator(wavelength=CU1).get_pattern(st, scaled=False, two_theta_range=(10, 80))
    # merge our lines onto pymatgen's peaks (it merges lines closer than 1e-5 deg)
    ours = np.array([lines.area[np.abs(lines.center - t) < 1e-3].sum() for t in pmg.x])
    strong = pmg.y > 1e-3 * pmg.y.max()
    ratio = ours[strong] / pmg.y[strong]
    # our area = v/V² × m|F|² × LP/2 (f = 1/2); pymatgen: m|F|² × (1 + cos²2θ)/(sin²θ cosθ)
    assert np.allclose(ratio * 2.0 * cell_volume(cell) ** 2, 1.0, rtol=1e-3)


def _centroid(x, y):
    return float(np.sum(x * y) / np.sum(y))


def test_kalpha2_position_and_ratio():
    st = load_structure("Al")
    refl = reflections(st, 1.2)
    inst = _inst(wavelength2=CU2, kalpha2_ratio=0.5)
    x = inst.grid()
    lines = phase_lines(st, refl, AL, 1.0, inst)
    y = lines_to_pattern(x, [lines], 1.0)
    c1 = 2 * math.degrees(math.asin(CU1 * math.sqrt(11) / (2 * 4.0495)))    # (311)
    c2 = 2 * math.degrees(math.asin(CU2 * math.sqrt(11) / (2 * 4.0495)))
    m = (x > c1 - 1.5) & (x < c2 + 1.5)
    centroid = _centroid(x[m], y[m])
    # the doublet's centroid divides c1..c2 in the ratio I2/I1
    assert (centroid - c1) / (c2 - centroid) == pytest.approx(0.5, rel=0.02)
    assert np.any(np.abs(lines.center - c2) < 1e-6)


@pytest.mark.parametrize("s_mm", [0.1, -0.2])
def test_displacement_shift_is_minus_2s_over_r_cos_theta(s_mm):
    st = load_structure("Al")
    refl = reflections(st, 1.2)
    x = _inst().grid()
    flat = lines_to_pattern(x, [phase_lines(st, refl, AL, 1.0, _inst(geometry="reflection"))], 1.0)
    moved = lines_to_pattern(x, [phase_lines(st, refl, AL, 1.0, _inst(
        geometry="reflection", displacement_mm=s_mm, radius_mm=240.0))], 1.0)
    trans = lines_to_pattern(x, [phase_lines(st, refl, AL, 1.0, _inst(
        geometry="transmission", displacement_mm=s_mm))], 1.0)
    assert np.array_equal(trans, flat)                 # no displacement shift in transmission
    for c in (38.47, 78.23):
        m = np.abs(x - c) < 1.0
        shift = _top(x[m], moved[m]) - _top(x[m], flat[m])
        expected = -math.degrees(2 * s_mm / 240.0 * math.cos(math.radians(c / 2)))
        assert shift == pytest.approx(expected, abs=3e-4)     # grid step 0.005°


def _top(x, y):
    """Peak top from a parabola through the 5 highest-neighbourhood points."""
    i = int(np.argmax(y))
    a, b, _ = np.polyfit(x[i - 2:i + 3] - x[i], y[i - 2:i + 3], 2)
    return float(x[i] - b / (2 * a))


def test_march_dollase_conserves_intensity_over_orientations():
    """∫₀¹ P(cos φ) d cos φ = 1 for any r (the function is a normalised distribution)."""
    u = np.linspace(0.0, 1.0, 200001)
    for r in (0.6, 0.85, 1.3):
        p = march_dollase(u, r)
        assert np.trapezoid(p, u) == pytest.approx(1.0, rel=1e-4)


def test_stacking_faults_broaden_only_h_minus_k_not_3n_with_l():
    st = load_structure("OP4")
    refl = reflections(st, 1.3)
    cell = Cell(*st.lattice.abc, *st.lattice.angles)
    inst = _inst(two_theta=(5.0, 80.0, 1001))
    sharp = phase_lines(st, refl, cell, 1.0, inst)
    faulted = phase_lines(st, refl, cell, 1.0, inst, fault=0.02)
    h, k, l = np.tile(refl.hkl, (1, 1)).T
    affected = ((h - k) % 3 != 0) & (l != 0)
    n = refl.hkl.shape[0]
    grew = faulted.fwhm[:n] > sharp.fwhm[:n] + 1e-9
    assert np.array_equal(grew, affected) and affected.any() and (~affected).any()


def test_hill_howard_weight_fraction_from_scales():
    """Two phases at volume fractions 0.3 / 0.7: scale S = area / (m|F|²LP) from pymatgen,
    and S·Z·M·V / Σ (Hill & Howard 1987) equals the weight fraction v ρ / Σ v ρ."""
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    inst = _inst(two_theta=(10.0, 80.0, 14001))
    x = inst.grid()
    v = {"Al": 0.3, "O3": 0.7}
    structs = {p: load_structure(p) for p in v}
    lines = {p: phase_lines(s, reflections(s, 1.2), Cell(*s.lattice.abc, *s.lattice.angles), v[p],
                            inst, b_iso=0.0) for p, s in structs.items()}
    y = lines_to_pattern(x, list(lines.values()), 1.0)
    every = np.concatenate([ln.center for ln in lines.values()])
    hh, rho = {}, {}
    for p, s in structs.items():
        pmg = XRDCalculator(wavelength=CU1).get_pattern(s, scaled=False, two_theta_range=(10, 80))
        iso = [i for i, t in enumerate(pmg.x) if np.sum(np.abs(every - t) < 1.6) == 1]
        i = max(iso, key=lambda j: pmg.y[j])          # strongest line ≥ 1.6° from any other
        m = np.abs(x - pmg.x[i]) < 0.8
        area = np.trapezoid(y[m], x[m])
        scale = area / pmg.y[i]
        hh[p] = scale * s.composition.weight * s.lattice.volume      # S · (Z M) · V
        rho[p] = s.density
    w_hh = hh["Al"] / (hh["Al"] + hh["O3"])
    w_true = v["Al"] * rho["Al"] / (v["Al"] * rho["Al"] + v["O3"] * rho["O3"])
    # the window holds ±0.8° of a line with FWHM ≈ 0.08° and η ≈ 0.5: the Lorentzian tail
    # outside it (≈ 2η/π · FWHM/1.6° ≈ 1.6 %) is nearly the same for both phases, and the
    # tails of neighbours ≥ 1.6° away add < 0.5 %
    assert w_hh == pytest.approx(w_true, rel=0.01)


def test_written_case_has_shared_layout_and_reads(tmp_path):
    from phasetrace.io import read_pattern    # allowed: check that written files can be read

    case = Case(name="tiny", published="P2 → O2", stages=[{"P2": 1.0}, {"O2": 1.0}],
                phases={"P2": PhaseModel(Cell(2.885, 2.885, 11.12, 90, 90, 120), (-0.01, -0.01, 0.05)),
                        "O2": PhaseModel(Cell(2.835, 2.835, 8.95, 90, 90, 120))},
                instrument=_inst(two_theta=(10.0, 70.0, 601), wavelength2=CU2, kalpha2_ratio=0.5),
                n_scans=9, transition_scans=3)
    sim = simulate(case)
    folder = write_case(case, sim, tmp_path / "tiny")
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    assert truth["sequence"] == "P2 → O2"
    assert [s["transitional"] for s in truth["scans"]] == [False] * 3 + [True] * 3 + [False] * 3
    mid = truth["scans"][4]["phases"]
    assert sum(p["fraction"] for p in mid.values()) == pytest.approx(1.0)
    assert mid["O2"]["fraction"] == pytest.approx(0.5)       # linear exchange, half-way
    p2 = truth["scans"][0]["phases"]["P2"]
    assert p2["volume_per_fu"] == pytest.approx(p2["volume"] / 2)
    shared = Path(__file__).resolve().parents[2] / ".." / "shared" / "cases" / "t1_row04_p2p3_op4" / "truth.json"
    if shared.is_file():
        ref = json.loads(shared.read_text(encoding="utf-8"))
        assert list(truth) == list(ref)
        assert list(truth["stages"][0]) == list(ref["stages"][0])
        assert list(truth["scans"][0]) == list(ref["scans"][0])
        assert list(p2) == list(next(iter(ref["scans"][0]["phases"].values())))
    ds = read_pattern(folder / "patterns" / "scan_0000.xye")
    assert ds.attrs["wavelength_A"] == CU1 and ds.attrs["wavelength2_A"] == CU2
    assert ds.attrs["kalpha2_ratio"] == 0.5
    assert ds.sizes["two_theta"] == 601
    assert volume_per_fu("P2", case.phases["P2"].cell) == pytest.approx(cell_volume(case.phases["P2"].cell) / 2)
    warnings.simplefilter("default")
