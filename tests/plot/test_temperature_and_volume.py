"""Temperature series as a first-class axis, b/c in one panel, the volume jump across a transition."""

from __future__ import annotations

import json

import numpy as np
import pytest

from phasetrace.cli.main import main
from phasetrace.plot import fit, lattice, waterfall
from phasetrace.plot._data import default_x, scan_x, sodium_content, voltage_label
from phasetrace.plot.lattice import lattice_panels
from phasetrace.plot.volume import volume_jumps
from phasetrace.schema import make_stack
from phasetrace.simulate import phases_from_states
from phasetrace.transitions import detect_transitions


def _with_patterns(phases, **coords):
    """Attach a flat pattern per scan so that pattern figures can be drawn too."""
    n = phases.sizes["scan"]
    tt = np.linspace(10, 40, 301)
    stack = make_stack(tt, 100 + np.zeros((n, tt.size)), wavelength_A=0.413263, coords=coords)
    out = stack.merge(phases.drop_vars([c for c in phases.coords if c in coords]), compat="override")
    out.attrs.update(stack.attrs)
    out.attrs["sequence_json"] = json.dumps(detect_transitions(phases).to_dict(), default=float)
    return out


@pytest.fixture(scope="module")
def heating():
    """Orthorhombic (Fddd-like) spinel whose b and c converge on warming, 7 → 289 K, beside CuO."""
    temps = np.linspace(7.0, 289.0, 17)
    split = np.clip((123.0 - temps) / 116.0, 0, None) * 0.008
    states = [{"CuCr2O4": {"fraction": 0.98, "a": 7.712 + 5e-5 * t, "b": 8.535 + s, "c": 8.535 - s,
                           "alpha": 90, "beta": 90, "gamma": 90, "volume_per_fu": 70.3 + 1e-3 * t},
               "CuO": {"fraction": 0.02, "a": 4.68, "b": 3.42, "c": 5.13, "alpha": 90, "beta": 99.6,
                       "gamma": 90, "volume_per_fu": 20.3}}
              for t, s in zip(temps, split)]
    phases = phases_from_states(states, temperature_K=temps)
    return _with_patterns(phases, temperature_K=temps)


@pytest.fixture(scope="module")
def p2_o2():
    """P2 → O2 on charge: volume per f.u. 40.0 → 30.8 Å³, the −23 % jump."""
    states = ([{"P2": {"fraction": 1.0, "a": 2.88, "b": 2.88, "c": 11.2, "alpha": 90, "beta": 90,
                       "gamma": 120, "volume_per_fu": 40.0}}] * 8
              + [{"O2": {"fraction": 1.0, "a": 2.84, "b": 2.84, "c": 8.8, "alpha": 90, "beta": 90,
                         "gamma": 120, "volume_per_fu": 30.8}}] * 8)
    volts = np.linspace(3.5, 4.5, 16)
    return _with_patterns(phases_from_states(states, voltage_V=volts), voltage_V=volts)


def test_temperature_series_is_drawn_against_temperature(heating):
    assert default_x(heating) == "temperature"
    fig = lattice(heating)
    labels = {ax.get_xlabel() for ax in fig.axes if ax.get_visible()}
    assert labels == {"Temperature (K)", ""}
    values, label, used = scan_x(heating, "temperature")
    assert used == "temperature" and values[0] == pytest.approx(7.0)


def test_b_and_c_of_the_orthorhombic_cell_share_one_panel(heating):
    panels = lattice_panels(heating)
    assert ("b,c", ["CuCr2O4"]) in panels
    assert not [ps for q, ps in panels if q in ("b", "c") and "CuCr2O4" in ps]
    assert [ps for q, ps in panels if q == "b"] == [["CuO"]]  # monoclinic b ≠ c: apart
    fig = lattice(heating)
    ax = next(a for a in fig.axes if a.get_ylabel() == "b, c (Å)")
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["b (CuCr2O4)", "c (CuCr2O4)"]


def test_waterfall_and_fit_say_temperature(heating):
    wf = waterfall(heating, max_traces=5)
    labels = [t.get_text() for t in wf.axes[0].texts]
    assert labels[0] == "7 K" and labels[-1] == "289 K"
    assert fit(heating, scan=0).axes[0].get_title(loc="left").startswith("Scan 0 (7 K)")


def test_plot_cli_accepts_x_temperature(heating, tmp_path):
    path = tmp_path / "results.nc"
    heating.to_netcdf(path, engine="h5netcdf")
    assert main(["plot", str(path), "--x", "temperature", "--figure", "lattice",
                 "--format", "png", "--dpi", "40"]) == 0
    assert (tmp_path / "figures" / "lattice.png").is_file()


def test_volume_jump_across_p2_o2(p2_o2):
    (jump,) = volume_jumps(p2_o2)
    assert jump.relative_change == pytest.approx(30.8 / 40.0 - 1)
    assert jump.label() == "−23 % P2 → O2"
    fig = lattice(p2_o2, x="voltage")
    ax = next(a for a in fig.axes if a.get_ylabel().startswith("V per f.u."))
    assert "−23 % P2 → O2" in [t.get_text() for t in ax.texts]
    assert {line.get_markeredgecolor() for line in ax.lines if line.get_linestyle() == "None"} \
        >= {"#0072B2", "#D55E00"}  # P2 and O2 on the same axis


def test_voltage_label_names_a_reference_only_when_recorded(p2_o2):
    assert voltage_label(p2_o2) == "Voltage (V)"
    tagged = p2_o2.copy()
    tagged["voltage_V"].attrs["reference"] = "Na+/Na"
    assert voltage_label(tagged) == "Voltage (V vs Na$^+$/Na)"


def test_sodium_content_from_capacity():
    # NaMnO2-type: one Na per formula unit is 243 mAh/g; 121.5 mAh/g removes half of it
    assert sodium_content(np.array([0.0, 121.5]), 1.0, 243.0).tolist() == [1.0, 0.5]
