"""Reflections of a crystal structure at an arbitrary cell: d, |F|² × multiplicity, orientation.

The structure (atoms, occupancies) is read once from a CIF with pymatgen; the
cell may then be changed (fractional coordinates fixed).  Structure factors are
the kinematic sum ``F(hkl) = Σ_j n_j f_j(s) exp(−B s²) exp(2πi h·x_j)`` over every
atom of the unit cell, with the Cromer–Mann-type atomic form factors shipped with
pymatgen (``f(s) = Z − 41.78214 s² Σ a_i exp(−b_i s²)``, s = sinθ/λ) and one
isotropic Debye–Waller B.  Every (h, k, l) of the sphere is enumerated, so
multiplicities come out of the sum; reflections that stay equivalent for any cell
of the crystal system (same d at two different cells, same |F|²) are merged.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from pymatgen.analysis.diffraction.xrd import ATOMIC_SCATTERING_PARAMS
from pymatgen.core import Lattice, Structure

__all__ = ["Cell", "Reflections", "load_structure", "reflections", "d_spacing", "cell_volume"]

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "reference_phases"


@dataclass(frozen=True)
class Cell:
    """Conventional cell: lengths (Å) and angles (deg)."""

    a: float
    b: float
    c: float
    alpha: float = 90.0
    beta: float = 90.0
    gamma: float = 90.0

    def lattice(self) -> Lattice:
        return Lattice.from_parameters(self.a, self.b, self.c, self.alpha, self.beta, self.gamma)

    def as_list(self) -> list[float]:
        return [self.a, self.b, self.c, self.alpha, self.beta, self.gamma]


@dataclass(frozen=True)
class Reflections:
    """Merged reflections of one phase (arrays of length n_refl).

    ``hkl`` is a representative of each merged set (members stay equivalent
    for any cell of the crystal system, so |F|² × multiplicity is that of the
    representative times ``multiplicity``); ``sf`` marks hexagonal-setting
    reflections with h − k ≠ 3n and l ≠ 0 (broadened by stacking faults in O/P
    intergrowths).
    """

    hkl: np.ndarray          # (n, 3) int
    multiplicity: np.ndarray  # (n,) int
    sf: np.ndarray           # (n,) bool


def cell_volume(cell: Cell) -> float:
    """Unit-cell volume (Å³)."""
    return float(cell.lattice().volume)


def d_spacing(cell: Cell, hkl: np.ndarray) -> np.ndarray:
    """d (Å) of each (h, k, l) row for ``cell``: 1/|h a* + k b* + l c*|."""
    rec = cell.lattice().reciprocal_lattice_crystallographic.matrix
    g = np.asarray(hkl, dtype=float) @ rec
    return 1.0 / np.linalg.norm(g, axis=1)


def cos_to_normal(cell: Cell, hkl: np.ndarray) -> np.ndarray:
    """|cos| of the angle between each scattering vector and the layer normal c* (001)."""
    rec = cell.lattice().reciprocal_lattice_crystallographic.matrix
    g = np.asarray(hkl, dtype=float) @ rec
    n = rec[2] / np.linalg.norm(rec[2])
    return np.abs(g @ n) / np.linalg.norm(g, axis=1)


@lru_cache(maxsize=None)
def load_structure(name: str, directory: str | None = None) -> Structure:
    """The structure of ``name`` (``reference_phases/<name>.cif`` by default)."""
    path = Path(directory or REFERENCE_DIR) / f"{name}.cif"
    return Structure.from_file(str(path), primitive=False)


def _form_factor(symbol: str, z: int, s2: np.ndarray) -> np.ndarray:
    coeffs = np.asarray(ATOMIC_SCATTERING_PARAMS[symbol])
    return z - 41.78214 * s2 * np.sum(coeffs[:, 0, None] * np.exp(-coeffs[:, 1, None] * s2), axis=0)


def structure_factor_sq(structure: Structure, cell: Cell, hkl: np.ndarray, b_iso: float = 1.0) -> np.ndarray:
    """|F(hkl)|² of ``structure`` with its cell replaced by ``cell`` (fractional coordinates kept)."""
    hkl = np.asarray(hkl, dtype=float)
    s2 = 0.25 / d_spacing(cell, hkl) ** 2
    f = np.zeros(hkl.shape[0], dtype=complex)
    for site in structure:
        phase = np.exp(2j * np.pi * hkl @ site.frac_coords)
        for sp, occ in site.species.items():
            el = sp.symbol if hasattr(sp, "symbol") else str(sp)
            f += occ * _form_factor(el, sp.Z, s2) * phase
    return np.abs(f) ** 2 * np.exp(-2.0 * b_iso * s2)


def _perturbed(cell: Cell, system: str) -> Cell:
    """A cell of the same crystal system with every free parameter changed."""
    if system == "cubic":
        return Cell(cell.a * 1.037, cell.a * 1.037, cell.a * 1.037)
    if system == "hexagonal":
        return Cell(cell.a * 1.031, cell.a * 1.031, cell.c * 0.973, 90, 90, 120)
    if system == "orthorhombic":
        return Cell(cell.a * 1.031, cell.b * 0.983, cell.c * 1.047)
    return Cell(cell.a * 1.031, cell.b * 0.983, cell.c * 1.047, 90, cell.beta + 1.7, 90)


def crystal_system(cell: Cell) -> str:
    """Crystal system implied by the cell metric (enough for the phases used here)."""
    if abs(cell.gamma - 120) < 1e-6:
        return "hexagonal"
    if abs(cell.beta - 90) > 1e-6:
        return "monoclinic"
    if abs(cell.a - cell.b) < 1e-9 and abs(cell.b - cell.c) < 1e-9:
        return "cubic"
    return "orthorhombic"


def reflections(structure: Structure, d_min: float, *, d_max: float = 30.0, b_iso: float = 1.0) -> Reflections:
    """Merged reflections with d ≥ ``d_min`` (Å, with a margin for later cell changes)."""
    lat = structure.lattice
    cell = Cell(*lat.abc, *lat.angles)
    system = crystal_system(cell)
    dm = 0.85 * d_min
    hmax = [int(np.ceil(x / dm)) + 1 for x in lat.abc]
    grid = np.array(np.meshgrid(*[np.arange(-m, m + 1) for m in hmax], indexing="ij")).reshape(3, -1).T
    grid = grid[np.any(grid != 0, axis=1)]
    d0 = d_spacing(cell, grid)
    grid, d0 = grid[(d0 >= dm) & (d0 <= d_max)], d0[(d0 >= dm) & (d0 <= d_max)]
    f2 = structure_factor_sq(structure, cell, grid, b_iso)
    keep = f2 > 1e-6 * f2.max()
    grid, d0, f2 = grid[keep], d0[keep], f2[keep]
    d1 = d_spacing(_perturbed(cell, system), grid)
    key = np.round(np.column_stack([d0 * 1e5, d1 * 1e5, f2 / f2.max() * 1e5])).astype(np.int64)
    _, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.ravel()
    reps, mult = [], []
    for g in range(inv.max() + 1):
        m = grid[inv == g]
        # representative: prefer non-negative indices (readable)
        reps.append(m[np.lexsort((-m[:, 0], -m[:, 1], -m[:, 2]))][0])
        mult.append(m.shape[0])
    reps = np.array(reps)
    hexagonal = system == "hexagonal"
    sf = (((reps[:, 0] - reps[:, 1]) % 3 != 0) & (reps[:, 2] != 0)) if hexagonal else np.zeros(len(reps), bool)
    return Reflections(reps, np.array(mult), sf)
