"""CIF files as pymatgen structures: parsing, provenance lines, crystal system, P1 symmetrisation."""

from __future__ import annotations

import warnings
from pathlib import Path

from ..errors import PhaseLibraryError, PhaseLibraryWarning

__all__ = ["parse_structure", "cif_value", "system_of", "symmetrised", "SYMPREC_A"]

#: distance tolerance (Å) of the symmetry search (spglib) of CIF structures.
SYMPREC_A = 0.01


def parse_structure(path: Path):
    from pymatgen.io.cif import CifParser

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structures = CifParser(str(path)).parse_structures(primitive=False)
        if not structures:
            raise ValueError("no structure in file")
        return structures[0]
    except Exception as err:  # pymatgen raises many types for broken CIFs
        raise PhaseLibraryError(
            f"{path}: broken CIF ({type(err).__name__}: {err}); expected a CIF with cell, "
            "symmetry and atom sites") from err


def cif_value(path: Path, key: str) -> str:
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith(key):
            return line[len(key):].strip().strip("'\"")
    return ""


def system_of(structure) -> str:
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    system = SpacegroupAnalyzer(structure, symprec=SYMPREC_A).get_crystal_system()
    return {"trigonal": "hexagonal"}.get(system, system)


def symmetrised(path: Path, structure):
    """A P1 CIF's structure in its conventional cell and space group (spglib), or None.

    Databases (Materials Project exports, DFT relaxations) often write structures in P1;
    refined as triclinic they lose the constraints of their crystal system (anatase with
    a ≠ b) and their tick marks include reflections the true space group forbids.  The
    symmetry is found within ``SYMPREC_A`` (0.01 Å, well below the coordinate precision of
    a published structure and far above the rounding of a written CIF).
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    declared = (cif_value(path, "_symmetry_space_group_name_H-M")
                or cif_value(path, "_space_group_name_H-M_alt")).replace(" ", "")
    number = cif_value(path, "_symmetry_Int_Tables_number") or cif_value(
        path, "_space_group_IT_number")
    if declared not in ("P1", "") or number not in ("1", ""):
        return None
    analyzer = SpacegroupAnalyzer(structure, symprec=SYMPREC_A)
    if analyzer.get_space_group_number() == 1:
        return None
    conventional = analyzer.get_conventional_standard_structure()
    symbol = analyzer.get_space_group_symbol()
    warnings.warn(f"{path}: CIF in P1; symmetrised to {symbol} "
                  f"(No. {analyzer.get_space_group_number()}, {analyzer.get_crystal_system()}) "
                  f"found by spglib within {SYMPREC_A} Å; its cell is refined with the "
                  "constraints of that crystal system", PhaseLibraryWarning, stacklevel=4)
    return conventional, symbol
