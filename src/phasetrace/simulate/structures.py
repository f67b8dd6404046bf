"""Prototype structures and their reflection lists for the simulator.

Structures are built with :meth:`pymatgen.core.Structure.from_spacegroup` from
published coordinates; reflection intensities come once from pymatgen's
:class:`~pymatgen.analysis.diffraction.xrd.XRDCalculator` (Lorentz-polarisation
removed), after which peaks move with the cell through the reciprocal metric.

Coordinates (fractional, conventional hexagonal/cubic settings):

* P2, P6₃/mmc: Na 2b (0,0,¼) occ. 0.25 and 2d (⅓,⅔,¾) occ. 0.42, TM 2a (0,0,0),
  O 4f (⅓,⅔,0.09) — Na2/3Ni1/3Mn2/3O2, Lu & Dahn, J. Electrochem. Soc. 148, A1225 (2001).
* O3, R-3m: Na 3b (0,0,½), TM 3a (0,0,0), O 6c (0,0,0.266) — α-NaFeO2 type
  (COD 1010644, there Na 3a, Fe 3b, O z = 0.234: the same structure with the origin on Na,
  z → ½ − z here); TM–O 2.01 Å, Na–O 2.33 Å at a 2.96, c 16.0 Å; NaNi0.5Mn0.5O2,
  Komaba et al., Inorg. Chem. 51, 6211 (2012).
* P3, R3m: TM 3a (0,0,0), O 3a (0,0,0.390) and (0,0,0.610), Na 3a (0,0,0.167)
  occ. 0.6 — P3-Na0.67CoO2 type, Delmas et al., Physica B+C 99, 81 (1980).
* S, Fd-3m (origin choice 1): Li 8a (0,0,0), Mn 16d (⅝,⅝,⅝), O 32e x = 0.388 — LiMn2O4 (COD 1513962).
* Al, Fm-3m: Al 4a; Be, P6₃/mmc: Be 2c (⅓,⅔,¼).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from ..errors import PhaseLibraryError

__all__ = ["PROTOTYPES", "Reflections", "prototype", "reflections", "reflections_from_cif", "d_spacings",
           "formula_units"]

#: label → (space group, kind of lattice, species, coordinates, TM per cell (formula units))
PROTOTYPES: dict[str, tuple[str, str, list, list, int]] = {
    "P2": ("P6_3/mmc", "hexagonal", [{"Na": 0.25}, {"Na": 0.42}, {"Ni": 1 / 3, "Mn": 2 / 3}, "O"],
           [[0, 0, 0.25], [1 / 3, 2 / 3, 0.75], [0, 0, 0], [1 / 3, 2 / 3, 0.09]], 2),
    "O3": ("R-3m", "hexagonal", [{"Na": 1.0}, {"Ni": 0.5, "Mn": 0.5}, "O"],
           [[0, 0, 0.5], [0, 0, 0], [0, 0, 0.266]], 3),
    "P3": ("R3m", "hexagonal", [{"Ni": 1 / 3, "Mn": 2 / 3}, "O", "O", {"Na": 0.6}],
           [[0, 0, 0], [0, 0, 0.390], [0, 0, 0.610], [0, 0, 0.167]], 3),
    "S": ("Fd-3m", "cubic", [{"Li": 1.0}, {"Mn": 1.0}, "O"],
          [[0, 0, 0], [5 / 8, 5 / 8, 5 / 8], [0.388, 0.388, 0.388]], 8),
    "Al": ("Fm-3m", "cubic", ["Al"], [[0, 0, 0]], 4),
    "Be": ("P6_3/mmc", "hexagonal", ["Be"], [[1 / 3, 2 / 3, 0.25]], 2),
}

SPACE_GROUPS = {label: spec[0] for label, spec in PROTOTYPES.items()}


def formula_units(label: str) -> int:
    """Formula units per conventional cell (one TM for layered phases, AB2O4 for spinel)."""
    try:
        return PROTOTYPES[label][4]
    except KeyError as err:
        raise PhaseLibraryError(f"no simulator prototype for phase {label!r}; known: {sorted(PROTOTYPES)}") from err


def prototype(label: str, *, a: float, c: float | None = None):
    """Build the pymatgen Structure of a prototype at cell ``a`` (and ``c``), Å.

    Parameters
    ----------
    label : str
        One of :data:`PROTOTYPES` (``"P2"``, ``"O3"``, ``"P3"``, ``"S"``, ``"Al"``, ``"Be"``).
    a, c : float
        Cell lengths in Å (``c`` required for hexagonal prototypes).

    Returns
    -------
    pymatgen.core.Structure

    Raises
    ------
    PhaseLibraryError
        For an unknown label or a missing ``c``.
    """
    from pymatgen.core import Lattice, Structure

    if label not in PROTOTYPES:
        raise PhaseLibraryError(f"no simulator prototype for phase {label!r}; known: {sorted(PROTOTYPES)}")
    group, kind, species, coords, _ = PROTOTYPES[label]
    if kind == "hexagonal":
        if c is None:
            raise PhaseLibraryError(f"phase {label!r} is hexagonal: give both a and c (Å)")
        lattice = Lattice.hexagonal(a, c)
    else:
        lattice = Lattice.cubic(a)
    return Structure.from_spacegroup(group, lattice, species, coords)


@dataclass(frozen=True)
class Reflections:
    """Reflections of one phase: Miller indices and intensity weights.

    Attributes
    ----------
    hkl : ndarray of int, shape (m, 3)
        One representative (h, k, l) per family (three-index, conventional cell).
    weight : ndarray, shape (m,)
        Multiplicity × |F|² / V² (Lorentz-polarisation removed; V the cell
        volume in Å³): intensity per unit volume of the phase, so scales
        proportional to volume fractions give consistent phase fractions.
    is_00l : ndarray of bool, shape (m,)
        Basal reflections (h = k = 0), affected by 00l preferred orientation.
    cos2_phi : ndarray, shape (m,)
        cos² of the angle between the reflection normal and c*, for March–Dollase.
    """

    hkl: np.ndarray
    weight: np.ndarray
    is_00l: np.ndarray
    cos2_phi: np.ndarray


def _lp(two_theta_deg: np.ndarray) -> np.ndarray:
    th = np.deg2rad(two_theta_deg / 2.0)
    return (1 + np.cos(2 * th) ** 2) / (np.sin(th) ** 2 * np.cos(th))


@functools.lru_cache(maxsize=64)
def _reflections_cached(label: str, a: float, c: float | None, d_min: float) -> Reflections:
    return _reflections_of(prototype(label, a=a, c=c), d_min)


def _reflections_of(structure, d_min: float) -> Reflections:
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    wavelength = 1.0
    tt_max = math.degrees(2 * math.asin(min(wavelength / (2 * d_min), 1.0)))
    pattern = XRDCalculator(wavelength=wavelength).get_pattern(structure, scaled=False,
                                                               two_theta_range=(0.5, tt_max))
    hkl = []
    for fam in pattern.hkls:
        idx = fam[0]["hkl"]
        hkl.append((idx[0], idx[1], idx[-1]))
    hkl_arr = np.asarray(hkl, dtype=int).reshape(-1, 3)
    weight = np.asarray(pattern.y, dtype=float) / _lp(np.asarray(pattern.x, dtype=float))
    recip = structure.lattice.reciprocal_lattice_crystallographic.matrix
    g = hkl_arr @ recip
    cstar = recip[2] / np.linalg.norm(recip[2])
    cos2 = (g @ cstar) ** 2 / np.maximum((g ** 2).sum(axis=1), 1e-30)
    keep = weight > weight.max() * 1e-4
    weight = weight / structure.lattice.volume ** 2
    return Reflections(hkl=hkl_arr[keep], weight=weight[keep],
                       is_00l=(hkl_arr[keep, 0] == 0) & (hkl_arr[keep, 1] == 0), cos2_phi=cos2[keep])


def reflections(label: str, *, a: float, c: float | None = None, d_min: float = 0.9) -> Reflections:
    """Reflection list of a prototype down to ``d_min`` (Å), computed once per cell and cached."""
    return _reflections_cached(label, float(a), None if c is None else float(c), float(d_min))


@functools.lru_cache(maxsize=64)
def _cif_cached(path: str, d_min: float) -> tuple[Reflections, str, float]:
    import warnings

    from pymatgen.core import Structure

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structure = Structure.from_file(path)
    except (OSError, ValueError) as err:
        raise PhaseLibraryError(f"{path}: cannot read the CIF ({err}); give a CIF that pymatgen can parse") from err
    refl = _reflections_of(structure, d_min)
    n_oxygen = sum(site.species.get_el_amt_dict().get("O", 0.0) for site in structure)
    return refl, structure.get_space_group_info()[0], n_oxygen


def reflections_from_cif(path: str, *, d_min: float = 0.9) -> tuple[Reflections, str, float]:
    """Reflection list of any structure in a CIF (e.g. ``reference_phases/O2.cif``).

    Parameters
    ----------
    path : str
        CIF file; its cell is the reference at which intensities are computed.
    d_min : float
        Smallest d-spacing, Å.

    Returns
    -------
    reflections : Reflections
    space_group : str
        Hermann–Mauguin symbol found by spglib.
    n_oxygen : float
        Oxygen atoms per cell (formula units of NaxMO2 = n_oxygen / 2).

    Raises
    ------
    PhaseLibraryError
        When the file cannot be parsed.
    """
    return _cif_cached(str(path), float(d_min))


def d_spacings(hkl: np.ndarray, cell: tuple[float, float, float, float, float, float]) -> np.ndarray:
    """d-spacings (Å) of reflections ``hkl`` (m, 3) for a cell (a, b, c Å; α, β, γ °).

    Examples
    --------
    >>> float(d_spacings(np.array([[0, 0, 2]]), (2.886, 2.886, 11.16, 90, 90, 120))[0])
    5.58
    """
    a, b, c, al, be, ga = cell
    ca, cb, cg = (math.cos(math.radians(v)) for v in (al, be, ga))
    g = np.array([[a * a, a * b * cg, a * c * cb], [a * b * cg, b * b, b * c * ca], [a * c * cb, b * c * ca, c * c]])
    gstar = np.linalg.inv(g)
    h = np.asarray(hkl, dtype=float)
    return 1.0 / np.sqrt(np.einsum("ij,jk,ik->i", h, gstar, h))
