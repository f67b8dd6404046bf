"""Phase identification on synthetic patterns with known truth, and the matching kernel."""

from __future__ import annotations

import math

import numpy as np
import pytest

from phasetrace._kernels.match import score_cells
from phasetrace.phases.cell import cell_from_free, metric_from_free, reciprocal_metric
from phasetrace.phases.identify import identify_scan, search_cell, separate_twins
from phasetrace.phases.peaksearch import estimate_background, estimate_fwhm, find_peaks

from phasesim import pattern, simulate_stack

WL = 0.7093
TT = np.arange(5.0, 35.0, 0.01)


def _peaks(stack):
    tt = stack.two_theta.values
    net = stack.intensity.values - estimate_background(tt, stack.intensity.values)
    fwhm = estimate_fwhm(tt, net[0])
    return find_peaks(tt, net, stack.intensity_sigma.values, fwhm_deg=fwhm), fwhm


def _naive_score(metric, hkl, weight, wl, lo, hi, peaks, tol):
    num = den = 0.0
    for (h, k, l), w in zip(hkl, weight):
        q2 = metric @ np.array([h * h, k * k, l * l, 2 * h * k, 2 * h * l, 2 * k * l])
        tt = 2 * math.degrees(math.asin(wl * math.sqrt(q2) / 2))
        if lo <= tt <= hi:
            d = np.min(np.abs(peaks - tt))
            den += w
            num += w * math.exp(-d * d / (2 * tol * tol)) if d < 4 * tol else 0.0
    return num / den


def test_score_kernel_matches_naive_reference(by_label):
    rng = np.random.default_rng(1)
    p = by_label["P'2"]
    frees = np.column_stack([rng.uniform(2.8, 2.9, 20), rng.uniform(4.9, 5.3, 20),
                             rng.uniform(10.8, 11.3, 20)])
    metrics = np.ascontiguousarray(metric_from_free("orthorhombic", frees))
    hkl = p.hkl[:40].astype(float)
    w = rng.uniform(0.1, 1, 40)
    peaks = np.sort(rng.uniform(5, 35, 30))
    out = np.empty(20)
    assert score_cells(metrics, hkl, w, WL, 5.0, 35.0, peaks, 0.05, out) == 0
    ref = [_naive_score(m, hkl, w, WL, 5.0, 35.0, peaks, 0.05) for m in metrics]
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    assert score_cells(metrics, hkl, w, WL, 5.0, 35.0, np.zeros(0), 0.05, out) == 1


@pytest.mark.parametrize("system, free", [("hexagonal", [2.88, 16.7]), ("cubic", [8.24]),
                                          ("monoclinic", [5.3, 2.85, 5.6, 110.0]),
                                          ("orthorhombic", [2.83, 5.24, 11.1])])
def test_fast_metric_equals_general(system, free):
    np.testing.assert_allclose(metric_from_free(system, np.array(free)),
                               reciprocal_metric(cell_from_free(system, np.array(free))),
                               rtol=1e-12, atol=1e-15)


def test_cell_found_after_large_shift(by_label):
    """P2 moved by more than a degree at high angle (a −2 %, c +3 %) is still found."""
    p2 = by_label["P2"]
    free = np.array([2.83, 11.50])
    y = pattern([p2], [free], TT, wavelength_A=WL)
    stack = simulate_stack([y], TT, wavelength_A=WL, seed=2)
    peaks, fwhm = _peaks(stack)
    ref_tt = p2.reflections(None, WL, (5, 35))[1]
    new_tt = p2.reflections(cell_from_free("hexagonal", free), WL, (5, 35))[1]
    assert np.max(np.abs(new_tt - ref_tt[: new_tt.size])) > 0.5
    m = search_cell(p2, peaks[0], WL, (5, 35), tol_deg=0.3 * fwhm)
    np.testing.assert_allclose(m.free, free, rtol=1.5e-3)
    assert m.score > 0.9


def test_two_phases_with_preferred_orientation_and_extra_peak(by_label, library):
    """P2 + P3 with 00l ×3, weak reflections missing and one foreign peak: both found,
    nothing else, and the foreign peak is reported unexplained."""
    p2, p3 = by_label["P2"], by_label["P3"]
    y = pattern([p2, p3], [[2.87, 11.18], [2.89, 16.70]], TT, wavelength_A=WL,
                scales=[0.4, 0.6], po_00l=3.0, min_rel=0.03)
    y += 0.3 * np.exp(-4 * np.log(2) * ((TT - 23.456) / 0.06) ** 2)
    stack = simulate_stack([y], TT, wavelength_A=WL, seed=3)
    peaks, fwhm = _peaks(stack)
    ident = identify_scan(library, peaks[0], WL, (5, 35), tol_deg=0.3 * fwhm)
    assert sorted(l for l in ident.present if not by_label[l].is_cell_component) == ["P2", "P3"]
    assert np.min(np.abs(ident.unexplained - 23.456)) < 0.02
    np.testing.assert_allclose(ident.matches["P3"].free, [2.89, 16.70], rtol=1.5e-3)


def test_subset_phase_and_undistorted_variant_rejected(by_label, library):
    """O2 alone: O1 (whose reflections are a subset) and a barely distorted P'2 are not reported."""
    y = pattern([by_label["O2"]], [[2.83, 8.90]], TT, wavelength_A=WL)
    stack = simulate_stack([y], TT, wavelength_A=WL, seed=4)
    peaks, fwhm = _peaks(stack)
    ident = identify_scan(library, peaks[0], WL, (5, 35), tol_deg=0.3 * fwhm)
    assert ident.present == ["O2"]
    assert ident.matches["O1"].score > 0.9          # it does fit ...
    assert "O1" not in ident.present               # ... but explains nothing new


def test_cell_components_recognised(by_label, library):
    y = pattern([by_label["O3"], by_label["Al"]], [[2.96, 15.9], [4.0495]], TT,
                wavelength_A=WL, scales=[1.0, 0.5])
    stack = simulate_stack([y], TT, wavelength_A=WL, seed=5)
    peaks, fwhm = _peaks(stack)
    ident = identify_scan(library, peaks[0], WL, (5, 35), tol_deg=0.3 * fwhm)
    assert sorted(ident.present) == ["Al", "O3"]


def test_second_spinel_instance_takes_the_other_cell(by_label, library):
    """Two cubic spinels (a 8.14 and 8.05 Å, a two-phase LixMn2O4 electrode): searched on all
    peaks both instances would find one cell; the second instance, searched on the peaks the
    first leaves unmatched, finds the other (within 0.1 %)."""
    s1, s2 = by_label["S"], by_label["S#2"]
    y = pattern([s1, s1], [[8.14], [8.05]], TT, wavelength_A=WL, scales=[0.5, 0.5])
    stack = simulate_stack([y], TT, wavelength_A=WL, seed=6)
    peaks, fwhm = _peaks(stack)
    found = {p.label: search_cell(p, peaks[0], WL, (5, 35), tol_deg=0.3 * fwhm)
             for p in (s1, s2)}
    assert abs(found["S"].free[0] - found["S#2"].free[0]) < 0.01     # the same cell twice
    out = separate_twins([s1, s2], found, peaks[0], WL, (5, 35), tol_deg=0.3 * fwhm)
    cells = sorted([out["S"].free[0], out["S#2"].free[0]])
    np.testing.assert_allclose(cells, [8.05, 8.14], rtol=1e-3)
    assert out["S#2"].score > 0.9 and found["S"].free[0] == out["S"].free[0]


def test_stack_identification_same_with_and_without_coarse_cache(by_label, library):
    """The coarse-search cache is a pure speed-up: identifying every scan of a drifting
    P2 + P3 + Al stack with one cache shared by the scans gives exactly (bit for bit) the
    cells, scores and accepted phases of identifying each scan on its own."""
    tt = np.arange(10.0, 70.0, 0.02)
    wl, n = 1.540593, 12
    ys = []
    for s in range(n):
        x = s / (n - 1)
        ys.append(pattern([by_label["P2"], by_label["P3"], by_label["Al"]],
                          [[2.886 - 0.03 * x, 11.14 + 0.15 * x],
                           [2.905 - 0.03 * x, 16.56 + 0.3 * x], [4.0495]], tt,
                          wavelength_A=wl, scales=[1.0, 0.8, 0.3], fwhm=0.08))
    peaks, fwhm = _peaks(simulate_stack(ys, tt, wavelength_A=wl, seed=3))
    tol = max(0.3 * fwhm, 0.03)
    cache: dict = {}
    for s in range(n):
        with_cache = identify_scan(library, peaks[s], wl, (10.0, 69.98), tol_deg=tol,
                                   cache=cache)
        alone = identify_scan(library, peaks[s], wl, (10.0, 69.98), tol_deg=tol)
        assert with_cache.present == alone.present, s
        for label, m in alone.matches.items():
            assert np.array_equal(with_cache.matches[label].free, m.free), (s, label)
            assert with_cache.matches[label].score == m.score, (s, label)
    assert {"P2", "P3", "Al"} <= set(alone.present)
