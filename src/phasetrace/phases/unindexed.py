"""What the phase search could not explain: the unindexed peaks and what to try next.

The phase analysis keeps, per scan, the positions of strong peaks that no accepted phase
explains (``unindexed_peaks`` on (scan, unindexed), degrees 2θ, NaN-padded).
:func:`unindexed_summary` gathers them over the stack: positions within the matching
tolerance (``attrs["match_tolerance_deg"]``) or one peak width (FWHM of the mean pattern:
closer peaks are not resolved, and a peak moving less than that from scan to scan stays one
peak) are the same peak; each gets its mean 2θ, its d-spacing (Bragg's law at the stack's
wavelength), its median background-subtracted intensity and the number of
scans it is seen in.  With suggestions of what to do (``--reference-dir``, ``--elements``,
``--calibrate``), it is logged and written to ``sequence.json`` under ``"unindexed"``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["UnindexedPeak", "Unindexed", "unindexed_summary", "UNINDEXED_KEY", "MAX_LISTED"]

logger = logging.getLogger(__name__)

#: key of the summary in sequence.json.
UNINDEXED_KEY = "unindexed"
#: most peaks listed (strongest first).
MAX_LISTED = 20


@dataclass(frozen=True)
class UnindexedPeak:
    """One peak no phase explains: 2θ (deg), d (Å), median net intensity, scans seen in."""

    two_theta: float
    d_spacing: float
    intensity: float
    n_scans: int


@dataclass(frozen=True)
class Unindexed:
    """Summary of the unindexed peaks of a run.

    Attributes
    ----------
    peaks : list of UnindexedPeak
        Strongest first, at most ``MAX_LISTED``.
    n_peaks : int
        Distinct unindexed peaks in all (before the cut).
    n_beyond_lists : int
        Unindexed peaks at d below the reflection lists' ``d_min_A`` (high-angle lines of the
        phases present, which no list reaches): counted, not listed.
    no_sample_phase : bool
        No sample phase was identified in any scan.
    suggestions : list of str
        What to try next.
    """

    peaks: list[UnindexedPeak] = field(default_factory=list)
    n_peaks: int = 0
    n_beyond_lists: int = 0
    no_sample_phase: bool = False
    suggestions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    def log_text(self) -> str:
        """One line for the log."""
        listed = "; ".join(f"{p.two_theta:.3f}° (d {p.d_spacing:.4f} Å, I {p.intensity:.3g})"
                           for p in self.peaks[:8])
        head = "no sample phase identified; " if self.no_sample_phase else ""
        beyond = (f" (and {self.n_beyond_lists} at d below the reflection lists)"
                  if self.n_beyond_lists else "")
        return (f"{head}{self.n_peaks} unindexed peak(s){beyond}"
                f"{': ' + listed if listed else ''}{' …' if self.n_peaks > 8 else ''}"
                f"{'; try: ' + ' | '.join(self.suggestions) if self.suggestions else ''}")


def _clusters(positions: np.ndarray, tol: float) -> list[np.ndarray]:
    order = np.sort(positions)
    if order.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(order) > tol) + 1
    return np.split(order, breaks)


def _suggestions(results: xr.Dataset, no_sample: bool, options: dict[str, Any]) -> list[str]:
    from .calibrate import is_lab_line

    out = []
    if options.get("reference_dir", "") == "":
        out.append("--reference-dir DIR with CIFs of the phases you expect (the d-spacings above "
                   "can be searched in COD or the ICDD database)")
    else:
        out.append("add CIFs of further candidate phases to --reference-dir")
    if not options.get("elements"):
        out.append("--elements LIST (e.g. Li,Mn,O) to keep phases of the wrong chemistry out of the "
                   "automatic search")
    wl = float(results.attrs.get("wavelength_A", math.nan))
    if not options.get("calibrate") and math.isfinite(wl) and not is_lab_line(wl):
        out.append(f"--calibrate PHASE (e.g. Al, Si, LaB6) if the wavelength {wl:.6g} Å is "
                   "approximate: a wrong wavelength moves every peak")
    if no_sample and options.get("names", "auto") != "auto":
        out.append("--phases auto to search the whole library")
    return out


def unindexed_summary(results: xr.Dataset, *, options: dict[str, Any] | None = None,
                      d_min_A: float = 0.75) -> Unindexed:
    """Unindexed peaks of a run and suggestions (see module docstring).

    Parameters
    ----------
    results : xarray.Dataset
        With ``unindexed_peaks`` (scan, unindexed), ``intensity`` and ``background``
        (scan, two_theta), ``present`` and ``is_cell_component``, ``attrs["wavelength_A"]``.
    options : dict, optional
        The run's phase options (``reference_dir``, ``elements``, ``calibrate``, ``names``),
        to tailor the suggestions.
    d_min_A : float
        Smallest d of the reflection lists (``load_library``'s default 0.75 Å): peaks below
        it are counted in ``n_beyond_lists`` only.
    """
    options = options or {}
    present = results["present"].values if "present" in results else np.zeros((0, 0), bool)
    cell = (results["is_cell_component"].values.astype(bool) if "is_cell_component" in results
            else np.zeros(present.shape[-1] if present.ndim == 2 else 0, bool))
    no_sample = not (present.ndim == 2 and present[:, ~cell].any())
    if "unindexed_peaks" not in results:
        return Unindexed(no_sample_phase=no_sample, suggestions=_suggestions(results, no_sample, options))
    tt = results["two_theta"].values.astype(float)
    step = float(np.median(np.diff(tt))) if tt.size > 1 else 0.01
    tol = float(results.attrs.get("match_tolerance_deg", 2 * step))
    un = np.asarray(results["unindexed_peaks"].transpose("scan", ...).values, dtype=float)
    net = None
    if "intensity" in results:
        inten = np.asarray(results["intensity"].transpose("scan", "two_theta").values, dtype=float)
        bg = (np.asarray(results["background"].transpose("scan", "two_theta").values, dtype=float)
              if "background" in results else np.zeros_like(inten))
        net = inten - bg
        from .peaksearch import estimate_fwhm

        tol = max(tol, estimate_fwhm(tt, np.nanmedian(net, axis=0)))
    scans = np.repeat(np.arange(un.shape[0]), un.shape[1])
    flat = un.reshape(-1)
    ok = np.isfinite(flat)
    flat, scans = flat[ok], scans[ok]
    wl = float(results.attrs.get("wavelength_A", math.nan))
    peaks = []
    for group in _clusters(flat, max(tol, step)):
        centre = float(np.mean(group))
        inside = (flat >= group[0]) & (flat <= group[-1])
        members = scans[inside]
        k = np.clip(np.searchsorted(tt, flat[inside]), 1, tt.size - 1)   # each scan at its own peak
        k = np.where(np.abs(tt[k - 1] - flat[inside]) < np.abs(tt[k] - flat[inside]), k - 1, k)
        height = float(np.nanmedian(net[members, k])) if net is not None else math.nan
        d = wl / (2 * math.sin(math.radians(centre / 2))) if math.isfinite(wl) else math.nan
        peaks.append(UnindexedPeak(round(centre, 4), round(d, 5), round(height, 4),
                                   int(np.unique(members).size)))
    beyond = [p for p in peaks if p.d_spacing < d_min_A]
    peaks = [p for p in peaks if not p.d_spacing < d_min_A]
    peaks.sort(key=lambda p: -(p.intensity if math.isfinite(p.intensity) else 0.0))
    summary = Unindexed(peaks=peaks[:MAX_LISTED], n_peaks=len(peaks), n_beyond_lists=len(beyond),
                        no_sample_phase=no_sample,
                        suggestions=_suggestions(results, no_sample, options))
    if no_sample or peaks:
        (logger.warning if no_sample else logger.info)("%s", summary.log_text())
    return summary
