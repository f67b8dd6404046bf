"""phasetrace: analyser for operando powder X-ray diffraction of battery electrodes.

The pipeline is read → preprocess → fit → identify → refine → transitions → report;
each step is a subpackage (:mod:`phasetrace.io`, :mod:`phasetrace.background`,
:mod:`phasetrace.peaks`, :mod:`phasetrace.phases`, :mod:`phasetrace.lattice`,
:mod:`phasetrace.transitions`, :mod:`phasetrace.plot`, :mod:`phasetrace.report`).

Notebook API — small verbs on plain xarray data::

    import phasetrace as pt
    stack = pt.read("patterns/", wavelength="CuKa")
    stack = pt.align_echem(stack, "echem.csv", scan_log="scan_log.csv")
    results = pt.analyse(stack)                  # the results.nc Dataset
    pt.sequence_of(results)["sequence"]          # e.g. "P2/P3 → OP4 → P2/P3"
    fig = pt.plot(results, "contour")

``phasetrace.plot(results, figure, **options)`` draws one figure (``"contour"``,
``"waterfall"``, ``"lattice"``, ``"fractions"``, ``"fit"``) and returns the
matplotlib Figure; the verbs are imported on first use, so ``import phasetrace`` stays light (no
numba, matplotlib or dask until they are needed).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from .errors import PhasetraceError  # noqa: E402

__all__ = ["__version__", "PhasetraceError", "read", "align_echem", "analyse", "detect_transitions",
           "plot", "sequence_of", "write", "open_results", "Config"]


def read(path: Any, *, wavelength: str | float | None = None, **options: Any) -> Any:
    """Read a folder, pattern file, multi-scan file or glob into a stack Dataset.

    See :func:`phasetrace.io.read_stack` (``wavelength`` in Å or ``"CuKa"``...).
    """
    from .io import read_stack

    return read_stack(path, wavelength=wavelength, **options)


def align_echem(stack: Any, echem: Any = None, *, scan_log: Any = None, outside: str = "raise") -> Any:
    """Give every scan its time and electrochemistry (voltage, capacity, ...).

    ``echem`` is a cycler file (CSV, BioLogic, Neware) or a Dataset from
    :func:`phasetrace.echem.read_echem`; ``scan_log`` a CSV
    ``file,start_time_s,end_time_s``.  The cycler record is attached on its own
    ``echem_record`` dimension for the voltage curve of the figures.
    """
    from .echem import align, read_echem
    from .pipeline import attach_echem_record

    record = read_echem(echem) if echem is not None and not hasattr(echem, "data_vars") else echem
    out = align(stack, record, scan_log=scan_log, outside=outside)
    return attach_echem_record(out, record) if record is not None else out


def analyse(stack: Any, *, config: Any = None, progress: Any = None) -> Any:
    """Analyse a stack: phases, lattices, fractions, fits, stages and transitions.

    Returns the results Dataset (what ``results.nc`` holds); see
    :func:`phasetrace.pipeline.analyse_stack`.
    """
    from .pipeline import analyse_stack

    return analyse_stack(stack, config=config, progress=progress)


def detect_transitions(results: Any, **options: Any) -> Any:
    """Stages and transitions of a (scan, phase) results Dataset (a ``TransitionResult``).

    See :func:`phasetrace.transitions.detect_transitions`; ``.to_dict()`` is sequence.json.
    """
    from .transitions import detect_transitions as detect

    return detect(results, **options)


def sequence_of(results: Any) -> dict[str, Any]:
    """The ``sequence.json`` record of a results Dataset (see :func:`phasetrace.transitions.sequence_of`)."""
    from .transitions import sequence_of as of

    return of(results)


def write(results: Any, out: Any, *, config: Any = None) -> dict[str, Any]:
    """Write the results as one finished set (sequence.json, lattice.csv, results.nc, ...) into ``out``."""
    from .pipeline import write_outputs

    return write_outputs(results, out, config=config)


def open_results(path: Any) -> Any:
    """Load a ``results.nc`` (or its folder), refusing a set a run did not finish."""
    from pathlib import Path

    from .cli.plot import load_results

    path = Path(path)
    return load_results(path / "results.nc" if path.is_dir() else path)


def __getattr__(name: str) -> Any:
    if name == "plot":  # the subpackage is callable: phasetrace.plot(results, "contour", **options)
        import importlib

        return importlib.import_module(".plot", __name__)
    if name == "Config":
        from .config import Config

        return Config
    raise AttributeError(f"module 'phasetrace' has no attribute {name!r}")
