"""Calibrate the wavelength or the zero/displacement against a standard: ``--calibrate PHASE``.

An internal standard (Si, LaB6, CeO2, corundum) or a cell part at the sample position (the
Al current collector of a cathode) has a known cell: the literature/certified cell of its CIF
(``reference_phases/build_standards.py``).  Its reflections are found in the mean pattern
of the stack (the standard is in every scan, so averaging adds counts, not blur), each
centre is fitted with a pseudo-Voigt (with its Kα2 partner for a lab source) and Bragg's law
is solved by weighted least squares:

* **synchrotron** (the wavelength is not a lab Kα line): unknowns λ and the zero z,
  ``2θ_k = 2 asin(λ / 2d_k) + z``;
* **lab** (a Kα line, λ known to 10⁻⁶): unknowns the zero z and the specimen displacement
  coefficient D, ``2θ_k = 2θ_k(λ) + z + D cos θ_k`` (Bragg–Brentano: D = −2s/R, radians,
  for a displacement s on a goniometer of radius R; quoted in degrees).

Parameter esds come from the covariance of the weighted fit, scaled by the reduced χ²
when it exceeds 1 (the centres scatter more than their own esds say).  The result is used
for the whole stack: the 2θ axis is corrected and the wavelength replaced, and the
calibration is recorded in ``attrs["calibration_json"]`` (and the provenance).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass

import numpy as np
import xarray as xr
from scipy.optimize import curve_fit

from ..errors import FitError
from ..peaks.profiles import kalpha2_position, pseudo_voigt
from ..schema import INTENSITY, INTENSITY_SIGMA, TWO_THETA, WAVELENGTHS_A
from .cell import cell_from_free, d_spacing
from .identify import search_cell
from .peaksearch import estimate_background, estimate_fwhm, find_peaks
from .reference import ReferencePhase

__all__ = ["Calibration", "calibrate", "apply_calibration", "is_lab_line", "held_standard",
           "calibrated", "calibrated_zero_options", "with_held_standard"]

logger = logging.getLogger(__name__)

#: a wavelength within this of a tabulated Kα1 line (Å) is that lab line.
LAB_LINE_TOL_A = 0.0015
#: reflections weaker than this share (%) of the standard's strongest are not used.
MIN_REL_INTENSITY = 1.0
#: two reflections of the standard closer than this many FWHM are not fitted (overlap).
MIN_SEPARATION_FWHM = 2.0
#: a fitted centre may move this many FWHM from its starting position.
MAX_MOVE_FWHM = 1.0
#: detection threshold of the standard's peaks in the mean pattern (noise units).
MIN_SNR = 6.0
#: fewest reflections: two parameters and at least one degree of freedom.
MIN_REFLECTIONS = 3
#: the calibrated standard's cell is held within this many esds of its literature cell.
HOLD_ESDS = 3.0
#: ... and never tighter than this relative width (the Pawley bounds must not collapse).
HOLD_MIN_REL = 2e-4


@dataclass(frozen=True)
class Calibration:
    """Result of :func:`calibrate` (angles in degrees 2θ, wavelengths in Å).

    Attributes
    ----------
    phase : str
        Label of the standard.
    mode : {"wavelength", "zero"}
        Synchrotron (λ and zero refined) or lab (zero and displacement refined).
    reference_cell : tuple of float
        Literature cell used (a, b, c, α, β, γ).
    wavelength_nominal_A, wavelength_A, esd_wavelength_A : float
        Wavelength before and after (its esd; 0 in lab mode where it is fixed).
    zero_deg, esd_zero_deg : float
        Zero shift z (observed = true + z).
    displacement_deg, esd_displacement_deg : float
        Displacement coefficient D (lab mode; 0 in wavelength mode).
    n_reflections : int
        Reflections fitted.
    rms_residual_deg : float
        RMS of observed − calculated centres after the fit.
    reduced_chi2 : float
        Weighted residual sum of squares per degree of freedom.
    two_theta_obs, hkl : list
        The fitted centres and their reflections.
    """

    phase: str
    mode: str
    reference_cell: tuple[float, ...]
    wavelength_nominal_A: float
    wavelength_A: float
    esd_wavelength_A: float
    zero_deg: float
    esd_zero_deg: float
    displacement_deg: float
    esd_displacement_deg: float
    n_reflections: int
    rms_residual_deg: float
    reduced_chi2: float
    two_theta_obs: list[float]
    hkl: list[list[int]]

    def to_dict(self) -> dict:
        """Plain dict (for JSON)."""
        return asdict(self)


def is_lab_line(wavelength_A: float) -> bool:
    """Whether ``wavelength_A`` is a tabulated lab Kα1 line (within ``LAB_LINE_TOL_A``)."""
    return any(abs(wl1 - wavelength_A) <= LAB_LINE_TOL_A for wl1, _, ratio in WAVELENGTHS_A.values()
               if ratio > 0)


def _mean_pattern(stack: xr.Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tt = stack[TWO_THETA].values.astype(float)
    counts = np.asarray(stack[INTENSITY].values, dtype=float)
    mean = np.nanmean(counts, axis=0)
    if INTENSITY_SIGMA in stack:
        sig = np.sqrt(np.nanmean(np.asarray(stack[INTENSITY_SIGMA].values, float) ** 2, axis=0)
                      / counts.shape[0])
    else:
        sig = np.sqrt(np.maximum(mean, 1.0) / counts.shape[0])
    return tt, mean, np.where(np.isfinite(sig) & (sig > 0), sig, np.nanmedian(sig))


def _fit_centre(tt, net, sig, start, fwhm, wl, wl2, ratio):
    """Centre (deg) and its esd of one peak by a local pseudo-Voigt fit, or None."""
    half = 3.0 * fwhm
    m = (tt > start - half) & (tt < start + half + (abs(kalpha2_position(start, wavelength_A=wl,
                                                    wavelength2_A=wl2) - start) if ratio > 0 else 0))
    if m.sum() < 8:
        return None
    x, y, s = tt[m], net[m], sig[m]

    def model(x, c, w, eta, area, b0, b1):
        out = pseudo_voigt(x, center=c, fwhm=w, eta=eta, area=area)
        if ratio > 0:
            c2 = float(kalpha2_position(c, wavelength_A=wl, wavelength2_A=wl2))
            out = out + ratio * pseudo_voigt(x, center=c2, fwhm=w, eta=eta, area=area)
        return out + b0 + b1 * (x - start)

    height = max(float(np.interp(start, x, y)), float(np.max(y)) * 0.5, 1e-9)
    p0 = [start, fwhm, 0.5, height * fwhm * 1.2, 0.0, 0.0]
    bounds = ([start - MAX_MOVE_FWHM * fwhm, 0.2 * fwhm, 0.0, 0.0, -np.inf, -np.inf],
              [start + MAX_MOVE_FWHM * fwhm, 5.0 * fwhm, 1.0, np.inf, np.inf, np.inf])
    try:
        p, cov = curve_fit(model, x, y, p0=p0, sigma=s, bounds=bounds, maxfev=4000)
    except (RuntimeError, ValueError):
        return None
    esd = float(np.sqrt(cov[0, 0])) if np.isfinite(cov[0, 0]) else math.nan
    at_bound = abs(p[0] - start) >= 0.999 * MAX_MOVE_FWHM * fwhm
    if not np.isfinite(esd) or esd <= 0 or at_bound or p[3] <= 0:
        return None
    return float(p[0]), esd


def _bragg_fit(d, obs, esd, wl, mode):
    """Weighted Gauss–Newton of the two parameters; returns params, covariance, residuals."""
    w = 1.0 / esd**2

    def calc(p):
        if mode == "wavelength":
            return 2 * np.degrees(np.arcsin(np.clip(p[0] / (2 * d), -1, 1))) + p[1]
        theta = np.arcsin(np.clip(wl / (2 * d), -1, 1))
        return 2 * np.degrees(theta) + p[0] + p[1] * np.cos(theta)

    def jac(p):
        if mode == "wavelength":
            s = p[0] / (2 * d)
            return np.column_stack([np.degrees(2.0 / (2 * d) / np.sqrt(1 - s * s)), np.ones_like(d)])
        theta = np.arcsin(np.clip(wl / (2 * d), -1, 1))
        return np.column_stack([np.ones_like(d), np.cos(theta)])

    p = np.array([wl, 0.0]) if mode == "wavelength" else np.zeros(2)
    for _ in range(20):
        r = obs - calc(p)
        j = jac(p)
        step = np.linalg.solve(j.T @ (w[:, None] * j), j.T @ (w * r))
        p = p + step
        if np.all(np.abs(step) < 1e-12 * np.maximum(np.abs(p), 1.0)):
            break
    r = obs - calc(p)
    j = jac(p)
    cov = np.linalg.inv(j.T @ (w[:, None] * j))
    chi2 = float(np.sum(w * r * r) / max(d.size - 2, 1))
    return p, cov * max(chi2, 1.0), r, chi2


def calibrate(stack: xr.Dataset, standard: ReferencePhase, *, mode: str = "auto") -> Calibration:
    """Refine the wavelength (synchrotron) or zero/displacement (lab) against ``standard``.

    Parameters
    ----------
    stack : xarray.Dataset
        Stack with ``intensity`` (scan, two_theta) and ``attrs["wavelength_A"]``.
    standard : ReferencePhase
        The standard; its CIF cell is taken as exact.
    mode : {"auto", "wavelength", "zero"}
        ``"auto"``: ``"zero"`` for a lab Kα line, else ``"wavelength"``.

    Returns
    -------
    Calibration

    Raises
    ------
    FitError
        Fewer than ``MIN_REFLECTIONS`` reflections of the standard found and fitted.
    """
    wl = float(stack.attrs["wavelength_A"])
    wl2 = float(stack.attrs.get("wavelength2_A", math.nan))
    ratio = float(stack.attrs.get("kalpha2_ratio", 0.0) or 0.0)
    if mode == "auto":
        mode = "zero" if is_lab_line(wl) else "wavelength"
    tt, mean, sig = _mean_pattern(stack)
    bg = estimate_background(tt, mean[None])[0]
    net = mean - bg
    fwhm = estimate_fwhm(tt, net)
    peaks = find_peaks(tt, net[None], sig[None], fwhm_deg=fwhm, min_snr=MIN_SNR)[0]
    tt_range = (float(tt[0]), float(tt[-1]))
    # apparent cell (absorbs the wavelength error) as the starting point of each centre
    match = search_cell(standard, peaks, wl, tt_range, tol_deg=max(fwhm / 2, 1e-3),
                        wavelength2_A=wl2 if ratio > 0 else math.nan)
    cell = cell_from_free(standard.crystal_system, match.free)
    hkl_all, tt_app, rel = standard.reflections(cell, wl, tt_range)
    d_lit = d_spacing(np.array(standard.cell), hkl_all)
    obs, esd, d_used, hkl_used = [], [], [], []
    for k in np.flatnonzero(rel >= MIN_REL_INTENSITY):
        others = np.delete(tt_app, k)
        if others.size and np.min(np.abs(others - tt_app[k])) < MIN_SEPARATION_FWHM * fwhm:
            continue
        if not peaks.position.size or np.min(np.abs(peaks.position - tt_app[k])) > 1.5 * fwhm:
            continue
        fitted = _fit_centre(tt, net, sig, float(tt_app[k]), fwhm, wl, wl2, ratio)
        if fitted is not None:
            obs.append(fitted[0])
            esd.append(fitted[1])
            d_used.append(float(d_lit[k]))
            hkl_used.append([int(i) for i in hkl_all[k]])
    if len(obs) < MIN_REFLECTIONS:
        raise FitError(f"--calibrate {standard.label}: only {len(obs)} reflection(s) of "
                       f"{standard.label} found and fitted in the mean pattern (need "
                       f"{MIN_REFLECTIONS}); is {standard.label} in the beam?")
    p, cov, resid, chi2 = _bragg_fit(np.array(d_used), np.array(obs), np.array(esd), wl, mode)
    e = np.sqrt(np.diag(cov))
    if mode == "wavelength":
        values = dict(wavelength_A=float(p[0]), esd_wavelength_A=float(e[0]), zero_deg=float(p[1]),
                      esd_zero_deg=float(e[1]), displacement_deg=0.0, esd_displacement_deg=0.0)
    else:
        values = dict(wavelength_A=wl, esd_wavelength_A=0.0, zero_deg=float(p[0]),
                      esd_zero_deg=float(e[0]), displacement_deg=float(p[1]),
                      esd_displacement_deg=float(e[1]))
    cal = Calibration(phase=standard.label, mode=mode, reference_cell=tuple(standard.cell),
                      wavelength_nominal_A=wl, n_reflections=len(obs),
                      rms_residual_deg=float(np.sqrt(np.mean(resid**2))), reduced_chi2=chi2,
                      two_theta_obs=[float(x) for x in obs], hkl=hkl_used, **values)
    logger.info("calibration on %s (%d reflections, %s): λ = %.6f(%.0f) Å (nominal %.6f), "
                "zero %.5f(%.0f)°%s; rms residual %.4f°", standard.label, cal.n_reflections, mode,
                cal.wavelength_A, cal.esd_wavelength_A * 1e6, wl, cal.zero_deg, cal.esd_zero_deg * 1e5,
                f", displacement {cal.displacement_deg:.5f}°" if mode == "zero" else "",
                cal.rms_residual_deg)
    return cal


def apply_calibration(stack: xr.Dataset, cal: Calibration) -> xr.Dataset:
    """The stack on the calibrated 2θ axis (zero and displacement removed) and wavelength.

    The corrected axis is ``2θ − z − D cos θ`` (monotonic for |D| < 2θ range); the wavelength
    becomes the refined one; ``attrs["calibration_json"]`` records the calibration.
    """
    tt = stack[TWO_THETA].values.astype(float)
    corrected = tt - cal.zero_deg - cal.displacement_deg * np.cos(np.radians(tt / 2))
    if np.any(np.diff(corrected) <= 0):
        raise FitError(f"--calibrate {cal.phase}: the corrected 2θ axis is not increasing "
                       f"(displacement {cal.displacement_deg:.4f}°); the calibration is not usable")
    out = stack.assign_coords({TWO_THETA: (TWO_THETA, corrected, stack[TWO_THETA].attrs)})
    out.attrs = {**stack.attrs, "wavelength_A": cal.wavelength_A,
                 "calibration_json": json.dumps(cal.to_dict())}
    return out


def held_standard(standard: ReferencePhase, cal: Calibration) -> ReferencePhase:
    """The standard with its cell held at the literature value during the stack refinement.

    Calibrating means taking the standard's cell as known: its lattice range becomes the
    literature cell ± ``HOLD_ESDS`` times the relative esd of the calibration (λ in
    wavelength mode; the zero's esd over 2θ in lab mode), at least ± ``HOLD_MIN_REL``.  A
    refined cell at that bound is flagged by the refinement like any other.
    """
    import dataclasses

    if cal.mode == "wavelength":
        rel = cal.esd_wavelength_A / cal.wavelength_A
    else:
        rel = math.radians(cal.esd_zero_deg) / 2 / max(math.tan(math.radians(min(cal.two_theta_obs)) / 2), 1e-3)
    width = max(HOLD_ESDS * rel, HOLD_MIN_REL)
    ranges = dict(standard.lattice_range)
    for name, value in zip(standard.free_names, standard.reference_free):
        if name in ("a", "b", "c"):
            ranges[name] = (float(value * (1 - width)), float(value * (1 + width)))
    return dataclasses.replace(standard, lattice_range=ranges)


#: zero-shift bound (degrees) of the phase refinement of a calibrated stack: 0 holds the zero
#: fixed at 0 (the refinement does not refine a parameter whose bound is 0).
CALIBRATED_ZERO_DEG = 0.0


def _standard(phase_options) -> ReferencePhase:
    from .reference import load_library

    return load_library([phase_options.calibrate], cell_components=False,
                        reference_dir=phase_options.reference_dir or None)[0]


def calibrated(stack: xr.Dataset, phase_options) -> xr.Dataset:
    """The stack calibrated against ``phase_options.calibrate`` (a PhaseConfig); unchanged
    without one."""
    if not phase_options.calibrate:
        return stack
    return apply_calibration(stack, calibrate(stack, _standard(phase_options)))


def calibrated_zero_options(stack: xr.Dataset) -> dict[str, float]:
    """Zero-shift bounds of the phase refinement after a calibration (zero held).

    The calibration has removed the zero (and displacement) from the 2θ axis; letting the
    Pawley refinement move it again would hand it to the strongest phase (e.g. a current
    collector off the sample position) and undo the calibration; with the per-scan bound
    following the previous scan's zero, even a bound of a few esds walks away.
    """
    if "calibration_json" not in stack.attrs:
        return {}
    return {"max_zero_deg": CALIBRATED_ZERO_DEG, "zero_drift_deg": CALIBRATED_ZERO_DEG}


def with_held_standard(library: list[ReferencePhase], stack: xr.Dataset,
                       phase_options) -> list[ReferencePhase]:
    """The library with the calibrated standard added (or replaced), its cell held
    (:func:`held_standard`); unchanged for a stack without calibration."""
    if "calibration_json" not in stack.attrs:
        return library
    cal = Calibration(**json.loads(stack.attrs["calibration_json"]))
    held = held_standard(_standard(phase_options), cal)
    return [p for p in library if p.label != held.label] + [held]
