"""phasetrace.report: the HTML report and the numbers it quotes.

Matplotlib is imported only when figures are drawn.
"""

from __future__ import annotations

from .html import render_html, write_html
from .summary import PhaseSummary, lattice_summary
from .viewer import try_write_viewer, write_viewer

__all__ = ["write_html", "render_html", "lattice_summary", "PhaseSummary", "write_viewer",
           "try_write_viewer"]
