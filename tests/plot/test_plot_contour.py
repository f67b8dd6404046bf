"""Contour map: extent equals the data, auto window on the (00l) line, labels, options."""

import json
import math

import numpy as np
import pytest
from results_builder import pixels

from phasetrace.errors import ConfigError
from phasetrace.plot import contour
from phasetrace.plot._common import auto_window
from phasetrace.schema import two_theta_to_d


def _map_axes(fig):
    return [ax for ax in fig.axes if ax.collections and ax.get_label() != "<colorbar>"
            and any(type(c).__name__ == "QuadMesh" for c in ax.collections)]


def test_extent_equals_window_and_time_range(p2o2_results):
    fig = contour(p2o2_results, windows=[(30.0, 40.0)], scale="linear")
    (ax,) = _map_axes(fig)
    tt = p2o2_results["two_theta"].values
    inside = tt[(tt >= 30) & (tt <= 40)]
    assert ax.get_xlim() == pytest.approx((inside.min(), inside.max()))
    t_h = p2o2_results["time_s"].values / 3600.0
    assert ax.get_ylim() == pytest.approx((t_h.min(), t_h.max()))
    assert ax.get_ylabel() == "Time (h)"


def test_auto_window_covers_p2_and_o2_basal_lines(p2o2_results):
    """The (00l) window must hold P2 (002) (d = c/2) and O2 (002) of the charged state."""
    lo, hi = auto_window(p2o2_results)
    wl = p2o2_results.attrs["wavelength_A"]
    c = p2o2_results["c"]
    for phase in ("P2", "O2"):
        d002 = c.sel(phase=phase).values / 2
        d002 = d002[np.isfinite(d002)]
        tt = np.degrees(2 * np.arcsin(wl / (2 * d002)))
        assert lo <= tt.min() and tt.max() <= hi, phase
    d_lo, d_hi = two_theta_to_d(np.array([hi, lo]), wl)
    assert d_hi < 7.0 and d_lo > 4.0  # a basal-line window, not the whole pattern


def test_every_case_draws_non_blank_map_with_stage_labels(case_results):
    fig = contour(case_results)
    maps = _map_axes(fig)
    assert 1 <= len(maps) <= 3
    img = pixels(fig)
    assert img.std() > 20.0  # a picture, not a blank canvas
    stages = json.loads(case_results.attrs["sequence_json"])["stages"]
    boxes = [a for a in maps[0].artists if type(a).__name__ == "AnnotationBbox"]
    assert len(boxes) == len(stages)
    side = [ax for ax in fig.axes if ax.get_xlabel() == "Voltage (V)"]
    assert len(side) == 1
    line = side[0].lines[0]
    n = case_results.sizes["scan"]
    assert len(line.get_xdata()) > 3 * n  # the full cycler record, not one point per scan
    t_h = case_results["time_s"].values / 3600
    v_at_scans = np.interp(t_h, line.get_ydata(), line.get_xdata())
    assert v_at_scans == pytest.approx(case_results["voltage_V"].values, abs=0.01)


def test_side_curve_per_scan_without_record(bare_results):
    fig = contour(bare_results, windows=[(14, 21)])
    (side,) = [ax for ax in fig.axes if ax.get_xlabel() == "Voltage (V)"]
    assert side.lines[0].get_xdata() == pytest.approx(bare_results["voltage_V"].values)


def test_d_axis_window_and_direction(p2o2_results):
    fig = contour(p2o2_results, windows=[(4.0, 6.0)], axis="d", side="none", labels=False)
    (ax,) = _map_axes(fig)
    left, right = ax.get_xlim()
    assert left > right  # large d on the left, as low 2θ
    assert 5.8 < left <= 6.0 and 4.0 <= right < 4.2
    assert ax.get_xlabel() == "d (Å)"


def test_bare_results_draw_without_sequence_or_background(bare_results):
    fig = contour(bare_results, scale="log")
    assert _map_axes(fig)
    assert pixels(fig).std() > 20.0


def test_scan_subset_and_scan_axis(p2o2_results):
    fig = contour(p2o2_results, scans=(10, 30), y="scan", windows=[(14, 21)])
    (ax,) = _map_axes(fig)
    assert ax.get_ylim() == pytest.approx((10, 29))


def test_bad_options_raise_config_error(p2o2_results):
    with pytest.raises(ConfigError, match="scale"):
        contour(p2o2_results, scale="cubic")
    with pytest.raises(ConfigError, match="do not overlap"):
        contour(p2o2_results, windows=[(100.0, 120.0)])
    with pytest.raises(ConfigError, match="selects no scan"):
        contour(p2o2_results, scans=(500, 600))


def test_input_not_modified(p2o2_results):
    before = p2o2_results.copy(deep=True)
    contour(p2o2_results, windows=[(14, 21)])
    assert p2o2_results.identical(before)
    assert math.isfinite(p2o2_results.attrs["wavelength_A"])
