"""Scale benchmark: a long multi-phase operando stack on disk, end to end, 1 vs 2 workers vs Dask.

Generates (once, into the git-ignored ``bench-data/``) an HDF5/NeXus stack of
``--scans`` patterns that looks like real work: a sodium layered oxide going
P2/P3 → OP4 → P2/P3 on each charge/discharge cycle (cells and fractions as in
the shared case ``t1_row04_p2p3_op4``), a lab Cu Kα1 + Kα2 source (the header
states Kα1 only, so the Kα2 line is detected from the data), Al current-collector
peaks, 3,001 points over 10–70° 2θ, a sloping background and counting noise.
One cycle of ``--cycle-scans`` scans is simulated with
:func:`phasetrace.simulate.simulate_operando` and repeated, each repeat with
fresh Gaussian noise of half the counting noise (so no two scans are equal).

Each configuration runs ``phasetrace analyse`` (the CLI, the same code path as a
user's run: stack-wide plan → blocks → join → transitions → every output file
with figures) in a fresh process and reports wall time, scans/s, peak resident
memory of the driver and of its worker processes (``getrusage`` of the
children, which for Dask are the ``dask worker`` processes started here), and
the sequence found; also the CPU seconds (user + system, driver + local workers,
plus the Dask workers' ``/proc`` times) in all and per scan for each stage that
``phasetrace analyse`` logs (``stage times: {...}``, :mod:`phasetrace.timing`):
open, library, plan, hash, analysis (with the tasks' own ``task read`` and
``task analyse`` CPU), join, transitions, write.

Usage::

    python benchmarks/bench_scale.py --scans 10000 --jobs 1 2 --dask 2
    python benchmarks/bench_scale.py --scans 100000 --jobs 2 --dask 2

``--dask N`` starts ``dask scheduler`` and ``dask worker --nworkers N`` on
127.0.0.1 for that run (the project itself never starts a cluster).  Results are
printed and appended to ``bench-data/scale_results.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench-data"
ENV = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT / "src")}


def scenario(cycle_scans: int):
    """One cycle P2/P3 → OP4 → P2/P3 with Al peaks, Cu Kα1+Kα2, 10–70° 2θ in 0.02° steps."""
    from phasetrace.simulate.examples import CU_KA_LAB
    from phasetrace.simulate.operando import PhaseTrack, Scenario

    tracks = (
        PhaseTrack("P2", a=((0.0, 2.880), (0.70, 2.854)), c=((0.0, 11.14), (0.70, 11.27)),
                   fraction_charge=((0.0, 0.4), (0.70, 0.4), (0.80, 0.0), (1.0, 0.0)),
                   fraction_discharge=((0.0, 0.4), (0.65, 0.4), (0.75, 0.0), (1.0, 0.0))),
        PhaseTrack("P3", a=((0.0, 2.905), (0.70, 2.866)), c=((0.0, 16.56), (0.70, 16.89)),
                   fraction_charge=((0.0, 0.6), (0.70, 0.6), (0.80, 0.0), (1.0, 0.0)),
                   fraction_discharge=((0.0, 0.6), (0.65, 0.6), (0.75, 0.0), (1.0, 0.0))),
        PhaseTrack("OP4", a=((0.0, 2.838), (1.0, 2.838)), c=((0.0, 20.27), (1.0, 20.27)),
                   cif=str(ROOT / "reference_phases" / "OP4.cif"),
                   fraction_charge=((0.0, 0.0), (0.70, 0.0), (0.80, 1.0), (1.0, 1.0)),
                   fraction_discharge=((0.0, 0.0), (0.65, 0.0), (0.75, 1.0), (1.0, 1.0))),
        PhaseTrack("Al", a=((0.0, 4.0495), (1.0, 4.0495)), is_cell_component=True, scale=0.35),
    )
    return Scenario(
        name="bench_p2p3_op4", tracks=tracks,
        voltage_charge=((0.0, 1.5), (0.70, 3.90), (0.80, 4.10), (1.0, 4.30)),
        voltage_discharge=((1.0, 4.20), (0.75, 4.00), (0.65, 3.80), (0.0, 1.5)),
        n_scans=cycle_scans, instrument=CU_KA_LAB, two_theta=(10.0, 70.0, 0.02), peak_scale=120.0,
        published_sequence="P2/P3 → OP4 → P2/P3")


def generate(path: Path, *, n_scans: int, cycle_scans: int = 200, seed: int = 0) -> Path:
    """Write an HDF5/NeXus stack of ``n_scans`` patterns (float32, Kα1 in the header); return it."""
    import h5py

    from phasetrace.simulate import simulate_operando

    cycle = simulate_operando(scenario(cycle_scans), seed=seed).stack
    x = cycle["two_theta"].values
    y0 = cycle["intensity"].values
    rng = np.random.default_rng(seed + 1)
    tmp = path.with_suffix(".part")
    with h5py.File(tmp, "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        data = entry.create_group("data")
        data.attrs.update(NX_class="NXdata", signal="I", axes=[".", "2th"])
        data["2th"] = x
        data["2th"].attrs["units"] = "deg"
        data["time"] = np.arange(n_scans) * 60.0
        entry["wavelength"] = float(cycle.attrs["wavelength_A"])
        entry["wavelength"].attrs["units"] = "A"
        dset = data.create_dataset("I", shape=(n_scans, x.size), dtype="f4",
                                   chunks=(min(cycle_scans, n_scans), x.size))
        for start in range(0, n_scans, cycle_scans):
            k = min(cycle_scans, n_scans - start)
            y = y0[:k] + 0.5 * np.sqrt(np.maximum(y0[:k], 1.0)) * rng.standard_normal((k, x.size))
            dset[start:start + k] = np.maximum(y, 0.0).astype(np.float32)
    os.replace(tmp, path)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cluster(workers: int, folder: Path) -> tuple[str, list[subprocess.Popen]]:
    """``dask scheduler`` + ``dask worker --nworkers N --nthreads 1`` on 127.0.0.1."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    port = address.rsplit(":", 1)[1]
    folder.mkdir(parents=True, exist_ok=True)
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", port, "--dashboard-address", ":0", "--no-show"], env=ENV,
                              stdout=subprocess.DEVNULL, stderr=open(folder / "scheduler.log", "w"))]
    procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers",
                                   str(workers), "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard",
                                   "--local-directory", str(folder)], env=ENV, stdout=subprocess.DEVNULL,
                                  stderr=open(folder / "worker.log", "w")))
    from distributed import Client

    for _ in range(120):
        try:
            with Client(address, timeout=5, set_as_default=False) as client:
                client.wait_for_workers(workers, timeout=60)
            return address, procs
        except (OSError, TimeoutError):
            time.sleep(1)
    raise RuntimeError(f"no Dask cluster at {address}")


def _worker_rss_mb(folder: Path, procs: list[subprocess.Popen]) -> float:
    """Peak RSS of the Dask worker processes (``VmHWM`` of the nanny's children), MB."""
    peak = 0.0
    try:
        children = subprocess.run(["pgrep", "-P", str(procs[1].pid)], capture_output=True, text=True).stdout.split()
    except OSError:
        children = []
    for pid in children:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, float(line.split()[1]) / 1024.0)
        except OSError:
            continue
    return peak


def run_cli(path: Path, out: Path, extra: list[str]) -> dict:
    """``phasetrace analyse`` in a fresh process; wall time, memory, sequence."""
    cmd = [sys.executable, "-c",
           "import resource, sys; from phasetrace.cli.main import main; rc = main(sys.argv[1:]); "
           "u = resource.getrusage(resource.RUSAGE_SELF); c = resource.getrusage(resource.RUSAGE_CHILDREN); "
           "sys.stderr.write(f'RSS {u.ru_maxrss} {c.ru_maxrss} {u.ru_utime + u.ru_stime} {c.ru_utime + c.ru_stime}\\n'); "
           "sys.exit(rc)",
           "analyse", str(path), "--out", str(out), "--no-report", "--no-progress", *extra]
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    rss = next(line.split()[1:] for line in done.stderr.splitlines() if line.startswith("RSS "))
    seq = json.loads((out / "sequence.json").read_text(encoding="utf-8"))
    n = _n_scans(path)
    stages = _stage_times(done.stderr)
    return {"n_scans": n, "wall_s": round(wall, 1), "scans_per_s": round(n / wall, 1),
            "cpu_s": round(float(rss[2]) + float(rss[3]), 1),
            "cpu_s_per_scan": round((float(rss[2]) + float(rss[3])) / n, 4),
            "stage_cpu_s_per_scan": {k: round(v["cpu_s"] / n, 4) for k, v in stages.items()},
            "stage_cpu_s": {k: round(v["cpu_s"], 1) for k, v in stages.items()},
            "stage_wall_s": {k: round(v["wall_s"], 1) for k, v in stages.items()},
            "stage_peak_rss_driver_MB": {k: v["peak_rss_mb"] for k, v in stages.items() if "peak_rss_mb" in v},
            "peak_rss_driver_MB": round(int(rss[0]) / 1024.0), "peak_rss_workers_MB": round(int(rss[1]) / 1024.0),
            "sequence": seq["sequence"], "load_avg_1min": [round(load0, 2), round(os.getloadavg()[0], 2)],
            "cpus": os.cpu_count()}


def _stage_times(stderr: str) -> dict[str, dict[str, float]]:
    """The ``stage times: {json}`` line that ``phasetrace analyse`` logs at the end (see phasetrace.timing)."""
    for line in reversed(stderr.splitlines()):
        if "stage times: " in line:
            return json.loads(line.split("stage times: ", 1)[1])
    return {}


def _worker_cpu_s(procs: list[subprocess.Popen]) -> float:
    """CPU seconds (user + system) of the Dask worker processes so far (``/proc/PID/stat``)."""
    tick = os.sysconf("SC_CLK_TCK")
    try:
        children = subprocess.run(["pgrep", "-P", str(procs[1].pid)], capture_output=True, text=True).stdout.split()
    except OSError:
        children = []
    total = 0.0
    for pid in children:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
    return total


def _n_scans(path: Path) -> int:
    import h5py

    with h5py.File(path, "r") as f:
        return int(f["entry/data/I"].shape[0])


def main(argv: list[str] | None = None) -> int:
    """Generate the stack if needed and run each configuration."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scans", type=int, default=10_000)
    p.add_argument("--cycle-scans", type=int, default=200, help="scans per simulated charge/discharge cycle")
    p.add_argument("--jobs", type=int, nargs="*", default=[1, 2], help="local worker counts to run")
    p.add_argument("--dask", type=int, default=0, metavar="N", help="also run on a loopback Dask cluster of N workers")
    p.add_argument("--chunk-scans", type=int, default=None)
    p.add_argument("--phases", default="auto", help="--phases of the runs (default auto: the whole library)")
    p.add_argument("--no-figures", action="store_true", help="pass --no-figures (time the analysis alone)")
    args = p.parse_args(argv)
    DATA.mkdir(exist_ok=True)
    path = DATA / f"operando_{args.scans}x3001_c{args.cycle_scans}.h5"
    if not path.exists():
        t0 = time.perf_counter()
        generate(path, n_scans=args.scans, cycle_scans=args.cycle_scans)
        sys.stdout.write(f"generated {path} ({path.stat().st_size / 1e6:.0f} MB) in "
                         f"{time.perf_counter() - t0:.1f} s\n")
    chunk = ["--chunk-scans", str(args.chunk_scans)] if args.chunk_scans else []
    chunk += ["--phases", args.phases] + (["--no-figures"] if args.no_figures else [])
    rows = []
    for jobs in args.jobs:
        row = run_cli(path, DATA / f"out_{args.scans}_j{jobs}", ["--jobs", str(jobs), *chunk])
        rows.append({"run": f"--jobs {jobs}", **row})
        sys.stdout.write(json.dumps(rows[-1], ensure_ascii=False) + "\n")
    if args.dask:
        address, procs = _cluster(args.dask, DATA / "dask")
        try:
            cpu0 = _worker_cpu_s(procs)
            row = run_cli(path, DATA / f"out_{args.scans}_dask{args.dask}", ["--scheduler", address, *chunk])
            row["peak_rss_workers_MB"] = round(_worker_rss_mb(DATA / "dask", procs))
            workers = _worker_cpu_s(procs) - cpu0   # the analysis stage's CPU is on the workers
            row["cpu_s"] = round(row["cpu_s"] + workers, 1)
            row["cpu_s_per_scan"] = round(row["cpu_s"] / row["n_scans"], 4)
            row["worker_cpu_s"] = round(workers, 1)
            rows.append({"run": f"dask {args.dask} workers", **row})
            sys.stdout.write(json.dumps(rows[-1], ensure_ascii=False) + "\n")
        finally:
            for proc in reversed(procs):
                proc.terminate()
                proc.wait(timeout=60)
    with open(DATA / "scale_results.jsonl", "a", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    sys.stdout.write("run               scans  wall_s  scans/s  CPU_s/scan  peak_RSS_MB(driver/workers)  sequence\n")
    for r in rows:
        sys.stdout.write(f"{r['run']:<16}  {r['n_scans']:>6}  {r['wall_s']:>6}  {r['scans_per_s']:>7}  "
                         f"{r['cpu_s_per_scan']:>10}  {r['peak_rss_driver_MB']}/{r['peak_rss_workers_MB']}  "
                         f"{r['sequence']}\n")
    stages = list(rows[0]["stage_cpu_s_per_scan"]) if rows else []
    sys.stdout.write("CPU s per scan by stage (driver + local workers; Dask: analysis on the workers)\n")
    sys.stdout.write("run             " + "".join(f"{k:>13}" for k in stages) + "\n")
    for r in rows:
        sys.stdout.write(f"{r['run']:<16}" + "".join(f"{r['stage_cpu_s_per_scan'].get(k, 0):>13}" for k in stages)
                         + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
