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
Further keys, as the ``analyse`` options of the same names: ``reference_dir``,
``echem_outside`` (auto/raise/nan), ``temperature_log``, ``calibrate``, ``elements``.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import logging
import os
import re
import stat
import tomllib
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Config
from .errors import ConfigError, PhasetraceError, one_line
from .output import prepare_out_dir, write_json_atomic, write_text_atomic

logger = logging.getLogger(__name__)

__all__ = ["Experiment", "read_manifest", "run_batch", "run_experiment", "clean_partials", "DONE_MARKER"]

DONE_MARKER = ".phasetrace-done.json"
#: names the batch writes in its output root; an experiment may not be called so.
_RESERVED = {"summary.csv", "summary.md"}
#: longest experiment name, bytes of UTF-8 (the usual file-name limit).
_NAME_MAX = 255
_KEYS = ("name", "input", "echem", "scan_log", "wavelength", "phases", "material", "reference_dir",
         "echem_outside", "temperature_log", "calibrate", "elements")


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
    echem_outside: str = "auto"
    temperature_log: str = ""
    calibrate: str = ""
    elements: str = ""


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


def _name_problem(name: str) -> str:
    """Why ``name`` is not a plain folder name inside --out ("" when it is)."""
    if not name.strip():
        return "is empty"
    if name in (".", "..") or name.startswith("."):
        return "starts with '.' (hidden or parent folder)"
    if "/" in name or "\\" in name or Path(name).is_absolute() or ":" in name[:2]:
        return "contains a path separator"
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        return "contains control characters"
    if name != name.strip():
        return "starts or ends with white space"
    if len(name.encode("utf-8")) > _NAME_MAX:
        return f"is longer than {_NAME_MAX} bytes"
    if name.lower() in _RESERVED:
        return "is the name of a batch summary file"
    return ""


def _default_name(input_: str, i: int) -> str:
    """Experiment name from its input: the folder or file name (the folder above a glob)."""
    p = Path(input_)
    name = p.parent.name if any(ch in p.name for ch in "*?[") else p.name
    return name if name and not _name_problem(name) else f"experiment_{i}"


def _check_experiment(path: Path, i: int, merged: dict[str, Any]) -> None:
    """Options of one experiment that can be checked without reading its data."""
    from .io import wavelength_option

    if merged.get("wavelength"):
        try:
            wavelength_option(str(merged["wavelength"]))
        except ConfigError as err:
            raise ConfigError(f"{path}: experiment {i}: {err}") from None
    phases = str(merged.get("phases", "auto"))
    if phases.strip().lower() != "auto" and not any(n.strip() for n in phases.split(",")):
        raise ConfigError(f"{path}: experiment {i}: phases {phases!r}: expected names such as P2,O3 or 'auto'")


def read_manifest(path: str | Path) -> list[Experiment]:
    """Read a batch manifest.

    Raises
    ------
    ConfigError
        Unknown format or keys, missing ``input``, duplicate names, a name that is
        not a plain folder name (results go to ``OUT/<name>``: no path separators,
        no ``..`` or leading ``.``, no control characters), an invalid wavelength or
        phase list, or an input path that does not exist (all naming the manifest).
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
        if merged.get("echem_outside", "auto") not in ("auto", "raise", "nan"):
            raise ConfigError(f"{path}: experiment {i}: echem_outside = {merged['echem_outside']!r}; "
                              "expected auto, raise or nan")
        for key in ("input", "echem", "scan_log", "reference_dir", "temperature_log"):
            if merged.get(key):
                p = Path(str(merged[key]))
                merged[key] = str(p if p.is_absolute() else (path.parent / p))
        if not any(ch in merged["input"] for ch in "*?[") and not Path(merged["input"]).exists():
            raise ConfigError(f"{path}: experiment {i}: input {merged['input']} does not exist")
        given = merged.get("name")
        name = str(given) if given not in (None, "") else _default_name(merged["input"], i)
        if problem := _name_problem(name):
            raise ConfigError(f"{path}: experiment {i}: name {name!r} {problem}; a name must be a plain "
                              "folder name (results go to OUT/<name>)")
        if name.casefold() in seen:
            raise ConfigError(f"{path}: duplicate experiment name {name!r}")
        seen.add(name.casefold())
        _check_experiment(path, i, merged)
        merged["name"] = name
        experiments.append(Experiment(**{k: str(v) for k, v in merged.items()}))
    return experiments


def _experiment_config(exp: Experiment, base: Config) -> Config:
    phases = base.phases
    if exp.phases and exp.phases != "auto":
        phases = dataclasses.replace(phases, names=tuple(n.strip() for n in exp.phases.split(",")))
    if exp.reference_dir:
        phases = dataclasses.replace(phases, reference_dir=exp.reference_dir)
    if exp.calibrate:
        phases = dataclasses.replace(phases, calibrate=exp.calibrate)
    if exp.elements:
        phases = dataclasses.replace(phases, elements=exp.elements)
    output = dataclasses.replace(base.output, material=exp.material or base.output.material)
    return base.replace(phases=phases, output=output)


def _fingerprint(exp: Experiment, config: Config) -> str:
    """Hash of the experiment definition, options and input file contents (SHA-256)."""
    from . import __version__
    from .output import file_sha256

    h = hashlib.sha256(json.dumps([dataclasses.asdict(exp), config.to_dict(), __version__],
                                  sort_keys=True).encode())
    for key in ("input", "echem", "scan_log", "temperature_log"):
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
    row: dict[str, Any] = {"name": exp.name, "input": exp.input, "status": "ok", "error": ""}
    try:
        return _run_one(exp, out_root, config, row, chunk_scans=chunk_scans, resume=resume)
    except PhasetraceError as err:
        row.update(status="failed", error=one_line(err))
    except (KeyboardInterrupt, SystemExit):
        raise
    except MemoryError as err:
        row.update(status="failed", error=one_line(f"{exp.input}: out of memory ({err or 'allocation failed'})"))
    except Exception as err:  # any other failure is this experiment's, never the whole batch's
        logger.debug("%s: unexpected error", exp.name, exc_info=True)
        row.update(status="failed", error=one_line(f"{exp.input}: unexpected {type(err).__name__}: {err}"))
    return row


def _experiment_dir(exp: Experiment, out_root: str | Path) -> Path:
    """``out_root/<name>``, checked to be a real folder inside ``out_root`` (not a link leading elsewhere)."""
    from .io import check_out_dir

    root = Path(out_root).resolve()
    if problem := _name_problem(exp.name):
        raise ConfigError(f"experiment name {exp.name!r} {problem}; a name must be a plain folder name")
    out = Path(out_root) / exp.name
    if out.is_symlink() or (out.exists() and out.resolve().parent != root):
        raise ConfigError(f"{out}: experiment folder is a link leading outside {out_root}; refused")
    check_out_dir(out, exp.input)
    return out


def _run_one(exp: Experiment, out_root: str, config: Config, row: dict[str, Any], *,
             chunk_scans: int | None, resume: bool) -> dict[str, Any]:
    from .pipeline import RunInputs, run_analysis

    cfg = _experiment_config(exp, config)
    out = _experiment_dir(exp, out_root)
    clean_partials(out)
    inputs = RunInputs(exp.input, exp.echem, exp.scan_log, exp.wavelength,
                       echem_outside=exp.echem_outside, temperature_log=exp.temperature_log)
    results, _ = run_analysis(inputs, out, config=cfg, chunk_scans=chunk_scans, resume=resume)
    row.update(_summarise(results))
    write_json_atomic(out / DONE_MARKER, {"fingerprint": _fingerprint(exp, cfg), "row": row})
    return row


#: temporaries of :func:`phasetrace.output.atomic_path` for the files a run writes:
#: ``.<name>.<ext>.<random>.part`` with one of phasetrace's output extensions.
_PARTIAL = re.compile(r"^\.[^/]+\.(?:json|csv|md|tex|nc|html|png|pdf|svg|npz|toml)\.[A-Za-z0-9_]{1,16}\.part$")
#: the folders a run writes into, relative to its output folder (nothing else is searched).
_RUN_SUBFOLDERS = ("", "figures", ".phasetrace-chunks")


def clean_partials(folder: str | Path) -> list[Path]:
    """Remove the temporary files a killed run of phasetrace left in its output ``folder``.

    Only files phasetrace itself creates are touched: regular files (never links)
    named like the temporaries of :func:`phasetrace.output.atomic_path` for its own
    outputs (``.lattice.csv.k2j9x_a1.part``), owned by this user, directly in
    ``folder``, ``folder/figures`` or ``folder/.phasetrace-chunks``.  Nothing
    below or outside these folders is visited, and another program's ``.part``
    file (``.notes.part``) is left alone.  Returns the files removed.
    """
    folder = Path(folder)
    if folder.is_symlink() or not folder.is_dir():
        return []
    removed = []
    uid = os.getuid() if hasattr(os, "getuid") else None
    for sub in _RUN_SUBFOLDERS:
        here = folder / sub if sub else folder
        if sub and (here.is_symlink() or not here.is_dir()):
            continue
        for path in here.iterdir():
            if not _PARTIAL.match(path.name):
                continue
            st = path.lstat()
            if not stat.S_ISREG(st.st_mode) or (uid is not None and st.st_uid != uid):
                continue
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
    for _, row in run_tasks(_experiment_task, tasks, jobs=jobs, scheduler=scheduler, name="phasetrace-experiment"):
        yield row


def _experiment_task(exp: Experiment, out: str, config: Config, chunk_scans: int | None,
                     resume: bool) -> dict[str, Any]:
    """One executor task: :func:`run_experiment` (never raises for a bad experiment)."""
    return run_experiment(exp, out, config, chunk_scans=chunk_scans, resume=resume)


def _write_summary(out: Path, rows: list[dict[str, Any]]) -> None:
    columns = ["name", "status", "n_scans", "sequence", "n_stages", "n_transitions",
               "max_volume_strain", "error", "input"]
    lines = [",".join(columns)]
    md = ["| " + " | ".join(columns[:-1]) + " |", "|" + "---|" * (len(columns) - 1)]
    for row in rows:
        values = [str(row.get(c, "")) for c in columns]
        lines.append(",".join('"' + v.replace('"', '""') + '"' if any(c in v for c in ',"\n\r') else v
                              for v in values))
        md.append("| " + " | ".join(v.replace("|", "\\|") for v in values[:-1]) + " |")
    write_text_atomic(out / "summary.csv", "\n".join(lines) + "\n")
    write_text_atomic(out / "summary.md", "\n".join(md) + "\n")
