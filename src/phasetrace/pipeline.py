"""Orchestration of one analysis: read → background → peaks → phases → lattice → transitions.

This module glues the pipeline packages together; it does no numerics itself.
:func:`analyse_stack` works on an in-memory stack and returns the results
Dataset (the content of ``results.nc``); :func:`write_outputs` writes the
contract files; :func:`run_analysis` does both from file paths (the CLI's job).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from . import __version__
from .config import Config
from .errors import PhasetraceError
from .output import (file_sha256, prepare_out_dir, write_json_atomic, write_netcdf_atomic,
                     write_text_atomic)
from .schema import RESULT_PEAK_PREFIX, validate_stack

logger = logging.getLogger(__name__)

__all__ = ["load_stack", "analyse_stack", "write_outputs", "run_analysis", "RunInputs"]

Progress = Callable[[str, int, int], None] | None


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


def _stage(progress: Progress, name: str, i: int, n: int) -> None:
    logger.info("%s (%d/%d)", name, i, n)
    if progress is not None:
        progress(name, i, n)


def _per_scan(progress: Progress, name: str) -> Callable[[int, int], None] | bool:
    """A step's per-scan hook ``(done, n_scans)`` reporting to ``progress(name, done, n_scans)``."""
    if progress is None:
        return False
    return lambda done, total: progress(name, done, total)


def load_stack(inputs: RunInputs) -> xr.Dataset:
    """Read the patterns and align them with the electrochemistry.

    Returns
    -------
    xarray.Dataset
        A stack (schema in :mod:`phasetrace.schema`) with scan coordinates from the
        cycler record when ``inputs.echem`` is given.
    """
    from .echem import align, read_echem
    from .io import read_stack

    stack = read_stack(inputs.input, wavelength=inputs.wavelength or None)
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
    ``echem_current_mA`` and ``echem_capacity_mAh_g``; times on the scans' clock (s from the first record).
    """
    out = stack.copy()
    for name in ("time_s", "voltage_V", "current_mA", "capacity_mAh_g"):
        if name in echem:
            out["echem_" + name] = ("echem_record", echem[name].values.astype(float))
    return out


def _library(config: Config, stack: xr.Dataset | None = None) -> list[Any]:
    from .phases import load_library

    names = config.phases.names
    library = load_library(names if names == "auto" else list(names),
                           reference_dir=config.phases.reference_dir or None,
                           elements=config.phases.elements)
    if stack is not None:
        from .phases.calibrate import with_held_standard

        library = with_held_standard(library, stack, config.phases)
    return library


def analyse_stack(stack: xr.Dataset, *, config: Config | None = None,
                  progress: Progress = None) -> xr.Dataset:
    """Run the whole analysis on an in-memory stack.

    Parameters
    ----------
    stack : xarray.Dataset
        Stack with ``intensity`` on (scan, two_theta) and a known wavelength.
    config : Config, optional
        Options; defaults to :class:`~phasetrace.config.Config()`.
    progress : callable, optional
        ``progress(step_name, i, n)`` called at each pipeline step.

    Returns
    -------
    xarray.Dataset
        The stack plus ``background``, ``peak_*`` on (scan, peak), phase/lattice
        variables on (scan, phase), ``zero_shift``, and attrs ``sequence_json``,
        ``options_json``, ``provenance_json``.
    """
    config = config or Config()
    validate_stack(stack)
    from .phases.calibrate import calibrated, calibrated_zero_options

    stack = calibrated(stack, config.phases)
    steps = 5
    t0 = time.perf_counter()
    results = stack.copy()

    _stage(progress, "background", 1, steps)
    from .background import estimate_background

    background = estimate_background(stack, method=config.background.method)["background"]
    results["background"] = background

    _stage(progress, "phase identification and lattice refinement", 2, steps)
    from .lattice import analyse_phases

    # The phase search works on the whole pattern (its own peak search + Pawley
    # refinement); on the shared cases it is more reliable than seeding it with the
    # independent peak fits, which are kept as their own product in results.nc.
    phases = analyse_phases(stack, library=_library(config, stack), background=background,
                            progress=_per_scan(progress, "phase identification and lattice refinement"),
                            **calibrated_zero_options(stack))
    stack = _adopt_detected_kalpha2(stack, phases)
    results.attrs.update({k: stack.attrs[k] for k in ("wavelength2_A", "kalpha2_ratio")})
    results.attrs["kalpha2_detected"] = str(phases.attrs.get("kalpha2_detected", ""))
    if "kalpha2_source" in stack.attrs:
        results.attrs["kalpha2_source"] = stack.attrs["kalpha2_source"]
    results = _merge_phases(results, phases)

    if config.peaks.enabled:
        _stage(progress, "peak fitting", 3, steps)
        from .peaks import fit_stack

        peaks = fit_stack(stack, peaks="auto", profile=config.peaks.profile,
                          background=background, errors="ignore",
                          progress=_per_scan(progress, "peak fitting"))
        for name in peaks.data_vars:
            if "peak" in peaks[name].dims:
                results[RESULT_PEAK_PREFIX + name] = peaks[name]

    _stage(progress, "transitions", 4, steps)
    from .transitions import detect_transitions

    tc = config.transitions
    transitions = detect_transitions(phases, x=tc.x, min_fraction=tc.min_fraction,
                                     min_scans=tc.min_scans)
    sequence = with_minor_phases(transitions.to_dict(), phases, min_fraction=tc.min_fraction)
    from .transitions.evolution import with_evolution

    results.attrs["sequence_json"] = json.dumps(with_evolution(sequence, results, config.phases),
                                                ensure_ascii=False, default=_json_safe)
    results.attrs["options_json"] = json.dumps(config.to_dict(), ensure_ascii=False)
    results.attrs["program"] = f"phasetrace {__version__}"
    results.attrs["analysis_seconds"] = round(time.perf_counter() - t0, 3)
    _stage(progress, "done", 5, steps)
    return results


def _adopt_detected_kalpha2(stack: xr.Dataset, phases: xr.Dataset) -> xr.Dataset:
    """Give the stack the Kα2 line that the phase refinement found in the data.

    Headers such as ``# wavelength_A = 1.5406`` state only Kα1; whether a lab
    source also gives Kα2 is decided from the data by :func:`analyse_phases`
    (χ² with and without the doublet, ``attrs["kalpha2_detected"]``), never assumed.
    """
    decision = str(phases.attrs.get("kalpha2_detected", ""))
    if not decision.startswith("True") or stack.attrs.get("kalpha2_ratio", 0) > 0:
        return stack
    from .schema import WAVELENGTHS_A

    wl = float(stack.attrs["wavelength_A"])
    for wl1, wl2, ratio in WAVELENGTHS_A.values():
        if ratio > 0 and abs(wl1 - wl) <= 0.0015:
            out = stack.copy()
            out.attrs.update(wavelength2_A=wl2, kalpha2_ratio=ratio,
                             kalpha2_source=f"detected from the data: {decision}")
            logger.info("Kα2 line at %.6f Å (ratio %.2f) detected in the data and used for peak fits",
                        wl2, ratio)
            return out
    return stack


def with_minor_phases(sequence: dict[str, Any], phases: xr.Dataset, *,
                      min_fraction: float) -> dict[str, Any]:
    """Add ``minor_phases`` (present in many scans, always below ``min_fraction``)."""
    from .transitions.minor import minor_phases

    in_stages = {p for stage in sequence.get("stages", []) for p in stage.get("phases", [])}
    return {**sequence, "minor_phases": minor_phases(phases, min_fraction=min_fraction,
                                                     stage_phases=in_stages)}


def _json_safe(obj: Any) -> Any:
    from .output import json_default

    return json_default(obj)


def _merge_phases(results: xr.Dataset, phases: xr.Dataset) -> xr.Dataset:
    keep = [v for v in phases.data_vars
            if "scan" in phases[v].dims and "two_theta" not in phases[v].dims
            or v in ("calc", "calc_background")]
    merged = results.copy()
    for name in keep:
        merged[name] = phases[name]
    for name, coord in phases.coords.items():
        if name not in merged.coords and "scan" not in coord.dims:
            merged = merged.assign_coords({name: coord})
    return merged


def _provenance(inputs: RunInputs, stack: xr.Dataset, config: Config) -> dict[str, Any]:
    base = Path(inputs.input)
    folder = base if base.is_dir() else base.parent
    hashes = {}
    for name in np.atleast_1d(stack["file"].values) if "file" in stack.coords else []:
        path = folder / str(name)
        if path.is_file():
            hashes[str(name)] = file_sha256(path)
    for extra in (inputs.echem, inputs.scan_log, inputs.temperature_log):
        if extra:
            hashes[Path(extra).name] = file_sha256(extra)
    return {"program": "phasetrace", "version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "input": str(inputs.input), "echem": inputs.echem, "scan_log": inputs.scan_log,
            "wavelength_option": inputs.wavelength, "options": config.to_dict(),
            "input_sha256": hashes}


def write_outputs(results: xr.Dataset, out_dir: str | Path, *,
                  config: Config | None = None) -> dict[str, Path]:
    """Write the contract outputs (and figures/report) into ``out_dir``.

    Files: ``sequence.json``, ``lattice.csv``, ``results.nc``, ``sequence.csv``,
    ``sequence.md``, ``sequence.tex``, ``figures/*``, ``report.html`` and ``viewer.html``.
    Every file is written atomically; other files in ``out_dir`` are untouched.
    """
    config = config or Config()
    out = prepare_out_dir(out_dir)
    written: dict[str, Path] = {}
    sequence = json.loads(results.attrs.get("sequence_json", "{}"))
    written["sequence.json"] = write_json_atomic(out / "sequence.json", sequence)

    from .lattice import lattice_table

    table = lattice_table(results)
    written["lattice.csv"] = write_text_atomic(out / "lattice.csv",
                                               table.to_csv(index=False, float_format="%.6g"))
    written.update(_write_tables(results, out, config))
    written["results.nc"] = write_netcdf_atomic(_netcdf_ready(results), out / "results.nc")
    pngs: list[Path] | None = None
    if config.output.figures:
        from .plot import save_all

        paths = [Path(p) for p in save_all(results, out / "figures")]
        for path in paths:
            written[f"figures/{path.name}"] = path
        pngs = [p for p in paths if p.suffix == ".png"]
    if config.output.report:
        from .report import try_write_viewer, write_html

        written.update(try_write_viewer(results, out))  # interactive viewer.html beside the report
        written["report.html"] = write_html(results, out / "report.html", figures=pngs,
                                            viewer="viewer.html" in written)
    return written


def _write_tables(results: xr.Dataset, out: Path, config: Config) -> dict[str, Path]:
    from .report import tables

    written = {}
    table = tables.sequence_table(results, material=config.output.material or None)
    written["sequence.csv"] = write_text_atomic(out / "sequence.csv", tables.to_csv(table))
    written["sequence.md"] = write_text_atomic(out / "sequence.md", tables.to_markdown(table))
    written["sequence.tex"] = write_text_atomic(out / "sequence.tex", tables.to_latex(table))
    from .transitions.evolution import EVOLUTION_KEY, evolution_table

    evolution = evolution_table(json.loads(results.attrs.get("sequence_json", "{}")).get(EVOLUTION_KEY, []))
    for ext, writer in (("csv", tables.to_csv), ("md", tables.to_markdown), ("tex", tables.to_latex)):
        written[f"evolution.{ext}"] = write_text_atomic(out / f"evolution.{ext}", writer(evolution))
    return written


def _netcdf_ready(results: xr.Dataset) -> xr.Dataset:
    """Make every variable netCDF-serialisable (object/str arrays → fixed unicode)."""
    ds = results.copy()
    for name in list(ds.variables):
        var = ds[name]
        if var.dtype == object:
            ds[name] = var.astype(str)
    for key, value in list(ds.attrs.items()):
        if isinstance(value, (bool, np.bool_)):
            ds.attrs[key] = int(value)
        elif value is None or (isinstance(value, float) and math.isnan(value)):
            ds.attrs[key] = "nan" if value is not None else ""
        elif isinstance(value, (dict, list, tuple)) and not isinstance(value, str):
            ds.attrs[key] = json.dumps(value, default=_json_safe)
    return ds


def run_analysis(inputs: RunInputs, out_dir: str | Path, *, config: Config | None = None,
                 progress: Progress = None) -> tuple[xr.Dataset, dict[str, Path]]:
    """Read, analyse and write one experiment; return (results, written files)."""
    config = config or Config()
    prepare_out_dir(out_dir)
    stack = load_stack(inputs)
    results = analyse_stack(stack, config=config, progress=progress)
    provenance = _provenance(inputs, stack, config)
    if "calibration_json" in results.attrs:
        provenance["calibration"] = json.loads(results.attrs["calibration_json"])
    results.attrs["provenance_json"] = json.dumps(provenance, ensure_ascii=False, default=_json_safe)
    written = write_outputs(results, out_dir, config=config)
    return results, written


def describe_written(written: dict[str, Path]) -> Sequence[str]:
    """One line per written file, for the CLI."""
    return [str(p) for p in written.values()]


__all__ += ["describe_written", "PhasetraceError"]
