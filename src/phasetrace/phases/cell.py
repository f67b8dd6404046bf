"""Unit-cell arithmetic: free parameters per crystal system, metric tensors, d-spacings.

A *cell* is the tuple ``(a, b, c, alpha, beta, gamma)`` in Å and degrees.  Each crystal system
has a vector of *free parameters* (``cubic: a``; ``hexagonal: a, c``; ``tetragonal: a, c``;
``orthorhombic: a, b, c``;
``monoclinic: a, b, c, beta``, unique axis b) from which the full cell follows.  The
d-spacing of reflection ``(h, k, l)`` is ``1/d² = hᵀ G* h`` with ``G*`` the reciprocal metric
tensor, written as six coefficients ``(A11, A22, A33, A12, A13, A23)`` so that
``1/d² = A11 h² + A22 k² + A33 l² + 2 A12 hk + 2 A13 hl + 2 A23 kl``.
"""

from __future__ import annotations

import numpy as np

from ..errors import PhaseLibraryError

__all__ = ["CRYSTAL_SYSTEMS", "FREE_PARAMS", "cell_from_free", "free_from_cell",
           "reciprocal_metric", "metric_from_free", "d_spacing", "cell_volume", "interlayer_spacing"]

CRYSTAL_SYSTEMS = ("cubic", "hexagonal", "tetragonal", "orthorhombic", "monoclinic", "triclinic")

#: names of the free cell parameters of each crystal system, in order.
FREE_PARAMS: dict[str, tuple[str, ...]] = {
    "cubic": ("a",),
    "hexagonal": ("a", "c"),
    "tetragonal": ("a", "c"),
    "orthorhombic": ("a", "b", "c"),
    "monoclinic": ("a", "b", "c", "beta"),
    "triclinic": ("a", "b", "c", "alpha", "beta", "gamma"),
}


def _check_system(system: str) -> None:
    if system not in FREE_PARAMS:
        raise PhaseLibraryError(
            f"unknown crystal system {system!r}; expected one of {', '.join(CRYSTAL_SYSTEMS)}")


def cell_from_free(system: str, free: np.ndarray) -> np.ndarray:
    """Full cells from free parameters.

    Parameters
    ----------
    system : str
        Crystal system (see :data:`CRYSTAL_SYSTEMS`); trigonal/rhombohedral cells are
        ``"hexagonal"`` (hexagonal axes).
    free : ndarray, shape (..., n_free)
        Free parameters in the order of :data:`FREE_PARAMS` (Å, degrees).

    Returns
    -------
    ndarray, shape (..., 6)
        ``(a, b, c, alpha, beta, gamma)`` in Å and degrees.
    """
    _check_system(system)
    f = np.asarray(free, dtype=float)
    out = np.empty(f.shape[:-1] + (6,))
    out[..., 3:] = 90.0
    if system == "cubic":
        out[..., 0] = out[..., 1] = out[..., 2] = f[..., 0]
    elif system == "hexagonal":
        out[..., 0] = out[..., 1] = f[..., 0]
        out[..., 2] = f[..., 1]
        out[..., 5] = 120.0
    elif system == "tetragonal":
        out[..., 0] = out[..., 1] = f[..., 0]
        out[..., 2] = f[..., 1]
    elif system == "orthorhombic":
        out[..., :3] = f[..., :3]
    elif system == "monoclinic":
        out[..., :3] = f[..., :3]
        out[..., 4] = f[..., 3]
    else:
        out[...] = f
    return out


def free_from_cell(system: str, cell: np.ndarray) -> np.ndarray:
    """Free parameters of ``cell`` (shape (..., 6)) in ``system``; inverse of :func:`cell_from_free`."""
    _check_system(system)
    c = np.asarray(cell, dtype=float)
    index = {"a": 0, "b": 1, "c": 2, "alpha": 3, "beta": 4, "gamma": 5}
    return c[..., [index[name] for name in FREE_PARAMS[system]]]


def metric_from_free(system: str, free: np.ndarray) -> np.ndarray:
    """Reciprocal metric coefficients (..., 6) straight from free parameters (fast path)."""
    f = np.asarray(free, dtype=float)
    out = np.zeros(f.shape[:-1] + (6,))
    if system == "cubic":
        out[..., 0] = out[..., 1] = out[..., 2] = 1.0 / f[..., 0] ** 2
    elif system == "hexagonal":
        out[..., 0] = out[..., 1] = 4.0 / (3.0 * f[..., 0] ** 2)
        out[..., 3] = 2.0 / (3.0 * f[..., 0] ** 2)
        out[..., 2] = 1.0 / f[..., 1] ** 2
    elif system == "tetragonal":
        out[..., 0] = out[..., 1] = 1.0 / f[..., 0] ** 2
        out[..., 2] = 1.0 / f[..., 1] ** 2
    elif system == "orthorhombic":
        out[..., :3] = 1.0 / f[..., :3] ** 2
    elif system == "monoclinic":
        beta = np.deg2rad(f[..., 3])
        s2 = np.sin(beta) ** 2
        out[..., 0] = 1.0 / (f[..., 0] ** 2 * s2)
        out[..., 1] = 1.0 / f[..., 1] ** 2
        out[..., 2] = 1.0 / (f[..., 2] ** 2 * s2)
        out[..., 4] = -np.cos(beta) / (f[..., 0] * f[..., 2] * s2)
    else:
        return reciprocal_metric(cell_from_free(system, f))
    return out


def reciprocal_metric(cell: np.ndarray) -> np.ndarray:
    """Reciprocal metric coefficients ``(A11, A22, A33, A12, A13, A23)`` in Å⁻².

    Parameters
    ----------
    cell : ndarray, shape (..., 6)
        Cells (Å, degrees).

    Returns
    -------
    ndarray, shape (..., 6)
    """
    c = np.asarray(cell, dtype=float)
    a, b, cc = c[..., 0], c[..., 1], c[..., 2]
    al, be, ga = (np.deg2rad(c[..., i]) for i in (3, 4, 5))
    ca, cb, cg = np.cos(al), np.cos(be), np.cos(ga)
    g = np.empty(c.shape[:-1] + (3, 3))
    g[..., 0, 0], g[..., 1, 1], g[..., 2, 2] = a * a, b * b, cc * cc
    g[..., 0, 1] = g[..., 1, 0] = a * b * cg
    g[..., 0, 2] = g[..., 2, 0] = a * cc * cb
    g[..., 1, 2] = g[..., 2, 1] = b * cc * ca
    gi = np.linalg.inv(g)
    return np.stack([gi[..., 0, 0], gi[..., 1, 1], gi[..., 2, 2],
                     gi[..., 0, 1], gi[..., 0, 2], gi[..., 1, 2]], axis=-1)


def d_spacing(cell: np.ndarray, hkl: np.ndarray) -> np.ndarray:
    """d-spacings (Å), shape (..., n), of reflections ``hkl`` (shape (n, 3)) for cells (..., 6)."""
    m = reciprocal_metric(cell)[..., None, :]
    h = np.asarray(hkl, dtype=float)
    q2 = (m[..., 0] * h[:, 0] ** 2 + m[..., 1] * h[:, 1] ** 2 + m[..., 2] * h[:, 2] ** 2
          + 2 * m[..., 3] * h[:, 0] * h[:, 1] + 2 * m[..., 4] * h[:, 0] * h[:, 2]
          + 2 * m[..., 5] * h[:, 1] * h[:, 2])
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 / np.sqrt(q2)


def cell_volume(cell: np.ndarray) -> np.ndarray:
    """Cell volume (Å³) of cells shape (..., 6)."""
    c = np.asarray(cell, dtype=float)
    ca, cb, cg = (np.cos(np.deg2rad(c[..., i])) for i in (3, 4, 5))
    return c[..., 0] * c[..., 1] * c[..., 2] * np.sqrt(
        np.maximum(1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg, 0.0))


def interlayer_spacing(cell: np.ndarray, n_slabs: int) -> np.ndarray:
    """Interlayer spacing (Å): the (001) plane spacing divided by the slabs per c repeat.

    For hexagonal cells this is ``c / n``; for the monoclinic O'3/P'3 cells ``c sin β / n``.
    """
    m = reciprocal_metric(cell)
    return 1.0 / np.sqrt(m[..., 2]) / n_slabs
