"""A chunked run's results as one Dataset that reads its chunk files on demand.

A finished chunk lies in ``OUT/.phasetrace-chunks/chunk_NNNNNN.npz``
(:func:`phasetrace.stream.save_chunk`).  Loading every chunk to join them keeps
≈ 10 KB per scan in memory (the ``(scan, phase)`` table of ~36 variables over
the candidate phases, the ``(scan, peak)`` table of the per-peak fits, ...), so
a run of 10⁵ scans would hold over 1 GB.  Instead :func:`open_chunk` gives a
chunk file as a Dataset whose per-scan variables are Dask arrays reading one
``.npz`` member when computed, except the few the transition detection reads
(:data:`SUMMARY_VARS`, ≈ 2 KB per scan with 19 candidate phases), which are read
at once.  The same join (:func:`phasetrace.analysis.join_blocks`), alignment and
transition code then builds the run's results Dataset lazily, and the one writer
(:func:`phasetrace.output.write_outputs`) writes ``results.nc`` a region of
scans at a time (:func:`write_netcdf_regions`) and ``lattice.csv`` a slice at a
time, so the driver's memory does not grow with the per-scan tables.

Everything here is computed with Dask's synchronous scheduler in this process
(:func:`local_compute`): the chunk files are on this machine, whatever
scheduler analysed them.
"""

from __future__ import annotations

import contextlib
import json
import operator
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .schema import SCAN

__all__ = ["SUMMARY_VARS", "open_chunk", "is_lazy", "in_memory", "local_compute", "write_netcdf_regions",
           "scan_regions", "MAP_SCAN"]

#: per-scan variables the transitions, minor phases and phase evolution read
#: (:func:`phasetrace.transitions.detect_transitions`: presence, fractions and the cell with
#: its esds; :func:`phasetrace.phases.unindexed.unindexed_summary`: the unindexed peaks).
#: They are held in memory; a variable missing here would only be read from disk, never differ.
SUMMARY_VARS = ("present", "fraction", "a", "b", "c", "alpha", "beta", "gamma", "volume_per_fu",
                "esd_a", "esd_b", "esd_c", "esd_alpha", "esd_beta", "esd_gamma", "esd_volume",
                "unindexed_peaks")
#: the patterns kept for the intensity map (every k-th scan).
MAP_SCAN = "map_scan"
#: patterns :func:`~phasetrace.phases.unindexed.unindexed_summary` reads when every pattern is
#: kept (a run of at most ``max_map_scans`` scans, so their size is bounded).
_PATTERNS_READ = ("intensity", "background")
#: scans written per region of results.nc / slice of lattice.csv: with 19 phases and 40 peaks
#: about 40 MB of per-scan tables at a time.
REGION_SCANS = 4096
#: chunk files kept open between member reads (each holds only its zip directory).
_OPEN_FILES = 16

_LOCK = threading.Lock()
_FILES: OrderedDict[tuple[str, int], Any] = OrderedDict()


def _member(path: str, stamp: int, key: str) -> np.ndarray:
    """One array of a chunk file (open files cached: ``stamp`` is the file's mtime in ns)."""
    with _LOCK:
        z = _FILES.pop((path, stamp), None)
        if z is None:
            z = np.load(path, allow_pickle=False)
        _FILES[(path, stamp)] = z
        while len(_FILES) > _OPEN_FILES:
            _FILES.popitem(last=False)[1].close()
        return z[key]


def close_files() -> None:
    """Close the chunk files kept open by the member reads."""
    with _LOCK:
        while _FILES:
            _FILES.popitem()[1].close()


def _header(zf: zipfile.ZipFile, key: str) -> tuple[tuple[int, ...], np.dtype]:
    with zf.open(key + ".npy") as fh:
        version = np.lib.format.read_magic(fh)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = reader(fh)
    return tuple(shape), dtype


def open_chunk(path: str | Path, *, eager: tuple[str, ...] = ()) -> xr.Dataset:
    """A chunk file as a Dataset: variables on ``scan``/``map_scan`` lazy, except ``eager``.

    Coordinates, the variables on other dims (phase, peak, block) and ``eager`` are read
    now; the others are Dask arrays of one chunk each that read their ``.npz`` member
    when computed.  ``load()`` gives exactly :func:`phasetrace.stream.load_chunk`.
    """
    import dask.array as da

    path = str(path)
    stamp = Path(path).stat().st_mtime_ns
    with np.load(path, allow_pickle=False) as z, zipfile.ZipFile(path) as zf:
        meta = json.loads(str(z["meta"]))
        items: dict[str, Any] = {}
        for name, m in meta["variables"].items():
            shape, dtype = _header(zf, m["key"])
            if m["coord"] or name in eager or not {SCAN, MAP_SCAN} & set(m["dims"]) or 0 in shape:
                data: Any = z[m["key"]]  # (empty arrays too: Dask cannot pad a dim of size 0)
            else:
                token = f"phasetrace-chunk-{stamp}-{m['key']}-{path}"
                graph = {(token,) + (0,) * len(shape): (_member, path, stamp, m["key"])}
                data = da.Array(graph, token, chunks=tuple((s,) for s in shape), dtype=dtype)
            items[name] = (m["dims"], data, m["attrs"])
    coords = {k: v for k, v in items.items() if meta["variables"][k]["coord"]}
    return xr.Dataset({k: v for k, v in items.items() if k not in coords}, coords=coords, attrs=meta["attrs"])


def is_lazy(var: xr.Variable | xr.DataArray) -> bool:
    """Whether ``var`` holds a Dask array (read from the chunk files when computed)."""
    return hasattr(var.data, "dask")


def in_memory(results: xr.Dataset) -> xr.Dataset:
    """What the transition detection reads of ``results``, in memory; its other lazy variables dropped.

    :data:`SUMMARY_VARS`, the coordinates and, when every pattern was kept, the
    intensity and background (at most ``max_map_scans`` scans).  Read one variable at
    a time (its chunk pieces and the joined array are all it holds at once);
    ``results`` itself stays lazy.
    """
    lazy = [v for v in results.data_vars if is_lazy(results[v])]
    keep = [v for v in lazy if v in SUMMARY_VARS or v in _PATTERNS_READ]
    out = results.drop_vars([v for v in lazy if v not in keep])
    with local_compute():
        for name in keep:
            out[name] = out[name].compute()  # a copy: results keeps reading the files
    close_files()
    return out


@contextlib.contextmanager
def local_compute() -> Iterator[None]:
    """Dask computations in this process, one task at a time (never on a user's cluster)."""
    import dask

    with dask.config.set(scheduler="synchronous"):
        yield


def scan_regions(n: int, size: int = REGION_SCANS) -> list[slice]:
    """Consecutive scan positions in slices of ``size``."""
    return [slice(a, min(n, a + size)) for a in range(0, n, size)] or [slice(0, 0)]


def write_netcdf_regions(ds: xr.Dataset, path: str | Path, *, region_scans: int = REGION_SCANS) -> None:
    """Write ``ds`` to netCDF-4 (h5netcdf) at ``path``, its lazy variables a region of scans at a time.

    xarray writes the file with every variable and attribute; the lazy variables are
    first written as a broadcast zero (no memory), then each region of
    ``region_scans`` scans (and the map patterns of those scans) is computed from the
    chunk files, CF-encoded by xarray's own encoder and written over its place.  The
    file reads back equal to ``ds.to_netcdf(path, engine="h5netcdf")``.
    """
    import h5py
    from xarray.conventions import encode_cf_variable

    lazy = [v for v in ds.data_vars if is_lazy(ds[v])]
    if not lazy:
        ds.to_netcdf(path, engine="h5netcdf")
        return
    unsupported = [v for v in lazy if ds[v].dtype.kind in "OMm" or not {SCAN, MAP_SCAN} & set(ds[v].dims)]
    template = ds.copy()
    for name in lazy:
        var = ds[name].variable
        if name in unsupported:  # object/datetime, or not on scans: no region encoding; load it
            with local_compute():
                template[name] = var.compute()
            continue
        zero = np.broadcast_to(np.zeros((), dtype=var.dtype), var.shape)
        template[name] = xr.Variable(var.dims, zero, var.attrs, var.encoding)
    template.to_netcdf(path, engine="h5netcdf")
    del template
    todo = [v for v in lazy if v not in unsupported]
    map_scans = ds[MAP_SCAN].values if MAP_SCAN in ds.coords else np.array([], dtype=int)
    scans = ds[SCAN].values
    with h5py.File(path, "r+") as h5:
        for region in scan_regions(ds.sizes[SCAN], region_scans):
            lo, hi = (scans[region][[0, -1]] if region.stop > region.start else (0, -1))
            rows = slice(*np.searchsorted(map_scans, [lo, hi + 1]))
            with local_compute():
                part = ds[todo].isel({SCAN: region, **({MAP_SCAN: rows} if MAP_SCAN in ds.dims else {})}).load()
            for name in todo:
                var = part[name].variable
                index = tuple(region if d == SCAN else rows if d == MAP_SCAN else slice(None) for d in var.dims)
                values = np.asarray(encode_cf_variable(var, name=name).values)
                if values.dtype.kind == "U":
                    values = values.astype(object)
                if values.size:
                    h5[name][index] = values
            del part
    close_files()


def region_frames(ds: xr.Dataset, names: list[str], region_scans: int | None = None) -> Iterator[xr.Dataset]:
    """``ds[names]`` a slice of ``region_scans`` (default :data:`REGION_SCANS`) scans at a time, computed."""
    for region in scan_regions(ds.sizes[SCAN], region_scans or REGION_SCANS):
        with local_compute():
            yield ds[names].isel({SCAN: region}).load()
    close_files()
