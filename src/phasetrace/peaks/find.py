"""Peak finding on every scan of a stack and linking of the candidates into tracks.

Candidates are local maxima of the background-subtracted pattern, lightly
smoothed along 2θ and averaged over a few neighbouring scans, whose prominence
exceeds ``min_snr`` times the local noise.  Candidates of consecutive scans are
linked by an optimal assignment (Hungarian algorithm) when they lie within
``max_jump`` FWHM of the track's last position; a track may miss up to
``max_gap`` scans.  A peak that drifts by many FWHM over the cycle is followed
as long as each step between scans is small; a peak that appears or vanishes
(a two-phase reaction) starts or ends a track.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d, uniform_filter1d
from scipy.optimize import linear_sum_assignment
from scipy.signal import find_peaks as _scipy_find_peaks
from scipy.signal import peak_widths

__all__ = ["Candidates", "find_candidates", "link_tracks"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidates:
    """Per-scan peak candidates, padded with NaN.

    Attributes
    ----------
    center : ndarray, shape (n_scans, n_max)
        Candidate 2θ (deg), sub-step by parabolic interpolation; NaN padding.
    height : ndarray, shape (n_scans, n_max)
        Background-subtracted height (counts).
    fwhm : ndarray, shape (n_scans, n_max)
        Width at half prominence (deg).
    snr : ndarray, shape (n_scans, n_max)
        Prominence divided by the noise σ.
    """

    center: np.ndarray
    height: np.ndarray
    fwhm: np.ndarray
    snr: np.ndarray


def _smooth(y: np.ndarray, sigma: np.ndarray, scans: int, width_pts: float) -> tuple[np.ndarray, np.ndarray]:
    """Average over ±``scans`` scans, then Gaussian-smooth along 2θ (σ = ``width_pts`` points).

    Returns the smoothed data and its propagated one-sigma noise.
    """
    good = np.isfinite(y) & np.isfinite(sigma)
    y0 = np.where(good, y, 0.0)
    v0 = np.where(good, sigma ** 2, 0.0)
    w = good.astype(float)
    nscan = 1
    if scans > 0 and y.shape[0] > 1:
        nscan = min(2 * scans + 1, y.shape[0])
        y0, v0, w = (uniform_filter1d(a, nscan, axis=0, mode="nearest") for a in (y0, v0, w))
    k2 = 1.0
    if width_pts > 0.3:
        y0, v0, w = (gaussian_filter1d(a, width_pts, axis=1, mode="nearest") for a in (y0, v0, w))
        delta = np.zeros(int(8 * width_pts) * 2 + 1)
        delta[delta.size // 2] = 1.0
        k2 = float(np.sum(gaussian_filter1d(delta, width_pts) ** 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        ys = y0 / w
        ss = np.sqrt(v0 / w * k2 / nscan)
    ys[w < 0.5] = np.nan
    return ys, ss


def find_candidates(two_theta: np.ndarray, net: np.ndarray, sigma: np.ndarray, *, fwhm: float,
                    min_snr: float = 4.0, smooth_scans: int = 1,
                    doublet: tuple[float, float] | None = None) -> Candidates:
    """Candidate peaks of every scan of a background-subtracted stack.

    Parameters
    ----------
    two_theta : ndarray, shape (n_points,)
        2θ grid, degrees.
    net : ndarray, shape (n_scans, n_points)
        Intensity minus background (counts); NaN allowed.
    sigma : ndarray, shape (n_scans, n_points)
        One-sigma noise of ``net`` (counts).
    fwhm : float
        Typical peak FWHM (deg); sets the smoothing and the minimum separation.
    min_snr : float
        Minimum prominence in units of the (smoothed) noise σ.
    smooth_scans : int
        Scans averaged on each side before detection (0: none).
    doublet : (float, float), optional
        ``(λ₂/λ₁, I₂/I₁)``: candidates at the Kα2 position of a stronger
        candidate are dropped.

    Returns
    -------
    Candidates
    """
    x = np.asarray(two_theta, dtype=float)
    step = float(np.median(np.diff(x)))
    fw_pts = max(fwhm / step, 1.0)
    rows: list[tuple[np.ndarray, ...]] = []
    n_scans = net.shape[0]
    block = 256                                   # bounded memory for large stacks
    for b0 in range(0, n_scans, block):
        b1 = min(b0 + block, n_scans)
        h0, h1 = max(0, b0 - smooth_scans), min(n_scans, b1 + smooth_scans)
        ys, ss = _smooth(net[h0:h1], sigma[h0:h1], smooth_scans, 0.25 * fw_pts)
        for yrow, srow in zip(ys[b0 - h0:b1 - h0], ss[b0 - h0:b1 - h0]):
            rows.append(_scan_candidates(x, yrow, srow, fw_pts, min_snr, doublet))
    nmax = max([r[0].size for r in rows] + [1])
    out = [np.full((len(rows), nmax), np.nan) for _ in range(4)]
    for i, r in enumerate(rows):
        for arr, vals in zip(out, r):
            arr[i, :vals.size] = vals
    return Candidates(*out)


def _scan_candidates(x, y, s, fw_pts, min_snr, doublet):
    """Candidates of one (smoothed) scan: centre, height, fwhm (deg), snr."""
    empty = (np.empty(0),) * 4
    good = np.isfinite(y)
    if good.sum() < 5:
        return empty
    yf = np.where(good, y, np.nanmin(y))
    noise = np.where(np.isfinite(s) & (s > 0), s, np.nanmedian(s[np.isfinite(s)]) if np.isfinite(s).any() else 1.0)
    idx, props = _scipy_find_peaks(yf, prominence=min_snr * float(np.min(noise)),
                                   distance=max(1, int(fw_pts * 0.5)), wlen=int(max(20 * fw_pts, 10)))
    if idx.size == 0:
        return empty
    snr = np.minimum(props["prominences"], yf[idx]) / noise[idx]
    keep = (snr >= min_snr) & (idx > 0) & (idx < x.size - 1)
    idx, snr = idx[keep], snr[keep]
    if idx.size == 0:
        return empty
    widths = peak_widths(yf, idx, rel_height=0.5)[0]
    y0, y1, y2 = yf[idx - 1], yf[idx], yf[idx + 1]
    den = y0 - 2 * y1 + y2
    with np.errstate(invalid="ignore", divide="ignore"):
        off = np.where(den < 0, 0.5 * (y0 - y2) / den, 0.0)
    step = np.gradient(x)[idx]
    center = x[idx] + np.clip(off, -0.5, 0.5) * step
    fwhm = np.maximum(widths, 1.0) * step
    height = y1
    if doublet is not None and doublet[1] > 0:
        keep = _drop_kalpha2(center, height, fwhm, doublet)
        center, height, fwhm, snr = center[keep], height[keep], fwhm[keep], snr[keep]
    return center, height, fwhm, snr


def _drop_kalpha2(center, height, fwhm, doublet):
    """Mask of candidates that are not the Kα2 satellite of a stronger candidate."""
    ratio, k2 = doublet
    s = ratio * np.sin(np.deg2rad(center / 2))
    with np.errstate(invalid="ignore"):
        c2 = np.rad2deg(2 * np.arcsin(np.where(s < 1, s, np.nan)))
    keep = np.ones(center.size, dtype=bool)
    for i in range(center.size):
        if not np.isfinite(c2[i]):
            continue
        near = np.abs(center - c2[i]) < 0.35 * fwhm[i] + 0.25 * (c2[i] - center[i])
        near &= (height < max(0.85, 1.6 * k2) * height[i]) & (np.arange(center.size) != i)
        keep &= ~near
    return keep


def link_tracks(cand: Candidates, *, fwhm: float, max_jump: float = 1.5, max_gap: int = 3,
                min_detections: int = 3, min_track_snr: float = 20.0) -> np.ndarray:
    """Link per-scan candidates into tracks.

    Parameters
    ----------
    cand : Candidates
        From :func:`find_candidates`.
    fwhm : float
        Typical FWHM (deg).
    max_jump : float
        Largest move between two detections of a track, in FWHM (per scan of
        gap, plus one).
    max_gap : int
        Scans a track may go undetected before it ends.
    min_detections : int
        Tracks with fewer detections are discarded (capped at the number of scans).
    min_track_snr : float
        Tracks whose quadrature-summed candidate SNR, √Σ snr², is lower are
        discarded (capped at ``4 √n_scans`` so that short stacks keep peaks).
        Short runs of correlated noise maxima are removed this way.

    Returns
    -------
    ndarray of int, shape (n_scans, n_tracks)
        Column of ``cand`` detected as each track in each scan, -1 where not
        detected; tracks sorted by median position.
    """
    n_scans = cand.center.shape[0]
    tracks: list[dict[int, float]] = []
    last_pos: list[float] = []
    last_scan: list[int] = []
    live: list[int] = []
    for s in range(n_scans):
        c = cand.center[s]
        c = c[np.isfinite(c)]
        live = [t for t in live if s - last_scan[t] <= max_gap + 1]
        taken = np.zeros(c.size, dtype=bool)
        if live and c.size:
            pos = np.array([last_pos[t] for t in live])
            gap = np.array([s - last_scan[t] for t in live])
            cost = np.abs(pos[:, None] - c[None, :])
            limit = (max_jump * fwhm * gap)[:, None]
            big = 1e6
            rows, cols = linear_sum_assignment(np.where(cost <= limit, cost, big))
            for r, k in zip(rows, cols):
                if cost[r, k] <= limit[r, 0]:
                    t = live[r]
                    tracks[t][s] = int(k)
                    last_pos[t] = float(c[k])
                    last_scan[t] = s
                    taken[k] = True
        for k in np.flatnonzero(~taken):
            live.append(len(tracks))
            tracks.append({s: int(k)})
            last_pos.append(float(c[k]))
            last_scan.append(s)
    need = min(min_detections, n_scans)
    thr = min(min_track_snr, 4.0 * math.sqrt(n_scans))
    kept = [t for t in tracks if len(t) >= need
            and math.sqrt(sum(cand.snr[s, k] ** 2 for s, k in t.items())) >= thr]
    kept.sort(key=lambda t: float(np.median([cand.center[s, k] for s, k in t.items()])))
    out = np.full((n_scans, len(kept)), -1, dtype=np.int64)
    for j, t in enumerate(kept):
        for s, k in t.items():
            out[s, j] = k
    logger.debug("linked %d tracks (%d discarded)", len(kept), len(tracks) - len(kept))
    return out
