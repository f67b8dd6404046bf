"""Stack-level peak finding: :func:`find_peaks` (Dataset in, Dataset out)."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..background.methods import typical_fwhm
from ..schema import PEAK, SCAN, validate_stack
from ._prepare import resolve_background, resolve_doublet, resolve_sigma, stack_arrays
from .find import find_candidates, link_tracks

__all__ = ["find_peaks"]

CANDIDATE = "candidate"


def find_peaks(
    ds: xr.Dataset,
    *,
    background: Any = "auto",
    doublet: bool | str = "auto",
    min_snr: float = 4.0,
    smooth_scans: int = 1,
    max_jump: float = 1.5,
    max_gap: int = 3,
    min_detections: int = 3,
    min_track_snr: float = 20.0,
    fwhm: float | None = None,
) -> xr.Dataset:
    """Find peak candidates in every scan and link them into tracks.

    Parameters
    ----------
    ds : xarray.Dataset
        A stack (see :mod:`phasetrace.schema`).
    background : "auto", None, DataArray or ndarray
        Background to subtract first: ``"auto"`` uses ``ds["background"]`` if
        present, else SNIP; ``None`` subtracts nothing; or a (scan, two_theta) array.
    doublet : "auto" or bool
        Drop Kα2 satellites of stronger candidates (``"auto"``: when
        ``ds.attrs`` describe a Kα1/Kα2 source).
    min_snr : float
        Minimum prominence, in noise σ of the smoothed data.
    smooth_scans : int
        Scans averaged on each side of a scan before detection.
    max_jump : float
        Largest move of a track between consecutive detections, in FWHM.
    max_gap : int
        Scans a track may be missed before it ends.
    min_detections : int
        Minimum number of detections of a kept track.
    min_track_snr : float
        Minimum quadrature sum of the candidate SNRs of a kept track (capped
        at 4√n_scans); removes short runs of noise maxima.
    fwhm : float, optional
        Typical FWHM (deg); estimated from the median pattern when omitted.

    Returns
    -------
    xarray.Dataset
        ``candidate_center``, ``candidate_height``, ``candidate_fwhm``,
        ``candidate_snr`` on (scan, candidate), NaN-padded; ``track_center``
        and ``track_fwhm`` on (scan, peak), NaN where the track is not
        detected; coordinates on ``peak``: ``position`` (median 2θ, deg),
        ``first_scan``, ``last_scan``, ``n_detections``; scan coordinates of
        ``ds``; ``attrs["fwhm_deg"]``.

    Examples
    --------
    >>> from phasetrace.schema import make_stack
    >>> x = np.linspace(20, 40, 2001)
    >>> y = 50 + 1000 * np.exp(-((x - 30) / 0.06) ** 2)
    >>> tr = find_peaks(make_stack(x, np.tile(y, (4, 1))), background=None)
    >>> [round(float(v), 2) for v in tr["position"]]
    [30.0]
    """
    validate_stack(ds, require_wavelength=False)
    x, y = stack_arrays(ds)
    sigma = resolve_sigma(ds, y)
    bg = resolve_background(ds, y, background)
    net = y - bg
    fw = float(fwhm) if fwhm is not None else typical_fwhm(x, net)
    ratio, k2 = resolve_doublet(ds, doublet)
    cand = find_candidates(x, net, sigma, fwhm=fw, min_snr=min_snr, smooth_scans=smooth_scans,
                           doublet=(ratio, k2) if k2 > 0 else None)
    cols = link_tracks(cand, fwhm=fw, max_jump=max_jump, max_gap=max_gap,
                       min_detections=min_detections, min_track_snr=min_track_snr)
    rows = np.arange(cols.shape[0])[:, None]
    safe = np.where(cols >= 0, cols, 0)
    centre = np.where(cols >= 0, cand.center[rows, safe], np.nan)
    width = np.where(cols >= 0, cand.fwhm[rows, safe], np.nan)
    det = cols >= 0
    scans = np.arange(cols.shape[0])
    first = np.array([scans[d].min() for d in det.T], dtype=int)
    last = np.array([scans[d].max() for d in det.T], dtype=int)
    out = xr.Dataset(
        {f"candidate_{k}": ((SCAN, CANDIDATE), getattr(cand, k), {"units": u})
         for k, u in (("center", "deg"), ("height", "counts"), ("fwhm", "deg"), ("snr", ""))},
        coords={SCAN: ds[SCAN].values},
    )
    out["track_center"] = ((SCAN, PEAK), centre, {"units": "deg"})
    out["track_fwhm"] = ((SCAN, PEAK), width, {"units": "deg"})
    with np.errstate(all="ignore"):
        position = np.nanmedian(centre, axis=0) if centre.size else np.empty(0)
    out = out.assign_coords({PEAK: np.arange(cols.shape[1]),
                             "position": (PEAK, position, {"units": "deg"}),
                             "first_scan": (PEAK, first), "last_scan": (PEAK, last),
                             "n_detections": (PEAK, det.sum(axis=0))})
    out = out.assign_coords({k: v for k, v in ds[SCAN].coords.items() if k != SCAN})
    out.attrs.update(fwhm_deg=fw, min_snr=min_snr, doublet=int(k2 > 0))
    return out
