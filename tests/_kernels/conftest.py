"""Fixtures for the kernel tests."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@pytest.fixture
def grid():
    """A 2θ grid around 30° (deg)."""
    return np.linspace(29.0, 31.0, 401)


#: one parameter set per profile, [center, fwhm, shape, area, asym].
SLOTS = {
    "pseudo_voigt": [30.02, 0.12, 0.35, 40.0, 0.0],
    "split_pseudo_voigt": [30.02, 0.12, 0.35, 40.0, 0.3],
    "pearson7": [30.02, 0.12, 1.7, 40.0, 0.0],
    "tch_pseudo_voigt": [30.02, 0.09, 0.05, 40.0, 0.0],
}


@pytest.fixture(params=sorted(SLOTS))
def profile_case(request):
    """(profile name, slots) for every profile."""
    return request.param, np.array(SLOTS[request.param], dtype=float)
