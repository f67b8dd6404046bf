"""The phasetrace data model: names, units and validation of a stack Dataset.

A *stack* is one :class:`xarray.Dataset` per operando experiment.

Dimensions
    ``scan``       scans in input order, numbered from 0.
    ``two_theta``  diffraction angle 2θ in degrees (shared grid).

Data variables
    ``intensity``        (scan, two_theta) counts (or arbitrary units).
    ``intensity_sigma``  (scan, two_theta) one-sigma uncertainty of ``intensity``.

Coordinates on ``scan`` (present when known, NaN where unknown)
    ``file`` (str), ``time_s`` (mid-scan time, s), ``time_start_s``, ``time_end_s``,
    ``voltage_V``, ``capacity_mAh_g``, ``current_mA``, ``cycle`` (int, from 1),
    ``direction`` (``"charge"``, ``"discharge"``, ``"rest"`` or ``""``),
    ``temperature_K``.

Attributes
    ``wavelength_A``   primary wavelength (Kα1 for a lab doublet), Å.
    ``wavelength2_A``  second wavelength (Kα2), Å, or NaN for monochromatic data.
    ``kalpha2_ratio``  intensity ratio I(Kα2)/I(Kα1), 0 for monochromatic data.
    ``radiation``      free text, e.g. ``"CuKa"`` or ``"synchrotron"``.
    ``source_format``  reader name(s).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import xarray as xr

from .errors import SchemaError

__all__ = [
    "SCAN", "TWO_THETA", "PEAK", "PHASE",
    "INTENSITY", "INTENSITY_SIGMA",
    "SCAN_COORDS", "PEAK_VARS", "FitStatus",
    "WAVELENGTHS_A", "resolve_wavelength",
    "make_stack", "validate_stack",
    "two_theta_to_d", "d_to_two_theta", "two_theta_to_q", "q_to_two_theta",
]

SCAN = "scan"
TWO_THETA = "two_theta"
PEAK = "peak"
PHASE = "phase"
INTENSITY = "intensity"
INTENSITY_SIGMA = "intensity_sigma"

#: scan coordinates, their dtype and unit.
SCAN_COORDS: dict[str, tuple[str, str]] = {
    "file": ("U", ""),
    "time_s": ("f8", "s"),
    "time_start_s": ("f8", "s"),
    "time_end_s": ("f8", "s"),
    "voltage_V": ("f8", "V"),
    "capacity_mAh_g": ("f8", "mAh/g"),
    "current_mA": ("f8", "mA"),
    "cycle": ("i8", ""),
    "direction": ("U", ""),
    "temperature_K": ("f8", "K"),
}

#: per-(scan, peak) variables written by :func:`phasetrace.peaks.fit_stack`.
PEAK_VARS = ("center", "fwhm", "eta", "area", "height")


class FitStatus:
    """Integer status codes of a (scan, peak) fit."""

    CONVERGED = 0
    HIT_BOUND = 1
    BELOW_DETECTION = 2
    NOT_CONVERGED = 3
    NO_DATA = 4
    NAMES = {0: "converged", 1: "hit bound", 2: "below detection",
             3: "not converged", 4: "no data"}


#: Characteristic lines, Å (Kα1, Kα2, I(Kα2)/I(Kα1)); Hölzer et al. (1997), Phys. Rev. A 56, 4554.
WAVELENGTHS_A: dict[str, tuple[float, float, float]] = {
    "cuka": (1.540593, 1.544414, 0.5),
    "cuka1": (1.540593, math.nan, 0.0),
    "moka": (0.709317, 0.713607, 0.5),
    "moka1": (0.709317, math.nan, 0.0),
    "agka": (0.559422, 0.563813, 0.5),
    "agka1": (0.559422, math.nan, 0.0),
    "coka": (1.788996, 1.792835, 0.5),
    "coka1": (1.788996, math.nan, 0.0),
    "feka": (1.936041, 1.939973, 0.5),
    "crka": (2.289726, 2.293651, 0.5),
}


def resolve_wavelength(value: str | float) -> tuple[float, float, float]:
    """Turn a wavelength option into ``(λ1 Å, λ2 Å or NaN, I2/I1)``.

    Parameters
    ----------
    value : str or float
        A number in Å (``"0.4959"``) or a line name such as ``"CuKa"``,
        ``"CuKa1"``, ``"MoKa"``, ``"AgKa"`` (case and the α/a spelling ignored).

    Returns
    -------
    tuple of float
        Primary wavelength (Å), second wavelength (Å, NaN if none) and the
        intensity ratio of the second line to the first (0 if none).

    Raises
    ------
    SchemaError
        For an unknown name or a value that is not a plausible X-ray wavelength
        in Å (0.05–5 Å); a value in nm such as ``0.15406`` is not caught by the
        range, but ``154.06`` (pm) or ``0.0154`` are.

    Examples
    --------
    >>> resolve_wavelength("CuKa1")[0]
    1.540593
    """
    if isinstance(value, str):
        key = value.strip().lower().replace("α", "a").replace("_", "").replace("-", "")
        if key in WAVELENGTHS_A:
            return WAVELENGTHS_A[key]
        try:
            number = float(key)
        except ValueError as err:
            known = ", ".join(sorted({"CuKa", "CuKa1", "MoKa", "MoKa1", "AgKa", "AgKa1", "CoKa", "FeKa", "CrKa"}))
            raise SchemaError(
                f"unknown wavelength {value!r}: expected a number in Å or one of {known}") from err
    else:
        number = float(value)
    if not math.isfinite(number) or not 0.05 <= number <= 5.0:
        raise SchemaError(
            f"wavelength {value!r} is not a plausible X-ray wavelength in Å (expected 0.05–5 Å; "
            "give it in Å, e.g. 1.5406 for Cu Kα1)")
    return (number, math.nan, 0.0)


def two_theta_to_d(two_theta: Any, wavelength_A: float) -> np.ndarray:
    """Convert 2θ (degrees) to d-spacing (Å) by Bragg's law, d = λ / (2 sin θ).

    Examples
    --------
    >>> round(float(two_theta_to_d(38.44, 1.540593)), 4)
    2.3399
    """
    theta = np.deg2rad(np.asarray(two_theta, dtype=float) / 2.0)
    with np.errstate(divide="ignore"):
        return wavelength_A / (2.0 * np.sin(theta))


def d_to_two_theta(d_A: Any, wavelength_A: float) -> np.ndarray:
    """Convert d-spacing (Å) to 2θ (degrees); NaN where λ/2d > 1 (unreachable)."""
    ratio = wavelength_A / (2.0 * np.asarray(d_A, dtype=float))
    with np.errstate(invalid="ignore"):
        return np.rad2deg(2.0 * np.arcsin(np.where(np.abs(ratio) <= 1, ratio, np.nan)))


def two_theta_to_q(two_theta: Any, wavelength_A: float) -> np.ndarray:
    """Convert 2θ (degrees) to momentum transfer Q = 4π sin θ / λ (Å⁻¹)."""
    theta = np.deg2rad(np.asarray(two_theta, dtype=float) / 2.0)
    return 4.0 * np.pi * np.sin(theta) / wavelength_A


def q_to_two_theta(q_inv_A: Any, wavelength_A: float) -> np.ndarray:
    """Convert Q (Å⁻¹) to 2θ (degrees); NaN where unreachable."""
    s = np.asarray(q_inv_A, dtype=float) * wavelength_A / (4.0 * np.pi)
    with np.errstate(invalid="ignore"):
        return np.rad2deg(2.0 * np.arcsin(np.where(np.abs(s) <= 1, s, np.nan)))


def make_stack(
    two_theta: Any,
    intensity: Any,
    sigma: Any | None = None,
    *,
    wavelength_A: float = math.nan,
    wavelength2_A: float = math.nan,
    kalpha2_ratio: float = 0.0,
    radiation: str = "",
    source_format: str = "",
    coords: dict[str, Any] | None = None,
    attrs: dict[str, Any] | None = None,
) -> xr.Dataset:
    """Build a stack Dataset from arrays.

    Parameters
    ----------
    two_theta : array_like, shape (n_points,)
        Strictly increasing 2θ grid, degrees.
    intensity : array_like, shape (n_scans, n_points) or (n_points,)
        Intensities; a 1-D array is a one-scan stack.
    sigma : array_like, optional
        Same shape as ``intensity``; defaults to √max(I, 1) (counting statistics).
    wavelength_A, wavelength2_A, kalpha2_ratio : float
        Wavelength(s) in Å and I(λ2)/I(λ1); NaN when unknown (must be set
        before analysis).
    radiation, source_format : str
        Free-text provenance.
    coords : dict, optional
        Scan coordinates (names from :data:`SCAN_COORDS`), each of length n_scans.
    attrs : dict, optional
        Further attributes.

    Returns
    -------
    xarray.Dataset
        A stack following the schema (see module docstring).
    """
    tt = np.asarray(two_theta, dtype=float)
    y = np.asarray(intensity, dtype=float)
    if y.ndim == 1:
        y = y[None, :]
    if sigma is None:
        s = np.sqrt(np.maximum(y, 1.0))
    else:
        s = np.asarray(sigma, dtype=float)
        if s.ndim == 1:
            s = s[None, :]
    if y.shape[1] != tt.size or s.shape != y.shape:
        raise SchemaError(
            f"shape mismatch: two_theta has {tt.size} points, intensity {y.shape}, sigma {s.shape}")
    n = y.shape[0]
    all_coords: dict[str, Any] = {SCAN: np.arange(n), TWO_THETA: (TWO_THETA, tt, {"units": "deg"})}
    for name, values in (coords or {}).items():
        arr = np.asarray(values)
        if arr.shape != (n,):
            raise SchemaError(f"scan coordinate {name!r} has shape {arr.shape}, expected ({n},)")
        unit = SCAN_COORDS.get(name, ("", ""))[1]
        all_coords[name] = (SCAN, arr, {"units": unit} if unit else {})
    # one constructor call: building the indexes and aligning once per coordinate added
    # (assign_coords) took most of the time of reading a small pattern file
    return xr.Dataset(
        {INTENSITY: ((SCAN, TWO_THETA), y, {"units": "counts"}),
         INTENSITY_SIGMA: ((SCAN, TWO_THETA), s, {"units": "counts"})},
        coords=all_coords,
        attrs={"wavelength_A": float(wavelength_A), "wavelength2_A": float(wavelength2_A),
               "kalpha2_ratio": float(kalpha2_ratio), "radiation": radiation,
               "source_format": source_format, **(attrs or {})},
    )


def validate_stack(ds: xr.Dataset, *, require_wavelength: bool = True, name: str = "stack") -> None:
    """Check a stack against the schema; raise :class:`SchemaError` naming the problem.

    Checks: dims ``scan``/``two_theta`` present, ``intensity`` variable, strictly
    increasing finite 2θ, at least 5 points, no negative-infinite/NaN-only scans
    and (optionally) a finite positive wavelength.
    """
    for dim in (SCAN, TWO_THETA):
        if dim not in ds.dims:
            raise SchemaError(f"{name}: missing dimension {dim!r}; got dims {tuple(ds.dims)}")
    if INTENSITY not in ds:
        raise SchemaError(f"{name}: missing data variable {INTENSITY!r}")
    tt = ds[TWO_THETA].values
    if tt.size < 5:
        raise SchemaError(f"{name}: only {tt.size} 2θ points; expected at least 5")
    if not np.all(np.isfinite(tt)):
        raise SchemaError(f"{name}: 2θ contains NaN or infinite values")
    if np.any(np.diff(tt) <= 0):
        raise SchemaError(f"{name}: 2θ is not strictly increasing")
    if require_wavelength:
        wl = ds.attrs.get("wavelength_A", math.nan)
        if wl is None or not np.isfinite(wl) or wl <= 0:
            raise SchemaError(
                f"{name}: no wavelength known; the file headers do not give one, so pass "
                "--wavelength (Å, or CuKa/MoKa/AgKa)")


# ----------------------------------------------------------------------------
# Results layout (results.nc): names shared by the pipeline, plots and reports.
# ----------------------------------------------------------------------------
#: per-(scan, peak) variables in results.nc: "peak_" + name (+ "_esd"), plus
#: ``peak_redchi`` and ``peak_status`` (int, :class:`FitStatus`).
RESULT_PEAK_PREFIX = "peak_"

#: per-(scan, phase) variables in results.nc.  Coordinates on ``phase``:
#: ``phase`` (label), ``phase_family`` (str), ``is_cell_component`` (bool),
#: ``phase_parent`` (str; undistorted parent of a distorted phase, e.g. "P2" for "P'2").
#: The presence evidence is also on (scan, phase): ``presence_f`` (Hamilton F of the last
#: presence test, serial-correlation corrected), ``presence_log10_p`` (its log10 p-value; a
#: phase is present where it is below log10 α, attr ``alpha``) and ``presence_test``
#: (-1 none, 0 wald, 1 remove, 2 add, 3 symmetry; :mod:`phasetrace.phases.presence`).
PHASE_VARS = (
    "present", "score", "fraction",
    "a", "b", "c", "alpha", "beta", "gamma", "volume", "volume_per_fu",
    "esd_a", "esd_b", "esd_c", "esd_alpha", "esd_beta", "esd_gamma", "esd_volume",
    "interlayer_d", "esd_interlayer_d", "volume_strain",
)

#: columns of lattice.csv (CONTRACT.md), in order; further columns may follow.
LATTICE_CSV_COLUMNS = (
    "scan", "phase", "a", "b", "c", "alpha", "beta", "gamma", "volume",
    "volume_per_fu", "fraction", "esd_a", "esd_b", "esd_c", "esd_volume",
)
