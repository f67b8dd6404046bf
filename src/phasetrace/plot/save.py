"""Write the whole figure set of a run."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import xarray as xr
from matplotlib.figure import Figure

from ..errors import ConfigError, OutputError
from .contour import contour
from .lattice import fractions, lattice
from .patterns import fit, waterfall
from .quality import fit_quality

logger = logging.getLogger(__name__)

__all__ = ["FIGURES", "save_all", "save_figure", "render"]

#: figure name -> function drawing it from a results Dataset.
FIGURES: dict[str, Callable[..., Figure]] = {
    "contour": contour,
    "lattice": lattice,
    "fractions": fractions,
    "waterfall": waterfall,
    "fit": fit,
    "fit_quality": fit_quality,
}
FORMATS = ("png", "pdf", "svg")


def save_figure(fig: Figure, stem: Path, *, formats: Iterable[str] = ("png", "pdf"),
                dpi: int = 300) -> list[Path]:
    """Save ``fig`` as ``stem.<format>`` for each format; PNG at ``dpi`` dots per inch.

    Raises
    ------
    ConfigError
        For a format other than png, pdf or svg.
    OutputError
        When a file cannot be written.
    """
    written = []
    for fmt in formats:
        if fmt not in FORMATS:
            raise ConfigError(f"figure format {fmt!r} is not supported; expected one of {', '.join(FORMATS)}")
        path = stem.with_suffix(f".{fmt}")
        try:
            fig.savefig(path, dpi=dpi, format=fmt)
        except OSError as err:
            raise OutputError(f"{path}: cannot write figure ({err.strerror or err})") from err
        written.append(path)
    return written


def render(results: xr.Dataset, name: str, **options: Any) -> Figure:
    """Draw one named figure (see :data:`FIGURES`) with its keyword options."""
    if name not in FIGURES:
        raise ConfigError(f"unknown figure {name!r}; expected one of {', '.join(FIGURES)}")
    return FIGURES[name](results, **options)


def save_all(
    results: xr.Dataset,
    out_dir: str | Path,
    *,
    formats: Iterable[str] = ("png", "pdf"),
    names: Iterable[str] | None = None,
    options: dict[str, dict[str, Any]] | None = None,
    dpi: int = 300,
) -> list[Path]:
    """Draw every figure and write them under ``out_dir/figures/``.

    Parameters
    ----------
    results : xarray.Dataset
        Results Dataset (``results.nc`` layout); missing parts are tolerated.
    out_dir : str or Path
        Run output folder; figures go to its ``figures`` sub-folder (created),
        e.g. ``figures/contour.png`` and ``figures/lattice.png``.  A path whose
        last part is already ``figures`` is used as it is.
    formats : iterable of {"png", "pdf", "svg"}
        File formats; PNG is written at ``dpi``.
    names : iterable of str, optional
        Figures to draw (default all of :data:`FIGURES`).
    options : dict, optional
        Per-figure keyword options, e.g. ``{"contour": {"scale": "log"}}``.
    dpi : int
        Resolution of raster output, dots per inch.

    Returns
    -------
    list of Path
        Files written.  A figure that cannot be drawn from these results is
        skipped with a logged warning; the others are still written.

    Raises
    ------
    OutputError
        When the folder or a file cannot be written.
    """
    folder = Path(out_dir)
    if folder.name != "figures":
        folder = folder / "figures"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"{folder}: cannot create the figures folder ({err.strerror or err})") from err
    formats = tuple(formats)
    written: list[Path] = []
    for name in names or FIGURES:
        try:
            fig = render(results, name, **(options or {}).get(name, {}))
        except OutputError:
            raise
        except Exception as err:  # noqa: BLE001 - one figure must not stop the others
            logger.warning("figure %s not drawn: %s", name, err)
            logger.debug("figure %s failed", name, exc_info=True)
            continue
        written += save_figure(fig, folder / name, formats=formats, dpi=dpi)
    return written
