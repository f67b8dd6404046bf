"""Driver memory and time of the stage after the analysis (join → transitions → every output file).

The analysis of 10⁵ scans takes hours on 2 cores, but what the driver holds after
it depends only on the chunk results.  This benchmark takes the chunk files of a
real run (``--chunks``: ``OUT/.phasetrace-chunks`` of a run kept with
``keep_chunks=True``, e.g. of ``bench_scale.py --scans 1000`` whose stack is a
P2/P3 → OP4 cycle repeated), replicates them to ``--scans`` scans with shifted
scan numbers and times (one chunk file per original chunk and replica, the
intensity-map rows re-picked for the stride of ``max_map_scans = 1000`` scans,
float32 beyond one stride, as :func:`phasetrace.analysis.analyse_block` keeps
them), and then runs in a fresh process what :func:`phasetrace.pipeline.run_analysis`
does after its analysis stage: join the chunks, detect the transitions and write
every file (figures included, no report) into ``bench-data/join_N/out``.  It
reports the peak resident memory of that process (``getrusage``: nothing else ran
in it), its CPU seconds and wall time.

Usage::

    python benchmarks/bench_join.py --chunks bench-data/chunks_1000 --scans 1000 10000 100000
    python benchmarks/bench_join.py --compare DIR_A DIR_B    # same outputs apart from the run id?

Run it with ``PYTHONPATH`` at another checkout's ``src`` to measure that version
(a version without :mod:`phasetrace.chunkset` loads every chunk, as before).
Results are appended to ``bench-data/join_results.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench-data"
MAX_MAP_SCANS = 1000
#: scan coordinates shifted with each replica (seconds: one scan a minute, as bench_scale's stack).
_TIMES = ("time_s", "time_start_s", "time_end_s")


def replicate(chunks: Path, n_scans: int, folder: Path) -> list[Path]:
    """Chunk files of ``n_scans`` scans: the source chunks repeated with shifted scans (see module doc)."""
    from phasetrace.stream import load_chunk, save_chunk

    sources = sorted(chunks.glob("chunk_*.npz"))
    first = [load_chunk(p) for p in sources]
    per = sum(ds.sizes["scan"] for ds in first)
    del first
    if n_scans % per:
        raise SystemExit(f"--scans {n_scans}: expected a multiple of the {per} scans of {chunks}")
    folder.mkdir(parents=True, exist_ok=True)
    stride = max(1, math.ceil(n_scans / MAX_MAP_SCANS))
    out = []
    for k in range(n_scans // per):
        for j, src in enumerate(sources):
            path = folder / f"chunk_{k * len(sources) + j:06d}.npz"
            out.append(path)
            if path.exists():
                continue
            ds = load_chunk(src)
            shift = k * per
            ds = ds.assign_coords(scan=ds["scan"].values + shift, block_start=ds["block_start"].values + shift)
            ds = ds.assign_coords({c: ds[c].values + 60.0 * shift for c in _TIMES if c in ds.coords})
            rows = np.flatnonzero((ds["map_scan"].values + shift) % stride == 0)
            ds = ds.isel(map_scan=rows).assign_coords(map_scan=ds["map_scan"].values[rows] + shift)
            if stride > 1:
                for name in [v for v in ds.data_vars if "map_scan" in ds[v].dims]:
                    ds[name] = ds[name].astype(np.float32)
            save_chunk(ds, path)
    return out


def plan_for(n_scans: int, attrs: dict):
    """The stack-wide plan of the source run, for ``n_scans`` scans (its decisions from ``attrs``)."""
    from phasetrace.analysis import Plan, block_bounds
    from phasetrace.config import Config, OutputConfig

    config = Config().replace(output=OutputConfig(figures=True, report=False))
    ac = config.analysis
    return Plan(n_scans=n_scans, blocks=block_bounds(n_scans, ac.block_scans), halo=ac.halo_scans, library=(),
                wavelength=(float(attrs["wavelength_A"]), float(attrs["wavelength2_A"]),
                            float(attrs["kalpha2_ratio"])),
                kalpha2=str(attrs["kalpha2_detected"]), peak_positions=(),
                map_stride=max(1, math.ceil(n_scans / MAX_MAP_SCANS)), config=config)


def _detect_on_first(k: int) -> None:
    """Make the transition detection see only the first ``k`` scans (its own time grows as the
    square of the number of stages: 150 s CPU at 10⁴ scans of this stack).  The full-length
    summary is still built and turned into the detection's per-scan table, so the memory the
    detection needs for all scans is counted."""
    import phasetrace.transitions as tr
    from phasetrace.transitions._features import phase_table

    real = tr.detect_transitions

    def detect(ds, **kwargs):
        table = phase_table(ds)  # the (scan, phase) arrays of every scan
        del table
        return real(ds.isel(scan=slice(0, k)), **kwargs)

    tr.detect_transitions = detect


def run_stage(files: list[Path], n_scans: int, attrs: dict, out: Path, *, detect_scans: int = 0) -> dict:
    """Join → transitions → write, as run_analysis does after its analysis (this process only)."""
    import contextlib

    from phasetrace import output, pipeline
    from phasetrace.analysis import join_blocks

    if detect_scans:
        _detect_on_first(detect_scans)

    try:
        from phasetrace.chunkset import local_compute, open_chunk
        mode = "streamed"
    except ImportError:  # a version before phasetrace.chunkset: every chunk loaded
        from phasetrace.stream import load_chunk as open_chunk
        local_compute, mode = contextlib.nullcontext, "loaded"
    plan = plan_for(n_scans, attrs)
    out.mkdir(parents=True, exist_ok=True)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0, c0 = time.perf_counter(), time.process_time()
    with local_compute():
        results = pipeline._finish(join_blocks([open_chunk(p) for p in files]), plan)
        t1 = time.perf_counter()
        output.write_outputs(results, out, config=plan.config, run_id="0" * 32)
    seq = json.loads((out / "sequence.json").read_text(encoding="utf-8"))
    return {"mode": mode, "n_scans": n_scans, "chunks": len(files), "wall_s": round(time.perf_counter() - t0, 1),
            "join_transitions_wall_s": round(t1 - t0, 1), "cpu_s": round(time.process_time() - c0, 1),
            "rss_before_MB": round(rss0 / 1024), "peak_rss_MB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "n_stages": len(seq["stages"]), "transitions_on_scans": detect_scans or n_scans, "results_nc_MB": round((out / "results.nc").stat().st_size / 1e6),
            "load_avg_1min": round(os.getloadavg()[0], 2)}


def compare(a: Path, b: Path) -> list[str]:
    """Differences between two output folders, apart from the run id (empty: identical)."""
    import xarray as xr

    diffs = []
    for name in ("sequence.json", "lattice.csv", "sequence.csv", "evolution.csv", "sequence.md"):
        ta, tb = ((d / name).read_text(encoding="utf-8") for d in (a, b))
        if ta.replace(_run_id(a), "RUN") != tb.replace(_run_id(b), "RUN"):
            diffs.append(name)
    with xr.open_dataset(a / "results.nc", engine="h5netcdf") as da, \
            xr.open_dataset(b / "results.nc", engine="h5netcdf") as db:
        if list(da.variables) != list(db.variables):
            diffs.append(f"results.nc variables: {sorted(set(da.variables) ^ set(db.variables))} or order")
        for name in da.variables:
            if name in db.variables and not da[name].variable.identical(db[name].variable):
                diffs.append(f"results.nc {name}")
        keys = set(da.attrs) | set(db.attrs)
        diffs += [f"results.nc attr {k}" for k in sorted(keys - {"run_id"})
                  if str(da.attrs.get(k)) != str(db.attrs.get(k))]
    return diffs


def _run_id(folder: Path) -> str:
    return json.loads((folder / "sequence.json").read_text(encoding="utf-8"))["run_id"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chunks", type=Path, default=DATA / "chunks_1000")
    p.add_argument("--attrs", type=Path, default=DATA / "out_1000_j1" / "results.nc",
                   help="results.nc of the source run (its wavelength and Kα2 decision)")
    p.add_argument("--scans", type=int, nargs="*", default=[1000, 10_000, 100_000])
    p.add_argument("--tag", default="", help="suffix of the output folders (e.g. before/after)")
    p.add_argument("--detect-scans", type=int, default=0, metavar="K",
                   help="detect the transitions on the first K scans only (O(stages²) time; see _detect_on_first)")
    p.add_argument("--stage", type=int, help=argparse.SUPPRESS)  # the child: run the stage on N scans
    p.add_argument("--compare", type=Path, nargs=2, metavar="DIR")
    args = p.parse_args(argv)
    if args.compare:
        diffs = compare(*args.compare)
        sys.stdout.write("identical apart from the run id\n" if not diffs else "\n".join(diffs) + "\n")
        return 1 if diffs else 0
    import xarray as xr

    with xr.open_dataset(args.attrs, engine="h5netcdf") as ds:
        attrs = dict(ds.attrs)
    if args.stage:
        files = sorted((DATA / f"join_{args.stage}" / "chunks").glob("chunk_*.npz"))
        row = run_stage(files, args.stage, attrs, DATA / f"join_{args.stage}" / f"out{args.tag}",
                        detect_scans=args.detect_scans)
        sys.stdout.write("ROW " + json.dumps(row) + "\n")
        return 0
    rows = []
    for n in args.scans:
        replicate(args.chunks, n, DATA / f"join_{n}" / "chunks")
        done = subprocess.run([sys.executable, __file__, "--stage", str(n), "--chunks", str(args.chunks),
                               "--attrs", str(args.attrs), "--tag", args.tag,
                               "--detect-scans", str(args.detect_scans)],
                              capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "Agg"})
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
        row = json.loads(next(line[4:] for line in done.stdout.splitlines() if line.startswith("ROW ")))
        rows.append({"tag": args.tag, **row})
        sys.stdout.write(json.dumps(rows[-1]) + "\n")
    with open(DATA / "join_results.jsonl", "a", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
