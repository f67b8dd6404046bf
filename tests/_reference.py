"""Naive, obviously-correct reference implementations used to check the kernels.

Written directly from the textbook formulas, point by point, with no shared
code with ``phasetrace``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gamma


def gauss(x, c, w):
    """Unit-area Gaussian of FWHM ``w``."""
    s = w / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    return np.array([math.exp(-0.5 * ((xi - c) / s) ** 2) / (s * math.sqrt(2 * math.pi)) for xi in x])


def lorentz(x, c, w):
    """Unit-area Lorentzian of FWHM ``w``."""
    g = w / 2.0
    return np.array([g / math.pi / ((xi - c) ** 2 + g * g) for xi in x])


def pseudo_voigt(x, c, w, eta, area):
    """η L + (1-η) G, both unit area, times ``area``."""
    return area * (eta * lorentz(x, c, w) + (1 - eta) * gauss(x, c, w))


def split_pseudo_voigt(x, c, w, eta, area, asym):
    """Two half pseudo-Voigts of FWHM w(1-a) (left) and w(1+a) (right) with a common height."""
    height = pseudo_voigt([c], c, w, eta, area)[0]
    out = []
    for xi in x:
        ws = w * (1 - asym) if xi < c else w * (1 + asym)
        unit = pseudo_voigt([xi], c, ws, eta, 1.0)[0] / pseudo_voigt([c], c, ws, eta, 1.0)[0]
        out.append(height * unit)
    return np.array(out)


def pearson7(x, c, w, m, area):
    """Pearson VII normalised with the Gamma-function formula."""
    k = 2 ** (1 / m) - 1
    height = area * gamma(m) * math.sqrt(k) * 2 / (math.sqrt(math.pi) * gamma(m - 0.5) * w)
    return np.array([height * (1 + 4 * k * ((xi - c) / w) ** 2) ** (-m) for xi in x])


def tch(x, c, wg, wl, area):
    """Thompson–Cox–Hastings pseudo-Voigt."""
    f = (wg ** 5 + 2.69269 * wg ** 4 * wl + 2.42843 * wg ** 3 * wl ** 2 + 4.47163 * wg ** 2 * wl ** 3
         + 0.07842 * wg * wl ** 4 + wl ** 5) ** 0.2
    q = wl / f
    eta = 1.36603 * q - 0.47719 * q * q + 0.11116 * q ** 3
    return pseudo_voigt(x, c, f, eta, area)


def kalpha2_center(c, lam1, lam2):
    """Bragg: same d, second wavelength."""
    d = lam1 / (2 * math.sin(math.radians(c / 2)))
    return 2 * math.degrees(math.asin(lam2 / (2 * d)))


def profile(name, x, slots):
    """Dispatch on the kernel slot layout [center, fwhm, shape, area, asym]."""
    c, w, sh, a, asym = slots
    if name == "pseudo_voigt":
        return pseudo_voigt(x, c, w, sh, a)
    if name == "split_pseudo_voigt":
        return split_pseudo_voigt(x, c, w, sh, a, asym)
    if name == "pearson7":
        return pearson7(x, c, w, sh, a)
    if name == "tch_pseudo_voigt":
        return tch(x, c, w, sh, a)
    raise ValueError(name)


def doublet(name, x, slots, lam1, lam2, k2):
    """Kα1 + k2 × Kα2 copy at the Bragg-shifted position."""
    s2 = list(slots)
    s2[0] = kalpha2_center(slots[0], lam1, lam2)
    s2[3] = slots[3] * k2
    return profile(name, x, slots) + profile(name, x, s2)
