"""Property-based tests (hypothesis) of fit_stack inputs: only documented outcomes.

Whatever arrays a user passes, ``fit_arrays``/``fit_stack`` either return a
(scan, peak) Dataset whose failed fits are NaN with a non-zero status, or raise a
:class:`~phasetrace.errors.PhasetraceError`; never another exception and never a
finite value with a failure status.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from phasetrace.errors import PhasetraceError
from phasetrace.peaks import fit_arrays
from phasetrace.schema import FitStatus

pytestmark = pytest.mark.filterwarnings("ignore::phasetrace.errors.FitWarning")

values = st.one_of(st.floats(-1e6, 1e7, allow_nan=False, width=64),
                   st.sampled_from([np.nan, np.inf, -np.inf, 0.0]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(intensity=hnp.arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(5, 80)),
                            elements=values),
       start=st.floats(2.0, 100.0), step=st.floats(0.001, 0.5),
       peaks=st.lists(st.floats(-10.0, 200.0, allow_nan=False), min_size=0, max_size=4))
def test_only_documented_outcomes(intensity, start, step, peaks):
    x = start + step * np.arange(intensity.shape[1])
    try:
        out = fit_arrays(x, intensity, peaks=peaks if peaks else "auto", background=None)
    except PhasetraceError:
        return
    assert set(out["center"].dims) == {"scan", "peak"}
    status = out["status"].values
    failed = (status != FitStatus.CONVERGED) & (status != FitStatus.HIT_BOUND)
    assert np.all(np.isnan(out["center"].values[failed]))


@settings(max_examples=25, deadline=None)
@given(center=st.floats(25.0, 35.0), fwhm=st.floats(0.05, 0.4), area=st.floats(20.0, 400.0),
       seed=st.integers(0, 2**16))
def test_single_peak_found_within_esd(center, fwhm, area, seed):
    from phasetrace.peaks.profiles import pseudo_voigt

    rng = np.random.default_rng(seed)
    x = np.arange(20.0, 40.0, 0.01)
    expected = 200.0 + pseudo_voigt(x, center=center, fwhm=fwhm, eta=0.4, area=area)
    y = rng.poisson(expected).astype(float)
    out = fit_arrays(x, y, peaks=[center + 0.3 * fwhm], background=None)
    assert int(out["status"][0, 0]) in (FitStatus.CONVERGED, FitStatus.HIT_BOUND,
                                        FitStatus.BELOW_DETECTION)
    if int(out["status"][0, 0]) == FitStatus.CONVERGED:
        err = abs(float(out["center"][0, 0]) - center)
        assert err <= max(6 * float(out["center_esd"][0, 0]), 1e-3)
