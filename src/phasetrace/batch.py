"""Batch processing of many experiments, locally or on a Dask cluster, with resume.

A *manifest* (TOML, YAML or CSV) lists experiments; each gets its own output
folder ``OUT/<name>/`` with the usual files, and ``OUT/summary.csv`` (+ ``.md``)
gathers one row per experiment.  An experiment is finished when its marker
``OUT/<name>/.phasetrace-done.json`` exists (written last, atomically, holding
the input hashes and options); ``resume=True`` skips finished experiments whose
inputs and options are unchanged, so a run killed with SIGKILL continues where
it stopped without redoing work and without trusting half-written results.

Manifest (TOML)::

    [defaults]            # optional, applies to every experiment
    wavelength = "CuKa"
    phases = "P2,O3,P3"

    [[experiment]]
    name = "cell_A"
    input = "cell_A/patterns"      # relative to the manifest's folder
    echem = "cell_A/echem.csv"
    scan_log = "cell_A/scan_log.csv"
    material = "Na2/3Ni1/3Mn2/3O2"

YAML: the same keys, ``experiments:`` being a list.  CSV: one row per
experiment with columns ``name,input,echem,scan_log,wavelength,phases,material``.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import logging
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Config
from .errors import ConfigError, PhasetraceError
from .output import prepare_out_dir, write_json_atomic, write_text_atomic

logger = logging.getLogger(__name__)

__all__ = ["Experiment", "read_manifest", "run_batch", "run_experiment", "clean_partials", "DONE_MARKER"]

DONE_MARKER = ".phasetrace-done.json"
_KEYS = ("name", "input", "echem", "scan_log", "wavelength", "phases", "material", "reference_dir")


@dataclass(frozen=True)
class Experiment:
    """One experiment of a batch (paths already resolved against the manifest folder)."""

    name: str
    input: str
    echem: str = ""
    scan_log: str = ""
    wavelength: str = ""
    phases: str = "auto"
    material: str = ""
    reference_dir: str = ""


def _load_rows(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            with path.open("rb") as fh:
                data = tomllib.load(fh)
            return data.get("defaults", {}), list(data.get("experiment", data.get("experiments", [])))
        if suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if not isinstance(data, dict):
                raise ConfigError(f"{path}: expected a mapping with 'experiments:'")
            return data.get("defaults", {}) or {}, list(data.get("experiments", []) or [])
        if suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as fh:
                return {}, [dict(row) for row in csv.DictReader(fh)]
    except FileNotFoundError as err:
        raise ConfigError(f"{path}: manifest not found") from err
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, csv.Error) as err:
        raise ConfigError(f"{path}: cannot parse manifest ({err})") from err
    except Exception as err:  # yaml.YAMLError without importing yaml at module level
        if type(err).__module__.startswith("yaml"):
            raise ConfigError(f"{path}: cannot parse YAML manifest ({err})") from err
        raise
    raise ConfigError(f"{path}: manifest must be .toml, .yaml/.yml or .csv (got {suffix or 'no suffix'})")


def read_manifest(path: str | Path) -> list[Experiment]:
    """Read a batch manifest.

    Raises
    ------
    ConfigError
        Unknown format or keys, missing ``input``, duplicate names, or an input
        path that does not exist (all naming the manifest).
    """
    path = Path(path)
    defaults, rows = _load_rows(path)
    if not rows:
        raise ConfigError(f"{path}: manifest lists no experiments")
    experiments, seen = [], set()
    for i, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise ConfigError(f"{path}: experiment {i} is not a table/mapping")
        merged = {**defaults, **{k: v for k, v in row.items() if v not in (None, "")}}
        unknown = set(merged) - set(_KEYS)
        if unknown:
            raise ConfigError(f"{path}: experiment {i}: unknown key(s) {sorted(unknown)}; "
                              f"known: {', '.join(_KEYS)}")
        if not merged.get("input"):
            raise ConfigError(f"{path}: experiment {i} has no 'input'")
        for key in ("input", "echem", "scan_log", "reference_dir"):
            if merged.get(key):
                p = Path(str(merged[key]))
                merged[key] = str(p if p.is_absolute() else (path.parent / p))
        if not any(ch in merged["input"] for ch in "*?[") and not Path(merged["input"]).exists():
            raise ConfigError(f"{path}: experiment {i}: input {merged['input']} does not exist")
        name = str(merged.get("name") or Path(merged["input"]).name or f"experiment_{i}")
        if name in seen:
            raise ConfigError(f"{path}: duplicate experiment name {name!r}")
        seen.add(name)
        merged["name"] = name
        experiments.append(Experiment(**{k: str(v) for k, v in merged.items()}))
    return experiments


def _experiment_config(exp: Experiment, base: Config) -> Config:
    phases = base.phases
    if exp.phases and exp.phases != "auto":
        phases = dataclasses.replace(phases, names=tuple(n.strip() for n in exp.phases.split(",")))
    if exp.reference_dir:
        phases = dataclasses.replace(phases, reference_dir=exp.reference_dir)
    output = dataclasses.replace(base.output, material=exp.material or base.output.material)
    return base.replace(phases=phases, output=output)


def _fingerprint(exp: Experiment, config: Config) -> str:
    """Hash of the experiment definition, options and input file contents (SHA-256)."""
    from . import __version__
    from .output import file_sha256

    h = hashlib.sha256(json.dumps([dataclasses.asdict(exp), config.to_dict(), __version__],
                                  sort_keys=True).encode())
    for key in ("input", "echem", "scan_log"):
        p = Path(getattr(exp, key)) if getattr(exp, key) else None
        if p is None or not p.exists():
            continue
        files = sorted(p.rglob("*")) if p.is_dir() else [p]
        for f in files:
            if f.is_file():
                h.update(f"{f.name}:{file_sha256(f)}".encode())
    return h.hexdigest()


def run_experiment(exp: Experiment, out_root: str, config: Config, *,
                   chunk_scans: int | None = None, resume: bool = False) -> dict[str, Any]:
    """Run one experiment into ``out_root/<name>``; return its summary row.

    Parameters
    ----------
    exp : Experiment
        The experiment.
    out_root : str
        Output root; results go to ``out_root/<exp.name>``.
    config : Config
        Base options (the experiment's phases/material override them).
    chunk_scans : int, optional
        Read and analyse this many scans per task (:func:`phasetrace.pipeline.run_analysis`);
        for stacks of many thousand scans.
    resume : bool
        With ``chunk_scans``: reuse the chunks an interrupted run finished.

    Returns
    -------
    dict
        Summary row. Never raises for a bad experiment: the error goes into the
        row (``status = "failed"``, ``error`` = the one-line message).
    """
    from .pipeline import RunInputs, run_analysis

    cfg = _experiment_config(exp, config)
    out = Path(out_root) / exp.name
    row: dict[str, Any] = {"name": exp.name, "input": exp.input, "status": "ok", "error": ""}
    clean_partials(out)
    inputs = RunInputs(exp.input, exp.echem, exp.scan_log, exp.wavelength)
    try:
        results, _ = run_analysis(inputs, out, config=cfg, chunk_scans=chunk_scans, resume=resume)
    except PhasetraceError as err:
        row.update(status="failed", error=str(err))
        return row
    row.update(_summarise(results))
    write_json_atomic(out / DONE_MARKER, {"fingerprint": _fingerprint(exp, cfg), "row": row})
    return row


def clean_partials(folder: str | Path) -> list[Path]:
    """Remove temporary files (``.NAME.*.part``) a killed run left in ``folder`` and below.

    They are written by :func:`phasetrace.output.atomic_path` and renamed on success,
    so any found before a run starts belong to an interrupted run.  Returns the
    files removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for path in folder.rglob(".*.part"):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    if removed:
        logger.info("%s: removed %d temporary file(s) of an interrupted run", folder, len(removed))
    return removed


def _summarise(results: Any) -> dict[str, Any]:
    from .transitions import sequence_of

    seq = sequence_of(results)
    row: dict[str, Any] = {"n_scans": int(results.sizes.get("scan", 0)),
                           "sequence": seq.get("sequence", ""),
                           "n_stages": len(seq.get("stages", [])),
                           "n_transitions": len(seq.get("transitions", []))}
    if "volume_strain" in results and "phase" in results.dims:
        strains = []
        for label in results["phase"].values:
            s = results["volume_strain"].sel(phase=label).values
            finite = s[s == s]
            if finite.size:
                k = abs(finite).argmax()
                strains.append(f"{label}: {100 * finite[k]:+.2f} %")
        row["max_volume_strain"] = "; ".join(strains)
    return row


def _finished(exp: Experiment, out_root: Path, config: Config) -> dict[str, Any] | None:
    marker = out_root / exp.name / DONE_MARKER
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("fingerprint") != _fingerprint(exp, _experiment_config(exp, config)):
        return None
    return data.get("row")


def run_batch(experiments: Iterable[Experiment], out_root: str | Path, *,
              config: Config | None = None, jobs: int = 1, scheduler: Any = None,
              resume: bool = False, chunk_scans: int | None = None,
              progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Run every experiment; write ``summary.csv``/``summary.md``; return the rows.

    Parameters
    ----------
    experiments : iterable of Experiment
        From :func:`read_manifest`.
    out_root : path
        Output root; one subfolder per experiment.
    jobs : int
        Experiments run at once on this machine (processes).
    scheduler : str or distributed.Client, optional
        Address of a running Dask distributed scheduler (or a connected client);
        experiments are then submitted to its workers, which must see the input
        and output folders (results are identical to a local run).
    resume : bool
        Skip experiments whose done-marker matches their inputs and options (and,
        with ``chunk_scans``, reuse finished chunks of an interrupted experiment).
    chunk_scans : int, optional
        Analyse each experiment in chunks of this many scans (long stacks).
    progress : callable, optional
        ``progress(experiments_done, n_experiments)``.

    Returns
    -------
    list of dict
        One summary row per experiment, in manifest order (``resumed = True`` for
        those skipped).
    """
    config = config or Config()
    out = prepare_out_dir(out_root)
    for stale in out.glob(".summary.*.part"):
        stale.unlink(missing_ok=True)
    experiments = list(experiments)
    rows: dict[str, dict[str, Any]] = {}
    todo = []
    for exp in experiments:
        done = _finished(exp, out, config) if resume else None
        if done is not None:
            logger.info("%s: already finished, skipped (--resume)", exp.name)
            rows[exp.name] = {**done, "resumed": True}
        else:
            todo.append(exp)
    total, count = len(experiments), len(rows)
    if progress:
        progress(count, total)
    options = {"chunk_scans": chunk_scans, "resume": resume}
    for row in _execute(todo, str(out), config, jobs=jobs, scheduler=scheduler, options=options):
        rows[row["name"]] = row
        count += 1
        _write_summary(out, [rows[e.name] for e in experiments if e.name in rows])
        if progress:
            progress(count, total)
    ordered = [rows[e.name] for e in experiments]
    _write_summary(out, ordered)
    return ordered


def _execute(todo: list[Experiment], out: str, config: Config, *, jobs: int,
             scheduler: Any, options: dict[str, Any]) -> Iterable[dict[str, Any]]:
    from .executor import run_tasks

    tasks = [(exp, out, config, options.get("chunk_scans"), options.get("resume", False)) for exp in todo]
    for _, row in run_tasks(_run_one, tasks, jobs=jobs, scheduler=scheduler, name="phasetrace-experiment"):
        yield row


def _run_one(exp: Experiment, out: str, config: Config, chunk_scans: int | None,
             resume: bool) -> dict[str, Any]:
    return run_experiment(exp, out, config, chunk_scans=chunk_scans, resume=resume)


def _write_summary(out: Path, rows: list[dict[str, Any]]) -> None:
    columns = ["name", "status", "n_scans", "sequence", "n_stages", "n_transitions",
               "max_volume_strain", "error", "input"]
    lines = [",".join(columns)]
    md = ["| " + " | ".join(columns[:-1]) + " |", "|" + "---|" * (len(columns) - 1)]
    for row in rows:
        values = [str(row.get(c, "")) for c in columns]
        lines.append(",".join('"' + v.replace('"', '""') + '"' if ("," in v or '"' in v) else v
                              for v in values))
        md.append("| " + " | ".join(v.replace("|", "\\|") for v in values[:-1]) + " |")
    write_text_atomic(out / "summary.csv", "\n".join(lines) + "\n")
    write_text_atomic(out / "summary.md", "\n".join(md) + "\n")
