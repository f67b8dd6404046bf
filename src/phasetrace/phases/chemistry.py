"""Chemistry restriction of the automatic phase search (``--elements Li,Mn,O``).

A phase is *compatible* with the sample's elements when every element of its structure is
among them, except the elements its structure type stands in for:

* built-in layered and tunnel prototypes (``family`` ``layered``/``tunnel``, written with
  Ni/Mn/Fe on the metal site) stand in for any transition metal: P2 is the P2 stacking of
  NaxMO2 whatever M is, so it needs Na, O and at least one transition metal of the sample;
* the spinel prototype (LiMn2O4) also stands in for the tetrahedral A cation (Li, or Mn in
  the Mn3O4-like spinel domains of Na-Mn oxides), so it needs O and a transition metal;
* cell components (current collector, window, Na metal) are always kept: they belong to the
  cell, not to the sample;
* every other phase (user CIFs, impurities, standards) needs all its elements.

This keeps, e.g., the Na layered oxides out of a Li sample (``--elements Li,Mn,O``:
LiMnO2 no longer matched as O'3) while P2/O3 stay candidates for ``Na,Mn,Fe,O``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from ..errors import ConfigError

__all__ = ["check_elements", "compatible", "restrict"]

logger = logging.getLogger(__name__)

#: families whose prototype's metal site stands for any transition metal.
TM_PROTOTYPES = ("layered", "tunnel", "spinel")
#: further site elements the spinel prototype stands in for (tetrahedral A cation).
SPINEL_A_SITE = ("Li", "Mg", "Zn")


def _is_tm(symbol: str) -> bool:
    from pymatgen.core import Element

    return Element(symbol).is_transition_metal


def check_elements(elements: Sequence[str]) -> None:
    """Raise :class:`ConfigError` naming any string that is not an element symbol."""
    from pymatgen.core import Element

    bad = [e for e in elements if not Element.is_valid_symbol(e)]
    if bad:
        raise ConfigError(f"elements {', '.join(map(repr, bad))}: not element symbols; expected e.g. "
                          "Li,Mn,O (symbols with their capitals)")


def compatible(phase, elements: Iterable[str]) -> bool:
    """Whether ``phase`` (a ReferencePhase) may occur in a sample made of ``elements``."""
    allowed = set(elements)
    if phase.is_cell_component or not phase.elements:
        return True
    own = set(phase.elements)
    if phase.family in TM_PROTOTYPES:
        stand_in = {e for e in own if _is_tm(e)}
        if phase.family == "spinel":
            stand_in |= own & set(SPINEL_A_SITE)
        if stand_in and not any(_is_tm(e) for e in allowed):
            return False
        own -= stand_in
    return own <= allowed


def restrict(library: list, elements: Sequence[str]) -> list:
    """The phases of ``library`` compatible with ``elements`` (order kept; dropped ones logged)."""
    if not elements:
        return list(library)
    kept = [p for p in library if compatible(p, elements)]
    dropped = [p.label for p in library if p not in kept]
    if dropped:
        logger.info("elements %s: %d phase(s) left out of the search (%s)", ",".join(elements),
                    len(dropped), ", ".join(dropped))
    return kept
