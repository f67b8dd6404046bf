"""Stacking-fault broadening of layered phases against the independent simulator (tests/sim).

The simulator broadens the h − k ≠ 3n, l ≠ 0 reflections by a rod breadth Δl along c*
(Warren's form, written in ``sim.pattern.phase_lines`` from its own crystal code), on top
of a Caglioti + Lorentzian TCH instrument profile the refinement does not share (it has
V tan θ and X/cos θ + Y tan θ terms that the refinement's U, W, η do not).  The truth is
the simulated volume fractions and Δl.
"""

from __future__ import annotations

import numpy as np
import pytest

from phasetrace.phases import load_library
from phasetrace.refine import RefineOptions, RefineStatus, refine_pattern
from phasetrace.refine.fit import _evaluate, _kernel_args
from phasetrace.refine.model import build_layout, chebyshev, stacking_fault_sensitive
from sim.crystal import Cell, load_structure, reflections
from sim.pattern import Instrument, background, lines_to_pattern, phase_lines

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

WL1, WL2 = 1.540593, 1.544414
HEX = dict(alpha=90.0, beta=90.0, gamma=120.0)
#: lab Cu Kα1/Kα2 reflection with 0.08 mm displacement (the sim's "cu" instrument)
INST = Instrument(wavelength=WL1, wavelength2=WL2, kalpha2_ratio=0.5,
                  two_theta=(10.0, 70.0, 3001), geometry="reflection", displacement_mm=0.08,
                  zero_deg=0.012, uvw=(0.0045, -0.0025, 0.0030), xy=(0.030, 0.020))
#: OP4 + OP2 intergrowths (faulted: Δl 0.12 / 0.06 — one fault probability per slab, four /
#: two slabs per c) beside an unfaulted P2; cell, volume fraction, Δl
TRUTH = {"OP4": (Cell(2.845, 2.845, 20.40, **HEX), 0.55, 0.12),
         "OP2": (Cell(2.840, 2.840, 10.15, **HEX), 0.30, 0.06),
         "P2": (Cell(2.885, 2.885, 11.20, **HEX), 0.15, 0.0)}


@pytest.fixture(scope="module")
def scan():
    x = INST.grid()
    lines = []
    for lab, (cell, vf, dl) in TRUTH.items():
        st = load_structure(lab)
        lines.append(phase_lines(st, reflections(st, 1.2), cell, vf, INST, po_r=0.85, fault=dl))
    bg = background(x, WL1, level=250.0)
    net = lines_to_pattern(x, lines, 1.0)
    y = np.random.default_rng(1).poisson(bg + 4000.0 * net / net.max()).astype(float)
    lib = {p.label: p for p in load_library(list(TRUTH))}
    starts = [np.array([c.a + 0.003, c.c * 1.002]) for c, _, _ in TRUTH.values()]
    return x, y, np.sqrt(np.maximum(y, 1.0)), bg, [lib[lab] for lab in TRUTH], starts


def _refine(scan, **opts):
    """Refinement of the scan; P2 is given the term too (its Δl must come out ≈ 0)."""
    opts = {"stacking_fault_labels": ("P2",), **opts}
    x, y, sig, bg, phases, starts = scan
    return refine_pattern(x, y, sig, bg, phases, starts, wavelength_A=WL1, wavelength2_A=WL2,
                          kalpha2_ratio=0.5, fwhm_deg=0.1, options=RefineOptions(**opts))


def test_fault_breadths_and_volume_fractions_recovered(scan):
    """Δl within 15 % (and 3 esd + 0.005) of the simulated breadth, ≈ 0 for unfaulted P2;
    volume fractions within 0.015; χ²ν ≈ 1 (GoF < 1.05: the model describes the lines)."""
    res = _refine(scan)
    assert res.status == RefineStatus.CONVERGED and res.gof < 1.05
    for sol in res.phases:
        _, vf, dl = TRUTH[sol.label]
        assert sol.status == RefineStatus.CONVERGED
        assert abs(sol.volume_fraction - vf) < 0.015, (sol.label, sol.volume_fraction)
        tol = 0.15 * dl if dl > 0 else 0.005
        assert abs(sol.sf_dl - dl) < tol, (sol.label, sol.sf_dl, sol.esd_sf_dl)
        assert abs(sol.sf_dl - dl) < 3 * sol.esd_sf_dl + 0.005, (sol.label, sol.sf_dl)


def test_without_fault_term_the_fractions_are_biased(scan):
    """The same scan without the term: the broadened OP4 lines are under-fitted, so its
    fraction is lost to the sharp-lined P2 (> 0.03 off) and the fit is measurably worse."""
    with_sf, without = _refine(scan), _refine(scan, stacking_faults=False)
    err = {s.label: s.volume_fraction - TRUTH[s.label][1] for s in without.phases}
    assert err["OP4"] < -0.03 and err["P2"] > 0.03
    assert without.gof > with_sf.gof + 0.05


def test_term_for_intergrowths_and_named_layered_hexagonal_phases():
    lib = {p.label: p for p in load_library(["P2", "O3", "OP4", "OP2", "P'2", "O'3", "S", "Al"])}
    assert {lab for lab, p in lib.items() if stacking_fault_sensitive(p)} == {"OP4", "OP2"}
    named = ("O3", "P'2", "S")
    assert {lab for lab, p in lib.items() if stacking_fault_sensitive(p, named)} == {
        "OP4", "OP2", "O3"}


def test_jacobian_of_the_fault_term_matches_central_differences():
    """With Δl > 0 the columns of Δl, U, W and η (through the TCH split / recombination)
    agree with central differences of the model to 1e-5 relative."""
    lib = {p.label: p for p in load_library(["OP4"])}
    x = np.arange(15.0, 60.0, 0.01)
    opts = RefineOptions()
    layout = build_layout([lib["OP4"]], [np.array([2.845, 20.40])], x, wavelength_A=WL1,
                          fwhm_deg=0.08, options=opts, geometry="reflection")
    p = layout.p0.copy()
    i_s, i_u, i_w, i_e, i_sf = (layout.phase_idx[0, m] for m in (0, 1, 2, 3, 7))
    assert i_sf >= 0 and np.count_nonzero(layout.cos2[:, 1]) > 0
    p[[i_s, i_u, i_w, i_e, i_sf]] = [2e-4, 0.003, 0.005, 0.3, 0.1]
    args = _kernel_args(layout, x, np.zeros(x.size), chebyshev(x, 3), WL1, WL2, 0.5, opts)
    _, jac = _evaluate(p, args)
    for j in (i_sf, i_u, i_w, i_e):
        h = 1e-6 * max(abs(p[j]), 1e-2)
        pp, pm = p.copy(), p.copy()
        pp[j] += h
        pm[j] -= h
        num = (_evaluate(pp, args, False)[0] - _evaluate(pm, args, False)[0]) / (2 * h)
        assert np.max(np.abs(jac[:, j] - num)) <= 1e-5 * np.max(np.abs(num)), layout.names[j]


def test_fault_broadening_leaves_h_minus_k_3n_and_00l_sharp():
    """The reflections given a fault factor |l| c*²/d* are exactly OP4's h − k ≠ 3n, l ≠ 0
    ones (Warren's selection rule), and the factor is |l| c*² / d* (Å⁻¹)."""
    lib = {p.label: p for p in load_library(["OP4"])}
    x = np.arange(15.0, 70.0, 0.005)
    opts = RefineOptions()
    layout = build_layout([lib["OP4"]], [np.array([2.845, 20.40])], x, wavelength_A=WL1,
                          fwhm_deg=0.08, options=opts, geometry="transmission")
    hkl = layout.hkl[0]
    sens = ((hkl[:, 0] - hkl[:, 1]) % 3 != 0) & (hkl[:, 2] != 0)
    assert np.array_equal(layout.cos2[:, 1] > 0, sens) and sens.any() and (~sens).any()
    a, c = 2.845, 20.40
    dstar = np.sqrt(4 / (3 * a * a) * (hkl[:, 0] ** 2 + hkl[:, 0] * hkl[:, 1] + hkl[:, 1] ** 2)
                    + (hkl[:, 2] / c) ** 2)
    np.testing.assert_allclose(layout.cos2[sens, 1], np.abs(hkl[sens, 2]) / c ** 2 / dstar[sens],
                               rtol=1e-9)


def test_breadth_held_by_its_upper_bound_is_flagged(scan):
    """An upper bound below OP4's true Δl (0.12) holds the fit there: OP4 is ``at_bound``
    (its values are biased); OP2 (0.06 < 0.08) and the unfaulted P2, whose Δl rests on the
    physical lower bound 0, stay ``converged``."""
    res = _refine(scan, max_sf_dl=0.08)
    status = {s.label: s.status for s in res.phases}
    assert status["OP4"] == RefineStatus.AT_BOUND
    assert res.param("OP4.sf_dl").at_bound and res.param("OP4.sf_dl").value == pytest.approx(0.08)
    assert status["OP2"] == RefineStatus.CONVERGED and status["P2"] == RefineStatus.CONVERGED
