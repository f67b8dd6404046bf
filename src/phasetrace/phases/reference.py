"""Reference phases: CIF + metadata → reflection lists computed once, positions recomputed per cell.

The structure factors of every reflection are computed once per phase from its CIF (atomic
scattering factors of pymatgen's table, an isotropic B of 1 Å²).  Reflections whose d-spacings
coincide for *every* cell of the crystal system (e.g. (h k l) and (k h l) in hexagonal) are
merged into one group with the summed ``multiplicity × |F|²``; accidental overlaps at the
reference cell are kept apart, so the list stays valid when the cell moves.  Peak positions
for a new cell then need only the reciprocal metric (:mod:`phasetrace.phases.cell`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import PhaseLibraryError
from .cell import FREE_PARAMS, d_spacing, free_from_cell
from .reflections import B_ISO_A2, build_reflections
from .cif import cif_value as _cif_value
from .cif import parse_structure as _parse_structure
from .cif import symmetrised as _symmetrised
from .cif import system_of as _system_of

__all__ = ["ReferencePhase", "load_library", "library_dir", "known_phases", "read_cif_phase",
           "twin"]

logger = logging.getLogger(__name__)

#: default relative lattice range (±) of a phase without metadata.
DEFAULT_RANGE_REL = 0.03
#: relative range of cell lengths, and range of angles (degrees), of a user-named CIF phase.
NAMED_RANGE_REL = 0.01
NAMED_RANGE_DEG = 1.0
#: longest explicit list whose CIF phases count as named (a longer one is a candidate set).
MAX_NAMED = 4



@dataclass(frozen=True, eq=False)
class ReferencePhase:
    """One reference phase: metadata, reference cell and merged reflection list.

    Attributes
    ----------
    label : str
        Canonical name (``"P2"``, ``"O'3"``...).
    family : str
        ``"layered"``, ``"spinel"``, ``"tunnel"``, ``"cell"`` or ``"other"``.
    crystal_system : str
        Crystal system in which the cell is refined (see :mod:`phasetrace.phases.cell`).
    cell : tuple of float
        Reference cell (a, b, c, α, β, γ), Å and degrees.
    space_group : str
        Hermann–Mauguin symbol from the CIF.
    z_fu : float
        Formula units per cell (one transition metal for layered/tunnel phases).
    n_slabs : int
        MO2 slabs per c repeat (0 when not layered).
    parent : str
        Undistorted parent label of a distorted variant, else ``""``.
    is_cell_component : bool
        True for current collector, window, Na metal...
    lattice_range : dict of str to (float, float)
        Bounds of each free parameter (Å, degrees) the phase may move over.
    min_distortion : float
        For distorted variants: the smallest in-plane distortion counted as distorted.
    cell_mass : float
        Mass of the cell contents, g/mol (for Hill–Howard weight fractions).
    source : str
        Path of the CIF and the provenance line it carries.
    aliases : tuple of str
        Other accepted names.
    elements : tuple of str
        Chemical elements of the structure (sorted symbols), for ``elements=`` restrictions.
    symmetrised_from_p1 : bool
        The CIF was written in P1 and its symmetry was found (and used) by spglib.
    user_named : bool
        Named explicitly by the user (in a list of at most ``MAX_NAMED`` phases, i.e. a
        statement that they are there rather than a candidate set) with their own
        monoclinic/triclinic CIF
        (``reference_dir``) that gives no lattice range: searched within
        ``NAMED_RANGE_REL`` of the CIF cell (angles within ``NAMED_RANGE_DEG``), so a minor
        phase can be accepted from a lower completeness.
    hkl : ndarray, shape (n, 3)
        One representative index per merged reflection group.
    mult_f2 : ndarray, shape (n,)
        Σ |F|² over the group's members (multiplicity included), electrons², at the
        reference cell.
    """

    label: str
    family: str
    crystal_system: str
    cell: tuple[float, float, float, float, float, float]
    space_group: str = ""
    z_fu: float = 1.0
    n_slabs: int = 0
    parent: str = ""
    is_cell_component: bool = False
    lattice_range: dict[str, tuple[float, float]] = field(default_factory=dict)
    min_distortion: float = 0.0
    cell_mass: float = math.nan
    source: str = ""
    aliases: tuple[str, ...] = ()
    elements: tuple[str, ...] = ()
    symmetrised_from_p1: bool = False
    user_named: bool = False
    hkl: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), int), repr=False)
    mult_f2: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    @property
    def free_names(self) -> tuple[str, ...]:
        """Names of the free cell parameters of this phase's crystal system."""
        return FREE_PARAMS[self.crystal_system]

    @property
    def free_bounds(self) -> np.ndarray:
        """Bounds of the free parameters, shape (n_free, 2), Å / degrees."""
        return np.array([self.lattice_range[n] for n in self.free_names], dtype=float)

    @property
    def reference_free(self) -> np.ndarray:
        """Free parameters of the reference cell, shape (n_free,)."""
        return free_from_cell(self.crystal_system, np.array(self.cell))

    def distortion(self, cell: np.ndarray) -> np.ndarray:
        """In-plane distortion of a distorted variant relative to its hexagonal parent.

        ``|b/(√3 a) − 1|`` for orthorhombic, ``|a/(√3 b) − 1|`` for monoclinic cells, 0 else.
        """
        c = np.asarray(cell, dtype=float)
        if self.crystal_system == "orthorhombic" and self.parent:
            return np.abs(c[..., 1] / (math.sqrt(3) * c[..., 0]) - 1.0)
        if self.crystal_system == "monoclinic" and self.parent:
            return np.abs(c[..., 0] / (math.sqrt(3) * c[..., 1]) - 1.0)
        return np.zeros(c.shape[:-1])

    def intensities(self, cell: np.ndarray, wavelength_A: float) -> tuple[np.ndarray, np.ndarray]:
        """2θ (degrees) and absolute intensities ``m|F|²·LP·DW`` of all groups, NaN if unreachable.

        Parameters
        ----------
        cell : array_like, shape (6,)
            Cell (Å, degrees).
        wavelength_A : float
            Wavelength, Å.

        Returns
        -------
        two_theta : ndarray, shape (n,)
        intensity : ndarray, shape (n,)
        """
        d = d_spacing(np.asarray(cell, float), self.hkl)
        s = wavelength_A / (2.0 * d)
        with np.errstate(invalid="ignore"):
            theta = np.arcsin(np.where(s <= 1.0, s, np.nan))
        tt = np.rad2deg(2 * theta)
        lp = (1 + np.cos(2 * theta) ** 2) / (np.sin(theta) ** 2 * np.cos(theta))
        dw = np.exp(-B_ISO_A2 / (4 * d * d))
        return tt, self.mult_f2 * lp * dw

    def reflections(
        self, cell: np.ndarray | None, wavelength_A: float, two_theta_range: tuple[float, float],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Reflections of this phase for a cell, inside a 2θ range.

        Parameters
        ----------
        cell : array_like, shape (6,), or None
            Cell (Å, degrees); None uses the reference cell.
        wavelength_A : float
            Wavelength, Å.
        two_theta_range : (float, float)
            Range of 2θ, degrees.

        Returns
        -------
        hkl : ndarray of int, shape (n, 3)
        two_theta : ndarray, shape (n,)
            Positions, degrees, increasing.
        intensity : ndarray, shape (n,)
            Relative intensities, strongest = 100 (no preferred orientation).

        Examples
        --------
        >>> al = load_library(["Al"])[0]
        >>> hkl, tt, rel = al.reflections(None, 1.5406, (30, 50))
        >>> [tuple(int(i) for i in h) for h in hkl], [round(float(t), 2) for t in tt]
        ([(1, 1, 1), (2, 0, 0)], [38.47, 44.72])
        """
        c = np.asarray(self.cell if cell is None else cell, dtype=float)
        tt, inten = self.intensities(c, wavelength_A)
        ok = np.isfinite(tt) & (tt >= two_theta_range[0]) & (tt <= two_theta_range[1])
        order = np.argsort(tt[ok])
        hkl, tt, inten = self.hkl[ok][order], tt[ok][order], inten[ok][order]
        rel = 100.0 * inten / inten.max() if inten.size else inten
        return hkl, tt, rel


# ----------------------------------------------------------------------------------------
# library
# ----------------------------------------------------------------------------------------
def library_dir() -> Path:
    """Folder of the built-in reference library (``reference_phases/``).

    Looked for inside the installed package first, then at the repository root.
    """
    here = Path(__file__).resolve()
    for candidate in (here.parents[1] / "reference_phases", here.parents[3] / "reference_phases"):
        if (candidate / "index.toml").is_file():
            return candidate
    raise PhaseLibraryError(
        "the built-in reference library (reference_phases/index.toml) is not installed; "
        "reinstall phasetrace or pass reference_dir")


def _read_index(folder: Path) -> dict[str, dict]:
    path = folder / "index.toml"
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (tomllib.TOMLDecodeError, OSError) as err:
        raise PhaseLibraryError(f"{path}: cannot read phase index ({err}); expected TOML tables "
                                "[label] with family, crystal_system, z_fu, range_*") from err


@functools.lru_cache(maxsize=64)
def _load_phase(path_str: str, mtime: float, meta_items: tuple, d_min_A: float) -> ReferencePhase:
    path = Path(path_str)
    meta = dict(meta_items)
    s = _parse_structure(path)
    space_group = _cif_value(path, "_symmetry_space_group_name_H-M") or _cif_value(
        path, "_space_group_name_H-M_alt")
    # a P1 CIF is symmetrised unless its index entry says how to refine it (the built-in
    # OP4/OP2 intergrowth models are deliberate P1 listings refined as hexagonal)
    found = None if meta.get("crystal_system") else _symmetrised(path, s)
    if found is not None:
        s, space_group = found
    cell = (*s.lattice.abc, *s.lattice.angles)
    system = meta.get("crystal_system") or _system_of(s)
    if system not in FREE_PARAMS:
        raise PhaseLibraryError(f"{path}: crystal_system {system!r} is not one of {sorted(FREE_PARAMS)}")
    free = free_from_cell(system, np.array(cell))
    ranges = {}
    for name, value in zip(FREE_PARAMS[system], free):
        lo, hi = meta.get(f"range_{name}", (value * (1 - DEFAULT_RANGE_REL), value * (1 + DEFAULT_RANGE_REL))
                          if name in "abc" else (value - 3.0, value + 3.0))
        if not lo <= value <= hi:
            logger.debug("%s: reference %s=%.4f outside its range [%s, %s]", path.name, name, value, lo, hi)
        ranges[name] = (float(lo), float(hi))
    hkl, mf2 = build_reflections(s, system, d_min_A)
    z_fu = meta.get("z_fu") or s.composition.get_reduced_composition_and_factor()[1]
    return ReferencePhase(
        label=meta.get("label", path.stem), family=meta.get("family", "other"),
        crystal_system=system, cell=tuple(float(x) for x in cell),
        space_group=space_group,
        z_fu=float(z_fu), n_slabs=int(meta.get("n_slabs", 0)), parent=meta.get("parent", ""),
        is_cell_component=bool(meta.get("is_cell_component", False)), lattice_range=ranges,
        min_distortion=float(meta.get("min_distortion", 0.0)),
        cell_mass=float(s.composition.weight),
        source=f"{path}: {_cif_value(path, '_phasetrace_source')}",
        aliases=tuple(meta.get("aliases", ())), hkl=hkl, mult_f2=mf2,
        elements=tuple(sorted({el.symbol for el in s.composition.elements})),
        symmetrised_from_p1=found is not None)


def _entries(reference_dir: str | Path | None) -> dict[str, tuple[Path, dict]]:
    """label -> (cif path, metadata) for the built-in library, overridden by reference_dir."""
    entries: dict[str, tuple[Path, dict]] = {}
    folders = [library_dir()]
    if reference_dir is not None:
        folder = Path(reference_dir)
        if not folder.is_dir():
            raise PhaseLibraryError(f"reference_dir {folder} is not a folder; expected a folder of CIFs")
        folders.append(folder)
    for folder in folders:
        index = _read_index(folder)
        labels = {str(k): v for k, v in index.items()}
        for cif in sorted(folder.glob("*.cif")):
            label = next((k for k, v in labels.items() if v.get("file", f"{k}.cif") == cif.name),
                         cif.stem)
            entries[label] = (cif, {**labels.get(label, {}), "label": label})
        for label, meta in labels.items():
            if label not in entries:
                raise PhaseLibraryError(
                    f"{folder / 'index.toml'}: phase {label!r} has no CIF "
                    f"({meta.get('file', label + '.cif')} missing)")
    return entries


def _normalise(name: str) -> str:
    return name.strip().replace("’", "'").replace("′", "'").lower()


def known_phases(*, reference_dir: str | Path | None = None) -> dict[str, str]:
    """Map of accepted names (labels and aliases, lower case) to canonical labels."""
    out: dict[str, str] = {}
    for label, (_, meta) in _entries(reference_dir).items():
        out[_normalise(label)] = label
        for alias in meta.get("aliases", ()):
            out.setdefault(_normalise(alias), label)
    return out


def load_library(
    names: str | list[str] = "auto",
    *,
    reference_dir: str | Path | None = None,
    cell_components: bool = True,
    d_min_A: float = 0.75,
    elements: tuple[str, ...] | list[str] = (),
) -> list[ReferencePhase]:
    """Load reference phases with their reflection lists (computed once, cached).

    Parameters
    ----------
    names : "auto" or list of str
        ``"auto"`` for the whole library (built-in plus ``reference_dir``), else phase
        labels or aliases (``"O3'"`` → ``"O'3"``); a comma-separated string is split.
    reference_dir : path, optional
        Extra CIFs (``X.cif`` → phase ``X``) with an optional ``index.toml`` of metadata;
        they override built-in phases of the same label.
    cell_components : bool
        Add the cell components of the library (Al, Be, Na, NaF, Cu) to an explicit list.
        Phases marked ``on_request`` in ``index.toml`` (standards such as Si, LaB6; Fe, Li,
        graphite) are loaded only when named.
    d_min_A : float
        Smallest d-spacing of the reflection lists, Å (default 0.75 Å).
    elements : sequence of str
        With ``names="auto"``: keep only phases compatible with these elements
        (:mod:`phasetrace.phases.chemistry`); an explicit list is taken as given.

    A name repeated in an explicit list asks for another instance of that phase
    (:func:`twin`): ``["S", "S"]`` gives ``S`` and ``S#2``, two coexisting spinels with
    their own cells.

    Returns
    -------
    list of ReferencePhase

    Raises
    ------
    PhaseLibraryError
        For a broken CIF (naming the file) or an unknown phase name (listing the known ones).

    Examples
    --------
    >>> [p.label for p in load_library(["P2", "O3'"], cell_components=False)]
    ['P2', "O'3"]
    """
    entries = _entries(reference_dir)
    if isinstance(names, str) and names.strip().lower() != "auto":
        names = [n for n in names.split(",") if n.strip()]
    n_named = 0
    if isinstance(names, str):
        labels = [k for k, (_, m) in entries.items() if not m.get("on_request")]
    else:
        lookup = known_phases(reference_dir=reference_dir)
        labels = []
        for name in names:
            key = _normalise(name)
            if key not in lookup:
                raise PhaseLibraryError(
                    f"unknown phase {name!r}; known phases: {', '.join(sorted(entries))}")
            labels.append(lookup[key])
        n_named = len(labels)
        if cell_components:
            labels += [k for k, (_, m) in entries.items()
                       if m.get("is_cell_component") and not m.get("on_request") and k not in labels]
    out = []
    for i, label in enumerate(labels):
        path, meta = entries[label]
        instance = labels[:i].count(label) + 1
        items = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in meta.items()))
        phase = _load_phase(str(path), path.stat().st_mtime, items, float(d_min_A))
        named = (not isinstance(names, str) and len(names) <= MAX_NAMED
                 and reference_dir is not None
                 and path.parent.resolve() == Path(reference_dir).resolve()
                 and not any(k.startswith("range_") for k in meta)
                 and phase.crystal_system in ("monoclinic", "triclinic"))
        phase = _named(phase) if named and not phase.is_cell_component else phase
        out.append(phase if instance == 1 else twin(phase, f"{label}#{instance}"))
        if instance == 1 and (isinstance(names, str) or i >= n_named):
            # index key `instances`: a cell part met at several places along the beam (the two
            # walls of a coin cell), a phase reacting through two cells of its own structure
            out += [twin(phase, f"{label}#{k}") for k in range(2, int(meta.get("instances", 1)) + 1)]
    if isinstance(names, str) and elements:
        from .chemistry import restrict

        out = restrict(out, tuple(elements))
    return out


def _named(phase: ReferencePhase) -> ReferencePhase:
    """The phase held near its CIF cell (the user named it and gave its structure).

    Only for monoclinic/triclinic cells: with 4–6 free parameters the coarse search of a
    ±3 % range has so many trial cells that a false cell aligned on the other phases' peaks
    is likely, while a minor phase shows only its strongest reflections."""
    ranges = {n: ((v * (1 - NAMED_RANGE_REL), v * (1 + NAMED_RANGE_REL)) if n in "abc"
                  else (v - NAMED_RANGE_DEG, v + NAMED_RANGE_DEG))
              for n, v in zip(phase.free_names, phase.reference_free)}
    return dataclasses.replace(phase, lattice_range=ranges, user_named=True)


def read_cif_phase(path: str | Path, *, label: str | None = None, d_min_A: float = 0.75,
                   **metadata) -> ReferencePhase:
    """Load one CIF as a reference phase (metadata as keyword fields of ``index.toml``)."""
    p = Path(path)
    if not p.is_file():
        raise PhaseLibraryError(f"{p}: no such CIF file")
    meta = {**metadata, "label": label or p.stem}
    items = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in meta.items()))
    return _load_phase(str(p), p.stat().st_mtime, items, float(d_min_A))


def twin(phase: ReferencePhase, label: str | None = None) -> ReferencePhase:
    """A second instance of ``phase`` (label ``X-2`` by default; ``load_library`` names
    repeated entries ``X#2``, ``X#3``...) for two coexisting variants
    of one structure with different cells (e.g. the two cubic spinels of a two-phase region)."""
    return dataclasses.replace(phase, label=label or f"{phase.label}-2", aliases=())
