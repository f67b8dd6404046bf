"""Start positions of the stack peak fits (:func:`phasetrace.analysis._peak_positions`)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from phasetrace.analysis import _peak_positions
from phasetrace.schema import make_stack

TT = np.arange(25.0, 45.0, 0.01)
FWHM = 0.08


def _line(centre, height):
    sig = FWHM / (2 * np.sqrt(2 * np.log(2)))
    return height * np.exp(-0.5 * ((TT - centre) / sig) ** 2)


def test_line_that_leaves_and_returns_gives_one_start():
    """32 survey scans of an operando cycle: a phase whose line (30.00° on charge, 30.01° on
    discharge) vanishes for the 12 scans at the top of charge and comes back, a line present
    throughout (35°) and one of a phase that exists only at the top of charge (40°).  Three
    lines: three starts, not the returning line twice."""
    rng = np.random.default_rng(5)
    ys = []
    for s in range(32):
        y = 50.0 + _line(35.0, 800.0)
        if s < 10 or s >= 22:
            y = y + _line(30.0 if s < 10 else 30.01, 600.0)
        else:
            y = y + _line(40.0, 500.0)
        ys.append(rng.poisson(y).astype(float))
    ys = np.array(ys)
    survey = make_stack(TT, ys, np.sqrt(np.maximum(ys, 1.0)), wavelength_A=1.5406)
    background = xr.DataArray(np.full(ys.shape, 50.0), dims=("scan", "two_theta"))
    starts = np.array(_peak_positions(survey, background))
    assert starts.size == 3, starts
    np.testing.assert_allclose(starts, [30.005, 35.0, 40.0], atol=0.01)
