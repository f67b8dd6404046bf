"""Lattice evidence: distortion collapse with temperature and solid-solution drift."""

from __future__ import annotations

import numpy as np
import pytest

from phasetrace.simulate import phases_from_states
from phasetrace.transitions import detect_transitions

TC_K = 130.0

#: CuCr2O4 cells (T K, a, b, c Å, esd_b, esd_c Å) refined by the phasetrace pipeline
#: (``phasetrace analyse`` with the tutorial CIFs, 2026-11-23) from the 17 APS 11-BM
#: patterns of ../shared/data/gsas2_seqtut_cucr2o4 (GSAS-II SeqRefine tutorial;
#: Suchomel, Shoemaker & Ribaud, PRB 86, 054406 (2012)).  b and c converge on warming.
CUCR2O4_REFINED = (
    (6.8, 7.712644, 8.536573, 8.543198, 5.1e-05, 4.9e-05),
    (16.7, 7.712794, 8.536374, 8.543268, 4.8e-05, 4.6e-05),
    (47.0, 7.713572, 8.536413, 8.542827, 4.5e-05, 4.2e-05),
    (75.4, 7.716319, 8.536439, 8.541988, 4.1e-05, 3.9e-05),
    (98.9, 7.720540, 8.536504, 8.540499, 4.4e-05, 3.9e-05),
    (111.4, 7.725035, 8.536457, 8.538794, 6.4e-05, 5.4e-05),
    (122.7, 7.729999, 8.536379, 8.537110, 5.1e-05, 6.0e-05),
    (134.0, 7.734989, 8.535320, 8.535859, 5.2e-05, 3.7e-05),
    (145.5, 7.741330, 8.533683, 8.534656, 5.1e-05, 3.6e-05),
    (156.9, 7.746265, 8.533181, 8.533667, 4.2e-05, 3.3e-05),
    (168.4, 7.749770, 8.532682, 8.533180, 4.3e-05, 3.3e-05),
    (185.7, 7.754331, 8.532209, 8.532691, 3.9e-05, 3.2e-05),
    (203.0, 7.758518, 8.531859, 8.532377, 3.8e-05, 3.6e-05),
    (220.3, 7.762798, 8.531699, 8.532151, 2.9e-05, 3.1e-05),
    (243.4, 7.767835, 8.531417, 8.531985, 3.1e-05, 3.3e-05),
    (266.9, 7.773242, 8.531131, 8.531841, 4.0e-05, 3.1e-05),
    (288.7, 7.777837, 8.531073, 8.531729, 3.2e-05, 3.2e-05),
)


def _cucr2o4_series(rng, temperatures):
    """Orthorhombic (Fddd-like) cell whose b − c shrinks as √(Tc − T) and vanishes above Tc."""
    split = 0.02 * np.sqrt(np.clip((TC_K - temperatures) / TC_K, 0.0, None))
    states = []
    for t, d in zip(temperatures, split):
        cell = {"fraction": 0.95, "a": 7.71 + 1e-5 * t, "b": 8.53 + d + rng.normal(0, 2e-4),
                "c": 8.53 - d + rng.normal(0, 2e-4), "alpha": 90.0, "beta": 90.0, "gamma": 90.0,
                "esd_a": 1e-4, "esd_b": 1e-4, "esd_c": 1e-4}
        states.append({"CuCr2O4": cell, "CuO": 0.05 + rng.normal(0, 0.004)})
    return phases_from_states(states, temperature_K=temperatures)


@pytest.mark.parametrize("x", ["temperature_K", "auto"])
def test_distortion_collapse_on_warming_detected_from_lattice(x):
    temps = np.linspace(10.0, 300.0, 30)
    res = detect_transitions(_cucr2o4_series(np.random.default_rng(0), temps), x=x)
    assert res.x == "temperature_K"
    assert res.sequence == "CuCr2O4/CuO"  # the label never changes
    (tr,) = res.transitions
    assert (tr.kind, tr.basis) == ("distortion", "lattice")
    assert tr.from_phases == tr.to_phases == ("CuCr2O4",)
    # b/c − 1 exceeds 1e-3 up to ≈ 118 K and is 0 from 130 K: the bracket holds the true Tc
    assert tr.temperature_start <= TC_K <= tr.temperature_end
    assert tr.temperature_end - tr.temperature_start <= 10.0 + 1e-9
    assert tr.direction == "heating"
    assert "b/c" in tr.detail
    assert tr.x_critical == pytest.approx(TC_K, abs=5.0)  # Landau: m² ∝ Tc − T
    assert "no change of phase assemblage" in res.message


def test_real_cucr2o4_refinement_collapse_temperature():
    states = [{"CuCr2O4": {"fraction": 1.0, "a": a, "b": b, "c": c, "alpha": 90.0, "beta": 90.0, "gamma": 90.0,
                           "esd_b": eb, "esd_c": ec}} for _t, a, b, c, eb, ec in CUCR2O4_REFINED]
    temps = [row[0] for row in CUCR2O4_REFINED]
    res = detect_transitions(phases_from_states(states, temperature_K=temps))
    (tr,) = res.transitions
    # |b/c − 1| falls from 7.8e-4 (7 K) to 8.5e-5 at 122.7 K and stays at ~6e-5 above:
    # the split closes between 111.4 K and 122.7 K
    assert (tr.kind, tr.basis, tr.first_scan, tr.last_scan) == ("distortion", "lattice", 5, 6)
    assert (tr.temperature_start, tr.temperature_end) == (111.4, 122.7)
    assert 111.4 <= tr.x_critical <= 122.7


def test_no_collapse_when_cell_stays_orthorhombic():
    temps = np.linspace(10.0, 100.0, 20)
    res = detect_transitions(_cucr2o4_series(np.random.default_rng(1), temps), x="temperature_K")
    assert res.transitions == ()
    assert res.message.startswith("no phase transition detected")


def test_solid_solution_region_reports_moving_c():
    n = 30
    c = np.linspace(11.14, 11.30, n)  # P2 interlayer grows on charge: +1.4 %
    states = [{"P2": {"fraction": 1.0, "a": 2.88 - 0.001 * i / n, "b": 2.88 - 0.001 * i / n, "c": c[i],
                      "alpha": 90, "beta": 90, "gamma": 120, "volume_per_fu": 40.0 + 0.2 * i / n}}
              for i in range(n)]
    res = detect_transitions(phases_from_states(states, voltage_V=np.linspace(3.0, 4.0, n)))
    (region,) = res.stages[0].solid_solution
    assert (region.phase, region.parameter, region.monotonic) == ("P2", "c", True)
    assert region.value_start == pytest.approx(c[1], abs=0.01)
    assert region.value_end == pytest.approx(c[-2], abs=0.01)
    assert region.relative_change == pytest.approx((c[-1] - c[0]) / c.mean(), rel=0.1)


def test_fixed_cell_has_no_solid_solution():
    states = [{"P2": {"fraction": 1.0, "a": 2.88, "b": 2.88, "c": 11.14, "alpha": 90, "beta": 90, "gamma": 120}}] * 20
    res = detect_transitions(phases_from_states(states, voltage_V=np.linspace(3.0, 4.0, 20)))
    assert res.stages[0].solid_solution == ()
