"""Regenerate the reference CIFs of phasetrace from the literature models written below.

Run from the repository root: ``.venv/bin/python reference_phases/build_cifs.py``.

No network access was available when the library was built, so every structure is written
from published cells and idealised Wyckoff coordinates as recalled from the cited papers or
from the ideal stacking geometry (oxygen at about 1.0-1.1 Å above and below the metal plane).
Positions of light atoms are therefore approximate; peak *positions* (from the cell and the
space group) are exact, relative intensities are semi-quantitative.  Every CIF carries its
source in a ``#`` header and in ``_phasetrace_source``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifWriter

HERE = Path(__file__).resolve().parent
A, B, C = (0.0, 0.0), (1 / 3, 2 / 3), (2 / 3, 1 / 3)   # triangular-lattice positions


def layered(a: float, c: float, tm: dict, oxygen_letters: list[tuple], tm_letters: list,
            na: list[tuple], *, slab_half_A: float = 1.02) -> Structure:
    """Stack MO2 slabs along c: slab i has O at letters (below, above) and M at tm_letters[i].

    ``na`` lists (x, y, z, occupancy) interlayer Na sites.  Slabs are evenly spaced unless
    ``oxygen_letters`` entries carry an explicit metal height as third element.
    """
    n = len(tm_letters)
    species, coords = [], []
    for i, (letters, m) in enumerate(zip(oxygen_letters, tm_letters)):
        z0 = letters[2] if len(letters) > 2 else i / n
        dz = slab_half_A / c
        species += [tm, "O2-", "O2-"]
        coords += [(*m, z0), (*letters[0], z0 - dz), (*letters[1], z0 + dz)]
    for x, y, z, occ in na:
        species.append({"Na+": occ})
        coords.append((x, y, z))
    s = Structure(Lattice.hexagonal(a, c), species, np.mod(coords, 1.0))
    return s


def transform(parent: Structure, rows: list[list[float]], lattice: Lattice) -> Structure:
    """Re-express ``parent`` in a new cell whose vectors are ``rows`` (in parent basis),
    then give it the (distorted) ``lattice`` keeping fractional coordinates."""
    m = np.array(rows, float)
    minv = np.linalg.inv(m)
    species, coords = [], []
    rng = range(-3, 4)
    for site in parent:
        for i in rng:
            for j in rng:
                for k in rng:
                    f = (site.frac_coords + (i, j, k)) @ minv
                    if np.all(f > -1e-6) and np.all(f < 1 - 1e-6):
                        if not any(np.allclose(f, g, atol=1e-4) for g, sp in zip(coords, species)
                                   if sp == site.species):
                            species.append(site.species)
                            coords.append(f)
    return Structure(lattice, species, coords)


def write(name: str, s: Structure, source: str, *, symprec: float | None = 0.01) -> None:
    """Write ``name``.cif with the provenance header."""
    text = str(CifWriter(s, symprec=symprec, refine_struct=False)) if symprec else str(CifWriter(s))
    header = "".join(f"# {line}\n" for line in source.strip().splitlines())
    body = text.replace("data_", f"data_{name.replace(chr(39), 'p')}_", 1)
    body = body.replace("_symmetry_space_group_name_H-M",
                        f'_phasetrace_source "{source.strip().splitlines()[0]}"\n'
                        "_symmetry_space_group_name_H-M", 1)
    (HERE / f"{name}.cif").write_text(header + body)


TM_NM = {"Mn4+": 2 / 3, "Ni2+": 1 / 3}
TM_NM55 = {"Ni2+": 0.5, "Mn4+": 0.5}


def main() -> None:  # noqa: D103 - script
    # P2 Na2/3Ni1/3Mn2/3O2, P6_3/mmc: Lu & Dahn, J. Electrochem. Soc. 148, A1225 (2001).
    p2 = layered(2.886, 11.16, TM_NM, [(C, C), (B, B)], [A, A],
                 [(0, 0, 0.25, 0.24), (0, 0, 0.75, 0.24), (1 / 3, 2 / 3, 0.75, 0.43),
                  (2 / 3, 1 / 3, 0.25, 0.43)])
    # slab 0: O at C below / C above? -> build explicitly with the P2 4f positions instead:
    p2 = Structure.from_spacegroup(
        194, Lattice.hexagonal(2.886, 11.16), [TM_NM, "O2-", {"Na+": 0.24}, {"Na+": 0.43}],
        [(0, 0, 0), (1 / 3, 2 / 3, 0.0913), (0, 0, 0.25), (2 / 3, 1 / 3, 0.25)])
    write("P2", p2, "P2-Na2/3Ni1/3Mn2/3O2, P6_3/mmc, a 2.886 c 11.16 A: Lu & Dahn, "
          "J. Electrochem. Soc. 148 (2001) A1225.\nM 2a; O 4f z 0.0913; Na_f 2b occ 0.24; "
          "Na_e 2d occ 0.43 (idealised).")
    p3 = Structure.from_spacegroup(
        160, Lattice.hexagonal(2.88, 16.80), [TM_NM, "O2-", "O2-", {"Na+": 0.67}],
        [(0, 0, 0), (0, 0, 0.3937), (0, 0, 0.6063), (0, 0, 1 / 6)])
    write("P3", p3, "P3-Na2/3Ni1/3Mn2/3O2-type, R3m (hexagonal axes), a 2.88 c 16.80 A: "
          "cell after Lu & Dahn (2001), Delmas et al. Physica B 99 (1980) 81.\n"
          "M 3a z 0; O 3a z 0.3937, 0.6063 (slab +/-1.02 A); Na 3a z 1/6 (idealised).")
    o3 = Structure.from_spacegroup(
        166, Lattice.hexagonal(2.962, 15.90), [TM_NM55, "O2-", "Na+"],
        [(0, 0, 0), (0, 0, 0.2667), (0, 0, 0.5)])
    write("O3", o3, "O3-NaNi0.5Mn0.5O2, alpha-NaFeO2 type R-3m (hexagonal axes), a 2.962 c 15.90 A: "
          "Komaba et al., Inorg. Chem. 51 (2012) 6211; COD 1010644 (alpha-NaFeO2) for the type.\n"
          "M 3a; Na 3b; O 6c z 0.2667 (idealised).")
    o2 = Structure.from_spacegroup(
        186, Lattice.hexagonal(2.83, 8.90), ["Mn4+", "O2-", "O2-", {"Na+": 0.1}],
        [(1 / 3, 2 / 3, 0.0), (0, 0, 0.115), (1 / 3, 2 / 3, 0.385), (1 / 3, 2 / 3, 0.75)])
    write("O2", o2, "O2-NaxMO2 (high-voltage product of P2), P6_3mc, a 2.83 c 8.90 A: "
          "Lu & Dahn (2001); O2-LiCoO2 type (Carlier et al.).\nM 2b z 0; O 2a z 0.115; "
          "O 2b z 0.385; Na 2b z 0.75 occ 0.1 (idealised, stacking AB CB).")
    o1 = Structure.from_spacegroup(
        164, Lattice.hexagonal(2.82, 4.50), ["Mn4+", "O2-"], [(0, 0, 0), (1 / 3, 2 / 3, 0.227)])
    write("O1", o1, "O1-MO2 (CdI2 type), P-3m1, a 2.82 c 4.50 A: fully desodiated layered "
          "oxide, cf. O1-CoO2 (Amatucci et al., J. Electrochem. Soc. 143 (1996) 1114).\n"
          "M 1a; O 2d z 0.227 (idealised).")
    # OP4: the P2 stacking AB BA with every second pair of slabs glided by (1/3, 2/3):
    # AB BA BC CB (P, O, P, O interlayers), c = 2 dP + 2 dO.  A glide translates a slab and
    # never turns it over, so the P2 sequence of slab orientations (O below/above the metal:
    # AB(C) and BA(C) of opposite hand) is kept: the earlier AB BA CB BC listing had two
    # slabs turned over (P6_3/mmc), a stacking no gliding of P2 slabs can produce.
    c4, dp = 20.36, 5.50
    z = [0.0, dp / c4, 0.5, 0.5 + dp / c4]
    op4 = layered(2.842, c4, "Mn4+", [(A, B, z[0]), (B, A, z[1]), (B, C, z[2]), (C, B, z[3])],
                  [C, C, A, A], [(*A, z[0] + dp / c4 / 2, 0.3), (*B, z[2] + dp / c4 / 2, 0.3)])
    write("OP4", op4, "OP4-NaxMO2 O/P intergrowth, P-6m2, c = 2 d_P + 2 d_O, a 2.842 c 20.36 A: "
          "Lu & Dahn, J. Electrochem. Soc. 148 (2001) A710; Talaie et al. Chem. Mater. 29 (2017) 6684; "
          "Somerville et al. Energy Environ. Sci. 12 (2019) 2223.\n"
          "Stacking AB BA BC CB: P2 (AB BA) with every second slab pair glided by (1/3, 2/3), the\n"
          "P2 -> OP4 -> O2 glide path (slabs translated, never turned over); d_P 5.50 A, d_O 4.68 A;\n"
          "M-O 1.93 A (O 1.02 A above/below the metal plane), Na 0.3 per P layer on the prismatic\n"
          "site sharing edges with both slabs (Na-O 2.38 A), O layers empty (idealised model).",
          symprec=None)
    c2, dp2 = 10.20, 5.55
    op2 = layered(2.842, c2, "Mn4+", [(A, B, 0.0), (B, C, dp2 / c2)], [C, A],
                  [(0, 0, dp2 / c2 / 2, 0.3)])
    write("OP2", op2, "OP2-NaxMO2 two-slab O/P intergrowth, c = d_P + d_O, a 2.842 c 10.20 A: "
          "named in the seed review (Table 1) beside OP4.\nStacking AB BC (idealised model).",
          symprec=None)
    # Distorted variants by transformation of the parents.
    p2o = transform(p2, [[1, 0, 0], [1, 2, 0], [0, 0, 1]],
                    Lattice.orthorhombic(2.830, 5.266, 11.08))
    write("P'2", p2o, "P'2-Na2/3MnO2, Cmcm, a 2.830 b 5.266 c 11.08 A: Kumakura et al., "
          "Angew. Chem. Int. Ed. 55 (2016) 12760 (cell).\nAtoms: P2 model transformed to the "
          "orthohexagonal cell a=a_h, b=a_h+2b_h (idealised).")
    o3m = transform(o3, [[-2, -1, 0], [0, 1, 0], [2 / 3, 1 / 3, 1 / 3]],
                    Lattice.monoclinic(5.319, 2.845, 5.583, 110.45))
    write("O'3", o3m, "O'3-NaNiO2, C2/m, a 5.319 b 2.845 c 5.583 A beta 110.45: "
          "Dick et al., J. Solid State Chem. 130 (1997) 175; COD 4124638.\n"
          "Atoms: O3 model transformed (a=-2a_h-b_h, b=b_h, c=(2a_h+b_h+c_h)/3) (idealised).")
    p3m = transform(p3, [[-2, -1, 0], [0, 1, 0], [2 / 3, 1 / 3, 1 / 3]],
                    Lattice.monoclinic(4.93, 2.86, 5.90, 106.0))
    write("P'3", p3m, "P'3-NaxMO2, monoclinic P3 (reported as C2/m), a 4.93 b 2.86 c 5.90 A "
          "beta 106.0: cell after Paulsen & Dahn; Kubota et al. (P'3-Na0.5CoO2) (approximate).\n"
          "Atoms: P3 model transformed like O'3 (idealised).")
    spinel = Structure.from_spacegroup(
        227, Lattice.cubic(8.24), ["Li+", {"Mn3+": 0.5, "Mn4+": 0.5}, "O2-"],
        [(0, 0, 0), (0.625, 0.625, 0.625), (0.3875, 0.3875, 0.3875)])
    write("S", spinel, "Spinel LiMn2O4, Fd-3m (origin 2), a 8.24 A: COD 1513962; "
          "Thackeray et al. Mater. Res. Bull. 18 (1983) 461.\nLi 8a; Mn 16d; O 32e x 0.2625 (origin 2; written in origin 1, x 0.3875).")
    write("Al", Structure.from_spacegroup(225, Lattice.cubic(4.0495), ["Al"], [(0, 0, 0)]),
          "Aluminium current collector, Fm-3m, a 4.0495 A (room temperature; Swanson & Tatge, "
          "NBS Circ. 539 (1953)).")
    write("Be", Structure.from_spacegroup(194, Lattice.hexagonal(2.2858, 3.5843), ["Be"],
                                          [(1 / 3, 2 / 3, 0.25)]),
          "Beryllium window, P6_3/mmc, a 2.2858 c 3.5843 A (Mackay & Hill, J. Nucl. Mater. 8 (1963) 263).")
    write("Na", Structure.from_spacegroup(229, Lattice.cubic(4.2906), ["Na"], [(0, 0, 0)]),
          "Sodium metal counter electrode, Im-3m, a 4.2906 A at 295 K (Barrett, Acta Cryst. 9 (1956) 671).")
    write("NaF", Structure.from_spacegroup(225, Lattice.cubic(4.634), ["Na+", "F-"],
                                           [(0, 0, 0), (0.5, 0.5, 0.5)]),
          "NaF (rock salt; SEI/cell component), Fm-3m, a 4.634 A (Swanson & Tatge 1953).")
    write("T", tunnel(), "Tunnel Na0.44MnO2 (Na4Mn9O18), Pbam, a 9.10 b 26.34 c 2.82 A: "
          "Sauvage et al., Inorg. Chem. 46 (2007) 3289; COD 2017971 (cell).\n"
          "APPROXIMATE atom positions (schematic S-tunnel model); intensities are rough.")


def tunnel() -> Structure:
    """Schematic Na4Mn9O18 model in Pbam with the published cell (positions approximate)."""
    mn = [(0, 0, 0), (0.0230, 0.3236, 0), (0.2103, 0.4406, 0), (0.3636, 0.1010, 0.5),
          (0.5360, 0.1878, 0.5)]
    o = [(0.173, 0.080, 0.5), (0.153, 0.364, 0.5), (0.372, 0.467, 0.5), (0.412, 0.160, 0),
         (0.057, 0.025, 0.5), (0.241, 0.193, 0.5), (0.079, 0.206, 0), (0.299, 0.001, 0),
         (0.426, 0.282, 0)]
    na = [(0.208, 0.236, 0), (0.430, 0.326, 0.5), (0.318, 0.339, 0)]
    species = ["Mn3+"] * 5 + ["O2-"] * 9 + [{"Na+": 0.9}, {"Na+": 0.6}, {"Na+": 0.5}]
    return Structure.from_spacegroup(55, Lattice.orthorhombic(9.10, 26.34, 2.82), species,
                                     mn + o + na, tol=0.05)


if __name__ == "__main__":
    main()
