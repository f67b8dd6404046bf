"""Scale benchmark: a long operando stack on disk through the whole chunked pipeline.

Generates (once, into the git-ignored ``bench-data/``) an HDF5/NeXus stack of
``--scans`` synthetic patterns — P2-type reflections whose lattice breathes over
charge/discharge cycles (c 11.10 ↔ 11.40 Å, a 2.89 ↔ 2.86 Å), a sloping background
and Gaussian counting noise — then runs :func:`phasetrace.stream.analyse_chunked`
(read → background → peaks → phases/lattice → transitions → outputs) in a fresh
process per configuration and reports wall time, scans/s, peak resident memory
(driver + worker processes, from ``getrusage``) and the speed-up from 1 to N jobs.

Usage::

    python benchmarks/bench_scale.py --scans 10000 --jobs 1 2
    python benchmarks/bench_scale.py --scans 100000 --jobs 2 --chunk-scans 1000

Results are printed as a table and appended to ``bench-data/scale_results.jsonl``.
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
WAVELENGTH_A = 1.540593
TT = (10.0, 70.0)


def _reflections() -> tuple[np.ndarray, np.ndarray]:
    """P2 reflections (hkl, relative |F|²·multiplicity) from the phasetrace library."""
    from phasetrace.phases import load_library

    p2 = next(p for p in load_library(["P2"]) if p.label == "P2")
    return np.asarray(p2.hkl, dtype=float), np.asarray(p2.mult_f2, dtype=float)


def _cells(scans: np.ndarray, n_scans: int, cycles: int) -> tuple[np.ndarray, np.ndarray]:
    """Hexagonal a, c (Å) of each scan: a triangle wave of state of charge."""
    phase = (scans / max(n_scans, 1)) * cycles % 1.0
    soc = 1.0 - np.abs(2.0 * phase - 1.0)
    return 2.890 - 0.030 * soc, 11.10 + 0.30 * soc


def generate(path: Path, *, n_scans: int, n_points: int = 1000, cycles: int = 5, block: int = 2000,
             seed: int = 0) -> Path:
    """Write an HDF5/NeXus stack of ``n_scans`` × ``n_points`` patterns (float32); return the path."""
    import h5py

    hkl, f2 = _reflections()
    x = np.linspace(*TT, n_points)
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".part")
    with h5py.File(tmp, "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        data = entry.create_group("data")
        data.attrs.update(NX_class="NXdata", signal="I", axes=[".", "2th"])
        data["2th"] = x
        data["2th"].attrs["units"] = "deg"
        data["time"] = np.arange(n_scans) * 60.0
        entry["wavelength"] = WAVELENGTH_A
        entry["wavelength"].attrs["units"] = "A"
        dset = data.create_dataset("I", shape=(n_scans, n_points), dtype="f4",
                                   chunks=(min(block, n_scans), n_points))
        for start in range(0, n_scans, block):
            scans = np.arange(start, min(start + block, n_scans))
            dset[start:start + scans.size] = _patterns(x, scans, n_scans, cycles, hkl, f2, rng)
    os.replace(tmp, path)
    return path


def _patterns(x, scans, n_scans, cycles, hkl, f2, rng) -> np.ndarray:
    a, c = _cells(scans, n_scans, cycles)
    h, k, l = hkl.T  # noqa: E741
    inv_d2 = (4.0 / 3.0) * (h * h + h * k + k * k)[None, :] / a[:, None] ** 2 + (l * l)[None, :] / c[:, None] ** 2
    s = np.clip(WAVELENGTH_A * np.sqrt(inv_d2) / 2.0, 0.0, 0.999)
    tt = np.degrees(2.0 * np.arcsin(s))
    theta = np.radians(tt / 2.0)
    lp = (1 + np.cos(2 * theta) ** 2) / (np.sin(theta) ** 2 * np.cos(theta))
    height = 4000.0 * f2[None, :] * lp / np.max(f2[None, :] * lp, axis=1, keepdims=True)
    keep = (tt > TT[0] - 1) & (tt < TT[1] + 1) & (height > 5.0)
    y = np.broadcast_to(300.0 * np.exp(-(x - TT[0]) / 25.0) + 80.0, (scans.size, x.size)).copy()
    sig = 0.12 / (2 * math.sqrt(2 * math.log(2)))
    for j in range(hkl.shape[0]):
        rows = np.flatnonzero(keep[:, j])
        if rows.size:
            y[rows] += height[rows, j, None] * np.exp(-0.5 * ((x[None, :] - tt[rows, j, None]) / sig) ** 2)
    return (y + rng.standard_normal(y.shape) * np.sqrt(y)).astype(np.float32)


def run_one(path: Path, out: Path, *, jobs: int, chunk_scans: int) -> dict:
    """Run the chunked pipeline once in this process; return the measurements."""
    import warnings

    from phasetrace.config import Config, OutputConfig, PhaseConfig
    from phasetrace.pipeline import RunInputs
    from phasetrace.stream import analyse_chunked

    warnings.simplefilter("ignore")
    config = Config().replace(phases=PhaseConfig(names=("P2",)),
                              output=OutputConfig(figures=True, report=False))
    t0 = time.perf_counter()
    results, _ = analyse_chunked(RunInputs(str(path)), out, config=config, chunk_scans=chunk_scans,
                                 jobs=jobs)
    wall = time.perf_counter() - t0
    n = int(results.sizes["scan"])
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    rss = [u.ru_maxrss / 1024.0 for u in usage]
    cpu = sum(u.ru_utime + u.ru_stime for u in usage)
    seq = json.loads(results.attrs["sequence_json"])["sequence"]
    return {"n_scans": n, "n_points": int(results.sizes["two_theta"]), "jobs": jobs,
            "chunk_scans": chunk_scans, "wall_s": round(wall, 2), "scans_per_s": round(n / wall, 1),
            "cpu_s": round(cpu, 1), "load_avg_1min": round(os.getloadavg()[0], 2),
            "peak_rss_driver_MB": round(rss[0], 1), "peak_rss_worker_MB": round(rss[1], 1),
            "sequence": seq, "cpus": os.cpu_count()}


def bench_assembly(chunk_files: list[Path], n_scans: int, out: Path, *, max_map_scans: int = 1000) -> dict:
    """Time the final step of a chunked run (join, transitions, outputs) for ``n_scans`` scans.

    The chunk tables of a real (shorter) run are repeated with shifted scan numbers
    up to ``n_scans``, so the memory and time of the parts that grow with the number of
    scans are measured without analysing every pattern.
    """
    import xarray as xr

    from phasetrace.config import Config, OutputConfig, PhaseConfig
    from phasetrace.pipeline import RunInputs
    from phasetrace.stream import load_chunk, open_source, save_chunk
    from phasetrace.stream_output import finish

    folder = out / "chunks"
    folder.mkdir(parents=True, exist_ok=True)
    stride = max(1, math.ceil(n_scans / max_map_scans))
    templates = [xr.load_dataset(f, engine="h5netcdf") if f.suffix == ".nc" else load_chunk(f)
                 for f in chunk_files]
    paths, start, i = [], 0, 0
    while start < n_scans:
        t = templates[i % len(templates)]
        size = min(t.sizes["scan"], n_scans - start)
        ds = t.isel(scan=slice(0, size)).assign_coords(scan=np.arange(start, start + size))
        ds = ds.drop_vars(["map_scan"] + [v for v in ds.data_vars if v.startswith("map_")])
        rows = np.arange(start, start + size)
        rows = rows[rows % stride == 0]
        for name in ("intensity", "background", "calc"):
            block = t[f"map_{name}"].values[np.arange(rows.size) % t.sizes["map_scan"]]
            ds[f"map_{name}"] = (("map_scan", "two_theta"), block)
        ds = ds.assign_coords(map_scan=rows)
        paths.append(save_chunk(ds, folder / f"chunk_{i:06d}.npz"))
        start, i = start + size, i + 1
    source = open_source(str(DATA / "stack_10000x1000.h5"))
    config = Config().replace(phases=PhaseConfig(names=("P2",)), output=OutputConfig(figures=True, report=False))
    t0 = time.perf_counter()
    results, _ = finish(paths, RunInputs(source.paths[0]), out, source=source, config=config, chunk_scans=500)
    wall = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {"assembly_n_scans": int(results.sizes["scan"]), "chunks": len(paths), "wall_s": round(wall, 2),
            "peak_rss_MB": round(rss, 1), "results_nc_MB": round((out / "results.nc").stat().st_size / 1e6, 1),
            "lattice_csv_MB": round((out / "lattice.csv").stat().st_size / 1e6, 1)}


def main(argv: list[str] | None = None) -> int:
    """Generate the stack if needed and run each --jobs value in a fresh process."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scans", type=int, default=10_000)
    p.add_argument("--points", type=int, default=1000)
    p.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--chunk-scans", type=int, default=500)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--assembly-from", type=Path, default=None, metavar="DIR",
                   help="only time the final join/transitions/outputs step for --scans scans, "
                        "repeating the chunk files found in DIR (from a run with keep_chunks)")
    args = p.parse_args(argv)
    if args.assembly_from is not None:
        res = bench_assembly(sorted(args.assembly_from.glob("chunk_*.n[cp]*")), args.scans,
                             DATA / f"assembly_{args.scans}")
        sys.stdout.write(json.dumps(res) + "\n")
        return 0
    DATA.mkdir(exist_ok=True)
    path = DATA / f"stack_{args.scans}x{args.points}.h5"
    if args.child:
        res = run_one(path, DATA / f"out_{args.scans}_j{args.jobs[0]}", jobs=args.jobs[0],
                      chunk_scans=args.chunk_scans)
        sys.stdout.write(json.dumps(res) + "\n")
        return 0
    if not path.exists():
        t0 = time.perf_counter()
        generate(path, n_scans=args.scans, n_points=args.points)
        sys.stdout.write(f"generated {path} ({path.stat().st_size / 1e6:.0f} MB) in "
                         f"{time.perf_counter() - t0:.1f} s\n")
    rows = []
    for jobs in args.jobs:
        cmd = [sys.executable, __file__, "--child", "--scans", str(args.scans), "--points", str(args.points),
               "--jobs", str(jobs), "--chunk-scans", str(args.chunk_scans)]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True,
                              env={**os.environ, "MPLBACKEND": "Agg"})
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        sys.stdout.write(json.dumps(rows[-1]) + "\n")
    base = next((r["wall_s"] for r in rows if r["jobs"] == 1), None)
    with open(DATA / "scale_results.jsonl", "a", encoding="utf-8") as fh:
        for r in rows:
            r["speedup_vs_1"] = round(base / r["wall_s"], 2) if base else None
            fh.write(json.dumps(r) + "\n")
    sys.stdout.write("jobs  scans  wall_s  scans/s  peak_RSS_MB(driver/workers)  speed-up  sequence\n")
    for r in rows:
        sys.stdout.write(f"{r['jobs']:>4}  {r['n_scans']:>6}  {r['wall_s']:>7}  {r['scans_per_s']:>7}  "
                         f"{r['peak_rss_driver_MB']:.0f}/{r['peak_rss_worker_MB']:.0f}  "
                         f"{r['speedup_vs_1']}  {r['sequence']}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
