"""Tests of the data model and unit conversions against known values."""

import math
import pickle

import numpy as np
import pytest

from phasetrace import errors
from phasetrace.schema import (
    d_to_two_theta, make_stack, q_to_two_theta, resolve_wavelength, two_theta_to_d,
    two_theta_to_q, validate_stack,
)


def test_bragg_al_111_cu_ka1():
    # Al (111): a = 4.0495 Å -> d = a/sqrt(3) = 2.33798 Å; with Cu Kα1 2θ = 38.47°
    d = 4.0495 / math.sqrt(3)
    tt = float(d_to_two_theta(d, 1.540593))
    assert tt == pytest.approx(38.473, abs=2e-3)
    assert float(two_theta_to_d(tt, 1.540593)) == pytest.approx(d, rel=1e-12)


def test_q_round_trip_and_value():
    q = two_theta_to_q(90.0, 1.0)
    assert float(q) == pytest.approx(4 * math.pi * math.sin(math.radians(45)), rel=1e-12)
    assert float(q_to_two_theta(q, 1.0)) == pytest.approx(90.0)


def test_unreachable_d_is_nan():
    assert math.isnan(float(d_to_two_theta(0.5, 1.5406)))


@pytest.mark.parametrize("name, expected", [("CuKa", 1.540593), ("cukα1", 1.540593),
                                            ("MoKa", 0.709317), ("AgKa", 0.559422)])
def test_named_wavelengths(name, expected):
    assert resolve_wavelength(name)[0] == pytest.approx(expected)


def test_doublet_has_ratio():
    l1, l2, ratio = resolve_wavelength("CuKa")
    assert l2 > l1 and ratio == 0.5


@pytest.mark.parametrize("bad", ["154.06", "0.01", "banana", "nan"])
def test_bad_wavelength_is_clear_error(bad):
    with pytest.raises(errors.SchemaError, match="wavelength"):
        resolve_wavelength(bad)


def test_make_and_validate_stack():
    tt = np.linspace(10, 20, 11)
    ds = make_stack(tt, np.ones((3, 11)), wavelength_A=1.54, coords={"voltage_V": [3.0, 3.1, 3.2]})
    validate_stack(ds)
    assert ds.intensity.dims == ("scan", "two_theta")
    assert ds.two_theta.attrs["units"] == "deg"
    ds2 = make_stack(tt, np.ones(11))
    with pytest.raises(errors.SchemaError, match="--wavelength"):
        validate_stack(ds2)


def test_non_monotonic_two_theta_rejected():
    tt = np.array([1.0, 2, 3, 2.5, 4, 5])
    with pytest.raises(errors.SchemaError, match="strictly increasing"):
        validate_stack(make_stack(tt, np.ones(6), wavelength_A=1.0))


def test_errors_pickle_and_subclass_builtins():
    err = errors.ReaderError("scan.xy: empty file")
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == "scan.xy: empty file"
    assert isinstance(again, ValueError) and isinstance(again, errors.PhasetraceError)
    assert isinstance(errors.FitError("x"), RuntimeError)
