"""Read one pattern file or a whole operando series into one stack Dataset."""

from __future__ import annotations

import glob
import logging
import math
import re
import struct
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import ConfigError, InterpolationWarning, ReaderError
from ..schema import make_stack
from ._common import check_file
from ._paths import check_link, wavelength_option
from ._registry import get_reader, reader_for_path, supported_extensions

__all__ = ["read_pattern", "read_stack", "natural_key", "find_pattern_files"]

logger = logging.getLogger(__name__)

Progress = bool | Callable[[int, int], None]
_WL_TOL_A = 5e-4  # headers within this (Å) are the same wavelength (1.5406 vs 1.540593)


def natural_key(name: str) -> tuple:
    """Sort key putting ``scan_2`` before ``scan_10`` (case-insensitive).

    Examples
    --------
    >>> sorted(["scan_10.xye", "scan_2.xye", "Scan_1.xye"], key=natural_key)
    ['Scan_1.xye', 'scan_2.xye', 'scan_10.xye']
    """
    return tuple(int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name))


def _read_one(path: Path, fmt: str | None, wavelength_A: float | None) -> xr.Dataset:
    info = get_reader(fmt) if fmt else reader_for_path(path)
    try:
        return info.read(path, wavelength_A=wavelength_A)
    except ReaderError:
        raise
    except (struct.error, IndexError, KeyError, UnicodeError, zipfile.BadZipFile, EOFError, OverflowError,
            ValueError, TypeError) as err:
        raise ReaderError(f"{path}: unreadable {info.name} file ({type(err).__name__}: {err})") from err


def read_pattern(path: str | Path, *, format: str | None = None) -> xr.Dataset:  # noqa: A002
    """Read one pattern file (one or several scans) into a stack.

    Parameters
    ----------
    path : str or Path
        Pattern file.
    format : str, optional
        Reader name (see :func:`phasetrace.io.available_formats`); default from the extension.

    Returns
    -------
    xarray.Dataset
        Stack with dims (scan, two_theta); wavelength attrs from the header (NaN if none).

    Raises
    ------
    ReaderError
        Missing, empty, unsupported or corrupt file; see :mod:`phasetrace.io._common` for the data checks.

    Examples
    --------
    >>> ds = read_pattern("scan_0000.xye")  # doctest: +SKIP
    """
    return _read_one(check_file(path), format, None)


def find_pattern_files(source: str | Path | Sequence[str | Path], *, format: str | None = None) -> list[Path]:
    """Resolve a folder, file, glob or list into the ordered list of pattern files.

    A folder yields its non-hidden files with a supported extension (of
    ``format`` when given), in natural order; when several pattern extensions
    are present only the most common one is kept (so an ``echem.csv`` beside
    ``.xye`` patterns is not read as a pattern) and the others are logged.

    Raises
    ------
    ReaderError
        Missing path, a glob matching nothing, or a folder without supported files.
    """
    if isinstance(source, (list, tuple)):
        if not source:
            raise ReaderError("empty list of pattern files")
        return [Path(s) for s in source]
    text = str(source)
    p = Path(source)
    if not p.exists() and any(ch in text for ch in "*?["):
        hits = [Path(h) for h in glob.glob(text) if Path(h).is_file() and not Path(h).name.startswith(".")]
        if not hits:
            raise ReaderError(f"{text}: glob pattern matched no files")
        for hit in hits:
            check_link(hit, hit.parent)
        return sorted(hits, key=lambda q: natural_key(str(q)))
    if not p.exists():
        raise ReaderError(f"{p}: no such file or folder")
    if p.is_file():
        return [p]
    return _folder_files(p, format)


def _folder_files(folder: Path, fmt: str | None) -> list[Path]:
    exts = set(get_reader(fmt).extensions) if fmt else supported_extensions()
    files = [q for q in folder.iterdir() if q.is_file() and not q.name.startswith(".")]
    found = [q for q in files if q.suffix.lower() in exts]
    for q in found:
        check_link(q, folder)
    if not found:
        subs = sorted(q.name + "/" for q in folder.iterdir() if q.is_dir() and not q.name.startswith("."))
        hint = f"; subfolders: {', '.join(subs[:5])}" if subs else ""
        raise ReaderError(
            f"{folder}: folder holds no supported pattern files ({len(files)} other files{hint}); "
            f"supported extensions: {', '.join(sorted(exts))}")
    counts = Counter(q.suffix.lower() for q in found)
    if len(counts) > 1:
        # most files wins; on a tie prefer a pattern-specific extension over .csv/.txt
        keep = max(counts, key=lambda e: (counts[e], e not in (".csv", ".txt")))
        skipped = sorted(q.name for q in found if q.suffix.lower() != keep)
        logger.warning("%s: reading the %d %s files; skipping %d other files (%s)", folder, counts[keep], keep,
                       len(skipped), ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else ""))
        found = [q for q in found if q.suffix.lower() == keep]
    return sorted(found, key=lambda q: natural_key(q.name))


def _progress_iter(paths: list[Path], progress: Progress) -> Iterable[tuple[int, Path]]:
    if progress is True:
        from tqdm.auto import tqdm

        yield from enumerate(tqdm(paths, desc="reading", unit="file"))
        return
    for i, path in enumerate(paths):
        if callable(progress):
            progress(i, len(paths))
        yield i, path
    if callable(progress):
        progress(len(paths), len(paths))


def _resolve_override(wavelength: str | float) -> tuple[float, float, float]:
    try:
        return wavelength_option(wavelength)
    except ConfigError as err:  # read_stack reports every input problem as a ReaderError
        raise ReaderError(str(err)) from None


def _header_wavelength(parts: list[xr.Dataset], paths: list[Path], require: bool) -> tuple[float, float, float]:
    known = [(p, ds.attrs["wavelength_A"], ds.attrs.get("wavelength2_A", math.nan), ds.attrs.get("kalpha2_ratio", 0.0))
             for p, ds in zip(paths, parts) if math.isfinite(ds.attrs.get("wavelength_A", math.nan))]
    if not known:
        if require:
            raise ReaderError(f"{paths[0]}: no wavelength in the file header; pass --wavelength "
                              "(Å, or CuKa/CuKa1/MoKa/AgKa)")
        return (math.nan, math.nan, 0.0)
    first = known[0]
    for other in known[1:]:
        if abs(other[1] - first[1]) > _WL_TOL_A:
            raise ReaderError(
                f"wavelengths disagree: {first[0].name} says {first[1]:g} Å, {other[0].name} says {other[1]:g} Å; "
                "read them separately or pass --wavelength")
    if len(known) < len(parts):
        logger.info("%d of %d files give no wavelength; using %g Å from %s", len(parts) - len(known), len(parts),
                    first[1], first[0].name)
    return (float(first[1]), float(first[2]), float(first[3]))


def _nearest_offset(grid: np.ndarray, other: np.ndarray) -> float:
    idx = np.clip(np.searchsorted(other, grid), 1, other.size - 1)
    return float(np.max(np.minimum(np.abs(other[idx] - grid), np.abs(other[idx - 1] - grid))))


def _common_grid(parts: list[xr.Dataset], paths: list[Path]) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    grids = [ds["two_theta"].values for ds in parts]
    ref = grids[0]
    step = float(np.median(np.diff(ref)))
    same = [g.size == ref.size and np.allclose(g, ref, rtol=0, atol=1e-3 * step) for g in grids]
    ys = [ds["intensity"].values for ds in parts]
    ss = [ds["intensity_sigma"].values for ds in parts]
    if all(same):
        return ref, ys, ss
    lo_i = int(np.argmax([g[0] for g in grids]))
    hi_i = int(np.argmin([g[-1] for g in grids]))
    lo, hi = grids[lo_i][0], grids[hi_i][-1]
    grid = ref[(ref >= lo - 1e-9) & (ref <= hi + 1e-9)]
    if grid.size < 5:
        raise ReaderError(
            f"2θ ranges do not overlap: {paths[lo_i].name} covers {grids[lo_i][0]:g}–{grids[lo_i][-1]:g}°, "
            f"{paths[hi_i].name} covers {grids[hi_i][0]:g}–{grids[hi_i][-1]:g}°")
    n_diff = sum(not s for s in same)
    worst = max(_nearest_offset(grid, g) for g, s in zip(grids, same) if not s)
    cropped = ref.size - grid.size
    msg = (f"{n_diff} of {len(parts)} files are on a different 2θ grid; interpolated onto the grid of "
           f"{paths[0].name} ({grid.size} points, {grid[0]:g}–{grid[-1]:g}°), largest offset {worst:.3g}° "
           f"({worst / step:.2f} steps)")
    if cropped:
        msg += f"; {cropped} points outside the common range dropped"
    warnings.warn(msg, InterpolationWarning, stacklevel=3)
    out_y, out_s = [], []
    for g, y, s in zip(grids, ys, ss):
        out_y.append(np.array([np.interp(grid, g, row) for row in y]))
        out_s.append(np.array([np.interp(grid, g, row) for row in s]))
    return grid, out_y, out_s


def _merge_coords(parts: list[xr.Dataset]) -> dict[str, np.ndarray]:
    names: list[str] = []
    for ds in parts:
        names += [c for c in ds.coords if c not in names and ds[c].dims == ("scan",) and c != "scan"]
    merged: dict[str, np.ndarray] = {}
    for name in names:
        chunks = []
        for ds in parts:
            n = ds.sizes["scan"]
            if name in ds.coords:
                chunks.append(np.asarray(ds[name].values))
            else:
                kind = next(np.asarray(d[name].values).dtype.kind for d in parts if name in d.coords)
                chunks.append(np.full(n, "" if kind in "UO" else np.nan))
        values = np.concatenate(chunks)
        merged[name] = values.astype(str) if values.dtype.kind in "UO" else values
    return merged


def _radiation(wavelength: str | float | None, from_files: str) -> str:
    if wavelength is None:
        return from_files
    return wavelength.strip() if isinstance(wavelength, str) and wavelength.strip()[:1].isalpha() else ""


def read_stack(
    source: str | Path | Sequence[str | Path],
    *,
    format: str | None = None,  # noqa: A002
    wavelength: str | float | None = None,
    require_wavelength: bool = True,
    progress: Progress = False,
) -> xr.Dataset:
    """Read an operando series into one stack.

    Parameters
    ----------
    source : str, Path or sequence of paths
        A folder (every supported file inside, natural order, hidden files
        skipped), a single file (possibly multi-scan), a glob such as
        ``"run/*.xye"``, or a list of files (kept in the given order).
    format : str, optional
        Reader name for every file; default from each extension.
    wavelength : float or str, optional
        Å or a line name (``"CuKa"``, ``"CuKa1"``, ``"MoKa"``, ``"AgKa"``);
        overrides the headers.
    require_wavelength : bool
        With no header wavelength and no ``wavelength``, raise (default) or
        return NaN wavelengths.
    progress : bool or callable
        ``True`` shows a tqdm bar; a callable gets ``(done, total)`` file counts.

    Returns
    -------
    xarray.Dataset
        Stack of all scans, numbered from 0 in input order, with ``file``,
        ``datetime_start``, ``temperature_K`` ... scan coordinates.

    Raises
    ------
    ReaderError
        Any unreadable file (named), no files, non-overlapping 2θ ranges,
        disagreeing header wavelengths, or no wavelength when one is required.

    Warns
    -----
    InterpolationWarning
        When scans on different 2θ grids were interpolated onto one grid.
    """
    paths = find_pattern_files(source, format=format)
    override = _resolve_override(wavelength) if wavelength is not None else None
    parts = [_read_one(check_file(p), format, override[0] if override else None)
             for _, p in _progress_iter(paths, progress)]
    if override is not None:
        wl = override
        differing = [p.name for p, ds in zip(paths, parts)
                     if abs(ds.attrs.get("wavelength_A", math.nan) - wl[0]) > _WL_TOL_A]
        if differing:
            logger.info("--wavelength %g Å overrides the header wavelength of %d file(s), e.g. %s",
                        wl[0], len(differing), differing[0])
    else:
        wl = _header_wavelength(parts, paths, require_wavelength)
    grid, ys, ss = _common_grid(parts, paths)
    formats = sorted({ds.attrs.get("source_format", "") for ds in parts})
    radiation = next((ds.attrs.get("radiation", "") for ds in parts if ds.attrs.get("radiation")), "")
    out = make_stack(grid, np.concatenate(ys), np.concatenate(ss), wavelength_A=wl[0], wavelength2_A=wl[1],
                     kalpha2_ratio=wl[2] if math.isfinite(wl[2]) else 0.0,
                     radiation=_radiation(wavelength, radiation),
                     source_format=",".join(formats), coords=_merge_coords(parts),
                     attrs={"source": str(source) if not isinstance(source, (list, tuple)) else
                            f"{len(paths)} files", "n_files": len(paths),
                            "wavelength_source": "option" if override is not None else
                            ("header" if math.isfinite(wl[0]) else "none")})
    logger.info("read %d scans from %d files (%d points, %.3f–%.3f° 2θ)", out.sizes["scan"], len(paths),
                grid.size, grid[0], grid[-1])
    return out
