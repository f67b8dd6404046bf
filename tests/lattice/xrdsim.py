"""Independent powder-pattern simulator for refinement tests (textbook formulas, no phasetrace
refinement code).

Intensities are pymatgen's ``XRDCalculator`` (its own structure factors, Lorentz–polarisation
(1 + cos² 2θ)/(sin² θ cos θ), Debye–Waller exp(−B s²) with B = 1 Å² like the library's
convention) per unit cell, unscaled.  A mixture of phases with volume fractions v_p is
Σ_p (v_p / V_p²) I_p (the number of cells irradiated is v_p / V_p, and the intensity
per cell is |F|²/V_p against the sample's volume).  On top:

* sample displacement s (mm) on a goniometer of radius R (mm): 2θ_obs = 2θ − (2 s / R) cos θ
  (radians; Bragg–Brentano, e.g. Klug & Alexander);
* zero shift;
* March–Dollase preferred orientation along c* with parameter r:
  P(α) = (r² cos² α + sin² α / r)^(−3/2), α from the reflection's Miller indices;
* Kα2 at 2 asin((λ2/λ1) sin θ) with half the intensity;
* pseudo-Voigt lines of FWHM Γ² = U tan² θ + W and unit area, linear background, Poisson noise.
"""

from __future__ import annotations

import math

import numpy as np


def structure(cif_path, cell=None):
    """pymatgen Structure from a CIF, with the lattice replaced by ``cell`` (a, b, c, α, β, γ)."""
    import warnings

    from pymatgen.core import Lattice, Structure
    from pymatgen.io.cif import CifParser

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = CifParser(str(cif_path)).parse_structures(primitive=False)[0]
    if cell is not None:
        s = Structure(Lattice.from_parameters(*cell), s.species_and_occu, s.frac_coords)
    return s


def _po(structure_, hkls, r):
    """Multiplicity-weighted March–Dollase factor of one pymatgen peak (its hkl families)."""
    if r == 1.0:
        return 1.0
    rec = structure_.lattice.reciprocal_lattice_crystallographic
    cstar = rec.matrix[2] / np.linalg.norm(rec.matrix[2])
    num = den = 0.0
    for fam in hkls:
        h = fam["hkl"]
        h = (h[0], h[1], h[-1])      # Miller–Bravais (h k i l) → (h k l)
        g = rec.get_cartesian_coords(h)
        c2 = float(np.dot(g, cstar) ** 2 / np.dot(g, g))
        num += fam["multiplicity"] * (r * r * c2 + (1 - c2) / r) ** -1.5
        den += fam["multiplicity"]
    return num / den


def lines(structure_, wavelength_A, tt_range, *, po_r=1.0):
    """(2θ, intensity per cell) of the reflections of one phase in ``tt_range``."""
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    dw = {el.symbol: 1.0 for el in structure_.composition.elements}
    calc = XRDCalculator(wavelength=wavelength_A, debye_waller_factors=dw)
    pat = calc.get_pattern(structure_, scaled=False, two_theta_range=tt_range)
    inten = np.array([y * _po(structure_, h, po_r) for y, h in zip(pat.y, pat.hkls)])
    return np.asarray(pat.x, float), inten


def pattern(two_theta, phases, *, wavelength_A, wavelength2_A=math.nan, ratio=0.0,
            zero=0.0, displacement_mm=0.0, radius_mm=240.0, U=0.0, W=0.004, eta=0.4):
    """Noise-free net pattern of ``phases`` = [(structure, volume_fraction, po_r), ...]."""
    y = np.zeros_like(two_theta, dtype=float)
    lo, hi = two_theta[0] - 2, two_theta[-1] + 2
    for st, vfrac, po_r in phases:
        tt, inten = lines(st, wavelength_A, (max(lo, 1.0), min(hi, 179.0)), po_r=po_r)
        inten = inten * vfrac / st.volume ** 2
        for wl, w in ((wavelength_A, 1.0), (wavelength2_A, ratio)):
            if not (w > 0 and np.isfinite(wl)):
                continue
            s = np.sin(np.radians(tt / 2)) * wl / wavelength_A
            ok = s < 1
            th = np.arcsin(s[ok])
            centre = np.degrees(2 * th) + zero - np.degrees(2 * displacement_mm / radius_mm
                                                             * np.cos(th))
            fwhm = np.sqrt(U * np.tan(th) ** 2 + W)
            for c, f, a in zip(centre, fwhm, inten[ok] * w):
                x = (two_theta - c) / f
                g = math.sqrt(4 * math.log(2) / math.pi) / f * np.exp(-4 * math.log(2) * x * x)
                lor = 2 / (math.pi * f) / (1 + 4 * x * x)
                y += a * (eta * lor + (1 - eta) * g)
    return y


def noisy(two_theta, net, *, peak_counts=5000.0, background=(200.0, -40.0), seed=0):
    """(counts, σ, true background): net scaled so its maximum is ``peak_counts``, Poisson."""
    rng = np.random.default_rng(seed)
    u = (two_theta - two_theta[0]) / (two_theta[-1] - two_theta[0])
    bg = background[0] + background[1] * u
    mean = bg + peak_counts * net / net.max()
    counts = rng.poisson(mean).astype(float)
    return counts, np.sqrt(np.maximum(counts, 1.0)), bg
