"""Write the CIFs of cell parts and calibration standards (Cu, Fe, Li, graphite, Si, LaB6...).

Run from the repository root: ``.venv/bin/python reference_phases/build_standards.py``.

The cell of each CIF is its literature (or certified) value at room temperature, because
``--calibrate PHASE`` takes it as the truth against which the wavelength or the zero shift
is refined.  Coordinates are the Wyckoff positions of the structure type (exact for the
metals, Si, CeO2; the refined free parameters for LaB6, corundum and graphite as cited).
No network access was available when the library was written: the values are quoted from
the certificates and papers named in each CIF, as recalled; check them against the
certificate before a metrology-grade calibration.
"""

from __future__ import annotations

from pymatgen.core import Lattice, Structure

from build_cifs import write

#: label -> (structure, provenance line)
STANDARDS = {
    "Cu": (lambda: Structure.from_spacegroup(225, Lattice.cubic(3.6150), ["Cu"], [(0, 0, 0)]),
           "Copper current collector, Fm-3m, a 3.6150 A (room temperature; Swanson & Tatge, "
           "NBS Circ. 539 vol. 1 (1953), ICDD 04-0836)."),
    "Fe-fcc": (lambda: Structure.from_spacegroup(225, Lattice.cubic(3.5911), ["Fe"], [(0, 0, 0)]),
               "Austenitic stainless steel (fcc Fe-Cr-Ni, AISI 304/316 coin-cell cases and "
               "spacers), Fm-3m, a 3.5911 A (ICDD 33-0397, Cr-Fe-Ni); alloy-dependent within about "
               "+-0.01 A."),
    "Fe-bcc": (lambda: Structure.from_spacegroup(229, Lattice.cubic(2.8664), ["Fe"], [(0, 0, 0)]),
               "alpha-Fe (bcc iron, ferritic steel parts), Im-3m, a 2.8664 A (Swanson et al., "
               "NBS Circ. 539 vol. 4 (1955), ICDD 06-0696)."),
    "Li": (lambda: Structure.from_spacegroup(229, Lattice.cubic(3.5093), ["Li"], [(0, 0, 0)]),
           "Lithium metal counter electrode, Im-3m, a 3.5093 A (room temperature; ICDD 15-0401)."),
    "graphite": (lambda: Structure.from_spacegroup(194, Lattice.hexagonal(2.464, 6.711), ["C", "C"],
                                                   [(0, 0, 0.25), (1 / 3, 2 / 3, 0.25)]),
                 "Hexagonal (2H) graphite, P6_3/mmc, a 2.464 c 6.711 A, C at 2b and 2c "
                 "(Bernal stacking; cf. Trucano & Chen, Nature 258 (1975) 136; ICDD 41-1487 "
                 "a 2.470 c 6.724)."),
    "Si": (lambda: Structure.from_spacegroup(227, Lattice.cubic(5.431179), ["Si"], [(0, 0, 0)]),
           "Silicon line-position standard NIST SRM 640e, Fd-3m, certified a 5.431179 A at 22.5 C "
           "(SRM 640f: 5.431144 A)."),
    "LaB6": (lambda: Structure.from_spacegroup(221, Lattice.cubic(4.15689), ["La", "B"],
                                               [(0, 0, 0), (0.1996, 0.5, 0.5)]),
             "Lanthanum hexaboride line-position standard NIST SRM 660c, Pm-3m, certified "
             "a 4.15689 A at 22.5 C; B at 6f, x 0.1996 (CaB6-type B6 octahedra)."),
    "CeO2": (lambda: Structure.from_spacegroup(225, Lattice.cubic(5.4111), ["Ce", "O"],
                                               [(0, 0, 0), (0.25, 0.25, 0.25)]),
             "Ceria intensity/line standard NIST SRM 674b, Fm-3m (fluorite), a 5.4111 A "
             "(ICDD 34-0394: 5.4113 A)."),
    "corundum": (lambda: Structure.from_spacegroup(167, Lattice.hexagonal(4.7589, 12.991), ["Al", "O"],
                                                   [(0, 0, 0.35216), (0.30624, 0, 0.25)]),
                 "Corundum alpha-Al2O3 standard NIST SRM 676a, R-3c (hexagonal axes), a 4.7589 "
                 "c 12.991 A; Al 12c z 0.35216, O 18e x 0.30624 (Lewis, Schwarzenbach & Flack, "
                 "Acta Cryst. A 38 (1982) 733)."),
}


def main() -> None:  # noqa: D103 - script
    for label, (build, source) in STANDARDS.items():
        write(label, build(), source)


if __name__ == "__main__":
    main()
