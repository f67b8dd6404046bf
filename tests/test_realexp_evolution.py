"""Phase evolution table and figure from a hand-built results Dataset (known windows)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import xarray as xr

from phasetrace.transitions.evolution import evolution_table, phase_evolution


def _results():
    temps = 300.0 + 50.0 * np.arange(8)
    present = np.zeros((8, 4), bool)
    present[0:3, 0] = True          # precursor: gone after 400 K
    present[2:8, 1] = True          # product: forms between 350 and 400 K
    present[:, 2] = True            # Al window (cell part): never in the table
    frac = np.where(present, 0.5, np.nan)
    frac[:, 2] = np.nan
    frac[5, 1] = 0.9
    return xr.Dataset({"present": (("scan", "phase"), present), "fraction": (("scan", "phase"), frac)},
                      coords={"scan": np.arange(8), "phase": ["A", "B", "Al", "never"],
                              "is_cell_component": ("phase", [False, False, True, False]),
                              "temperature_K": ("scan", temps)})


def test_onsets_ends_and_brackets():
    evo = {e.phase: e for e in phase_evolution(_results())}
    assert list(evo) == ["A", "B"]
    a, b = evo["A"], evo["B"]
    assert (a.first_scan, a.last_scan, a.present_at_start, a.present_at_end) == (0, 2, True, False)
    assert math.isnan(a.onset_after_K) and a.end_K == 400.0 and a.end_before_K == 450.0
    assert (b.first_scan, b.onset_after_K, b.onset_K, b.present_at_end) == (2, 350.0, 400.0, True)
    assert b.max_fraction == 0.9 and b.scan_of_max == 5 and b.temperature_of_max_K == 550.0
    assert b.to_dict()["end_before_K"] is None


def test_table_columns_in_kelvin():
    table = evolution_table(phase_evolution(_results()))
    assert list(table.columns) == ["phase", "first scan", "last scan", "onset after (K)", "onset (K)",
                                   "end (K)", "gone by (K)", "max fraction", "at (K)"]
    assert table["onset (K)"].tolist() == [300.0, 400.0]


def test_figure_draws_one_bar_per_phase():
    from phasetrace.plot.evolution import evolution

    res = _results()
    res.attrs["sequence_json"] = json.dumps(
        {"phase_evolution": [e.to_dict() for e in phase_evolution(res)]})
    fig = evolution(res)
    bars, curves = fig.axes
    assert len(bars.lines) == 2 and curves.get_xlabel() == "Temperature (K)"
    assert bars.lines[1].get_xdata().tolist() == [400.0, 650.0]


def test_figure_without_sample_phases():
    from phasetrace.plot.evolution import evolution

    res = _results()
    res.attrs["sequence_json"] = json.dumps({"phase_evolution": []})
    with pytest.raises(ValueError, match="no phase evolution in these results"):
        evolution(res)
