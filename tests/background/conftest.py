"""Synthetic patterns with a known smooth background."""

import numpy as np
import pytest

from phasetrace.schema import make_stack


@pytest.fixture(scope="module")
def known_background():
    """Stack of 5 scans: smooth curved background (known) + sharp peaks, Poisson noise."""
    rng = np.random.default_rng(7)
    x = np.linspace(10.0, 70.0, 3001)
    bg = 300.0 - 2.0 * (x - 10.0) + 80.0 * np.exp(-((x - 30.0) / 8.0) ** 2)
    peaks = sum(a * np.exp(-4 * np.log(2) * ((x - c) / 0.1) ** 2)
                for c, a in ((18.0, 2000.0), (32.0, 800.0), (44.5, 1200.0), (61.0, 500.0)))
    scale = np.linspace(0.8, 1.2, 5)[:, None]
    y = rng.poisson(scale * bg + peaks).astype(float)
    return make_stack(x, y, wavelength_A=1.5406), scale * bg
