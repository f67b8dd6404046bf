"""fit_stack / fit_stack_array on synthetic stacks with known truth."""

import copy

import numpy as np
import pytest
import xarray as xr

from phasetrace.errors import ConfigError, FitError, FitWarning
from phasetrace.peaks import fit_arrays, fit_stack, fit_stack_array
from phasetrace.schema import FitStatus, make_stack


def test_centres_unbiased_and_esd_honest(repeated_stack):
    ds, truth = repeated_stack
    res = fit_stack(ds, peaks=[25.02, 32.97], background=None)
    assert np.all(res["status"].values == FitStatus.CONVERGED)
    for k, (c, w, eta, a) in enumerate(truth):
        for name, value in (("center", c), ("fwhm", w), ("area", a)):
            est = res[name].values[:, k]
            esd = res[name + "_esd"].values[:, k]
            err = est - value
            n = err.size
            # unbiased: mean error within 4 standard errors (area/fwhm: allow 1 % model bias)
            tol = 4 * err.std() / np.sqrt(n) + (0.0 if name == "center" else 0.01 * value)
            assert abs(err.mean()) < tol, (name, k, err.mean())
            # honest: scatter matches the reported esd within ±30 %
            assert 0.7 < err.std() / np.median(esd) < 1.3, (name, k, err.std(), np.median(esd))


def test_operando_peaks_found_and_followed(operando_stack):
    ds, centers, areas = operando_stack
    res = fit_stack(ds)
    assert res.attrs["doublet"] == 1
    pos = res["position"].values
    # the drifting peak is ONE peak followed from 30.0° to 29.2° and back
    k = int(np.argmin(np.abs(pos - 29.5)))
    good = res["status"].values[:, k] == FitStatus.CONVERGED
    assert good.mean() > 0.9
    err = res["center"].values[good, k] - centers[good, 1]
    assert np.max(np.abs(err)) < 0.01
    # the vanishing and appearing peaks are separate tracks with the right spans
    kv = int(np.argmin(np.abs(pos - 36.0)))
    ka = int(np.argmin(np.abs(pos - 36.6)))
    assert kv != ka
    assert 27 <= res["last_scan"].values[kv] <= 33
    assert 27 <= res["first_scan"].values[ka] <= 33
    st = res["status"].values
    assert np.all(st[:25, kv] == FitStatus.CONVERGED) and np.all(st[35:, ka] == FitStatus.CONVERGED)
    assert np.all(np.isnan(res["center"].values[40:, kv]))
    # Kα1 areas recovered (doublet fitted with the fixed ratio)
    np.testing.assert_allclose(np.nanmedian(res["area"].values[:25, kv]), 35.0, rtol=0.05)
    # no spurious peaks: each true peak gives one track, no Kα2 satellites
    assert res.sizes["peak"] == 4, pos
    # scan coordinates carried over, background present
    np.testing.assert_array_equal(res["voltage_V"].values, ds["voltage_V"].values)
    assert res["background"].dims == ("scan", "two_theta")


def test_input_unchanged(operando_stack):
    ds = operando_stack[0].isel(scan=slice(0, 8))
    before = copy.deepcopy(ds)
    fit_stack(ds)
    xr.testing.assert_identical(ds, before)


def test_all_nan_scan_and_failure_statuses(repeated_stack):
    ds = repeated_stack[0].isel(scan=slice(0, 6)).copy(deep=True)
    ds["intensity"][2] = np.nan
    with pytest.warns(FitWarning, match="did not converge or had no data"):
        res = fit_stack(ds, peaks=[25.0, 33.0], background=None)
    assert np.all(res["status"].values[2] == FitStatus.NO_DATA)
    assert np.all(np.isnan(res["center"].values[2]))
    assert np.all(res["status"].values[[0, 1, 3]] == FitStatus.CONVERGED)
    with pytest.raises(FitError, match="did not converge"):
        fit_stack(ds, peaks=[25.0, 33.0], background=None, errors="raise")
    with pytest.warns(FitWarning):
        bad = fit_stack(ds.isel(scan=[0]), peaks=[25.06, 33.06], background=None, maxiter=1)
    assert np.all(bad["status"].values == FitStatus.NOT_CONVERGED)
    assert np.all(np.isnan(bad["center"].values))


def test_absent_peak_is_below_detection(repeated_stack):
    ds = repeated_stack[0].isel(scan=slice(0, 5))
    res = fit_stack(ds, peaks=[25.0, 28.0], background=None)
    assert np.all(res["status"].values[:, 1] == FitStatus.BELOW_DETECTION)
    assert np.all(np.isnan(res["center"].values[:, 1]))
    assert np.all(res["status"].values[:, 0] == FitStatus.CONVERGED)


def test_dataset_api_equals_array_api(repeated_stack):
    ds, _ = repeated_stack
    sub = ds.isel(scan=slice(0, 10))
    res = fit_stack(sub, peaks=[25.0], background=None, fwhm=0.1, center_range=0.1)
    p0 = np.array([[25.0, 0.1, 0.5, np.nan, 0.0]])
    lo = np.array([[0, 0.025, 0.0, 0.0, 0.0]])
    hi = np.array([[0, 0.6, 1.0, np.inf, 0.0]])
    arr = fit_stack_array(sub["two_theta"].values, sub["intensity"].values,
                          sub["intensity_sigma"].values, p0, lo, hi, center_range=0.1, follow=True)
    np.testing.assert_allclose(res["center"].values[:, 0], arr.params[:, 0, 0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(res["area_esd"].values[:, 0], arr.esd[:, 0, 3], rtol=1e-9)


def test_plain_arrays_path():
    from phasetrace.peaks.profiles import pseudo_voigt
    x = np.linspace(20, 40, 2001)
    y = 100 + pseudo_voigt(x, center=31.0, fwhm=0.1, eta=0.3, area=40.0)
    res = fit_arrays(x, y, peaks=[31.03], background=None)
    assert res["center"].values[0, 0] == pytest.approx(31.0, abs=1e-6)
    assert res["height"].values[0, 0] == pytest.approx(
        40.0 / 0.1 * (0.3 * 2 / np.pi + 0.7 * np.sqrt(4 * np.log(2) / np.pi)), rel=1e-5)


@pytest.mark.parametrize("profile, extra, value", [("split_pseudo_voigt", "asym", 0.25),
                                                   ("pearson7", "m", 2.0)])
def test_other_profiles_recover_shape(profile, extra, value):
    from phasetrace.peaks.profiles import pearson7, split_pseudo_voigt
    x = np.linspace(20, 40, 4001)
    if profile == "pearson7":
        y = 50 + pearson7(x, center=30.0, fwhm=0.1, m=value, area=80.0)
    else:
        y = 50 + split_pseudo_voigt(x, center=30.0, fwhm=0.1, eta=0.4, asym=value, area=80.0)
    res = fit_arrays(x, y, peaks=[30.01], background=None, profile=profile)
    assert res[extra].values[0, 0] == pytest.approx(value, rel=1e-4)
    assert res["area"].values[0, 0] == pytest.approx(80.0, rel=1e-5)


def test_tch_profile():
    from phasetrace.peaks.profiles import tch_pseudo_voigt
    x = np.linspace(20, 40, 4001)
    y = 50 + tch_pseudo_voigt(x, center=30.0, fwhm_g=0.08, fwhm_l=0.05, area=80.0)
    res = fit_arrays(x, y, peaks=[30.01], background=None, profile="tch_pseudo_voigt")
    assert res["fwhm_g"].values[0, 0] == pytest.approx(0.08, rel=1e-4)
    assert res["fwhm_l"].values[0, 0] == pytest.approx(0.05, rel=1e-4)


def test_bad_options():
    ds = make_stack(np.linspace(10, 20, 101), np.ones(101))
    with pytest.raises(ConfigError, match="unknown profile"):
        fit_stack(ds, peaks=[15.0], profile="voigt", background=None)
    with pytest.raises(ConfigError, match="doublet=True needs"):
        fit_stack(ds, peaks=[15.0], doublet=True, background=None)
    with pytest.raises(ConfigError, match="errors="):
        fit_stack(ds, peaks=[15.0], errors="warn")


def test_caglioti_linked_widths():
    from phasetrace.peaks.profiles import caglioti_fwhm, pseudo_voigt
    rng = np.random.default_rng(5)
    x = np.linspace(15, 75, 6001)
    pos = np.array([20.0, 30.0, 42.0, 55.0, 68.0])
    u, v, w = 0.006, -0.002, 0.004
    fw = caglioti_fwhm(pos, u=u, v=v, w=w)
    model = 100 + sum(pseudo_voigt(x, center=c, fwhm=f, eta=0.5, area=60.0) for c, f in zip(pos, fw))
    ds = make_stack(x, rng.poisson(np.tile(model, (6, 1))).astype(float))
    res = fit_stack(ds, peaks=pos + 0.01, background=None, widths="caglioti")
    np.testing.assert_allclose(res["fwhm"].values[0], fw, rtol=0.05)
    assert np.all(res["fwhm_esd"].values[res["status"].values == 0] == 0)   # held, not fitted
    np.testing.assert_allclose(caglioti_fwhm(pos, **dict(zip("uvw", res.attrs["caglioti_uvw"]))),
                               fw, rtol=0.05)
