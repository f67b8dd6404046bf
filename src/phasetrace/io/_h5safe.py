"""Defensive access to HDF5 objects: links, external storage and declared sizes.

* Soft links that loop or dangle, and external links to missing files, become a
  :class:`ReaderError` naming the link (never an h5py traceback).
* External links, external raw storage and virtual-dataset sources may point only
  to files inside the folder of the input file (and below); anything else is
  refused, since following it would read files the user did not give.
* A pattern dataset may declare at most :data:`~phasetrace.io._limits.MAX_SCANS`
  scans of :data:`~phasetrace.io._limits.MAX_POINTS` points, and must actually
  store its data: a chunked dataset declaring over 1000 times the bytes it
  stores is refused.  Counting data compresses by ~10× at most with gzip/lzf,
  so such a ratio means values that were never written (HDF5 fill values) or a
  crafted bomb.
* Reading at once must fit in :func:`~phasetrace.io._limits.memory_budget`.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import ReaderError
from ._limits import BYTES_PER_VALUE, MAX_POINTS, MAX_SCANS, human_bytes, memory_budget

logger = logging.getLogger(__name__)

__all__ = ["H5_ERRORS", "member", "safe_items", "check_pattern_dataset", "check_read_size", "scan_times"]

#: what h5py raises for unresolvable links, missing external files and corrupt objects.
H5_ERRORS = (KeyError, RuntimeError, OSError, ValueError, TypeError)
#: storage ratio above which a chunked dataset is taken as unwritten or a bomb (see module doc).
MAX_DECLARED_PER_STORED = 1000
#: 2100-01-01T00:00:00Z in seconds since the epoch: later "epoch" time stamps are not real.
EPOCH_MAX_S = 4_102_444_800.0
#: time values above this (s) are seconds since the epoch (1973-03-03); below, seconds since a start.
EPOCH_MIN_S = 1e8


def _inside(target: Path, folder: Path) -> bool:
    try:
        target.resolve().relative_to(folder)
    except ValueError:
        return False
    return True


def _check_external_file(p: Path, what: str, filename: str) -> None:
    folder = p.resolve().parent
    target = Path(filename) if Path(filename).is_absolute() else folder / filename
    if not _inside(target, folder):
        raise ReaderError(f"{p}: {what} points to {filename}, outside the folder of the input file; "
                          "refused (copy the target beside the input file)")
    if not target.is_file():
        raise ReaderError(f"{p}: {what} points to {filename}, which does not exist")


def member(p: Path, group: h5py.Group, name: str, *, required: bool = True) -> Any:
    """``group[name]`` with its link checked; None (or ReaderError when ``required``) if it cannot be used."""
    where = f"{group.name.rstrip('/')}/{name}"
    try:
        link = group.get(name, getlink=True)
    except H5_ERRORS as err:
        if required:
            raise ReaderError(f"{p}: HDF5 object {where} cannot be opened ({err})") from err
        return None
    if link is None:
        if required:
            raise ReaderError(f"{p}: HDF5 object {where} does not exist")
        return None
    if isinstance(link, h5py.ExternalLink):
        try:
            _check_external_file(p, f"external link {where}", link.filename)
        except ReaderError:
            if required:
                raise
            return None
    try:
        obj = group[name]
    except H5_ERRORS as err:
        if not required:
            return None
        kind = "soft link" if isinstance(link, h5py.SoftLink) else "link"
        target = f" → {link.path}" if isinstance(link, h5py.SoftLink) else ""
        raise ReaderError(f"{p}: {kind} {where}{target} does not resolve (a loop or a dangling link)") \
            from err
    try:
        actual = Path(obj.file.filename)
    except H5_ERRORS:
        actual = p
    if actual.resolve() != p.resolve():
        if not _inside(actual, p.resolve().parent):
            raise ReaderError(f"{p}: {where} resolves into {actual}, outside the folder of the input file; refused")
        logger.info("%s: %s is read from the linked file %s", p, where, actual)
    return obj


def safe_items(p: Path, group: h5py.Group) -> list[tuple[str, Any]]:
    """``group.items()`` skipping links that loop, dangle or leave the input's folder."""
    out = []
    try:
        names = list(group.keys())
    except H5_ERRORS:
        return out
    for name in names:
        obj = member(p, group, name, required=False)
        if obj is not None:
            out.append((name, obj))
    return out


def _check_storage(p: Path, dset: h5py.Dataset) -> None:
    """External raw files and virtual sources of ``dset`` must be inside the input's folder."""
    external = dset.external or []
    for entry in external:
        _check_external_file(p, f"dataset {dset.name} (external storage)", str(entry[0]))
    if dset.is_virtual:
        for source in dset.virtual_sources():
            if source.file_name not in (".", ""):
                _check_external_file(p, f"virtual dataset {dset.name}", source.file_name)


def check_pattern_dataset(p: Path, sig: h5py.Dataset, ax: h5py.Dataset) -> tuple[int, int]:
    """Check declared sizes and storage of the pattern dataset; return ``(n_scans, n_points)``."""
    for dset in (sig, ax):
        _check_storage(p, dset)
    if ax.ndim != 1:
        raise ReaderError(f"{p}: axis {ax.name} has shape {ax.shape}; expected one dimension")
    n_points = int(ax.shape[0])
    if n_points > MAX_POINTS:
        raise ReaderError(f"{p}: axis {ax.name} declares {n_points} points; refusing more than "
                          f"{MAX_POINTS} points per scan")
    shape = tuple(int(v) for v in sig.shape)
    if len(shape) == 1:
        n_scans = 1
    else:
        n_scans = shape[1] if shape[-1] != n_points and shape[0] == n_points else shape[0]
    if n_scans > MAX_SCANS or max(shape) > max(MAX_SCANS, MAX_POINTS):
        raise ReaderError(f"{p}: dataset {sig.name} declares shape {shape}; refusing more than {MAX_SCANS} "
                          f"scans of {MAX_POINTS} points")
    declared = math.prod(shape) * sig.dtype.itemsize
    if sig.chunks is not None and not sig.is_virtual and not sig.external and declared > (1 << 20):
        stored = sig.id.get_storage_size()
        if declared > MAX_DECLARED_PER_STORED * max(stored, 1):
            raise ReaderError(
                f"{p}: dataset {sig.name} declares {human_bytes(declared)} but the file stores "
                f"{human_bytes(stored)} of it: mostly unwritten values or a compression bomb; refused")
    return n_scans, n_points


def check_read_size(p: Path, what: str, n_scans: int, n_points: int, *, hint: str = "") -> None:
    """Refuse reading ``n_scans × n_points`` values at once beyond :func:`memory_budget`."""
    need = float(n_scans) * n_points * BYTES_PER_VALUE
    budget = memory_budget()
    if need > budget:
        raise ReaderError(f"{p}: {what}: {n_scans} scans × {n_points} points need about {human_bytes(need)} "
                          f"in memory; this process can spare {human_bytes(budget)}{hint}")


def scan_times(p: Path, name: str, t: np.ndarray) -> dict[str, Any]:
    """Per-scan times → ``{"datetime_start": ...}`` (epoch seconds) or ``{"time_s": ...}``.

    NaN entries stay unknown.  Infinite values, "epoch" values after 2100 and
    a mix of relative seconds and epoch values are refused.
    """
    from datetime import datetime, timezone

    if np.isinf(t).any():
        raise ReaderError(f"{p}: dataset {name} holds infinite time values; expected seconds")
    finite = t[np.isfinite(t)]
    if finite.size == 0:
        return {"time_s": t}
    lo, hi = float(finite.min()), float(finite.max())
    if lo > EPOCH_MIN_S:
        if hi > EPOCH_MAX_S:
            raise ReaderError(f"{p}: time value {hi:g} in dataset {name} is after the year 2100 as seconds "
                              "since 1970; expected seconds since the epoch or since the start")
        return {"datetime_start": [datetime.fromtimestamp(v, tz=timezone.utc).isoformat() if math.isfinite(v)
                                   else "" for v in t]}
    if hi > EPOCH_MIN_S:
        raise ReaderError(f"{p}: dataset {name} mixes relative times ({lo:g} s) with epoch-like values "
                          f"({hi:g} s); expected one kind")
    return {"time_s": t}
