"""Synthetic stacks with known peaks for the peak-fitting tests."""

import math

import numpy as np
import pytest

from phasetrace.peaks.profiles import kalpha_doublet, pseudo_voigt
from phasetrace.schema import make_stack

CU = (1.540593, 1.544414, 0.5)


def synth(x, peaks, *, background, rng, doublet=None):
    """Poisson counts of ``background + Σ peaks``; ``peaks`` = [(center, fwhm, eta, area)]."""
    model = np.array(background, dtype=float, copy=True)
    for c, w, eta, a in peaks:
        if a <= 0:
            continue
        if doublet:
            model += kalpha_doublet(pseudo_voigt, x, center=c, area=a, fwhm=w, eta=eta,
                                    wavelength_A=doublet[0], wavelength2_A=doublet[1],
                                    kalpha2_ratio=doublet[2])
        else:
            model += pseudo_voigt(x, center=c, fwhm=w, eta=eta, area=a)
    return rng.poisson(model).astype(float)


@pytest.fixture(scope="session")
def repeated_stack():
    """300 noisy realisations of one pattern: two separated peaks, known truth."""
    rng = np.random.default_rng(1234)
    x = np.linspace(20.0, 40.0, 2001)
    truth = [(25.0, 0.12, 0.4, 30.0), (33.0, 0.15, 0.6, 60.0)]
    bg = 120.0 + 2.0 * (x - 30.0)
    y = np.array([synth(x, truth, background=bg, rng=rng) for _ in range(300)])
    return make_stack(x, y, wavelength_A=0.7093), truth


@pytest.fixture(scope="session")
def operando_stack():
    """A 60-scan stack: a peak drifting by ~8 FWHM, one vanishing, one appearing, Kα doublet.

    Truth arrays (scan, 4 peaks): centre (deg) and area (0 where absent).
    """
    rng = np.random.default_rng(99)
    x = np.linspace(15.0, 45.0, 3001)
    n = 60
    t = np.linspace(0.0, 1.0, n)
    centers = np.column_stack([
        np.full(n, 18.0),                       # static
        30.0 - 0.8 * np.sin(math.pi * t),       # drifts by 0.8° = 8 FWHM and back
        np.full(n, 36.0),                       # vanishes at scan 30
        np.full(n, 36.6),                       # appears at scan 30
    ])
    areas = np.column_stack([np.full(n, 40.0), np.full(n, 30.0),
                             np.where(t < 0.5, 35.0, 0.0), np.where(t >= 0.5, 35.0, 0.0)])
    bg = 200.0 - 1.5 * (x - 15.0) + 60.0 * np.exp(-((x - 28.0) / 6.0) ** 2)
    y = np.array([synth(x, [(centers[s, k], 0.1, 0.5, areas[s, k]) for k in range(4)],
                        background=bg, rng=rng, doublet=CU) for s in range(n)])
    ds = make_stack(x, y, wavelength_A=CU[0], wavelength2_A=CU[1], kalpha2_ratio=CU[2],
                    coords={"voltage_V": np.linspace(3.0, 4.2, n)})
    return ds, centers, areas
