"""Quantities derived from refined cells: full cells with esds, volumes, fractions, strain."""

from __future__ import annotations

import numpy as np

from ..phases.cell import cell_from_free, cell_volume, interlayer_spacing
from ..phases.reference import ReferencePhase

__all__ = ["cell_with_esd", "phase_scale", "weight_fractions", "volume_strain"]


def _gradient(fun, free: np.ndarray) -> np.ndarray:
    """Central-difference gradient of ``fun(free) -> (m,)``, shape (m, n_free)."""
    out = []
    for j in range(free.size):
        h = np.zeros(free.size)
        h[j] = 1e-6 * max(abs(free[j]), 1.0)
        out.append((fun(free + h) - fun(free - h)) / (2 * h[j]))
    return np.stack(out, axis=-1)


def cell_with_esd(phase: ReferencePhase, free: np.ndarray, cov: np.ndarray) -> dict[str, float]:
    """Full cell, volume, volume per formula unit and interlayer spacing with esds.

    Parameters
    ----------
    phase : ReferencePhase
    free : ndarray, shape (n_free,)
        Free cell parameters (Å, degrees).
    cov : ndarray, shape (n_free, n_free)
        Their covariance.

    Returns
    -------
    dict
        Keys ``a b c alpha beta gamma volume volume_per_fu interlayer_d`` and ``esd_`` +
        each (Å, degrees, Å³).  Parameters fixed by symmetry have esd 0; the interlayer
        spacing is NaN for non-layered phases.
    """
    system = phase.crystal_system
    names = ("a", "b", "c", "alpha", "beta", "gamma")

    def everything(f: np.ndarray) -> np.ndarray:
        cell = cell_from_free(system, f)
        d = interlayer_spacing(cell, phase.n_slabs) if phase.n_slabs else np.nan
        return np.concatenate([cell, [cell_volume(cell), d]])

    values = everything(free)
    jac = _gradient(everything, free)
    var = np.einsum("ij,jk,ik->i", jac, cov, jac) if np.all(np.isfinite(cov)) else np.full(8, np.nan)
    esd = np.sqrt(np.maximum(var, 0.0))
    out = {n: float(v) for n, v in zip(names, values[:6])}
    out.update({f"esd_{n}": float(e) for n, e in zip(names, esd[:6])})
    out["volume"], out["esd_volume"] = float(values[6]), float(esd[6])
    out["volume_per_fu"] = float(values[6] / phase.z_fu)
    out["esd_volume_per_fu"] = float(esd[6] / phase.z_fu)
    out["interlayer_d"], out["esd_interlayer_d"] = float(values[7]), float(esd[7])
    return out


def phase_scale(phase: ReferencePhase, cell: np.ndarray, hkl: np.ndarray, amplitude: np.ndarray,
                wavelength_A: float) -> float:
    """Rietveld-like scale S = ΣA_k / ΣI_k of a phase from its Pawley intensities.

    For layered phases the 00l reflections (most affected by preferred orientation) are
    left out when other reflections exist.
    """
    if hkl.shape[0] == 0:
        return np.nan
    lookup = {tuple(h): i for i, h in enumerate(phase.hkl)}
    idx = np.array([lookup.get(tuple(h), -1) for h in hkl])
    _, inten = phase.intensities(cell, wavelength_A)
    calc = np.where(idx >= 0, inten[np.maximum(idx, 0)], np.nan)
    use = np.isfinite(calc)
    if phase.family == "layered":
        in_plane = np.any(hkl[:, :2] != 0, axis=1)
        if np.any(use & in_plane):
            use &= in_plane
    den = np.sum(calc[use])
    return float(np.sum(amplitude[use]) / den) if den > 0 else np.nan


def weight_fractions(scales: np.ndarray, volumes: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """Hill–Howard weight fractions W_p = S_p M_p V_p / Σ S M V (NaN entries ignored).

    Parameters
    ----------
    scales : ndarray, shape (P,)
        Scale factors S_p.
    volumes : ndarray, shape (P,)
        Cell volumes, Å³.
    masses : ndarray, shape (P,)
        Mass of the cell contents (Z·M), g/mol.

    Returns
    -------
    ndarray, shape (P,)
        Fractions summing to 1 over finite entries; NaN elsewhere.
    """
    w = np.asarray(scales) * np.asarray(volumes) * np.asarray(masses)
    w = np.where(np.isfinite(w) & (w >= 0), w, np.nan)
    total = np.nansum(w)
    return w / total if total > 0 else np.full(w.shape, np.nan)


def volume_strain(volume: np.ndarray) -> np.ndarray:
    """(V − V_first)/V_first along axis 0 for each column, V_first = first finite value."""
    v = np.asarray(volume, dtype=float)
    out = np.full(v.shape, np.nan)
    for j in range(v.shape[1]):
        finite = np.flatnonzero(np.isfinite(v[:, j]))
        if finite.size:
            out[:, j] = v[:, j] / v[finite[0], j] - 1.0
    return out
