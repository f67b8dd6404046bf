"""One palette and one style for every phasetrace figure.

Colours are colour-blind safe: the Okabe & Ito (2008) set for the common
sodium layered-oxide phases and Paul Tol's "muted" set for the rest.  A phase
always gets the same colour in every figure, because the colour depends only on
its label (never on its position in a Dataset).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib as mpl

__all__ = ["PHASE_COLORS", "phase_color", "phase_marker", "style", "COLUMN_IN", "PAGE_IN"]

#: journal single-column and full-page widths, inches.
COLUMN_IN = 3.5
PAGE_IN = 7.0

#: fixed colours of the canonical phase labels (Okabe–Ito, then Tol muted).
PHASE_COLORS: dict[str, str] = {
    "P2": "#0072B2",    # blue
    "P3": "#E69F00",    # orange
    "O3": "#009E73",    # bluish green
    "O2": "#D55E00",    # vermillion
    "OP4": "#CC79A7",   # reddish purple
    "P'2": "#56B4E9",   # sky blue (next to its parent P2)
    "O'3": "#117733",   # Tol green (next to its parent O3)
    "P'3": "#DDCC77",   # Tol sand (next to its parent P3)
    "O1": "#882255",    # Tol wine
    "OP2": "#AA4499",   # Tol purple
    "S": "#332288",     # Tol indigo
    "T": "#44AA99",     # Tol teal
}
#: colours handed out, by a hash of the label, to phases not listed above.
_EXTRA = ("#999933", "#CC6677", "#88CCEE", "#661100", "#6699CC", "#AA4466", "#4477AA")
#: cell components (Al, Be, Na ...) are drawn in neutral greys.
_CELL_GREYS = ("#777777", "#AAAAAA", "#555555")

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")


def phase_color(label: str, *, cell_component: bool = False) -> str:
    """Return the hex colour of a phase, the same in every figure.

    Parameters
    ----------
    label : str
        Phase label, e.g. ``"P2"`` or ``"O'3"``.
    cell_component : bool
        True for phases of the cell (current collector, window): drawn grey.

    Returns
    -------
    str
        ``"#RRGGBB"``.

    Examples
    --------
    >>> phase_color("P2")
    '#0072B2'
    """
    if cell_component:
        return _CELL_GREYS[zlib.crc32(label.encode()) % len(_CELL_GREYS)]
    if label in PHASE_COLORS:
        return PHASE_COLORS[label]
    return _EXTRA[zlib.crc32(label.encode()) % len(_EXTRA)]


def phase_marker(label: str) -> str:
    """Return a matplotlib marker for a phase (stable, from its label)."""
    known = list(PHASE_COLORS)
    if label in known:
        return _MARKERS[known.index(label) % len(_MARKERS)]
    return _MARKERS[zlib.crc32(label.encode()) % len(_MARKERS)]


_RC = {
    "font.size": 8.0,
    "axes.titlesize": 8.0,
    "axes.labelsize": 8.0,
    "xtick.labelsize": 7.0,
    "ytick.labelsize": 7.0,
    "legend.fontsize": 7.0,
    "legend.frameon": False,
    "axes.linewidth": 0.6,
    "lines.linewidth": 0.9,
    "lines.markersize": 3.0,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.direction": "in",
    "ytick.direction": "in",
    "xtick.top": True,
    "ytick.right": True,
    "errorbar.capsize": 0.0,
    "image.cmap": "viridis",
    "savefig.dpi": 300,
    "pdf.fonttype": 42,
    "svg.fonttype": "none",
    "mathtext.default": "regular",
}


@contextmanager
def style() -> Iterator[None]:
    """Context in which figures are built: 7–8 pt text, thin lines, ticks inside."""
    with mpl.rc_context(_RC):
        yield
