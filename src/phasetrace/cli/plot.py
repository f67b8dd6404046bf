"""``phasetrace plot RESULTS.nc``: redraw figures from a results file without re-analysing."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ReaderError

logger = logging.getLogger(__name__)

FIGURE_CHOICES = ("contour", "waterfall", "lattice", "fractions", "fit", "fit_quality", "all")


def _range(text: str) -> tuple[float, float]:
    """Parse ``LO:HI`` (floats) for argparse."""
    try:
        lo, hi = (float(v) for v in text.split(":"))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not LO:HI (e.g. 5:20)") from err
    if not lo < hi:
        raise argparse.ArgumentTypeError(f"{text!r}: LO must be below HI")
    return lo, hi


def _scan_range(text: str) -> tuple[int | None, int | None]:
    """Parse ``START:STOP`` (python slice of scan positions; either side may be empty)."""
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError(text)
        return tuple(int(p) if p.strip() else None for p in parts)  # type: ignore[return-value]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not START:STOP (e.g. 0:50)") from err


def _x_na(text: str) -> tuple[float, float]:
    """Parse ``X0:Q1`` (initial x in Na_x, capacity of one Na in mAh/g)."""
    try:
        x0, q1 = (float(v) for v in text.split(":"))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not X0:Q1 (e.g. 0.67:258.8)") from err
    if not q1 > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: Q1 (mAh/g per Na) must be positive")
    return x0, q1


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``plot`` subcommand."""
    p = subparsers.add_parser(
        "plot", help="redraw figures from results.nc",
        description="Redraw figures from a results.nc written by 'phasetrace analyse' "
                    "(no analysis is re-run). Figures go to OUT/figures/.")
    p.add_argument("results", type=Path, metavar="RESULTS.nc", help="results file")
    p.add_argument("--figure", choices=FIGURE_CHOICES, default="all", help="which figure (default all)")
    p.add_argument("--window", type=_range, action="append", metavar="LO:HI",
                   help="pattern-axis range in the units of --axis; repeat for several contour panels "
                        "(default: the (00l) region around the strongest low-angle peak)")
    p.add_argument("--scale", choices=("linear", "sqrt", "log"), default=None,
                   help="intensity scale (contour default sqrt, waterfall linear)")
    p.add_argument("--axis", choices=("two_theta", "d", "q"), default="two_theta",
                   help="pattern axis: 2θ (deg), d (Å) or Q (1/Å)")
    p.add_argument("--x", choices=("voltage", "capacity", "time", "scan", "temperature", "x_na"),
                   default=None,
                   help="scan axis of lattice/fraction plots (contour: time, scan or temperature); "
                        "default temperature for a temperature series, else time; x_na needs --x-na")
    p.add_argument("--x-na", type=_x_na, default=None, metavar="X0:Q1",
                   help="x in Na_x from the capacity: initial x0 and the capacity of one Na per "
                        "formula unit Q1 (mAh/g), e.g. 0.67:258.8; x = x0 - capacity/Q1")
    p.add_argument("--scans", type=_scan_range, metavar="START:STOP", help="scans to show (positions)")
    p.add_argument("--scan", type=int, default=None,
                   help="scan number of the fit view (default the first scan)")
    p.add_argument("--format", default="png,pdf", help="comma-separated: png, pdf, svg (default png,pdf)")
    p.add_argument("--dpi", type=int, default=300, help="PNG resolution (default 300)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (figures go to OUT/figures); default the folder of RESULTS.nc")
    p.set_defaults(func=run)
    return p


def _options(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    scans = slice(*args.scans) if args.scans else None
    window = args.window[0] if args.window else None
    common_pattern = {"axis": args.axis}
    scale = {"scale": args.scale} if args.scale else {}
    contour_opts: dict[str, Any] = {**common_pattern, **scale, "windows": args.window, "scans": scans}
    if args.x in ("time", "scan", "temperature"):
        contour_opts["y"] = args.x
    return {
        "contour": contour_opts,
        "waterfall": {**common_pattern, **scale, "window": window, "scans": scans},
        "lattice": {"x": args.x, "scans": scans},
        "fractions": {"x": args.x, "scans": scans},
        "fit": {**common_pattern, "window": window, "scan": args.scan},
        "fit_quality": {"x": args.x, "scans": scans},
    }


def load_results(path: Path) -> Any:
    """Open a results.nc read-only and load it into memory (the file is closed again).

    Refuses (ReaderError) a results folder that is not one finished set: no
    done-marker, a marker of another run, or files changed since.
    """
    import xarray as xr

    if not path.is_file():
        raise ReaderError(f"{path}: no such results file; give the results.nc written by "
                          "'phasetrace analyse'")
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            loaded = ds.load()
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        raise ReaderError(f"{path}: not a readable results file ({err}); expected the "
                          "results.nc written by 'phasetrace analyse'") from err
    if "intensity" not in loaded and "map_intensity" not in loaded:
        raise ReaderError(f"{path}: not a phasetrace results file (no 'intensity' variable); expected the "
                          "results.nc written by 'phasetrace analyse'")
    from ..output import map_view
    from ..resultset import check_set

    check_set(path.resolve().parent, run_id=loaded.attrs.get("run_id") or None)
    return map_view(loaded)  # a long run keeps every k-th pattern (map_scan)


def run(args: argparse.Namespace) -> int:
    """Draw the requested figures; return 0 on success."""
    import matplotlib

    matplotlib.use("Agg")
    from ..plot import FIGURES, render, save_figure

    formats = tuple(f.strip().lower() for f in args.format.split(",") if f.strip())
    if not formats:
        raise ConfigError(f"--format {args.format!r} names no format; expected png, pdf or svg")
    results = load_results(args.results)
    if args.x_na is not None:
        results.attrs.update(x_na_initial=args.x_na[0], capacity_per_na_mAh_g=args.x_na[1])
    elif args.x == "x_na":
        raise ConfigError("--x x_na needs --x-na X0:Q1 (initial x and mAh/g per Na)")
    folder = (args.out if args.out is not None else args.results.resolve().parent) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    names = list(FIGURES) if args.figure == "all" else [args.figure]
    options = _options(args)
    for name in names:
        fig = render(results, name, **options[name])
        for path in save_figure(fig, folder / name, formats=formats, dpi=args.dpi):
            logger.info("wrote %s", path)
    return 0
