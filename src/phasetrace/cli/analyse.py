"""``phasetrace analyse INPUT``: the main job (see CONTRACT.md)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..config import Config
from ..errors import ConfigError

logger = logging.getLogger(__name__)

#: scans read and analysed per task without --chunk-scans (phasetrace.pipeline.DEFAULT_CHUNK_SCANS).
DEFAULT_CHUNK_SCANS = 512


def add_common_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``analyse`` and ``batch``."""
    p.add_argument("--phases", default=None,
                   help="comma-separated reference phase names (e.g. P2,O3,P3,OP4) or 'auto' (default)")
    p.add_argument("--reference-dir", default=None, metavar="DIR",
                   help="extra CIFs (+ optional metadata) added to the library")
    p.add_argument("--calibrate", default=None, metavar="PHASE",
                   help="refine the wavelength (synchrotron) or zero/displacement (lab Kα) "
                        "against a standard or cell part with a literature cell (e.g. Al, Si, LaB6)")
    p.add_argument("--elements", default=None, metavar="LIST",
                   help="restrict the automatic search to phases made of these elements "
                        "(e.g. Li,Mn,O)")
    p.add_argument("--config", default=None, metavar="TOML", help="configuration file (TOML)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="local worker processes (the results do not depend on it)")
    p.add_argument("--scheduler", default=None, metavar="ADDR",
                   help="Dask distributed scheduler address, e.g. tcp://127.0.0.1:8786")
    p.add_argument("--no-figures", action="store_true", help="do not draw figures")
    p.add_argument("--no-report", action="store_true", help="do not write report.html")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``analyse`` subcommand."""
    p = subparsers.add_parser("analyse", aliases=["analyze"],
                              help="analyse an operando stack end to end",
                              description="Read a stack, fit, identify phases, refine lattices, "
                                          "detect transitions and write results.")
    p.add_argument("input", metavar="INPUT",
                   help="folder of patterns, a pattern file, a multi-scan file or a glob")
    p.add_argument("--out", default="phasetrace-out", metavar="DIR", help="output folder")
    p.add_argument("--wavelength", default=None, metavar="Å",
                   help="wavelength in Å or CuKa/CuKa1/MoKa/AgKa; required when headers give none")
    p.add_argument("--echem", default=None, metavar="FILE",
                   help="cycler data: CSV, BioLogic .mpr/.mpt, Neware .ndax")
    p.add_argument("--scan-log", default=None, metavar="FILE",
                   help="CSV file,start_time_s,end_time_s on the clock of --echem")
    p.add_argument("--echem-outside", choices=("auto", "raise", "nan"), default="auto",
                   help="scans outside the cycler record (pristine, rest): NaN voltage + warning, an "
                        "error only when more than half are outside (auto, default); always an "
                        "error (raise); always NaN (nan)")
    p.add_argument("--temperature-log", default=None, metavar="FILE",
                   help="CSV of time_s (or date-time) and temperature_K or temperature_C, aligned "
                        "to the scans like the cycler record")
    p.add_argument("--material", default=None, help="material name for the publication table")
    p.add_argument("--chunk-scans", type=int, default=None, metavar="N",
                   help="read and analyse N scans per task (rounded up to whole analysis blocks; "
                        f"default {DEFAULT_CHUNK_SCANS}); the results do not depend on N")
    p.add_argument("--resume", action="store_true",
                   help="chunked runs: reuse chunks already finished in --out by an interrupted run")
    add_common_options(p)
    p.set_defaults(func=run)
    return p


def build_config(args: argparse.Namespace) -> Config:
    """Config from --config, then command-line overrides."""
    config = Config.from_toml(args.config) if getattr(args, "config", None) else Config()
    from dataclasses import replace

    phases = config.phases
    if getattr(args, "phases", None) is not None:  # --phases "" is an error, not "auto"
        value = args.phases.strip()
        names = "auto" if value.lower() == "auto" else tuple(
            n.strip() for n in value.split(",") if n.strip())
        if not names:
            raise ConfigError(f"--phases {args.phases!r}: expected names such as P2,O3 or 'auto'")
        phases = replace(phases, names=names)
    if getattr(args, "reference_dir", None):
        ref = Path(args.reference_dir)
        if not ref.is_dir():
            raise ConfigError(f"--reference-dir {ref}: not a folder")
        phases = replace(phases, reference_dir=str(ref))
    if getattr(args, "calibrate", None):
        phases = replace(phases, calibrate=args.calibrate.strip())
    if getattr(args, "elements", None):
        phases = replace(phases, elements=tuple(e.strip() for e in args.elements.split(",") if e.strip()))
    output = config.output
    output = replace(output, figures=output.figures and not args.no_figures,
                     report=output.report and not args.no_report,
                     material=getattr(args, "material", None) or output.material)
    return config.replace(phases=phases, output=output)


def set_jobs(jobs: int | None) -> None:
    """Limit Numba threads for local parallelism."""
    if jobs is None:
        return
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: expected a positive number of workers")
    import numba

    numba.set_num_threads(min(jobs, numba.config.NUMBA_NUM_THREADS))


def make_progress(disabled: bool):
    """A ``progress(scans_done, n_scans)`` callback drawing a tqdm bar on stderr, or None."""
    if disabled or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, file=sys.stderr, desc="scans", unit="scan", leave=False)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return progress


def run(args: argparse.Namespace) -> int:
    """Run ``analyse``; return the exit status."""
    from ..pipeline import RunInputs, run_analysis
    from ..transitions import sequence_of

    from ..io import check_out_dir, wavelength_option

    config = build_config(args)
    if args.wavelength is not None:
        wavelength_option(args.wavelength)  # -1, 0, nan, inf, "" refused before anything is read
    check_out_dir(args.out, args.input)
    inputs = RunInputs(input=args.input, echem=args.echem or "", scan_log=args.scan_log or "",
                       wavelength=args.wavelength or "",
                       echem_outside=args.echem_outside,
                       temperature_log=args.temperature_log or "")
    if args.chunk_scans is not None and args.chunk_scans < 1:
        raise ConfigError(f"--chunk-scans {args.chunk_scans}: expected a positive number of scans")
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs {args.jobs}: expected a positive number of workers")
    results, written = run_analysis(inputs, args.out, config=config, chunk_scans=args.chunk_scans,
                                    jobs=args.jobs or 1, scheduler=args.scheduler, resume=args.resume,
                                    progress=make_progress(args.no_progress))
    summary = sequence_of(results)
    seq = summary.get("sequence", "") or f"none ({summary.get('message') or 'no sample phase identified'})"
    sys.stdout.write(f"sequence: {seq}\n")
    sys.stdout.write(f"wrote {len(written)} files to {args.out}\n")
    return 0
