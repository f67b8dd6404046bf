"""Chunked (out-of-core) analysis of very long stacks: :func:`analyse_chunked`.

A stack of 10⁴–10⁵ scans does not fit in memory with its fits and
backgrounds, so it is processed in chunks of scans:

1. :func:`open_source` describes the input without reading intensities (HDF5:
   h5py slices through :func:`phasetrace.io.hdf5.open_lazy`; folders/globs: the
   ordered file list of :func:`phasetrace.io.find_pattern_files`).
2. Each chunk (plus a few *halo* scans on each side, discarded afterwards, so
   peak tracking and the stack prior see neighbours across the cut) runs
   background → ``fit_stack`` → ``analyse_phases``
   (:func:`analyse_chunk`); the per-scan results (no 2θ axis) and every
   ``map_stride``-th pattern are kept.
3. Each finished chunk is written at once, atomically, to
   ``OUT/.phasetrace-chunks/chunk_NNNNNN.npz`` (:func:`save_chunk`); with ``resume=True`` chunks already
   on disk for the same inputs and options are not recomputed.
4. The chunk tables are concatenated (a few hundred MB at most for 10⁵ scans),
   aligned once with the electrochemistry on a light skeleton stack,
   transitions are detected on the whole (scan, phase) table and the contract
   outputs are written (:mod:`phasetrace.stream_output`).

Chunks run one after another, on ``jobs`` local processes
(:class:`concurrent.futures.ProcessPoolExecutor`) or on a Dask distributed
cluster (``scheduler``: ``client.submit`` per chunk; workers read their chunk
from the shared file system).  Chunk boundaries depend only on ``chunk_scans``
and ``halo``, so all three give identical results.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .config import Config
from .errors import ConfigError, ReaderError
from .output import prepare_out_dir
from .schema import INTENSITY, SCAN, TWO_THETA, make_stack, resolve_wavelength

logger = logging.getLogger(__name__)

__all__ = ["ChunkSource", "open_source", "analyse_chunk", "analyse_chunked", "chunk_bounds",
           "save_chunk", "load_chunk",
           "CHUNK_DIR", "DEFAULT_CHUNK_SCANS"]

#: hidden folder (inside the output folder) holding the finished chunks of a run.
CHUNK_DIR = ".phasetrace-chunks"
#: default number of scans per chunk.
DEFAULT_CHUNK_SCANS = 500
_WL_TOL_A = 5e-4
_MAP_VARS = ("intensity", "background", "calc")

Progress = bool | Callable[[int, int], None]


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


def chunk_bounds(n_scans: int, chunk_scans: int) -> list[tuple[int, int]]:
    """Split ``n_scans`` into consecutive ``(start, stop)`` chunks of ``chunk_scans`` scans.

    A last chunk shorter than half a chunk is merged into the previous one.

    Examples
    --------
    >>> chunk_bounds(1100, 500)
    [(0, 500), (500, 1100)]
    """
    if chunk_scans < 1:
        raise ConfigError(f"chunk_scans={chunk_scans}; expected a positive number of scans")
    starts = list(range(0, n_scans, chunk_scans))
    if len(starts) > 1 and n_scans - starts[-1] < chunk_scans / 2:
        starts.pop()
    return [(s, starts[i + 1] if i + 1 < len(starts) else n_scans) for i, s in enumerate(starts)]


@lru_cache(maxsize=4)
def _library(names: tuple[str, ...] | str, reference_dir: str) -> list[Any]:
    from .phases import load_library

    return load_library(names if names == "auto" else list(names), reference_dir=reference_dir or None)


def analyse_chunk(source: ChunkSource, keep: tuple[int, int], *, config: Config,
                  map_stride: int) -> xr.Dataset:
    """Analyse one chunk: background → phases and lattices; keep the per-scan results.

    Parameters
    ----------
    source : ChunkSource
        The chunk with its halo (``source.offset`` = global index of its first scan).
    keep : (int, int)
        Global ``(start, stop)`` of the scans kept (the halo is analysed, then dropped).
    config : Config
        Analysis options.
    map_stride : int
        Patterns of global scans ``0, map_stride, 2·map_stride, ...`` are kept for
        the intensity map (float32).

    Returns
    -------
    xarray.Dataset
        Variables on (scan, phase) and scan (no 2θ axis), global ``scan`` labels;
        ``map_intensity``, ``map_background``, ``map_calc`` on (map_scan, two_theta).
    """
    from .background import estimate_background
    from .lattice import analyse_phases

    stack = source.read()
    background = estimate_background(stack, method=config.background.method)["background"]
    library = _library(config.phases.names, config.phases.reference_dir)
    # As in the in-memory pipeline, phases come from the whole-pattern search; the
    # per-peak fits are not kept in chunked mode (peak sets differ between chunks),
    # so they are not computed here.
    phases = analyse_phases(stack, library=library, background=background)
    lo, hi = keep[0] - source.offset, keep[1] - source.offset
    glob_scan = np.arange(keep[0], keep[1])
    table = phases.drop_vars([v for v in phases.data_vars if TWO_THETA in phases[v].dims
                              or v == "unindexed_peaks"])
    table = table.drop_dims([d for d in (TWO_THETA, "unindexed") if d in table.dims])
    table = table.isel(scan=slice(lo, hi)).assign_coords({SCAN: glob_scan})
    rows = np.flatnonzero(glob_scan % map_stride == 0)
    maps = {"intensity": stack[INTENSITY].values, "background": background.values,
            "calc": phases["calc"].values if "calc" in phases else None}
    for name in _MAP_VARS:
        if maps[name] is not None:
            table["map_" + name] = (("map_scan", TWO_THETA), maps[name][lo + rows].astype(np.float32))
    table = table.assign_coords(map_scan=glob_scan[rows], two_theta=stack[TWO_THETA].values)
    table.attrs.update({k: v for k, v in phases.attrs.items() if isinstance(v, (str, int, float))})
    return table


def _fingerprint(source: ChunkSource, config: Config, chunk_scans: int, halo: int, map_stride: int) -> str:
    """Hash of the input files (names, sizes, mtimes), options and chunking."""
    h = hashlib.sha256(json.dumps([config.to_dict(), source.kind, source.n_scans, chunk_scans, halo,
                                   map_stride, list(source.wavelength)], default=str).encode())
    for name in source.paths:
        st = Path(name).stat()
        h.update(f"{name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:32]


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


def _load_done(folder: Path, fingerprint: str) -> dict[int, Path]:
    done: dict[int, Path] = {}
    for path in sorted(folder.glob("chunk_*.npz")):
        try:
            attrs = load_chunk(path, meta_only=True).attrs
            ok = attrs.get("chunk_fingerprint") == fingerprint
            index = int(attrs.get("chunk_index", -1))
        except (OSError, ValueError, KeyError):
            ok = False
        if ok:
            done[index] = path
        else:
            path.unlink(missing_ok=True)
    return done


#: files written by a chunked run (their ``.NAME.*.part`` temporaries are ours to remove).
_OUTPUT_NAMES = ("sequence.json", "lattice.csv", "sequence.csv", "sequence.md", "sequence.tex",
                 "results.nc", "report.html")


def _clean_partials(out: Path, folder: Path) -> None:
    """Remove temporary files a killed run left (chunks and our own output names only)."""
    stale = list(folder.glob(".*.part"))
    for name in _OUTPUT_NAMES:
        stale += out.glob(f".{name}.*.part")
    for path in stale:
        path.unlink(missing_ok=True)
    if stale:
        logger.info("%s: removed %d temporary file(s) of an interrupted run", out, len(stale))


def _tasks(source: ChunkSource, bounds: list[tuple[int, int]], halo: int,
           todo: Iterable[int]) -> Iterator[tuple[int, ChunkSource, tuple[int, int]]]:
    for i in todo:
        start, stop = bounds[i]
        lo, hi = max(0, start - halo), min(source.n_scans, stop + halo)
        yield i, source.part(lo, hi), (start, stop)


def _run_tasks(tasks: list[tuple[int, ChunkSource, tuple[int, int]]], *, config: Config,
               map_stride: int, jobs: int, scheduler: Any) -> Iterator[tuple[int, xr.Dataset]]:
    """Yield (chunk index, result) as chunks finish: in process, on local processes or on Dask."""
    if scheduler is not None:
        from distributed import as_completed

        from .parallel import connect

        client = connect(scheduler) if isinstance(scheduler, str) else scheduler
        futures = {client.submit(analyse_chunk, part, keep, config=config, map_stride=map_stride,
                                 pure=False, key=f"phasetrace-chunk-{i}-{part.offset}"): i
                   for i, part, keep in tasks}
        for future in as_completed(futures, loop=client.loop):
            yield futures[future], future.result()
            future.release()
    elif jobs > 1 and len(tasks) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed as done

        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"),
                                 initializer=_one_thread) as pool:
            futures = {pool.submit(analyse_chunk, part, keep, config=config, map_stride=map_stride): i
                       for i, part, keep in tasks}
            for future in done(futures):
                yield futures[future], future.result()
    else:
        for i, part, keep in tasks:
            yield i, analyse_chunk(part, keep, config=config, map_stride=map_stride)


def _one_thread() -> None:
    import numba

    numba.set_num_threads(1)


def _progress(progress: Progress, total: int) -> Callable[[int], None]:
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="scans", unit="scan")

        def update(done: int) -> None:
            bar.n = done
            bar.refresh()
            if done >= total:
                bar.close()

        return update
    if callable(progress):
        return lambda done: progress(done, total)
    return lambda done: None


def analyse_chunked(inputs: Any, out_dir: str | Path, *, config: Config | None = None,
                    chunk_scans: int = DEFAULT_CHUNK_SCANS, halo: int = 8, max_map_scans: int = 1000,
                    jobs: int = 1, scheduler: Any = None, resume: bool = False,
                    keep_chunks: bool = False,
                    progress: Progress = False) -> tuple[xr.Dataset, dict[str, Path]]:
    """Analyse a long stack chunk by chunk and write the contract outputs.

    Parameters
    ----------
    inputs : phasetrace.pipeline.RunInputs
        Input, cycler file, scan log, wavelength override, ``echem_outside``.
    out_dir : str or Path
        Output folder (``sequence.json``, ``lattice.csv``, ``results.nc``, figures ...).
    config : Config, optional
        Analysis options.
    chunk_scans : int
        Scans per chunk (memory per chunk ≈ 60 × chunk_scans × n_points bytes).
    halo : int
        Extra scans analysed on each side of a chunk and dropped (continuity of tracks).
    max_map_scans : int
        Most patterns kept for the intensity map in ``results.nc`` and the figures.
    jobs : int
        Local processes working on chunks at once.
    scheduler : str or distributed.Client, optional
        Dask scheduler address (or a client): chunks become tasks on its workers,
        which must see the input files.
    resume : bool
        Reuse chunks already finished in ``out_dir`` for the same inputs and options.
    keep_chunks : bool
        Keep ``out_dir/.phasetrace-chunks`` after success (deleted by default).
    progress : bool or callable
        ``True`` for a tqdm bar, or ``callable(scans_done, n_scans)``.

    Returns
    -------
    results : xarray.Dataset
        Per-scan results on (scan, phase)/scan, the cycler record, the decimated
        intensity map on (map_scan, two_theta) and attrs ``sequence_json`` ...
    written : dict of str to Path
        The files written.

    Raises
    ------
    ReaderError, EchemError, ConfigError, OutputError
        As :func:`phasetrace.pipeline.run_analysis`.
    """
    from .stream_output import finish

    config = config or Config()
    if jobs < 1 or halo < 0 or max_map_scans < 1:
        raise ConfigError(f"jobs={jobs}, halo={halo}, max_map_scans={max_map_scans}: expected "
                          "jobs ≥ 1, halo ≥ 0, max_map_scans ≥ 1")
    out = prepare_out_dir(out_dir)
    source = open_source(inputs.input, wavelength=inputs.wavelength)
    bounds = chunk_bounds(source.n_scans, chunk_scans)
    stride = max(1, math.ceil(source.n_scans / max_map_scans))
    fingerprint = _fingerprint(source, config, chunk_scans, halo, stride)
    folder = out / CHUNK_DIR
    if folder.exists() and not resume:
        shutil.rmtree(folder)
    folder.mkdir(exist_ok=True)
    _clean_partials(out, folder)
    done = _load_done(folder, fingerprint)
    logger.info("%d scans in %d chunks of ≤ %d (%d already done)", source.n_scans, len(bounds),
                chunk_scans, len(done))
    report = _progress(progress, source.n_scans)
    n_done = sum(bounds[i][1] - bounds[i][0] for i in done)
    report(n_done)
    tasks = list(_tasks(source, bounds, halo, [i for i in range(len(bounds)) if i not in done]))
    for i, result in _run_tasks(tasks, config=config, map_stride=stride, jobs=jobs, scheduler=scheduler):
        result.attrs.update(chunk_fingerprint=fingerprint, chunk_index=i)
        done[i] = save_chunk(result, folder / f"chunk_{i:06d}.npz")
        n_done += bounds[i][1] - bounds[i][0]
        report(n_done)
    results, written = finish([done[i] for i in range(len(bounds))], inputs, out, source=source,
                              config=config, chunk_scans=chunk_scans)
    if not keep_chunks:
        shutil.rmtree(folder, ignore_errors=True)
    return results, written
