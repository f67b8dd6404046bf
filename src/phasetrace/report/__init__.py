"""phasetrace.report: the HTML report and the numbers it quotes.

Matplotlib is imported only when figures are drawn.
"""

from __future__ import annotations

from .html import render_html, write_html
from .summary import PhaseSummary, lattice_summary

__all__ = ["write_html", "render_html", "lattice_summary", "PhaseSummary"]
