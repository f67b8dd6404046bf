"""Report and tables of a temperature series: temperature wording, the transition temperature."""

from __future__ import annotations

import json

import numpy as np
import pytest

from phasetrace.report import write_html
from phasetrace.report.tables import sequence_table, transitions_table
from phasetrace.schema import make_stack
from phasetrace.simulate import phases_from_states


def _sequence(temps):
    """sequence.json of a distortion found between scans 5 and 6 (111.4 → 122.7 K, Tc 122.7 K)."""
    stage = {"phases": ["CuCr2O4"], "first_scan": 0, "last_scan": 16, "voltage_start": None,
             "voltage_end": None, "temperature_start": float(temps[0]),
             "temperature_end": float(temps[-1]), "direction": "heating",
             "fractions": {"CuCr2O4": 0.98}}
    tr = {"from": ["CuCr2O4"], "to": ["CuCr2O4"], "first_scan": 5, "last_scan": 6,
          "kind": "distortion", "mechanism": "continuous", "voltage_start": None, "voltage_end": None,
          "temperature_start": 111.43, "temperature_end": 122.73, "direction": "heating",
          "x_critical": 122.73}
    return {"sequence": "CuCr2O4", "stages": [stage], "transitions": [tr], "x": "temperature_K",
            "cell_components": [], "ranges": {"temperature_K": [float(temps[0]), float(temps[-1])]}}


@pytest.fixture(scope="module")
def results():
    temps = np.array([6.8, 16.7, 47.0, 75.4, 98.9, 111.4, 122.7, 134.0, 145.5, 156.9, 168.4,
                      185.7, 203.0, 220.3, 243.4, 266.9, 288.7])
    states = [{"CuCr2O4": {"fraction": 0.98, "a": 7.712 + 2e-4 * t, "b": 8.536, "c": 8.543,
                           "alpha": 90, "beta": 90, "gamma": 90, "volume_per_fu": 70.3 + 1e-3 * t},
               "O3": {"fraction": 0.0}} for t in temps]
    phases = phases_from_states(states, temperature_K=temps)
    k = list(phases.phase.values).index("O3")  # a library phase that was not found anywhere
    phases["present"][:, k] = False
    phases["fraction"][:, k] = np.nan
    tt = np.linspace(5, 25, 201)
    stack = make_stack(tt, np.full((temps.size, tt.size), 100.0), wavelength_A=0.413263,
                       coords={"temperature_K": temps})
    out = stack.merge(phases.drop_vars("temperature_K"), compat="override")
    out.attrs.update(stack.attrs)
    out.attrs["sequence_json"] = json.dumps(_sequence(temps))
    out["calc"] = (("scan", "two_theta"), np.full((temps.size, tt.size), 90.0))
    out["rwp"] = ("scan", np.full(temps.size, 12.5), {"units": "%"})
    out["gof"] = ("scan", np.full(temps.size, 1.31))
    return out


@pytest.fixture(scope="module")
def text(results, tmp_path_factory):
    return write_html(results, tmp_path_factory.mktemp("rep"), dpi=40).read_text(encoding="utf-8")


def test_tables_say_temperature_and_give_tc(results):
    row = sequence_table(results).iloc[0]
    assert row["temperature window"] == "6.8–288.7 K" and "voltage window" not in row.index
    tr = transitions_table(results).iloc[0]
    assert tr["transition temperature (K)"] == pytest.approx(122.7)
    assert tr["temperature start (K)"] == pytest.approx(111.4)
    assert "voltage start (V)" not in tr.index


def test_report_reads_as_a_temperature_series(text):
    assert "voltage (V)" not in text and "voltage curve" not in text
    stages = text.split("<h3>Stages</h3>")[1].split("</table>")[0]
    assert "<th>temperature (K)</th>" in stages and "6.8 → 288.7" in stages and "heating" in stages
    trans = text.split("<h3>Transitions</h3>")[1].split("</table>")[0]
    assert "<th>transition temperature (K)</th>" in trans and ">122.7<" in trans
    assert "T = 122.7 K, between 111.4 and 122.7 K" in text
    assert "open markers: cooling" in text and "against temperature" in text


def test_lattice_section_lists_only_phases_present(text):
    section = text.split("<h2>Lattice and strain</h2>")[1].split("<h2>")[0]
    assert "CuCr2O4" in section and "O3" not in section and "-1–-1" not in section
    assert "at (K)" in section


def test_layout_uses_the_page_width(text):
    assert "max-width:1000px" not in text and "grid-template-columns" in text


def test_stored_rwp_and_gof_are_quoted(results):
    from phasetrace.plot import fit

    title = fit(results, scan=3).axes[0].get_title(loc="left")
    assert "R$_{wp}$ = 12.5 %" in title and "GoF = 1.31" in title
