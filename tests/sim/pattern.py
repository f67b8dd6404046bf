"""One powder pattern from phases, an instrument and a background (textbook formulas).

* Peak positions: Bragg's law 2θ = 2 asin(λ / 2d), plus a zero shift and, in
  reflection (Bragg–Brentano) geometry, the specimen-displacement shift
  Δ2θ = −(2 s / R) cos θ (rad; s the displacement, R the goniometer radius;
  Klug & Alexander 1974).
* Integrated intensity of a reflection of phase p (Rietveld's form, absorption
  common to all phases): ``I = K · v_p / V_p² · m|F|² · LP(θ) · P_MD(φ)``, with
  v_p the volume fraction and V_p the cell volume, so that the Hill–Howard
  weight fraction S Z M V / Σ is v_p ρ_p / Σ v ρ.
* Lorentz–polarisation LP = [(1 − f) + f cos² 2θ] / (sin² θ cos θ); f = 1/2 for
  an unpolarised tube without monochromator, f ≈ 0 for a synchrotron beam
  polarised perpendicular to the scattering plane.
* March–Dollase preferred orientation P = (r² cos² φ + sin² φ / r)^(−3/2), φ the
  angle between the scattering vector and the layer normal (r < 1: platelets
  lying flat, 00l enhanced).
* Widths: Gaussian FWHM² = U tan² θ + V tan θ + W (Caglioti 1958), Lorentzian
  FWHM = X / cos θ + Y tan θ (+ a stacking-fault term, see :func:`phase_lines`);
  combined into a pseudo-Voigt with the Thompson–Cox–Hastings (1987) FWHM and η.
* Kα2: a second line at λ₂ with intensity ratio I₂/I₁.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .crystal import Cell, Reflections, cell_volume, cos_to_normal, d_spacing, structure_factor_sq

__all__ = ["Instrument", "pseudo_voigt", "tch", "phase_lines", "lines_to_pattern", "background"]


@dataclass(frozen=True)
class Instrument:
    """Beam, geometry and profile of a diffractometer (angles in degrees, widths in deg)."""

    wavelength: float
    two_theta: tuple[float, float, int]           # start, stop, number of points
    wavelength2: float = float("nan")             # Kα2 (nan: single line)
    kalpha2_ratio: float = 0.0
    polarisation: float = 0.5                     # f in LP (0.5 unpolarised)
    geometry: str = "reflection"                  # or "transmission"
    radius_mm: float = 240.0
    displacement_mm: float = 0.0
    zero_deg: float = 0.0
    uvw: tuple[float, float, float] = (0.004, -0.002, 0.002)
    xy: tuple[float, float] = (0.02, 0.01)        # Lorentzian X / cos θ + Y tan θ (deg)

    def grid(self) -> np.ndarray:
        a, b, n = self.two_theta
        return np.linspace(a, b, int(n))


def pseudo_voigt(x: np.ndarray, center: np.ndarray, fwhm: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Unit-area pseudo-Voigt η L + (1 − η) G with one FWHM; broadcasts (n_lines, 1) against x."""
    u = (x - center) / fwhm
    lor = (2.0 / (np.pi * fwhm)) / (1.0 + 4.0 * u * u)
    gau = (2.0 / fwhm) * np.sqrt(np.log(2.0) / np.pi) * np.exp(-4.0 * np.log(2.0) * u * u)
    return eta * lor + (1.0 - eta) * gau


def tch(h_g: np.ndarray, h_l: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Thompson–Cox–Hastings FWHM and η of a Voigt with Gaussian/Lorentzian FWHMs."""
    h = (h_g ** 5 + 2.69269 * h_g ** 4 * h_l + 2.42843 * h_g ** 3 * h_l ** 2
         + 4.47163 * h_g ** 2 * h_l ** 3 + 0.07842 * h_g * h_l ** 4 + h_l ** 5) ** 0.2
    q = h_l / h
    return h, 1.36603 * q - 0.47719 * q ** 2 + 0.11116 * q ** 3


def bragg_two_theta(d: np.ndarray, wavelength: float) -> np.ndarray:
    """2θ (deg) of spacing d (Å); NaN beyond the limiting sphere."""
    s = wavelength / (2.0 * np.asarray(d, dtype=float))
    with np.errstate(invalid="ignore"):
        return np.where(s < 1.0, 2.0 * np.degrees(np.arcsin(np.minimum(s, 1.0))), np.nan)


def observed_shift(two_theta: np.ndarray, inst: Instrument) -> np.ndarray:
    """Zero shift plus, in reflection geometry, the displacement shift −(2s/R) cos θ (deg)."""
    shift = np.full_like(np.asarray(two_theta, dtype=float), inst.zero_deg)
    if inst.geometry == "reflection" and inst.displacement_mm:
        shift -= np.degrees(2.0 * inst.displacement_mm / inst.radius_mm * np.cos(np.radians(two_theta) / 2))
    return shift


def lorentz_polarisation(two_theta: np.ndarray, f: float) -> np.ndarray:
    th = np.radians(two_theta) / 2
    return ((1.0 - f) + f * np.cos(2 * th) ** 2) / (np.sin(th) ** 2 * np.cos(th))


def march_dollase(cos_phi: np.ndarray, r: float) -> np.ndarray:
    c2 = np.asarray(cos_phi) ** 2
    return (r * r * c2 + (1.0 - c2) / r) ** -1.5


@dataclass(frozen=True)
class Lines:
    """Peaks of one phase in one pattern: observed centre (deg), area, FWHM, η."""

    center: np.ndarray
    area: np.ndarray
    fwhm: np.ndarray
    eta: np.ndarray


def phase_lines(structure, refl: Reflections, cell: Cell, volume_fraction: float, inst: Instrument, *,
                po_r: float = 1.0, fault: float = 0.0, strain_l: float = 0.0,
                b_iso: float = 1.0) -> Lines:
    """The lines (both Kα components) of one phase at ``cell`` and ``volume_fraction``.

    ``fault``: stacking-fault breadth Δl, the FWHM (in units of l) of the rods of the
    h − k ≠ 3n, l ≠ 0 reflections along c* (Warren 1969, ch. 13: random layer faults
    broaden those rods by an l-independent Δl ∝ the fault probability and leave
    h − k = 3n and 00l sharp).  A powder line is the rod's projection on the scattering
    vector, Δ(1/d) = (Δl / c) cos φ with cos φ = (l / c) d (hexagonal axes, c* = 1/c),
    added to the Lorentzian width as Δ2θ = λ Δ(1/d) / cos θ.
    ``strain_l``: extra Lorentzian (deg) × tan θ for every reflection (microstrain).
    """
    d = d_spacing(cell, refl.hkl)
    f2 = structure_factor_sq(structure, cell, refl.hkl, b_iso) * refl.multiplicity
    scale = volume_fraction / cell_volume(cell) ** 2
    po = march_dollase(cos_to_normal(cell, refl.hkl), po_r) if po_r != 1.0 else 1.0
    out = []
    comps = [(inst.wavelength, 1.0)]
    if np.isfinite(inst.wavelength2) and inst.kalpha2_ratio > 0:
        comps.append((inst.wavelength2, inst.kalpha2_ratio))
    for wl, ratio in comps:
        tt = bragg_two_theta(d, wl)
        ok = np.isfinite(tt)
        tt = tt[ok]
        th = np.radians(tt) / 2
        u, v, w = inst.uvw
        hg = np.sqrt(np.maximum(u * np.tan(th) ** 2 + v * np.tan(th) + w, 1e-8))
        hl = inst.xy[0] / np.cos(th) + (inst.xy[1] + strain_l) * np.tan(th)
        if fault > 0:
            ds = fault / cell.c * np.abs(refl.hkl[ok, 2]) / cell.c * d[ok]   # Δ(1/d), Å⁻¹
            hl = hl + np.degrees(ds * wl / np.cos(th)) * refl.sf[ok]  # Δ2θ = λ Δ(1/d) / cos θ
        h, eta = tch(hg, hl)
        area = ratio * scale * (f2[ok] * lorentz_polarisation(tt, inst.polarisation)
                                * (po[ok] if np.ndim(po) else po))
        out.append((tt + observed_shift(tt, inst), area, h, eta))
    cat = [np.concatenate([o[i] for o in out]) for i in range(4)]
    return Lines(*cat)


def lines_to_pattern(x: np.ndarray, lines: list[Lines], scale: float) -> np.ndarray:
    """Sum of the lines on the grid ``x`` (each line cut at ±40 FWHM)."""
    y = np.zeros_like(x)
    for ln in lines:
        for c, a, h, e in zip(ln.center, ln.area, ln.fwhm, ln.eta):
            if a <= 0 or not (x[0] - 40 * h < c < x[-1] + 40 * h):
                continue
            i0, i1 = np.searchsorted(x, [c - 40 * h, c + 40 * h])
            y[i0:i1] += scale * a * pseudo_voigt(x[i0:i1], c, h, e)
    return y


def background(x: np.ndarray, wavelength: float, *, level: float, slope: float = -0.3,
               curvature: float = 0.1, hump: float = 0.4, hump_d: float = 4.2,
               hump_width_d: float = 1.5) -> np.ndarray:
    """Smooth background: a quadratic in scaled 2θ plus an amorphous hump.

    The hump (binder, carbon, electrolyte, window) is a Gaussian in d centred at
    ``hump_d`` Å with FWHM ``hump_width_d`` Å, mapped to 2θ; ``hump`` is its height
    relative to ``level``.
    """
    t = (x - x[0]) / (x[-1] - x[0]) * 2 - 1
    poly = level * (1.0 + slope * t + curvature * t * t)
    with np.errstate(invalid="ignore"):
        d = wavelength / (2 * np.sin(np.radians(x) / 2))
    bump = level * hump * np.exp(-4 * np.log(2) * ((d - hump_d) / hump_width_d) ** 2)
    return poly + bump
