"""Reading a stack a part at a time, and the files of finished chunks.

A stack of 10⁴–10⁵ scans does not fit in memory with its fits and
backgrounds, so :func:`open_source` describes the input without reading
intensities (HDF5: h5py slices through :func:`phasetrace.io.hdf5.open_lazy`;
folders/globs: the ordered file list of :func:`phasetrace.io.find_pattern_files`)
and :meth:`ChunkSource.read` reads a range of scans when a task needs it;
:class:`StackSource` gives an in-memory stack the same interface.  A finished
chunk is kept as ``OUT/.phasetrace-chunks/chunk_NNNNNN.npz``
(:func:`save_chunk`, :func:`load_chunk`) until the run has written its outputs.
The analysis itself is :mod:`phasetrace.analysis`; the orchestration is
:func:`phasetrace.pipeline.run_analysis`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .errors import ConfigError, ReaderError
from .schema import INTENSITY, SCAN, TWO_THETA, make_stack, resolve_wavelength

logger = logging.getLogger(__name__)

__all__ = ["ChunkSource", "StackSource", "open_source", "save_chunk", "load_chunk"]

_WL_TOL_A = 5e-4


@dataclass(frozen=True)
class ChunkSource:
    """Picklable description of an input stack, read a slice at a time.

    Attributes
    ----------
    kind : {"hdf5", "files", "file"}
        An HDF5/NeXus stack, one pattern file per scan, or one multi-scan file.
    paths : tuple of str
        The files (one for "hdf5"/"file"); for "files" only those of this part.
    offset : int
        Global index of the first scan of this part.
    n_scans : int
        Scans in this part.
    two_theta : ndarray, shape (n_points,)
        Reference 2θ grid, degrees; scans on another grid are interpolated onto it.
    wavelength : tuple of float
        ``(λ1 Å, λ2 Å, I2/I1)`` used for every scan.
    lazy : LazyHDF5Stack or None
        The h5py reader for "hdf5".
    """

    kind: str
    paths: tuple[str, ...]
    offset: int
    n_scans: int
    two_theta: np.ndarray
    wavelength: tuple[float, float, float]
    lazy: Any = None
    override: bool = False

    def part(self, start: int, stop: int) -> ChunkSource:
        """The sub-source of scans ``start:stop`` (indices relative to this source)."""
        if not 0 <= start < stop <= self.n_scans:
            raise ConfigError(f"scans {start}:{stop} requested from a source of {self.n_scans}")
        paths = self.paths[start:stop] if self.kind == "files" else self.paths
        return dataclasses.replace(self, paths=paths, offset=self.offset + start, n_scans=stop - start)

    def read(self) -> xr.Dataset:
        """Read every scan of this part into a stack (scans numbered from 0).

        Raises
        ------
        ReaderError
            Unreadable files, a file holding several scans among one-scan files, or a
            header wavelength disagreeing with the rest of the stack.
        """
        from .io import read_stack

        wl_option = self.wavelength[0] if self.override else None
        if self.kind == "hdf5":
            stack = self.lazy.read(self.offset, self.offset + self.n_scans)
        elif self.kind == "file":
            stack = read_stack(self.paths[0], wavelength=wl_option).isel(
                scan=slice(self.offset, self.offset + self.n_scans))
        else:
            stack = read_stack(list(self.paths), wavelength=wl_option)
            if stack.sizes[SCAN] != self.n_scans:
                raise ReaderError(f"{self.paths[0]}: {len(self.paths)} files hold {stack.sizes[SCAN]} scans; "
                                  "chunked analysis needs one scan per file (or one HDF5 stack)")
        return self._conform(stack)

    def take(self, indices: list[int]) -> xr.Dataset:
        """Read the scans at ``indices`` (relative to this source) into one stack."""
        if self.kind == "hdf5" and all(b > a for a, b in zip(indices, indices[1:])):
            stack = self._conform(self.lazy.read_rows([self.offset + i for i in indices]))
            stack.attrs["first_scan"] = self.offset + int(indices[0])
            return stack
        parts = [self.part(i, i + 1).read() for i in indices]
        stack = xr.concat(parts, dim=SCAN, data_vars="minimal", coords="minimal", compat="override",
                          combine_attrs="override")
        return stack.assign_coords({SCAN: np.arange(len(indices))})

    def input_files(self) -> list[Path]:
        """The files this part reads (for content hashes)."""
        return [Path(p) for p in self.paths]

    def _conform(self, stack: xr.Dataset) -> xr.Dataset:
        wl = stack.attrs.get("wavelength_A", math.nan)
        if not self.override and math.isfinite(wl) and abs(wl - self.wavelength[0]) > _WL_TOL_A:
            raise ReaderError(f"{self.paths[0]}: header wavelength {wl:g} Å differs from {self.wavelength[0]:g} Å "
                              "of the first scan; pass --wavelength")
        tt = stack[TWO_THETA].values
        if tt.size != self.two_theta.size or not np.allclose(tt, self.two_theta, rtol=0, atol=1e-6):
            y = np.array([np.interp(self.two_theta, tt, row) for row in stack[INTENSITY].values])
            s = np.array([np.interp(self.two_theta, tt, row) for row in stack["intensity_sigma"].values])
            coords = {k: v.values for k, v in stack.coords.items() if v.dims == (SCAN,) and k != SCAN}
            stack = make_stack(self.two_theta, y, s, coords=coords, attrs=dict(stack.attrs))
        stack = stack.assign_coords({SCAN: np.arange(stack.sizes[SCAN])})
        stack.attrs.update(wavelength_A=self.wavelength[0], wavelength2_A=self.wavelength[1],
                           kalpha2_ratio=self.wavelength[2], first_scan=self.offset)
        return stack


@dataclass(frozen=True)
class StackSource:
    """An in-memory stack behind the :class:`ChunkSource` interface (notebook use)."""

    stack: xr.Dataset
    offset: int = 0

    @property
    def n_scans(self) -> int:
        return int(self.stack.sizes[SCAN])

    @property
    def two_theta(self) -> np.ndarray:
        return self.stack[TWO_THETA].values

    @property
    def wavelength(self) -> tuple[float, float, float]:
        a = self.stack.attrs
        return (float(a["wavelength_A"]), float(a.get("wavelength2_A", math.nan)),
                float(a.get("kalpha2_ratio", 0.0) or 0.0))

    def part(self, start: int, stop: int) -> StackSource:
        return StackSource(self.stack.isel({SCAN: slice(start, stop)}), self.offset + start)

    def read(self) -> xr.Dataset:
        return self.stack.assign_coords({SCAN: np.arange(self.n_scans)})

    def take(self, indices: list[int]) -> xr.Dataset:
        return self.stack.isel({SCAN: list(indices)}).assign_coords({SCAN: np.arange(len(indices))})

    def input_files(self) -> list[Path]:
        return []


def open_source(input_: str, *, wavelength: str = "") -> ChunkSource:
    """Describe ``input_`` (folder, glob, pattern file or HDF5 stack) for chunked reading.

    Only the file list, the first scan and (for HDF5) the per-scan metadata are read.

    Raises
    ------
    ReaderError
        No files, an unreadable first file, or no wavelength anywhere.
    """
    from .io import find_pattern_files, read_stack
    from .io.hdf5 import open_lazy

    override = _override(wavelength)
    paths = find_pattern_files(input_)
    if len(paths) == 1 and paths[0].suffix.lower() in (".h5", ".hdf5", ".hdf", ".nxs", ".nx5", ".nexus"):
        lazy = open_lazy(paths[0], wavelength_A=override[0] if override else None)
        wl = override or lazy.wavelength
        _require_wavelength(wl, paths[0])
        return ChunkSource("hdf5", (str(paths[0]),), 0, lazy.n_scans, lazy.two_theta, wl, lazy,
                           override is not None)
    first = read_stack(paths[:1], wavelength=wavelength or None, require_wavelength=False)
    wl = override or (first.attrs["wavelength_A"], first.attrs.get("wavelength2_A", math.nan),
                      first.attrs.get("kalpha2_ratio", 0.0))
    _require_wavelength(wl, paths[0])
    if len(paths) == 1:
        n = read_stack(paths[0], wavelength=wavelength or None).sizes[SCAN]
        return ChunkSource("file", (str(paths[0]),), 0, n, first[TWO_THETA].values, wl, None,
                           override is not None)
    return ChunkSource("files", tuple(str(p) for p in paths), 0, len(paths), first[TWO_THETA].values,
                       wl, None, override is not None)


def _override(wavelength: str) -> tuple[float, float, float] | None:
    if not wavelength:
        return None
    try:
        return resolve_wavelength(wavelength)
    except Exception as err:  # SchemaError: unknown line name or bad number
        raise ReaderError(f"--wavelength {wavelength!r}: {err}") from err


def _require_wavelength(wl: tuple[float, float, float] | None, path: Path) -> None:
    if wl is None or not (math.isfinite(wl[0]) and wl[0] > 0):
        raise ReaderError(f"{path}: no wavelength in the file header; pass --wavelength "
                          "(Å, or CuKa/CuKa1/MoKa/AgKa)")


def save_chunk(ds: xr.Dataset, path: str | Path) -> Path:
    """Write a chunk result atomically as ``.npz`` (plain arrays + JSON metadata, no pickle).

    Much faster to read back than netCDF for Datasets of many small variables.
    """
    from .output import atomic_path, json_default

    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {"attrs": ds.attrs, "variables": {}}
    for i, (name, var) in enumerate(ds.variables.items()):
        values = var.values
        arrays[f"v{i}"] = values.astype(str) if values.dtype == object else values
        meta["variables"][name] = {"key": f"v{i}", "dims": list(var.dims), "attrs": var.attrs,
                                   "coord": name in ds.coords}
    arrays["meta"] = np.array(json.dumps(meta, default=json_default))
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return Path(path)


def load_chunk(path: str | Path, *, meta_only: bool = False) -> xr.Dataset:
    """Read a chunk written by :func:`save_chunk` (only its attrs with ``meta_only``)."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        if meta_only:
            return xr.Dataset(attrs=meta["attrs"])
        items = {name: (m["dims"], z[m["key"]], m["attrs"]) for name, m in meta["variables"].items()}
    coords = {k: v for k, v in items.items() if meta["variables"][k]["coord"]}
    return xr.Dataset({k: v for k, v in items.items() if k not in coords}, coords=coords,
                      attrs=meta["attrs"])
