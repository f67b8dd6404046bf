"""Pawley refinement: kernel against a naive reference, cells/zero/Kα2 on synthetic truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from phasetrace._kernels.lattice import pv_design
from phasetrace.lattice import pawley_refine
from phasetrace.phases.cell import cell_from_free
from phasetrace.refine import RefineStatus, warm_start

from phasesim import pattern, simulate_stack


def _naive_pv(x, c, w, eta):
    g = 2 * math.sqrt(math.log(2) / math.pi) / w * np.exp(-4 * math.log(2) * ((x - c) / w) ** 2)
    lor = 2 / (math.pi * w) / (1 + 4 * ((x - c) / w) ** 2)
    return eta * lor + (1 - eta) * g


def test_pv_kernel_values_and_derivatives():
    x = np.linspace(10, 12, 801)
    centres, fwhm = np.array([10.7, 11.3]), np.array([0.05, 0.08])
    out = [np.zeros((x.size, 2)) for _ in range(4)]
    assert pv_design(x, centres, fwhm, 1.0, 0.4, np.ones(2), 50.0, 0, *out) == 0
    for k in range(2):
        np.testing.assert_allclose(out[0][:, k], _naive_pv(x, centres[k], fwhm[k], 0.4), rtol=1e-12)
        h = 1e-6
        dc = (_naive_pv(x, centres[k] + h, fwhm[k], 0.4) - _naive_pv(x, centres[k] - h, fwhm[k], 0.4)) / (2 * h)
        dw = (_naive_pv(x, centres[k], fwhm[k] + h, 0.4) - _naive_pv(x, centres[k], fwhm[k] - h, 0.4)) / (2 * h)
        scale = np.max(np.abs(dc))
        np.testing.assert_allclose(out[1][:, k], dc, atol=1e-6 * scale)
        np.testing.assert_allclose(out[2][:, k], dw, atol=1e-6 * np.max(np.abs(dw)))
        np.testing.assert_allclose(out[3][:, k], _naive_pv(x, centres[k], fwhm[k], 1.0)
                                   - _naive_pv(x, centres[k], fwhm[k], 0.0), atol=1e-12)
    assert abs(np.trapezoid(out[0][:, 0], x) - 1) < 0.02  # unit area (Lorentz tails cut)
    assert pv_design(x, centres, np.array([0.05, 0.0]), 1.0, 0.4, np.ones(2), 5.0, 0, *out) == 1


def _refine(phases, frees_true, starts, tt, wl, *, zero=0.0, wl2=np.nan, ratio=0.0, seed=0,
            counts=3000.0, **kw):
    y = pattern(phases, frees_true, tt, wavelength_A=wl, zero=zero, wavelength2_A=wl2,
                ratio=ratio, fwhm=0.06, **kw)
    stack = simulate_stack([y], tt, wavelength_A=wl, peak_counts=counts, seed=seed)
    net = stack.intensity.values[0] - 100.0
    return pawley_refine(tt, net, stack.intensity_sigma.values[0], phases,
                         [np.asarray(s, float) for s in starts], wavelength_A=wl,
                         wavelength2_A=wl2, kalpha2_ratio=ratio, fwhm_deg=0.06)


def test_two_overlapping_phases_and_zero_shift(by_label):
    """P2 + P3 whose 00l peaks overlap, 00l ×3 (preferred orientation), zero +0.03°."""
    tt = np.arange(5.0, 35.0, 0.01)
    res = _refine([by_label["P2"], by_label["P3"]], [[2.866, 11.21], [2.884, 16.76]],
                  [[2.86, 11.17], [2.89, 16.72]], tt, 0.7093, zero=0.03, scales=[0.4, 0.6],
                  po_00l=3.0)
    assert np.all(np.abs(res.free[0] - [2.866, 11.21]) < [6e-4, 3e-3]), res.free[0]
    assert np.all(np.abs(res.free[1] - [2.884, 16.76]) < [6e-4, 4e-3]), res.free[1]
    assert res.zero == pytest.approx(0.03, abs=3e-3)
    assert 0.7 < res.redchi < 1.5
    # esds are honest: errors within 4 sigma
    for got, want, esd in zip(res.free, ([2.866, 11.21], [2.884, 16.76]), res.esd_free):
        assert np.all(np.abs(got - want) < 4 * esd + 1e-5)


def test_kalpha2_doublet_lab_data(by_label):
    tt = np.arange(10.0, 70.0, 0.02)
    res = _refine([by_label["O3"]], [[2.962, 15.93]], [[2.955, 15.90]], tt, 1.540593,
                  wl2=1.544414, ratio=0.5, seed=3)
    assert np.all(np.abs(res.free[0] - [2.962, 15.93]) < [3e-4, 2e-3]), res.free[0]
    assert res.redchi < 1.5


@pytest.mark.parametrize("label, free, start", [
    ("P'2", [2.83, 5.26, 11.09], [2.835, 5.25, 11.07]),
    ("O'3", [5.32, 2.845, 5.58, 110.4], [5.31, 2.85, 5.59, 110.2]),
    ("S", [8.25], [8.24]),
])
def test_lower_symmetry_cells(by_label, label, free, start):
    tt = np.arange(3.0, 25.0, 0.005)
    res = _refine([by_label[label]], [free], [start], tt, 0.4959, seed=4)
    np.testing.assert_allclose(res.free[0], free, rtol=3e-4)
    cell = cell_from_free(by_label[label].crystal_system, res.free[0])
    assert cell.shape == (6,)


def test_free_bounds_hold_a_phase_and_profile_warm_start(by_label):
    """``free_bounds`` keeps a phase inside the given box (here away from the true cell) and
    the fit says so (status at_bound); a warm start from a previous fit reproduces the cell
    with no more evaluations."""
    tt = np.arange(5.0, 35.0, 0.01)
    p2 = by_label["P2"]
    y = pattern([p2], [[2.866, 11.21]], tt, wavelength_A=0.7093, fwhm=0.06)
    stack = simulate_stack([y], tt, wavelength_A=0.7093, peak_counts=3000.0, seed=3)
    net, sig = stack.intensity.values[0] - 100.0, stack.intensity_sigma.values[0]
    kw = dict(wavelength_A=0.7093, fwhm_deg=0.06)
    box = np.array([[2.870, 2.880], [11.20, 11.22]])
    held = pawley_refine(tt, net, sig, [p2], [np.array([2.875, 11.21])], free_bounds=[box], **kw)
    assert box[0, 0] <= held.free[0][0] <= box[0, 1] and held.free[0][0] < 2.8705
    assert held.phases[0].status == RefineStatus.AT_BOUND
    cold = pawley_refine(tt, net, sig, [p2], [np.array([2.862, 11.19])], **kw)
    assert np.all(np.abs(cold.free[0] - [2.866, 11.21]) < [5e-4, 3e-3])
    assert cold.status == RefineStatus.CONVERGED and cold.phases[0].w > 0
    # sequential use: the neighbour's whole solution (cells, profile, background) as the start
    warm = pawley_refine(tt, net, sig, [p2], [cold.free[0]], warm=warm_start(cold), **kw)
    assert np.all(np.abs(warm.free[0] - cold.free[0]) <= 3 * cold.esd_free[0] + 1e-5)
    assert warm.nfev < cold.nfev
