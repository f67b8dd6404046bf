"""analyse_phases on a synthetic operando stack with known truth; output layout."""

from __future__ import annotations

import numpy as np
import pytest

from phasetrace.errors import ConfigError, SchemaError
from phasetrace.lattice import analyse_phases, lattice_table
from phasetrace.schema import LATTICE_CSV_COLUMNS, PHASE_VARS

from phasesim import pattern, simulate_stack

TT = np.arange(10.0, 70.0, 0.02)
WL, WL2 = 1.540593, 1.544414


@pytest.fixture(scope="module")
def truth():
    """8 scans: P2 shrinking in a (0-3), P2+O2 (4), O2 (5-7); Al foil throughout."""
    p2 = [[2.886 - 0.004 * s, 11.16 + 0.02 * s] for s in range(5)] + [None] * 3
    o2 = [None] * 4 + [[2.830, 8.90 - 0.01 * (s - 4)] for s in range(4, 8)]
    return p2, o2


@pytest.fixture(scope="module")
def stack(by_label, truth):
    p2, o2 = truth
    ys = []
    for s in range(8):
        phases, frees, scales = [by_label["Al"]], [[4.0495]], [0.4]
        if p2[s]:
            phases, frees, scales = phases + [by_label["P2"]], frees + [p2[s]], scales + [1.0]
        if o2[s]:
            phases, frees, scales = phases + [by_label["O2"]], frees + [o2[s]], scales + [1.0]
        ys.append(pattern(phases, frees, TT, wavelength_A=WL, wavelength2_A=WL2, ratio=0.5,
                          scales=scales, zero=0.02, fwhm=0.08, po_00l=2.0))
    return simulate_stack(ys, TT, wavelength_A=WL, wavelength2_A=WL2, kalpha2_ratio=0.5,
                          seed=11, coords={"voltage_V": np.linspace(3.0, 4.4, 8)})


@pytest.fixture(scope="module")
def result(stack, library):
    # the simulated shift is a pure zero shift: the transmission model (no displacement term)
    return analyse_phases(stack, library=library, geometry="transmission")


def test_layout(result, stack):
    for name in PHASE_VARS:
        assert result[name].dims == ("scan", "phase")
    for name in ("phase_family", "is_cell_component", "phase_parent"):
        assert result[name].dims == ("phase",)
    assert result["zero_shift"].dims == ("scan",)
    assert result["calc"].shape == stack["intensity"].shape
    np.testing.assert_array_equal(result["voltage_V"].values, stack["voltage_V"].values)


def test_phases_found_per_scan(result, truth):
    p2, o2 = truth
    labels = list(result.phase.values)
    for s in range(8):
        found = {labels[j] for j in np.flatnonzero(result.present.values[s])}
        expected = {"Al"} | ({"P2"} if p2[s] else set()) | ({"O2"} if o2[s] else set())
        assert found == expected, (s, found)
    assert bool(result.is_cell_component.sel(phase="Al"))


def test_cells_and_derived_values(result, truth):
    p2, o2 = truth
    for s in range(5):
        a, c = p2[s]
        assert result.a.sel(phase="P2").values[s] == pytest.approx(a, abs=1e-3)
        assert result.interlayer_d.sel(phase="P2").values[s] == pytest.approx(c / 2, abs=3e-3)
        assert result.gamma.sel(phase="P2").values[s] == 120.0
        vol = np.sqrt(3) / 2 * a * a * c
        assert result.volume_per_fu.sel(phase="P2").values[s] == pytest.approx(vol / 2, rel=2e-3)
    assert np.isnan(result.a.sel(phase="P2").values[5:]).all()      # absent → NaN
    assert np.isnan(result.fraction.sel(phase="O2").values[:4]).all()
    assert result.volume_strain.sel(phase="O2").values[4] == 0.0
    np.testing.assert_allclose(result.zero_shift.values, 0.02, atol=0.01)
    frac = result.fraction.values[:, ~result.is_cell_component.values]
    np.testing.assert_allclose(np.nansum(frac, axis=1), 1.0)
    assert np.all(result.esd_a.sel(phase="P2").values[:5] > 0)


def test_input_unchanged(stack, library):
    before = stack.copy(deep=True)
    analyse_phases(stack.isel(scan=[0]), library=library)
    assert stack.identical(before)


def test_lattice_table(result):
    table = lattice_table(result)
    assert list(table.columns[: len(LATTICE_CSV_COLUMNS)]) == list(LATTICE_CSV_COLUMNS)
    assert len(table) == int(result.present.values.sum())
    assert set(table.phase) == {"Al", "P2", "O2"}
    assert table[table.phase == "Al"].is_cell_component.all()


def test_bad_options(stack, library):
    with pytest.raises(ConfigError, match="unknown analyse_phases option"):
        analyse_phases(stack, library=library, tolerance=3)
    with pytest.raises(ConfigError, match="background has shape"):
        analyse_phases(stack, library=library, background=np.zeros(3))
    with pytest.raises(SchemaError, match="no wavelength"):
        analyse_phases(stack.assign_attrs(wavelength_A=np.nan), library=library)


def test_uses_peak_fits_when_given(stack, library, truth):
    fit = pytest.importorskip("phasetrace.peaks").fit_stack
    sub = stack.isel(scan=[0, 1])
    peaks = fit(sub)
    res = analyse_phases(sub, library=library, peaks=peaks)
    p2 = truth[0]
    for s in range(2):
        assert bool(res.present.sel(phase="P2")[s])
        assert float(res.a.sel(phase="P2")[s]) == pytest.approx(p2[s][0], abs=1e-3)


def test_nan_scan_does_not_stop_the_run(stack, library):
    sub = stack.isel(scan=[0, 1, 2]).copy(deep=True)
    sub["intensity"][1] = np.nan
    res = analyse_phases(sub, library=library)
    assert not res.present.values[1].any()
    assert np.isnan(res.a.values[1]).all() and np.isnan(res.zero_shift.values[1])
    assert bool(res.present.sel(phase="P2")[0]) and bool(res.present.sel(phase="P2")[2])


def test_foreign_peak_reported_unindexed_and_progress(by_label, library):
    y = pattern([by_label["P2"]], [[2.87, 11.2]], TT, wavelength_A=WL, fwhm=0.08)
    y = y + 0.5 * np.exp(-4 * np.log(2) * ((TT - 27.5) / 0.08) ** 2)
    sub = simulate_stack([y, y], TT, wavelength_A=WL, seed=21)
    calls = []
    res = analyse_phases(sub, library=library, progress=lambda i, n: calls.append((i, n)),
                         detect_kalpha2=False)
    assert calls[-1] == (1, 2)
    assert np.nanmin(np.abs(res.unindexed_peaks.values[0] - 27.5)) < 0.03
    assert res.n_unindexed.values[0] >= 1


def test_fit_accounting(result, stack):
    """Per-scan R_wp/GoF against calc = model + background; a status per (scan, phase);
    only converged fits carry cells (CONTRACT: rwp, gof, fit_status in results.nc)."""
    assert result["rwp"].dims == ("scan",) and result["gof"].dims == ("scan",)
    assert result["fit_status"].dims == ("scan", "phase")
    obs = stack["intensity"].values
    calc = result["calc"].values
    for s in range(obs.shape[0]):
        assert np.median(calc[s]) == pytest.approx(np.median(obs[s]), rel=0.03)
        w = 1.0 / stack["intensity_sigma"].values[s] ** 2
        rwp = 100 * np.sqrt(np.sum(w * (obs[s] - calc[s]) ** 2) / np.sum(w * obs[s] ** 2))
        assert result["rwp"].values[s] == pytest.approx(rwp, rel=1e-6)
    assert np.all(result["gof"].values < 1.5)
    status = result["fit_status"].values
    present = result["present"].values
    assert np.all((status >= 0) == present)
    bad = present & (status != 0)
    assert np.all(np.isnan(result["a"].values[bad]))
    table = lattice_table(result)
    assert set(table["fit_status"]) <= {"converged", "iteration_limit", "at_bound", "singular"}
    assert "volume_fraction" in table


def test_presence_evidence_recorded(result):
    """The major phase's presence is overwhelming evidence at α = 0.001 where it is present;
    the evidence is on (scan, phase) with the level it was judged at."""
    logp = result["presence_log10_p"]
    assert logp.dims == ("scan", "phase") and logp.attrs["alpha"] == 1e-3
    assert (logp.sel(phase="P2").values[:5] < -10).all()
    assert (logp.sel(phase="O2").values[4:] < -10).all()
