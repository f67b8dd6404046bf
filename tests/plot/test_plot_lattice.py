"""Lattice and fraction figures: panels by physics, values from the data, graceful without phases."""

import numpy as np
import pytest
from results_builder import pixels

from phasetrace.errors import ConfigError
from phasetrace.plot import fractions, lattice, phase_color
from phasetrace.plot.lattice import lattice_panels


def _series(ax, color):
    """Marker lines of one colour: (x, y) concatenated."""
    xs, ys = [], []
    for line in ax.lines:
        if line.get_linestyle() == "None" and line.get_markeredgecolor() == color:
            xs.append(np.asarray(line.get_xdata(), float))
            ys.append(np.asarray(line.get_ydata(), float))
    return (np.concatenate(xs), np.concatenate(ys)) if xs else (np.array([]), np.array([]))


def test_panels_split_spinel_and_skip_redundant(distort_results):
    panels = lattice_panels(distort_results)
    a_panels = [ps for q, ps in panels if q == "a"]
    assert sorted(map(sorted, a_panels)) == [["P'2", "P2"], ["S"]]  # 8.2 Å spinel apart
    assert [ps for q, ps in panels if q == "b"] == [["P'2"]]  # orthorhombic only
    assert not [ps for q, ps in panels if q == "c"]  # c is n × interlayer d
    assert "Al" not in {p for _, ps in panels for p in ps}  # cell component left out


def test_lattice_points_are_the_refined_values(p2o2_results):
    fig = lattice(p2o2_results, x="voltage")
    ax_a = next(ax for ax in fig.axes if ax.get_ylabel() == "a (Å)")
    x, y = _series(ax_a, phase_color("P2"))
    a = p2o2_results["a"].sel(phase="P2").values
    v = p2o2_results["voltage_V"].values
    ok = np.isfinite(a)
    np.testing.assert_allclose(np.array(sorted(zip(x, y))), np.array(sorted(zip(v[ok], a[ok]))))
    assert ax_a.collections  # esd bars


def test_strain_panel_in_percent(p2o2_results):
    fig = lattice(p2o2_results, x="scan")
    ax = next(ax for ax in fig.axes if ax.get_ylabel().startswith("ΔV"))
    _, y = _series(ax, phase_color("P2"))
    expect = 100 * p2o2_results["volume_strain"].sel(phase="P2").values
    assert np.nanmin(y) == pytest.approx(np.nanmin(expect))
    assert np.nanmin(y) < -1.0  # P2 shrinks by > 1 % on charge


def test_every_case_draws(case_results):
    for fig in (lattice(case_results), fractions(case_results)):
        assert pixels(fig).std() > 10.0
        assert fig.legends


def test_fractions_between_zero_and_one(distort_results):
    fig = fractions(distort_results, x="time")
    ax = fig.axes[0]
    _, y = _series(ax, phase_color("S"))
    assert y.size == distort_results.sizes["scan"]
    assert y == pytest.approx(distort_results["fraction"].sel(phase="S").values)
    assert ax.get_ylabel() == "Phase fraction" and ax.get_xlabel() == "Time (h)"


def test_no_phases_gives_message_figure(bare_results):
    for fig in (lattice(bare_results), fractions(bare_results)):
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        assert any("No" in t for t in texts)


def test_same_colour_for_a_phase_everywhere(distort_results):
    from phasetrace.plot import waterfall

    col = phase_color("P'2")
    assert _series(lattice(distort_results).axes[0], col)[0].size
    assert _series(fractions(distort_results).axes[0], col)[0].size
    wf = waterfall(distort_results)
    from matplotlib.collections import LineCollection

    tick_colors = {tuple(np.round(c, 3)) for ax in wf.axes for coll in ax.collections
                   if isinstance(coll, LineCollection) for c in coll.get_colors()}
    from matplotlib.colors import to_rgba
    assert tuple(np.round(to_rgba(col), 3)) in tick_colors


def test_bad_x_raises(p2o2_results):
    with pytest.raises(ConfigError, match="expected one of"):
        lattice(p2o2_results, x="pressure")
