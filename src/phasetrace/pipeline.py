"""Orchestration of a run: inputs → stack-wide plan → blocks (anywhere) → join → transitions → files.

This is the only orchestration module; it does no numerics itself.

* :func:`analyse_stack` analyses an in-memory stack and returns the results
  Dataset (the content of ``results.nc``).
* :func:`run_analysis` does a whole run from file paths — what ``phasetrace
  analyse`` and every batch experiment do: it locks ``--out``, reads the input
  a chunk at a time (:mod:`phasetrace.stream`), makes the stack-wide decisions
  once (:func:`phasetrace.analysis.plan_analysis`), analyses the blocks of each
  chunk in this process, on local processes or on a Dask cluster
  (:func:`phasetrace.executor.run_tasks`), joins them (lazily: the chunk files
  are read when written, :mod:`phasetrace.chunkset`), aligns the
  electrochemistry, detects the transitions on the in-memory summary, writes every
  file with one run id (:func:`phasetrace.output.write_outputs`) and writes the
  done-marker last.

Both run exactly the same blocks with the same plan (:mod:`phasetrace.analysis`),
so the answer does not depend on ``chunk_scans``, ``jobs`` or ``scheduler``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from . import __version__
from .config import Config
from .errors import ConfigError, PhasetraceError
from .output import file_sha256, json_default, prepare_out_dir
from .timing import StageTimes

logger = logging.getLogger(__name__)

__all__ = ["RunInputs", "load_stack", "align_inputs", "analyse_stack", "run_analysis", "write_outputs",
           "describe_written", "PhasetraceError", "CHUNK_DIR", "DEFAULT_CHUNK_SCANS"]

#: hidden folder (inside --out) holding the finished chunks of a run until it ends.
CHUNK_DIR = ".phasetrace-chunks"
#: scans per chunk when a long stack is split without --chunk-scans.
DEFAULT_CHUNK_SCANS = 512
#: parallel runs of more scans than this get tasks of DEFAULT_CHUNK_SCANS (one block each below);
#: a serial run is read DEFAULT_CHUNK_SCANS at a time whatever its length, so that its memory
#: does not grow with the number of scans.
CHUNKED_ABOVE = 5000
#: above this many input files provenance keeps one digest of all file digests.
_MAX_LISTED_FILES = 1000

Progress = Callable[[int, int], None] | None


@dataclass(frozen=True)
class RunInputs:
    """Paths and overrides of one experiment.

    Attributes
    ----------
    input : str
        Folder, pattern file, multi-scan file or glob.
    echem, scan_log : str
        Cycler file and scan log ("" when absent).
    wavelength : str
        Wavelength override in Å or a line name ("" to take it from headers).
    echem_outside : {"auto", "raise", "nan"}
        Scans outside the cycler record: NaN voltage with a warning unless more than
        half are outside (default ``"auto"``), always an error, or always NaN.
    temperature_log : str
        Furnace/cryostat log of time and temperature ("" when absent).
    """

    input: str
    echem: str = ""
    scan_log: str = ""
    wavelength: str = ""
    echem_outside: str = "auto"
    temperature_log: str = ""


def load_stack(inputs: RunInputs) -> xr.Dataset:
    """Read the patterns and align them with the electrochemistry (in memory)."""
    from .io import read_stack

    return align_inputs(read_stack(inputs.input, wavelength=inputs.wavelength or None), inputs)


def align_inputs(stack: xr.Dataset, inputs: RunInputs) -> xr.Dataset:
    """Give the scans of ``stack`` the times and electrochemistry of ``inputs``.

    Works on a full stack or on a light one (a few 2θ points per scan): only the
    scan coordinates matter.  The cycler record is attached on ``echem_record``.
    """
    from .echem import align, read_echem

    echem = read_echem(inputs.echem) if inputs.echem else None
    if echem is not None or inputs.scan_log or inputs.temperature_log:
        stack = align(stack, echem, scan_log=inputs.scan_log or None,
                      outside=inputs.echem_outside, temperature_log=inputs.temperature_log or None)
    if echem is not None:
        stack = attach_echem_record(stack, echem)
    return stack


def attach_echem_record(stack: xr.Dataset, echem: xr.Dataset) -> xr.Dataset:
    """Add the full cycler record on its own dim ``echem_record`` (for the voltage curve).

    Variables ``echem_time_s``, ``echem_voltage_V`` and, when present,
    ``echem_current_mA`` and ``echem_capacity_mAh_g``; times on the scans' clock.
    """
    out = stack.copy()
    for name in ("time_s", "voltage_V", "current_mA", "capacity_mAh_g"):
        if name in echem:
            out["echem_" + name] = ("echem_record", echem[name].values.astype(float))
    return out


def _library(config: Config) -> list[Any]:
    from .phases import load_library

    names = config.phases.names
    return load_library(names if names == "auto" else list(names),
                        reference_dir=config.phases.reference_dir or None,
                        elements=config.phases.elements)


def analyse_stack(stack: xr.Dataset, *, config: Config | None = None,
                  progress: Progress = None) -> xr.Dataset:
    """Run the whole analysis on an in-memory stack.

    Parameters
    ----------
    stack : xarray.Dataset
        Stack with ``intensity`` on (scan, two_theta) and a known wavelength,
        aligned with the electrochemistry or not (:func:`phasetrace.align_echem`).
    config : Config, optional
        Options; defaults to :class:`~phasetrace.config.Config()`.
    progress : callable, optional
        ``progress(scans_done, n_scans)`` after each block.

    Returns
    -------
    xarray.Dataset
        Patterns, ``background`` and ``calc`` on (scan, two_theta), phase/lattice
        variables on (scan, phase), ``peak_*`` on (scan, peak), ``zero_shift``,
        stages and transitions (``stage`` on scan, ``transition`` dim) and attrs
        ``sequence_json``, ``options_json``, ``program``.
    """
    from .analysis import analyse_blocks, join_blocks, plan_analysis
    from .schema import validate_stack
    from .stream import StackSource

    config = config or Config()
    validate_stack(stack)
    t0 = time.perf_counter()
    source = StackSource(stack.assign_coords(scan=np.arange(stack.sizes["scan"])))
    plan = plan_analysis(source.n_scans, source.take, source.wavelength, config, library=_library(config),
                         max_map_scans=max(1000, source.n_scans))
    parts = []
    for block in plan.blocks:
        parts += analyse_blocks(source.read(), plan, [block], 0)
        if progress is not None:
            progress(block[1], source.n_scans)
    results = _finish(join_blocks(parts), plan)
    results = results.assign_coords(scan=stack["scan"].values)
    for name in stack.data_vars:
        if stack[name].dims == ("echem_record",):
            results[name] = stack[name]
    results.attrs["analysis_seconds"] = round(time.perf_counter() - t0, 3)
    return results


def _finish(joined: xr.Dataset, plan: Any) -> xr.Dataset:
    """Patterns back on (scan, two_theta) when all were kept; transitions; attributes."""
    from .analysis import collapse_block_attrs
    from .chunkset import in_memory
    from .transitions import detect_transitions, sequence_variables

    results = collapse_block_attrs(joined)
    if plan.map_stride == 1:
        maps = [v for v in results.data_vars if "map_scan" in results[v].dims]
        for name in maps:  # .data: a chunked run's patterns stay in its chunk files until written
            results[name[len("map_"):]] = (("scan", "two_theta"), results[name].data)
        results = results.drop_vars(maps).drop_dims("map_scan")
    tc = plan.config.transitions
    summary = in_memory(results)  # what the transitions read (chunkset.SUMMARY_VARS), in memory
    transitions = detect_transitions(summary, x=tc.x, min_fraction=tc.min_fraction, min_scans=tc.min_scans)
    sequence = with_minor_phases(transitions.to_dict(), summary, min_fraction=tc.min_fraction)
    from .transitions.evolution import with_evolution

    wl1, wl2, ratio = plan.wavelength
    results.attrs.update(wavelength_A=wl1, wavelength2_A=wl2, kalpha2_ratio=ratio)
    if plan.calibration is not None:
        results.attrs["calibration_json"] = json.dumps(plan.calibration.to_dict())
    sequence = with_evolution(sequence, summary.assign_attrs(results.attrs),  # unindexed peaks need λ
                              plan.config.phases)
    results = results.assign(sequence_variables(sequence, results["scan"].values))
    results.attrs.update(
        sequence_json=json.dumps(sequence, ensure_ascii=False, default=json_default),
        options_json=json.dumps(plan.config.to_dict(), ensure_ascii=False),
        program=f"phasetrace {__version__}", wavelength_A=wl1, wavelength2_A=wl2, kalpha2_ratio=ratio,
        kalpha2_detected=plan.kalpha2, analysis_blocks=len(plan.blocks),
        block_scans=plan.config.analysis.block_scans, halo_scans=plan.halo)
    if plan.kalpha2.startswith("detected"):
        results.attrs["kalpha2_source"] = plan.kalpha2
    if plan.map_stride > 1:
        results.attrs["map_note"] = (f"map_* hold every {plan.map_stride}-th pattern (scans in map_scan); "
                                     "per-scan results cover all scans")
    return results


def with_minor_phases(sequence: dict[str, Any], phases: xr.Dataset, *,
                      min_fraction: float) -> dict[str, Any]:
    """Add ``minor_phases`` (present in many scans, always below ``min_fraction``)."""
    from .transitions.minor import minor_phases

    in_stages = {p for stage in sequence.get("stages", []) for p in stage.get("phases", [])}
    return {**sequence, "minor_phases": minor_phases(phases, min_fraction=min_fraction,
                                                     stage_phases=in_stages)}


def write_outputs(results: xr.Dataset, out_dir: str | Path, *, config: Config | None = None,
                  run_id: str | None = None) -> dict[str, Path]:
    """Write a results Dataset as one finished set (files, then the done-marker) into ``out_dir``."""
    from .output import write_outputs as write
    from .resultset import clear_done, lock_out_dir, mark_done, new_run_id

    out = prepare_out_dir(out_dir)
    run_id = run_id or new_run_id()
    with lock_out_dir(out):
        clear_done(out)
        written = write(results, out, config=config, run_id=run_id)
        mark_done(out, run_id, written)
    return written


def run_analysis(inputs: RunInputs, out_dir: str | Path, *, config: Config | None = None,
                 chunk_scans: int | None = None, jobs: int = 1, scheduler: Any = None,
                 resume: bool = False, keep_chunks: bool = False, max_map_scans: int = 1000,
                 progress: Progress = None) -> tuple[xr.Dataset, dict[str, Path]]:
    """Read, analyse and write one experiment; return (results, written files).

    The results are ``results.nc`` as written, opened lazily (each variable is read
    when used), so that a run of any length returns without loading its tables.

    Parameters
    ----------
    inputs : RunInputs
        Input, cycler file, scan log, wavelength override.
    out_dir : str or Path
        Output folder; locked for the run (a second run on it fails at once).
    config : Config, optional
        Analysis options.
    chunk_scans : int, optional
        Scans read and analysed by one task, rounded up to whole analysis blocks
        (``config.analysis.block_scans``); default :data:`DEFAULT_CHUNK_SCANS` (one block
        per task with ``jobs > 1`` or a scheduler up to :data:`CHUNKED_ABOVE` scans).
        Changes memory use and parallelism, never the results.
    jobs : int
        Local processes working on chunks at once.
    scheduler : str or distributed.Client, optional
        Dask scheduler address (or client); its workers must see the input files.
    resume : bool
        Reuse chunks an interrupted run finished in ``out_dir`` whose fingerprint
        (SHA-256 of the chunk's input bytes, the options, the reference CIFs, the
        stack-wide decisions and the program version) is unchanged.
    keep_chunks : bool
        Keep ``out_dir/.phasetrace-chunks`` after success.
    max_map_scans : int
        Most patterns kept in ``results.nc`` (every k-th scan beyond that).
    progress : callable, optional
        ``progress(scans_done, n_scans)``.

    Raises
    ------
    ReaderError, EchemError, ConfigError, OutputError
        Unusable input or options, or ``out_dir`` locked by another run.
    """
    from .analysis import join_blocks, plan_analysis
    from .chunkset import local_compute
    from .resultset import clear_done, lock_out_dir, mark_done, new_run_id
    from .stream import open_source

    config = config or Config()
    if chunk_scans is not None and chunk_scans < 1:
        raise ConfigError(f"--chunk-scans {chunk_scans}: expected a positive number of scans")
    if jobs < 1 or max_map_scans < 1:
        raise ConfigError(f"jobs={jobs}, max_map_scans={max_map_scans}: expected positive numbers")
    out = prepare_out_dir(out_dir)
    clock = StageTimes()
    with lock_out_dir(out):
        clear_done(out)
        run_id = new_run_id()
        with clock.stage("open"):
            source = open_source(inputs.input, wavelength=inputs.wavelength)
        with clock.stage("library"):
            library = _library(config)
        with clock.stage("plan"):
            plan = plan_analysis(source.n_scans, source.take, source.wavelength, config,
                                 library=library, max_map_scans=max_map_scans)
        with clock.stage("hash"):
            digests = {str(p): file_sha256(p) for p in source.input_files()}
        with clock.stage("analysis"):
            parts = _run_chunks(source, plan, digests, out, chunk_scans=chunk_scans, jobs=jobs,
                                scheduler=scheduler, resume=resume, progress=progress, clock=clock)
        with local_compute():  # chunk results: read from their files when needed (chunkset)
            with clock.stage("join"):
                joined = _align(join_blocks(parts), inputs, source)
                del parts
            with clock.stage("transitions"):
                results = _finish(joined, plan)
                del joined
            results.attrs["provenance_json"] = json.dumps(_provenance(inputs, config, digests, plan),
                                                          ensure_ascii=False, default=json_default)
            from .output import write_outputs as write

            with clock.stage("write"):
                written = write(results, out, config=config, run_id=run_id)
                del results
                mark_done(out, run_id, written)
                if not keep_chunks:
                    shutil.rmtree(out / CHUNK_DIR, ignore_errors=True)
    clock.log()
    results = xr.open_dataset(written["results.nc"], engine="h5netcdf")  # read lazily: any length
    results.attrs["stage_times_json"] = json.dumps(clock.to_dict())
    return results, written


def _chunk_groups(plan: Any, chunk_scans: int | None, parallel: bool) -> list[list[tuple[int, int]]]:
    """Consecutive analysis blocks grouped into tasks of about ``chunk_scans`` scans.

    Without ``chunk_scans``: tasks of :data:`DEFAULT_CHUNK_SCANS` scans (the whole stack
    when shorter), or one task per block when the run is parallel (``jobs > 1`` or a
    scheduler) and has at most :data:`CHUNKED_ABOVE` scans.  A task holds its scans'
    patterns (16 bytes per point: intensity and σ), so bounded tasks keep a run's memory
    independent of its length.
    """
    if chunk_scans is None:
        small = parallel and plan.n_scans <= CHUNKED_ABOVE
        chunk_scans = plan.config.analysis.block_scans if small else DEFAULT_CHUNK_SCANS
    per = max(1, math.ceil(chunk_scans / plan.config.analysis.block_scans))
    blocks = list(plan.blocks)
    return [blocks[i:i + per] for i in range(0, len(blocks), per)]


def _run_chunks(source: Any, plan: Any, digests: dict[str, str], out: Path, *, chunk_scans: int | None,
                jobs: int, scheduler: Any, resume: bool, progress: Progress,
                clock: StageTimes | None = None) -> list[xr.Dataset]:
    """Analyse every chunk (reusing finished ones on resume); return their results in order.

    ``clock`` gets the tasks' own CPU seconds of reading and analysing (wherever they ran)
    as ``task read`` and ``task analyse``.
    """
    from .analysis import analyse_task
    from .chunkset import open_chunk
    from .executor import run_tasks
    from .stream import save_chunk

    groups = _chunk_groups(plan, chunk_scans, parallel=jobs > 1 or bool(scheduler))
    spans = [(max(0, g[0][0] - plan.halo), min(plan.n_scans, g[-1][1] + plan.halo)) for g in groups]
    prints = [_fingerprint(plan, source, digests, g, span) for g, span in zip(groups, spans)]
    folder = out / CHUNK_DIR
    on_disk = len(groups) > 1 or resume
    if folder.exists() and not resume:
        shutil.rmtree(folder)
    done: dict[int, Any] = _reusable(folder, prints) if resume else {}
    if on_disk:
        folder.mkdir(exist_ok=True)
    logger.info("%d scans in %d chunk(s) of %d analysis block(s) (%d reused)", plan.n_scans, len(groups),
                len(plan.blocks), len(done))
    scans_done = sum(g[-1][1] - g[0][0] for i, g in enumerate(groups) if i in done)
    if progress is not None:
        progress(scans_done, plan.n_scans)
    todo = [i for i in range(len(groups)) if i not in done]
    tasks = [(source.part(*spans[i]), plan, groups[i]) for i in todo]
    for k, result in run_tasks(analyse_task, tasks, jobs=jobs, scheduler=scheduler, name="phasetrace-chunk"):
        i = todo[k]
        read_s, analyse_s = result.attrs.pop("task_cpu_s", (0.0, 0.0))
        if clock is not None:
            for name, seconds in (("task read", read_s), ("task analyse", analyse_s)):
                clock.cpu_s[name] = clock.cpu_s.get(name, 0.0) + seconds
                clock.wall_s.setdefault(name, 0.0)
        if on_disk:
            result.attrs.update(chunk_fingerprint=prints[i], chunk_index=i)
            done[i] = save_chunk(result, folder / f"chunk_{i:06d}.npz")
        else:
            done[i] = result
        scans_done += groups[i][-1][1] - groups[i][0][0]
        if progress is not None:
            progress(scans_done, plan.n_scans)
    return [open_chunk(done[i]) if isinstance(done[i], Path) else done[i] for i in range(len(groups))]


def _reusable(folder: Path, prints: list[str]) -> dict[int, Path]:
    """Finished chunks of an interrupted run whose fingerprint still matches (others deleted)."""
    from .stream import load_chunk

    found: dict[int, Path] = {}
    for path in sorted(folder.glob("chunk_*.npz")) if folder.is_dir() else []:
        try:
            attrs = load_chunk(path, meta_only=True).attrs
            index = int(attrs.get("chunk_index", -1))
            ok = 0 <= index < len(prints) and attrs.get("chunk_fingerprint") == prints[index]
        except (OSError, ValueError, KeyError):
            ok = False
        if ok:
            found[index] = path
        else:
            path.unlink(missing_ok=True)
    for stale in folder.glob(".*.part") if folder.is_dir() else []:
        stale.unlink(missing_ok=True)
    return found


def _fingerprint(plan: Any, source: Any, digests: dict[str, str], blocks: list[tuple[int, int]],
                 span: tuple[int, int]) -> str:
    """Content hash of what a chunk's result depends on.

    SHA-256 over the program version, the stack-wide plan (options, candidate
    phases, Kα2, peak start positions, blocks), the reference CIFs' bytes, the
    chunk's blocks and the SHA-256 of every input file the chunk reads (the whole
    file for HDF5/multi-scan inputs).
    """
    h = hashlib.sha256(f"phasetrace {__version__}\n{plan.digest()}\n{blocks}\n".encode())
    h.update(_library_digest(plan.config).encode())
    files = source.part(*span).input_files() if hasattr(source, "part") else []
    for path in files:
        h.update(f"{Path(path).name}:{digests.get(str(path)) or file_sha256(path)}\n".encode())
    return h.hexdigest()


def _library_digest(config: Config) -> str:
    """SHA-256 of every file of the built-in reference library and of ``reference_dir``."""
    from .phases.reference import library_dir

    h = hashlib.sha256()
    folders = [library_dir()] + ([Path(config.phases.reference_dir)] if config.phases.reference_dir else [])
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            h.update(f"{path.relative_to(folder)}:{file_sha256(path)}\n".encode())
    return h.hexdigest()


def _align(results: xr.Dataset, inputs: RunInputs, source: Any) -> xr.Dataset:
    """Electrochemistry for every scan, computed on a light skeleton stack (5 points per scan)."""
    from .schema import SCAN, make_stack

    if not inputs.echem and not inputs.scan_log and not inputs.temperature_log:
        return results
    n = results.sizes[SCAN]
    coords = {c: results[c].values for c in results.coords if results[c].dims == (SCAN,) and c != SCAN}
    skeleton = make_stack(source.two_theta[:5], np.zeros((n, 5)), np.ones((n, 5)),
                          wavelength_A=source.wavelength[0], coords=coords)
    aligned = align_inputs(skeleton, inputs)
    new = {c: (SCAN, aligned[c].values, aligned[c].attrs) for c in aligned.coords
           if aligned[c].dims == (SCAN,) and c != SCAN}
    results = results.assign_coords(new)
    results.attrs.update({k: v for k, v in aligned.attrs.items() if k.startswith(("echem", "align"))})
    for name in aligned.data_vars:
        if aligned[name].dims == ("echem_record",):
            results[name] = aligned[name]
    return results


def _provenance(inputs: RunInputs, config: Config, digests: dict[str, str], plan: Any) -> dict[str, Any]:
    hashes = {Path(p).name: d for p, d in digests.items()}
    if len(hashes) > _MAX_LISTED_FILES:
        tree = hashlib.sha256("".join(f"{k}:{v}\n" for k, v in hashes.items()).encode()).hexdigest()
        hashes = {f"{len(hashes)} files (sha256 of 'name:sha256' lines)": tree}
    for extra in (inputs.echem, inputs.scan_log, inputs.temperature_log):
        if extra:
            hashes[Path(extra).name] = file_sha256(extra)
    calibration = {"calibration": plan.calibration.to_dict()} if plan.calibration is not None else {}
    return {**calibration, "program": "phasetrace", "version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "input": str(inputs.input),
            "echem": inputs.echem, "scan_log": inputs.scan_log, "wavelength_option": inputs.wavelength,
            "options": config.to_dict(), "input_sha256": hashes, "kalpha2": plan.kalpha2,
            "reference_library_sha256": _library_digest(config)}


def describe_written(written: dict[str, Path]) -> Sequence[str]:
    """One line per written file, for the CLI."""
    return [str(p) for p in written.values()]
