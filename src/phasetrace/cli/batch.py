"""``phasetrace batch MANIFEST``: many experiments, locally or on Dask, with --resume."""

from __future__ import annotations

import argparse
import sys

from ..errors import ConfigError, one_line
from .analyse import add_common_options, build_config, set_jobs


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``batch`` subcommand."""
    p = subparsers.add_parser("batch", help="run every experiment of a manifest (TOML/YAML/CSV)",
                              description="Run every experiment listed in MANIFEST; one output folder "
                                          "per experiment plus summary.csv/summary.md.")
    p.add_argument("manifest", metavar="MANIFEST")
    p.add_argument("--out", default="phasetrace-batch", metavar="DIR", help="output root folder")
    p.add_argument("--resume", action="store_true",
                   help="skip experiments already finished with the same inputs and options")
    p.add_argument("--chunk-scans", type=int, default=None, metavar="N",
                   help="analyse each experiment in chunks of N scans (stacks of many thousand scans)")
    add_common_options(p)
    p.set_defaults(func=run, material=None)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``batch``; exit 1 if any experiment failed."""
    from ..batch import read_manifest, run_batch

    config = build_config(args)
    experiments = read_manifest(args.manifest)
    if args.chunk_scans is not None and args.chunk_scans < 1:
        raise ConfigError(f"--chunk-scans {args.chunk_scans}: expected a positive number of scans")
    jobs = args.jobs or 1
    if jobs > 1:
        set_jobs(1)  # one Numba thread per process when running experiments side by side
    bar = None
    if not args.no_progress and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(experiments), file=sys.stderr, desc="experiments", unit="exp")

    def progress(i: int, n: int) -> None:
        if bar is not None:
            bar.n = i
            bar.refresh()

    rows = run_batch(experiments, args.out, config=config, jobs=jobs, scheduler=args.scheduler,
                     resume=args.resume, chunk_scans=args.chunk_scans, progress=progress)
    if bar is not None:
        bar.close()
    failed = [r for r in rows if r.get("status") != "ok"]
    for r in rows:
        state = r.get("status", "?") + (" (resumed)" if r.get("resumed") else "")
        sys.stdout.write(one_line(f"{r['name']}: {state}: {r.get('sequence') or r.get('error', '')}") + "\n")
    sys.stdout.write(f"summary: {args.out}/summary.csv\n")
    return 1 if failed else 0
