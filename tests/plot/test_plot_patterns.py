"""Waterfall and fit view."""

import numpy as np
import pytest
from results_builder import pixels

from phasetrace.errors import ConfigError
from phasetrace.plot import fit, waterfall


def test_waterfall_traces_and_ticks(p2o2_results):
    fig = waterfall(p2o2_results, max_traces=10)
    main, ticks = fig.axes
    traces = [ln for ln in main.lines if ln.get_color() == "black"]
    assert len(traces) == 10
    offsets = [np.nanmin(ln.get_ydata()) for ln in traces]
    assert np.all(np.diff(offsets) > 0)  # stacked upwards in scan order
    labels = [t.get_text() for t in ticks.texts]
    assert labels[0].startswith("O2") and any(t.startswith("P2") for t in labels)
    assert labels[-1].startswith("Al")  # cell components last
    assert pixels(fig).std() > 10


def test_waterfall_ticks_at_p2_002(p2o2_results):
    """The first P2 tick is (002) at d = c/2 of the first drawn scan."""
    fig = waterfall(p2o2_results, max_traces=5)
    ticks = fig.axes[1]
    wl = p2o2_results.attrs["wavelength_A"]
    c = p2o2_results["c"].sel(phase="P2").values[0]
    expect = np.degrees(2 * np.arcsin(wl / c))
    positions = np.concatenate([seg[:, 0, 0] for coll in ticks.collections
                                for seg in [np.asarray(coll.get_segments())]])
    assert np.min(np.abs(positions - expect)) < 1e-3


def test_fit_view_shows_rwp_and_difference(distort_results):
    fig = fit(distort_results, scan=60)
    ax = fig.axes[0]
    title = ax.get_title(loc="left")
    assert "Scan 60" in title and "R$_{wp}$" in title
    labels = [ln.get_label() for ln in ax.lines]
    assert {"observed", "calculated", "background", "obs − calc"} <= set(labels)
    tick_labels = {t.get_text() for t in fig.axes[1].texts}
    assert tick_labels == {"P'2", "S", "Al"}  # the phases present at scan 60


def test_fit_without_calc(bare_results):
    fig = fit(bare_results, scan=3, window=(14.0, 21.0))
    assert "no calculated pattern" in fig.axes[0].get_title(loc="left")
    assert fig.axes[0].get_xlim() == pytest.approx((14.0, 21.0), abs=0.03)


def test_fit_unknown_scan(p2o2_results):
    with pytest.raises(ConfigError, match="scan 500 is not in the results"):
        fit(p2o2_results, scan=500)
