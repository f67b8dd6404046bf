"""Reflection tick marks for reference phases.

:func:`reflection_ticks` asks the phase library
(:func:`phasetrace.phases.load_library`) first; when the library does not know
the phase, or is not available, positions are computed here from the cell and
the reflection conditions of the phase's usual space group (intensities are
then unknown and returned as 1).
"""

from __future__ import annotations

import logging
import math
from functools import lru_cache
from typing import Any

import numpy as np

from ..schema import d_to_two_theta

logger = logging.getLogger(__name__)

__all__ = ["reflection_ticks", "hkl_positions"]

#: usual space-group number of each canonical phase label (PHASES.md).
SPACE_GROUPS: dict[str, int] = {
    "P2": 194, "O3": 166, "P3": 160, "O2": 186, "OP4": 187, "O1": 164, "OP2": 187,
    "O'3": 12, "P'2": 63, "P'3": 12, "S": 227, "T": 55, "Al": 225, "Be": 194,
    "Na": 229, "Cu": 225,
}


def _allowed(h: np.ndarray, k: np.ndarray, l: np.ndarray, sg: int | None) -> np.ndarray:
    """Boolean mask of reflections allowed by the general + main special conditions."""
    ok = np.ones(h.shape, dtype=bool)
    if sg in (194, 186):            # hh(-2h)l and its equivalents: l = 2n
        i = -h - k
        ok &= ~(((h == k) | (k == i) | (h == i)) & (l % 2 != 0))
    elif sg in (166, 160):          # R obverse, hexagonal setting: -h + k + l = 3n
        ok &= (-h + k + l) % 3 == 0
    elif sg in (225,):              # F: all even or all odd
        ok &= ((h % 2) == (k % 2)) & ((k % 2) == (l % 2))
    elif sg in (227,):              # F, 0kl: k + l = 4n
        ok &= ((h % 2) == (k % 2)) & ((k % 2) == (l % 2))
        for x, y, z in ((h, k, l), (k, l, h), (l, h, k)):
            ok &= ~((x == 0) & ((y + z) % 4 != 0))
    elif sg in (229,):              # I: h + k + l = 2n
        ok &= (h + k + l) % 2 == 0
    elif sg in (63,):               # C: h + k = 2n; h0l: l = 2n
        ok &= (h + k) % 2 == 0
        ok &= ~((k == 0) & (l % 2 != 0))
    elif sg in (12,):               # C: h + k = 2n
        ok &= (h + k) % 2 == 0
    elif sg in (55,):               # 0kl: k = 2n; h0l: h = 2n
        ok &= ~((h == 0) & (k % 2 != 0))
        ok &= ~((k == 0) & (h % 2 != 0))
    return ok


def _reciprocal_metric(cell: tuple[float, ...]) -> np.ndarray:
    a, b, c, al, be, ga = cell
    ca, cb, cg = (math.cos(math.radians(x)) for x in (al, be, ga))
    g = np.array([[a * a, a * b * cg, a * c * cb],
                  [a * b * cg, b * b, b * c * ca],
                  [a * c * cb, b * c * ca, c * c]])
    return np.linalg.inv(g)


def hkl_positions(
    cell: tuple[float, float, float, float, float, float],
    wavelength_A: float,
    two_theta_range: tuple[float, float],
    *,
    space_group: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Allowed reflections of a cell inside a 2θ range.

    Parameters
    ----------
    cell : tuple of 6 float
        a, b, c (Å), α, β, γ (degrees).
    wavelength_A : float
        Wavelength, Å.
    two_theta_range : (float, float)
        2θ limits, degrees.
    space_group : int, optional
        International number; its reflection conditions remove absent hkl.
        None keeps every hkl.

    Returns
    -------
    hkl : ndarray, shape (n, 3), int
        One representative per distinct d-spacing (ties within 1e-4 Å merged).
    two_theta : ndarray, shape (n,)
        Positions, degrees, increasing.

    Examples
    --------
    >>> hkl, tt = hkl_positions((4.0495, 4.0495, 4.0495, 90, 90, 90), 1.540593, (30, 50),
    ...                         space_group=225)
    >>> [round(float(x), 2) for x in tt]
    [38.47, 44.72]
    """
    if not all(np.isfinite(cell)) or min(cell[:3]) <= 0 or not math.isfinite(wavelength_A):
        return np.zeros((0, 3), dtype=int), np.zeros(0)
    lo, hi = sorted(two_theta_range)
    d_min = wavelength_A / (2.0 * math.sin(math.radians(min(hi, 179.0) / 2.0)))
    gstar = _reciprocal_metric(tuple(float(x) for x in cell))
    limits = [int(math.ceil(cell[i] / d_min)) + 1 for i in range(3)]
    grid = np.stack(np.meshgrid(*(np.arange(-m, m + 1) for m in limits), indexing="ij"), -1)
    hkl = grid.reshape(-1, 3)
    hkl = hkl[np.any(hkl != 0, axis=1)]
    inv_d2 = np.einsum("ni,ij,nj->n", hkl, gstar, hkl)
    d = 1.0 / np.sqrt(inv_d2)
    keep = (d >= d_min * 0.999) & _allowed(hkl[:, 0], hkl[:, 1], hkl[:, 2], space_group)
    hkl, d = hkl[keep], d[keep]
    tt = d_to_two_theta(d, wavelength_A)
    inside = np.isfinite(tt) & (tt >= lo) & (tt <= hi)
    hkl, d, tt = hkl[inside], d[inside], tt[inside]
    order = np.lexsort((-hkl[:, 2], -hkl[:, 1], -hkl[:, 0], -hkl.sum(axis=1), -np.round(d, 4)))
    hkl, d, tt = hkl[order], d[order], tt[order]
    first = np.concatenate(([True], np.diff(np.round(d, 4)) != 0)) if d.size else np.zeros(0, bool)
    return hkl[first], tt[first]


@lru_cache(maxsize=64)
def _library_phase(label: str, reference_dir: str | None = None) -> Any:
    """The library's phase of this label (loaded once per process), or None."""
    try:
        from ..phases import load_library  # type: ignore[attr-defined]
    except ImportError:
        return None
    try:
        phases = [p for p in load_library([label], reference_dir=reference_dir or None,
                                          cell_components=False) if p.label == label]
    except Exception as err:  # noqa: BLE001 - the library is optional for drawing ticks
        logger.debug("phase library does not know %s (%s)", label, err)
        return None
    return phases[0] if phases else None


def _library_reflections(label: str, cell: tuple[float, ...], wavelength_A: float,
                         two_theta_range: tuple[float, float], reference_dir: str | None = None) -> Any:
    phase = _library_phase(label, reference_dir)
    if phase is None and reference_dir:
        phase = _library_phase(label, None)
    if phase is None:
        return None
    try:
        return phase.reflections(np.asarray(cell, dtype=float), wavelength_A, two_theta_range)
    except Exception as err:  # noqa: BLE001 - the library is optional for drawing ticks
        logger.debug("phase library has no reflections for %s (%s); computing ticks", label, err)
        return None


def reflection_ticks(
    label: str,
    cell: tuple[float, float, float, float, float, float],
    wavelength_A: float,
    two_theta_range: tuple[float, float],
    *,
    use_library: bool = True,
    reference_dir: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tick positions of a phase: ``(hkl (n, 3), two_theta (n,) deg, intensity (n,))``.

    Parameters
    ----------
    label : str
        Phase label (``"P2"``, ``"S"``, ``"Al"`` ...).
    cell : tuple of 6 float
        a, b, c (Å), α, β, γ (degrees) in the phase's conventional setting.
    wavelength_A : float
        Wavelength, Å.
    two_theta_range : (float, float)
        2θ limits, degrees.
    use_library : bool
        Ask :func:`phasetrace.phases.load_library` first (intensities known).
    reference_dir : str, optional
        The run's ``--reference-dir``: user phases (CIFs) are found there, so
        their ticks follow their space group.

    Returns
    -------
    tuple of ndarray
        Miller indices, positions (deg) and relative intensities (1 when unknown).
    """
    if use_library:
        found = _library_reflections(label, cell, wavelength_A, two_theta_range, reference_dir)
        if found is not None:
            hkl, tt, inten = (np.asarray(v) for v in found)
            return hkl, tt.astype(float), inten.astype(float)
    hkl, tt = hkl_positions(cell, wavelength_A, two_theta_range,
                            space_group=SPACE_GROUPS.get(label))
    return hkl, tt, np.ones(tt.size)
