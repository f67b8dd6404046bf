"""Dataset layer of the stack peak fit: :func:`fit_stack` and :func:`fit_arrays`."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import xarray as xr

from ..background.methods import typical_fwhm
from ..errors import ConfigError, FitError, FitWarning
from ..schema import (PEAK, SCAN, TWO_THETA, FitStatus, make_stack, two_theta_to_d,
                      validate_stack)
from ._prepare import resolve_background, resolve_doublet, resolve_sigma, stack_arrays
from .arrays import (NP, P_AREA, P_CENTER, P_FWHM, P_SHAPE, SLOTS, ArrayFit,
                     default_bounds, fit_stack_array)
from .profiles import caglioti_fwhm, fit_caglioti, tch_fwhm_eta
from .tracks import find_peaks

__all__ = ["fit_stack", "fit_arrays"]

logger = logging.getLogger(__name__)

Profile = Literal["pseudo_voigt", "split_pseudo_voigt", "pearson7", "tch_pseudo_voigt"]


def _fill_track(c: np.ndarray) -> np.ndarray:
    """Interpolate a track's centres over undetected scans (held constant outside)."""
    good = np.isfinite(c)
    if not good.any():
        return c
    s = np.arange(c.size)
    return np.interp(s, s[good], c[good])


def _auto_guess(net_ds: xr.Dataset, fw: float, doublet: Any,
                track_options: dict[str, Any], margin: int):
    """Start centres (scan, peak), FWHMs (peak,) and active mask from tracked peaks."""
    tracks = net_ds if "track_center" in net_ds else find_peaks(
        net_ds, background=None, doublet=doublet, fwhm=fw, **track_options)
    tc = tracks["track_center"].values
    n_scans, k = tc.shape
    centers = np.column_stack([_fill_track(tc[:, j]) for j in range(k)]) if k else np.empty((n_scans, 0))
    det = np.isfinite(tc)
    active = np.zeros((n_scans, k), dtype=bool)
    scans = np.arange(n_scans)
    for j in range(k):
        if det[:, j].any():
            first, last = scans[det[:, j]][[0, -1]]
            active[max(0, first - margin):last + margin + 1, j] = True
    with np.errstate(all="ignore"):
        fwhm = np.nanmedian(tracks["track_fwhm"].values, axis=0) if k else np.empty(0)
    fwhm = np.clip(np.where(np.isfinite(fwhm), fwhm, fw), 0.5 * fw, 3.0 * fw)
    return centers, fwhm, active


def _start_values(profile: str, centers: np.ndarray, fwhm: np.ndarray) -> np.ndarray:
    """p0 (scan, peak, NP) from centres and FWHMs; NaN area (estimated by the kernel)."""
    n_scans, k = centers.shape
    p0 = np.zeros((n_scans, k, NP))
    p0[:, :, P_CENTER] = centers
    p0[:, :, P_FWHM] = fwhm
    p0[:, :, P_AREA] = np.nan
    p0[:, :, P_SHAPE] = {"pearson7": 2.0, "tch_pseudo_voigt": 0.0}.get(profile, 0.5)
    if profile == "tch_pseudo_voigt":
        p0[:, :, P_FWHM] = 0.75 * fwhm
        p0[:, :, P_SHAPE] = 0.4 * fwhm
    return p0


def _resolve_peaks(ds, net_ds, peaks, fw, doublet, track_options, margin):
    """Start values, bounds inputs and mode from the ``peaks`` option."""
    n_scans = ds.sizes[SCAN]
    if isinstance(peaks, str):
        if peaks != "auto":
            raise ConfigError(f"peaks={peaks!r}; expected 'auto', a find_peaks Dataset or 2θ values (deg)")
        centers, fwhm, active = _auto_guess(net_ds, fw, doublet, track_options, margin)
        return centers, fwhm, active, False
    if isinstance(peaks, xr.Dataset):
        if "track_center" not in peaks or peaks.sizes.get(SCAN) != n_scans:
            raise ConfigError(
                f"peaks Dataset must be a find_peaks result for these {n_scans} scans "
                f"(variable 'track_center' on (scan, peak)); got variables {list(peaks.data_vars)} "
                f"and sizes {dict(peaks.sizes)}")
        centers, fwhm, active = _auto_guess(peaks, fw, doublet, track_options, margin)
        return centers, fwhm, active, False
    pos = np.atleast_1d(np.asarray(peaks, dtype=float))
    if pos.ndim != 1 or not np.all(np.isfinite(pos)):
        raise ConfigError(f"peaks must be 'auto' or finite 2θ values in degrees; got {peaks!r}")
    centers = np.broadcast_to(pos, (n_scans, pos.size)).copy()
    return centers, np.full(pos.size, fw), np.ones((n_scans, pos.size), dtype=bool), True


def _variables(res: ArrayFit, profile: str) -> dict[str, np.ndarray]:
    """Named result arrays (scan, peak) from the packed slots."""
    p, e = res.params, res.esd
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(SLOTS[profile]):
        if name is not None:
            out[name], out[name + "_esd"] = p[:, :, j], e[:, :, j]
    if profile == "pearson7":
        out["eta"], out["eta_esd"] = np.full(p.shape[:2], math.nan), np.full(p.shape[:2], math.nan)
    if profile == "tch_pseudo_voigt":
        fg, fl = p[:, :, P_FWHM], p[:, :, P_SHAPE]
        f, eta = tch_fwhm_eta(fwhm_g=fg, fwhm_l=fl)
        h = 1e-6
        f_g, eta_g = tch_fwhm_eta(fwhm_g=fg + h, fwhm_l=fl)
        f_l, eta_l = tch_fwhm_eta(fwhm_g=fg, fwhm_l=fl + h)
        eg, el = e[:, :, P_FWHM], e[:, :, P_SHAPE]
        out["fwhm"], out["eta"] = f, eta
        out["fwhm_esd"] = np.hypot((f_g - f) / h * eg, (f_l - f) / h * el)
        out["eta_esd"] = np.hypot((eta_g - eta) / h * eg, (eta_l - eta) / h * el)
    out["height"], out["height_esd"] = res.height, res.height_esd
    return out


_UNITS = {"center": "deg", "fwhm": "deg", "fwhm_g": "deg", "fwhm_l": "deg", "eta": "1", "m": "1",
          "asym": "1", "area": "counts deg", "height": "counts"}


def _build(ds, res: ArrayFit, profile, bg, active, ratio, k2, window, background) -> xr.Dataset:
    """Assemble the result Dataset."""
    out = xr.Dataset(coords={SCAN: ds[SCAN].values, TWO_THETA: ds[TWO_THETA]})
    for name, arr in _variables(res, profile).items():
        base = name[:-4] if name.endswith("_esd") else name
        out[name] = ((SCAN, PEAK), arr, {"units": _UNITS.get(base, "")})
    out["redchi"] = ((SCAN, PEAK), res.redchi, {"long_name": "reduced chi-square of the fit window"})
    out["nfev"] = ((SCAN, PEAK), res.nfev)
    out["status"] = ((SCAN, PEAK), res.status.astype(np.int8), {
        "flag_values": list(FitStatus.NAMES), "flag_meanings": " ".join(
            v.replace(" ", "_") for v in FitStatus.NAMES.values())})
    out["background"] = ((SCAN, TWO_THETA), bg, {"units": "counts", "source": str(background)
                                                 if isinstance(background, str) or background is None
                                                 else "given"})
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        position = np.nanmedian(np.where(res.status == FitStatus.CONVERGED, res.params[:, :, P_CENTER],
                                         np.nan), axis=0)
    scans = np.arange(active.shape[0])
    first = np.array([scans[a].min() if a.any() else -1 for a in active.T], dtype=int)
    last = np.array([scans[a].max() if a.any() else -1 for a in active.T], dtype=int)
    coords = {PEAK: np.arange(res.status.shape[1]), "position": (PEAK, position, {"units": "deg"}),
              "window": (PEAK, res.windows), "first_scan": (PEAK, first), "last_scan": (PEAK, last)}
    wl = float(ds.attrs.get("wavelength_A", math.nan))
    if math.isfinite(wl) and wl > 0:
        coords["d_A"] = (PEAK, two_theta_to_d(position, wl), {"units": "angstrom"})
    out = out.assign_coords(coords)
    out = out.assign_coords({k: v for k, v in ds[SCAN].coords.items() if k != SCAN})
    out.attrs.update({k: ds.attrs[k] for k in ("wavelength_A", "wavelength2_A", "kalpha2_ratio",
                                               "radiation") if k in ds.attrs})
    out.attrs.update(profile=profile, doublet=int(k2 > 0), doublet_wavelength_ratio=ratio,
                     doublet_intensity_ratio=k2, window_fwhm=window,
                     area_definition="Kα1 line only; the Kα2 copy adds kalpha2_ratio × area")
    return out


def _check_errors(status: np.ndarray, active: np.ndarray, errors: str) -> None:
    """Raise (errors="raise") or warn about failed fits."""
    bad = np.isin(status, (FitStatus.NOT_CONVERGED, FitStatus.NO_DATA)) & active
    if not bad.any():
        return
    scans = np.flatnonzero(bad.any(axis=1))
    msg = (f"{int(bad.sum())} peak fits in {scans.size} scans did not converge or had no data "
           f"(first scans {scans[:5].tolist()}); their values are NaN, see 'status'")
    if errors == "raise":
        raise FitError(msg)
    warnings.warn(msg, FitWarning, stacklevel=3)


def fit_stack(
    ds: xr.Dataset,
    *,
    peaks: Any = "auto",
    profile: Profile = "pseudo_voigt",
    background: Any = "auto",
    doublet: bool | Literal["auto"] = "auto",
    window: float = 3.0,
    center_range: float | None = None,
    fwhm: float | None = None,
    fix_eta: float | None = None,
    widths: Literal["free", "caglioti"] = "free",
    track_options: dict[str, Any] | None = None,
    maxiter: int = 100,
    tol: float = 1e-4,
    detect: float = 3.0,
    screen: bool = True,
    progress: bool | Callable[[int, int], None] = False,
    errors: Literal["raise", "ignore"] = "ignore",
) -> xr.Dataset:
    """Fit the peaks of every scan of a stack.

    Parameters
    ----------
    ds : xarray.Dataset
        A stack (:mod:`phasetrace.schema`).  For plain arrays use
        :func:`fit_arrays` (or build a stack with :func:`phasetrace.schema.make_stack`).
    peaks : "auto", array_like of float, or Dataset
        ``"auto"``: peaks found in every scan and tracked through the stack
        (:func:`phasetrace.peaks.find_peaks`; a peak is fitted from a couple
        of scans before its first detection to a couple after its last).  An
        array: start 2θ (deg) of peaks fitted in every scan, each window
        following its peak from scan to scan.  A :func:`find_peaks` result: its tracks.
    profile : str
        ``"pseudo_voigt"`` (default), ``"split_pseudo_voigt"`` (adds ``asym``),
        ``"pearson7"`` (adds exponent ``m``; ``eta`` is NaN) or
        ``"tch_pseudo_voigt"`` (Thompson–Cox–Hastings; adds ``fwhm_g``, ``fwhm_l``).
    background : "auto", None, DataArray or ndarray
        Subtracted before fitting: ``"auto"`` uses ``ds["background"]`` if
        present, else SNIP (:func:`phasetrace.background.estimate_background`);
        ``None`` subtracts nothing.  Each window also fits a linear background.
    doublet : "auto" or bool
        Fit Kα1/Kα2 doublets (fixed λ₂/λ₁ from ``wavelength_A``/``wavelength2_A``
        and fixed intensity ratio ``kalpha2_ratio``); ``"auto"``: when the attrs give them.
    window : float
        Fitted range beyond the outer peaks of a window, in FWHM.
    center_range : float, optional
        Half-range (deg) of each centre around its start value; default 1.5 FWHM.
    fwhm : float, optional
        Typical FWHM (deg) for start values; estimated when omitted.
    fix_eta : float, optional
        Hold the pseudo-Voigt η at this value (0–1).
    widths : {"free", "caglioti"}
        ``"caglioti"``: after a first fit with free widths, fit one Caglioti
        law ``FWHM² = U tan²θ + V tanθ + W`` to all converged peaks of the
        stack and refit with every FWHM held at that law (Γ_G for TCH);
        ``attrs["caglioti_uvw"]`` records U, V, W (deg²).  Steadies weak
        peaks; widths that change along the cycle are then not followed.
    track_options : dict, optional
        Options of :func:`find_peaks` (``min_snr``, ``max_jump``, ...).
    maxiter, tol, detect : int, float, float
        LM iteration cap; χ² tolerance (stop when a step lowers χ² by less than
        ``tol × max(χ²ᵣ, 1)``); detection limit: a peak lower than ``detect``
        × the noise σ at its centre, or with area below one esd, is below detection.
    screen : bool
        Iterate only the peaks the data show (:mod:`phasetrace._kernels.screen`): in each
        scan a window fits the peaks detected in the previous scan (and those within one
        FWHM of them); any other peak enters only if the residual of that fit shows it
        (the detection rule on its linear area, anywhere in its centre range), else it is
        below detection with its linear area at the tracked position.  ``False``: every
        peak is fitted in every scan.
    progress : bool or callable
        ``callable(done, total)`` or ``True`` for a tqdm bar.
    errors : {"ignore", "raise"}
        ``"raise"``: raise :class:`FitError` if any fit fails to converge or
        has no data; ``"ignore"``: keep NaN + status and warn (:class:`FitWarning`).

    Returns
    -------
    xarray.Dataset
        On (scan, peak): ``center``, ``fwhm`` (deg), ``eta``, ``area``
        (counts·deg, Kα1 line), ``height`` (counts), each with ``*_esd``
        (1σ, covariance scaled by the reduced χ²), ``redchi``, ``nfev`` and
        ``status`` (:class:`phasetrace.schema.FitStatus`).  Values are NaN
        unless the status is converged or hit-bound; below-detection peaks
        keep ``area``/``height`` and their esds only (the fitted values, or for a peak
        left out of the fit its linear estimate at the tracked position, which may be
        negative: consistent with zero).  ``background``
        (scan, two_theta) is the subtracted background.  Peak coordinates
        ``position`` (median centre, deg), ``d_A``, ``window``,
        ``first_scan``, ``last_scan``; the scan coordinates of ``ds``.

    Raises
    ------
    SchemaError
        ``ds`` is not a stack.
    ConfigError
        Invalid option (or ``doublet=True`` without Kα2 attributes).
    FitError
        ``errors="raise"`` and a fit failed.

    Examples
    --------
    >>> from phasetrace.schema import make_stack
    >>> from phasetrace.peaks.profiles import pseudo_voigt
    >>> x = np.linspace(20, 40, 2001)
    >>> y = 100 + pseudo_voigt(x, center=30.0, fwhm=0.1, eta=0.5, area=50.0)
    >>> res = fit_stack(make_stack(x, np.tile(y, (3, 1))), peaks=[30.02], background=None)
    >>> [round(float(v), 3) for v in res["center"][:, 0]]
    [30.0, 30.0, 30.0]
    """
    if errors not in ("raise", "ignore"):
        raise ConfigError(f"errors={errors!r}; expected 'raise' or 'ignore'")
    if fix_eta is not None and not 0.0 <= fix_eta <= 1.0:
        raise ConfigError(f"fix_eta={fix_eta}; expected a value in 0..1")
    if widths not in ("free", "caglioti"):
        raise ConfigError(f"widths={widths!r}; expected 'free' or 'caglioti'")
    if profile not in SLOTS:
        raise ConfigError(f"unknown profile {profile!r}; expected one of {sorted(SLOTS)}")
    validate_stack(ds, require_wavelength=False)
    x, y = stack_arrays(ds)
    sigma = resolve_sigma(ds, y)
    bg = resolve_background(ds, y, background)
    net = y - bg
    ratio, k2 = resolve_doublet(ds, doublet)
    fw = float(fwhm) if fwhm is not None else typical_fwhm(x, net)
    net_ds = make_stack(x, net, sigma,
                        wavelength_A=ds.attrs.get("wavelength_A", math.nan),
                        wavelength2_A=ds.attrs.get("wavelength2_A", math.nan),
                        kalpha2_ratio=ds.attrs.get("kalpha2_ratio", 0.0))
    centers, fw_k, active, follow = _resolve_peaks(ds, net_ds, peaks, fw, doublet,
                                                   dict(track_options or {}), margin=2)
    p0 = _start_values(profile, centers, fw_k)
    step = float(np.median(np.diff(x)))
    lower, upper = default_bounds(profile, fw_k, step)
    if fix_eta is not None and profile in ("pseudo_voigt", "split_pseudo_voigt"):
        p0[:, :, P_SHAPE] = lower[:, P_SHAPE] = upper[:, P_SHAPE] = fix_eta
    dc = np.full(fw_k.size, center_range) if center_range is not None else np.maximum(
        (1.5 if follow else 1.0) * fw_k, 2 * step)
    opts = dict(profile=profile, center_range=dc, active=active, doublet=(ratio, k2), window=window,
                follow=follow, maxiter=maxiter, tol=tol, detect=detect, screen=screen,
                progress=progress)
    res = fit_stack_array(x, net, sigma, p0, lower, upper, **opts)
    uvw = None
    if widths == "caglioti":
        res, uvw = _caglioti_refit(x, net, sigma, p0, lower, upper, res, opts)
    logger.info("fitted %d peaks in %d windows over %d scans", p0.shape[1],
                int(res.windows.max()) + 1 if res.windows.size else 0, p0.shape[0])
    _check_errors(res.status, active, errors)
    out = _build(ds, res, profile, bg, active, ratio, k2, window, background)
    if uvw is not None:
        out.attrs["caglioti_uvw"] = list(uvw)
    return out


def _caglioti_refit(x, net, sigma, p0, lower, upper, res: ArrayFit, opts: dict[str, Any]):
    """Second pass with every FWHM held at one Caglioti law fitted to the first pass."""
    good = res.status == FitStatus.CONVERGED
    uvw = fit_caglioti(res.params[:, :, P_CENTER][good], res.params[:, :, P_FWHM][good],
                       fwhm_esd=res.esd[:, :, P_FWHM][good])
    if not np.all(np.isfinite(uvw)):
        warnings.warn("widths='caglioti': fewer than 3 converged peaks; widths left free",
                      FitWarning, stacklevel=3)
        return res, None
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pos = np.nanmedian(np.where(good, res.params[:, :, P_CENTER], np.nan), axis=0)
    pos = np.where(np.isfinite(pos), pos, np.nanmedian(p0[:, :, P_CENTER], axis=0))
    fw = caglioti_fwhm(pos, u=uvw[0], v=uvw[1], w=uvw[2])
    fw = np.where(fw > 0, fw, p0[0, :, P_FWHM])
    p1, lo, hi = p0.copy(), lower.copy(), upper.copy()
    p1[:, :, P_FWHM] = fw
    lo[:, P_FWHM] = hi[:, P_FWHM] = fw
    return fit_stack_array(x, net, sigma, p1, lo, hi, **opts), uvw


def fit_arrays(two_theta: Any, intensity: Any, sigma: Any = None, *, wavelength_A: float = math.nan,
               wavelength2_A: float = math.nan, kalpha2_ratio: float = 0.0,
               **options: Any) -> xr.Dataset:
    """:func:`fit_stack` on plain arrays: 2θ (deg, (n_points,)) and intensity ((n_scans, n_points) or (n_points,)).

    The arrays are wrapped with :func:`phasetrace.schema.make_stack`; ``sigma``
    defaults to √max(I, 1); wavelengths (Å) are only needed for a doublet or
    ``d_A``.  ``options`` are those of :func:`fit_stack`.

    Examples
    --------
    >>> from phasetrace.peaks.profiles import pseudo_voigt
    >>> x = np.linspace(20, 40, 2001)
    >>> y = 100 + pseudo_voigt(x, center=31.0, fwhm=0.1, eta=0.3, area=40.0)
    >>> round(float(fit_arrays(x, y, peaks=[31.0], background=None)["fwhm"][0, 0]), 3)
    0.1
    """
    ds = make_stack(two_theta, intensity, sigma, wavelength_A=wavelength_A,
                    wavelength2_A=wavelength2_A, kalpha2_ratio=kalpha2_ratio)
    return fit_stack(ds, **options)
