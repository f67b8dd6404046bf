"""Merged reflection lists of a structure: |F|² per group of reflections that coincide for
every cell of the crystal system (see :mod:`phasetrace.phases.reference`)."""

from __future__ import annotations

import functools
import json

import numpy as np

from .cell import cell_from_free, d_spacing, free_from_cell

__all__ = ["build_reflections", "B_ISO_A2"]

#: isotropic displacement parameter used for all atoms, Å².
B_ISO_A2 = 1.0


# ----------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _scattering_params() -> dict[str, list]:
    """pymatgen's table of atomic scattering parameters (``atomic_scattering_params.json``).

    Read from the package data directly: importing ``pymatgen.analysis.diffraction.xrd``
    for the same table also imports matplotlib.pyplot and scipy.stats (about 1.5 CPU-s
    of a run), which a run without figures never needs.  Same file, same numbers.
    """
    from importlib.resources import files

    text = files("pymatgen.analysis.diffraction").joinpath("atomic_scattering_params.json").read_bytes()
    return json.loads(text)


def _scattering_factors(symbols: list[str], s: np.ndarray) -> np.ndarray:
    """Atomic scattering factors f(s), shape (n_symbols, n_s), s = sinθ/λ in Å⁻¹."""
    from pymatgen.core import Element

    params = _scattering_params()
    out = np.empty((len(symbols), s.size))
    for i, sym in enumerate(symbols):
        coeffs = np.array(params[sym])
        z = Element(sym).Z
        out[i] = z - 41.78214 * s**2 * np.sum(
            coeffs[:, 0, None] * np.exp(-coeffs[:, 1, None] * s**2), axis=0)
    return out


def _perturbed_cells(system: str, cell: np.ndarray) -> list[np.ndarray]:
    """Two cells of the same crystal system with generic (non-special) parameters."""
    free = free_from_cell(system, cell)
    out = []
    for factors in ((1.0137, 0.9871, 1.0213, 1.0071, 0.9931, 1.0111),
                    (0.9823, 1.0161, 0.9779, 0.9913, 1.0087, 0.9947)):
        out.append(cell_from_free(system, free * np.array(factors[: free.size])))
    return out


def build_reflections(structure, system: str, d_min_A: float) -> tuple[np.ndarray, np.ndarray]:
    """Merged reflection groups of a pymatgen Structure down to ``d_min_A``.

    Returns
    -------
    hkl : ndarray of int, shape (n, 3)
    mult_f2 : ndarray, shape (n,)
        Σ |F|² over each group (electrons²), extinct groups removed.
    """
    cell = np.array([*structure.lattice.abc, *structure.lattice.angles])
    lim = [int(np.ceil(x / d_min_A)) + 1 for x in structure.lattice.abc]
    grid = np.mgrid[-lim[0]:lim[0] + 1, -lim[1]:lim[1] + 1, -lim[2]:lim[2] + 1].reshape(3, -1).T
    grid = grid[np.any(grid != 0, axis=1)]
    d = d_spacing(cell, grid)
    grid, d = grid[d >= d_min_A], d[d >= d_min_A]
    symbols, occ, frac = [], [], []
    for site in structure:
        for sp, o in site.species.items():
            symbols.append(sp.symbol)
            occ.append(o)
            frac.append(site.frac_coords)
    uniq = sorted(set(symbols))
    f = _scattering_factors(uniq, 1.0 / (2.0 * d))
    fi = f[[uniq.index(s) for s in symbols]] * np.asarray(occ)[:, None]
    phase = np.exp(2j * np.pi * (np.asarray(frac) @ grid.T))
    f2 = np.abs(np.sum(fi * phase, axis=0)) ** 2
    keys = np.stack([1.0 / d**2] + [1.0 / d_spacing(p, grid) ** 2
                                     for p in _perturbed_cells(system, cell)], axis=1)
    keys = np.round(keys / keys.max(axis=0) * 1e9).astype(np.int64)
    _, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    n = inverse.max() + 1
    summed = np.bincount(inverse, weights=f2, minlength=n)
    # representative: the member with the most non-negative indices, then largest h, k, l
    score = (grid >= 0).sum(axis=1) * 1e6 + grid[:, 0] * 1e4 + grid[:, 1] * 1e2 + grid[:, 2]
    order = np.lexsort((-score, inverse))
    first = np.ones(order.size, bool)
    first[1:] = inverse[order][1:] != inverse[order][:-1]
    rep = np.empty(n, dtype=np.int64)
    rep[inverse[order][first]] = order[first]
    keep = summed > 1e-6 * summed.max()
    return grid[rep[keep]].astype(int), summed[keep]
