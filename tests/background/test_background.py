"""Background estimation against a known background; invariants of the API."""

import copy

import numpy as np
import pytest
import xarray as xr

from phasetrace.background import METHODS, background_array, estimate_background
from phasetrace.errors import ConfigError, SchemaError


@pytest.mark.parametrize("method", ["snip", "arpls"])
def test_recovers_known_background(known_background, method):
    ds, truth = known_background
    out = estimate_background(ds, method=method)
    bg = out["background"].values
    noise = np.sqrt(truth)
    # away from the edges the estimate is within ~2 σ of the counting noise
    inner = slice(100, -100)
    resid = (bg - truth)[:, inner] / noise[:, inner]
    assert np.median(np.abs(resid)) < 2.0
    assert np.max(np.abs(np.median(resid, axis=1))) < 2.0
    # and it does not follow the peaks: at the peak tops it stays near the truth
    top = np.searchsorted(ds["two_theta"].values, 18.0)
    assert np.all(np.abs(bg[:, top] - truth[:, top]) < 5 * noise[:, top])


def test_consistent_across_stack(known_background):
    ds, truth = known_background
    bg = estimate_background(ds)["background"].values
    ratio = np.median(bg / truth, axis=1)
    # the five scans share one shape scaled by 0.8..1.2: relative error similar for all
    assert np.ptp(ratio) < 0.02


def test_input_unchanged_and_dataset_equals_array(known_background):
    ds, _ = known_background
    before = copy.deepcopy(ds)
    out = estimate_background(ds, max_half_window=40)
    xr.testing.assert_identical(ds, before)
    arr = background_array(ds["two_theta"].values, ds["intensity"].values, max_half_window=40)
    np.testing.assert_array_equal(out["background"].values, arr)
    assert "background" not in ds


def test_nan_points_and_all_nan_scan(known_background):
    ds, truth = known_background
    y = ds["intensity"].values.copy()
    y[1, 500:520] = np.nan
    y[3] = np.nan
    bg = background_array(ds["two_theta"].values, y)
    assert np.all(np.isnan(bg[3]))
    assert np.all(np.isfinite(bg[[0, 1, 2, 4]]))
    assert np.all(np.abs(bg[1, 500:520] - truth[1, 500:520]) < 5 * np.sqrt(truth[1, 500:520]))


def test_list_input_and_single_scan():
    x = list(np.linspace(10, 60, 501))
    y = list(100 + np.asarray(x) + 500 * np.exp(-((np.asarray(x) - 30) / 0.1) ** 2))
    bg = background_array(x, y)
    assert bg.shape == (501,)
    assert bg[200] == pytest.approx(130.0, abs=5.0)


def test_errors():
    x = np.linspace(10, 60, 501)
    with pytest.raises(ConfigError, match="unknown background method 'spline'"):
        background_array(x, np.ones(501), method="spline")
    with pytest.raises(SchemaError, match="expected \\(n_scans, 501\\)"):
        background_array(x, np.ones(400))
    with pytest.raises(ConfigError, match="rejected options"):
        background_array(x, np.ones(501), method="snip", not_an_option=3)
    assert "snip" in METHODS


def test_decimation_matches_full_resolution(known_background):
    ds, truth = known_background
    x, y = ds["two_theta"].values, ds["intensity"].values[:2]
    full = background_array(x, y, decimate=1)
    fast = background_array(x, y, decimate=3)
    inner = slice(100, -100)
    # both estimate the same smooth background: they differ by well under the noise
    assert np.median(np.abs(fast - full)[:, inner] / np.sqrt(truth[:2, inner])) < 0.7
    with pytest.raises(ConfigError, match="decimate="):
        background_array(x, y, decimate=0)
