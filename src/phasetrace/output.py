"""Writing results: atomic files, provenance and the contract outputs.

Every file is first written under a temporary name in the destination folder
and then renamed (``os.replace``), so a crash never leaves a half-written file
that looks complete, and re-running into the same folder replaces results
cleanly.  Nothing outside the output folder is touched.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .errors import OutputError

logger = logging.getLogger(__name__)

_UMASK = os.umask(0o022)
os.umask(_UMASK)

__all__ = ["atomic_path", "write_text_atomic", "write_json_atomic", "write_netcdf_atomic",
           "prepare_out_dir", "file_sha256", "json_default", "write_outputs", "lattice_frame",
           "lattice_variables", "write_lattice_csv", "map_view", "netcdf_ready"]


def prepare_out_dir(out: str | Path) -> Path:
    """Create the output folder (and parents); check it is writable.

    Raises
    ------
    OutputError
        If the folder cannot be created or written to.
    """
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".phasetrace-probe-"):
            pass
    except OSError as err:
        raise OutputError(f"{out}: output folder is not writable ({err.strerror or err}); "
                          "choose another --out") from err
    return out


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left as it was.
    A full disk (ENOSPC) becomes an :class:`OutputError` naming the file.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are ordinary files
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if err.errno == errno.ENOSPC:
            raise OutputError(f"{path}: disk full while writing; free space and re-run "
                              "(no partial result was left)") from err
        raise OutputError(f"{path}: cannot write ({err.strerror or err})") from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write UTF-8 text atomically; return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def json_default(obj: Any) -> Any:
    """JSON encoder hook for numpy scalars/arrays and paths."""
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        value = float(obj)
        return None if not np.isfinite(value) else value
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _clean_nan(obj: Any) -> Any:
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean_nan(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean_nan(v) for v in obj]
    return obj


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write JSON (UTF-8, non-ASCII kept, NaN → null) atomically."""
    text = json.dumps(_clean_nan(data), indent=1, ensure_ascii=False, default=json_default)
    return write_text_atomic(path, text + "\n")


def write_netcdf_atomic(ds: xr.Dataset, path: str | Path) -> Path:
    """Write a Dataset to netCDF-4 (h5netcdf engine) atomically.

    Variables read lazily from a chunked run's files are written a region of scans at
    a time (:func:`phasetrace.chunkset.write_netcdf_regions`).
    """
    from .chunkset import write_netcdf_regions

    with atomic_path(path) as tmp:
        write_netcdf_regions(ds, tmp)
    return Path(path)


def file_sha256(path: str | Path, *, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file (read-only)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------
# the one writer of a run's files
# ----------------------------------------------------------------------------------------
#: lattice.csv columns after schema.LATTICE_CSV_COLUMNS (as phasetrace.lattice.lattice_table).
_EXTRA_COLUMNS = ("esd_alpha", "esd_beta", "esd_gamma", "esd_volume_per_fu", "interlayer_d",
                  "esd_interlayer_d", "volume_strain", "score", "volume_fraction", "esd_fraction",
                  "esd_volume_fraction")


def lattice_frame(results: xr.Dataset, *, scan_coords: list[str] | None = None) -> Any:
    """The ``lattice.csv`` table: one row per (scan, phase present), scan-major.

    Same columns and order as :func:`phasetrace.lattice.lattice_table`, vectorised
    (10⁵ scans in well under a second).  ``scan_coords``: the scan coordinates to
    add (default :func:`phasetrace.lattice.output.known_scan_coords` of ``results``;
    given when ``results`` is one slice of a run's scans).
    """
    import pandas as pd

    from .lattice.output import known_scan_coords
    from .schema import LATTICE_CSV_COLUMNS, PHASE, SCAN

    s, j = np.nonzero(results["present"].values)
    data: dict[str, Any] = {"scan": results[SCAN].values[s].astype(int),
                            "phase": results[PHASE].values[j].astype(str)}
    for col in LATTICE_CSV_COLUMNS[2:] + _EXTRA_COLUMNS:
        data[col] = (results[col].values[s, j].astype(float) if col in results
                     else np.full(s.size, np.nan))
    if "fit_status" in results:   # names of phasetrace.refine.RefineStatus
        from .refine import STATUS_MEANINGS

        names = np.array(STATUS_MEANINGS.split() + ["absent"])
        codes = results["fit_status"].values[s, j].astype(int)
        data["fit_status"] = names[np.where((codes >= 0) & (codes < len(names) - 1), codes, len(names) - 1)]
    data["is_cell_component"] = results["is_cell_component"].values[j].astype(bool)
    for c in ("zero_shift", "displacement", "rwp"):
        if c in results:
            data[c] = results[c].values[s].astype(float)
    for c in known_scan_coords(results) if scan_coords is None else scan_coords:
        data[c] = results[c].values[s]
    return pd.DataFrame(data)


def lattice_variables(results: xr.Dataset) -> list[str]:
    """The data variables :func:`lattice_frame` reads."""
    from .schema import LATTICE_CSV_COLUMNS

    names = ("present", *LATTICE_CSV_COLUMNS[2:], *_EXTRA_COLUMNS, "fit_status", "is_cell_component",
             "zero_shift", "displacement", "rwp")
    return [v for v in dict.fromkeys(names) if v in results.data_vars]


def write_lattice_csv(results: xr.Dataset, path: str | Path, *, run_id: str) -> Path:
    """Write ``lattice.csv`` atomically, a slice of scans at a time (rows as one table would give)."""
    from .chunkset import region_frames
    from .lattice.output import known_scan_coords

    coords = known_scan_coords(results)  # columns decided on all scans, not per slice
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        for k, part in enumerate(region_frames(results, lattice_variables(results))):
            frame = lattice_frame(part, scan_coords=coords)
            frame["run_id"] = run_id
            frame.to_csv(fh, header=k == 0, index=False, float_format="%.6g", lineterminator="\n")
    return Path(path)


def map_view(results: xr.Dataset) -> xr.Dataset:
    """Results of a long run restricted to the scans whose patterns were kept (``map_scan``).

    The patterns come back on (scan, two_theta) — what the figures and the HTML
    report are drawn from.  Results holding every pattern are returned as they are.
    """
    from .schema import SCAN, TWO_THETA

    if "map_scan" not in results.dims:
        return results
    keep = results["map_scan"].values
    per_scan = [v for v in results.data_vars if SCAN in results[v].dims]
    others = [v for v in results.data_vars
              if SCAN not in results[v].dims and "map_scan" not in results[v].dims]
    view = results[per_scan + others].sel({SCAN: keep})
    for name in ("intensity", "intensity_sigma", "background", "calc", "calc_background"):
        if f"map_{name}" in results:
            view[name] = ((SCAN, TWO_THETA), results[f"map_{name}"].values.astype(float))
    view.attrs = dict(results.attrs)
    return view.assign_coords({TWO_THETA: results[TWO_THETA].values})


def netcdf_ready(results: xr.Dataset) -> xr.Dataset:
    """Make every variable and attribute netCDF-serialisable (object/str → fixed unicode)."""
    import math

    ds = results.copy()
    for name in list(ds.variables):
        if ds[name].dtype == object:
            ds[name] = ds[name].astype(str)
    for key, value in list(ds.attrs.items()):
        if isinstance(value, (bool, np.bool_)):
            ds.attrs[key] = int(value)
        elif value is None or (isinstance(value, float) and math.isnan(value)):
            ds.attrs[key] = "nan" if value is not None else ""
        elif isinstance(value, (dict, list, tuple)):
            ds.attrs[key] = json.dumps(value, default=json_default)
    return ds


def write_outputs(results: xr.Dataset, out_dir: str | Path, *, config: Any = None,
                  run_id: str = "") -> dict[str, Path]:
    """Write every file of a run into ``out_dir``; each carries ``run_id``.

    Files: ``sequence.json``, ``lattice.csv``, ``sequence.csv``/``.md``/``.tex``,
    ``results.nc``, ``figures/*`` and ``report.html`` (per ``config.output``).  Each
    is written atomically; other files in ``out_dir`` are untouched.  The caller
    writes the done-marker (:func:`phasetrace.resultset.mark_done`) afterwards.
    """
    from .chunkset import is_lazy, local_compute
    from .config import Config
    from .report import tables
    from .transitions import sequence_of

    config = config or Config()
    out = prepare_out_dir(out_dir)
    results = results.copy()
    results.attrs["run_id"] = run_id
    sequence = {**sequence_of(results), "run_id": run_id}
    written = {"sequence.json": write_json_atomic(out / "sequence.json", sequence)}
    written["lattice.csv"] = write_lattice_csv(results, out / "lattice.csv", run_id=run_id)
    table = tables.sequence_table(sequence, material=config.output.material or None)
    written["sequence.md"] = write_text_atomic(
        out / "sequence.md", tables.to_markdown(table).rstrip("\n") + f"\n\n<!-- run_id: {run_id} -->\n")
    written["sequence.tex"] = write_text_atomic(
        out / "sequence.tex", tables.to_latex(table).rstrip("\n") + f"\n% run_id: {run_id}\n")
    table = table.assign(run_id=run_id)
    written["sequence.csv"] = write_text_atomic(out / "sequence.csv", tables.to_csv(table))
    from .transitions.evolution import EVOLUTION_KEY, evolution_table

    evolution = evolution_table(sequence.get(EVOLUTION_KEY, []))
    written["evolution.csv"] = write_text_atomic(out / "evolution.csv",
                                                 tables.to_csv(evolution.assign(run_id=run_id)))
    written["evolution.md"] = write_text_atomic(
        out / "evolution.md", tables.to_markdown(evolution).rstrip("\n") + f"\n\n<!-- run_id: {run_id} -->\n")
    written["evolution.tex"] = write_text_atomic(
        out / "evolution.tex", tables.to_latex(evolution).rstrip("\n") + f"\n% run_id: {run_id}\n")
    written["results.nc"] = write_netcdf_atomic(netcdf_ready(results), out / "results.nc")
    view = map_view(results)  # at most max_map_scans scans: held in memory for the figures
    if any(is_lazy(view[v]) for v in view.data_vars):
        with local_compute():
            view = view.compute()
    pngs: list[Path] | None = None
    if config.output.figures:
        from .plot import save_all

        paths = [Path(p) for p in save_all(view, out / "figures")]
        for path in paths:
            if path.suffix == ".png":
                _stamp_png(path, run_id)
            written[f"figures/{path.name}"] = path
        pngs = [p for p in paths if p.suffix == ".png"]
    if config.output.report:
        from .report import try_write_viewer, write_html

        viewer = try_write_viewer(view, out)  # interactive viewer.html beside the report
        for name, path in viewer.items():
            written[name] = _stamp_html(path, run_id)
        path = write_html(view, out / "report.html", figures=pngs, viewer="viewer.html" in written)
        written["report.html"] = _stamp_html(path, run_id)
    return written


def _stamp_html(path: str | Path, run_id: str) -> Path:
    """Add a ``phasetrace-run-id`` meta tag to an HTML file (rewritten atomically)."""
    html = Path(path).read_text(encoding="utf-8")
    meta = f'<meta name="phasetrace-run-id" content="{run_id}">'
    html = html.replace("<head>", "<head>\n" + meta, 1) if "<head>" in html else meta + "\n" + html
    return write_text_atomic(path, html)


def _stamp_png(path: Path, run_id: str) -> None:
    """Add a ``phasetrace-run-id`` text chunk to a PNG (rewritten atomically)."""
    from PIL import Image, PngImagePlugin

    with Image.open(path) as img:
        img.load()
        info = PngImagePlugin.PngInfo()
        for key, value in img.text.items() if hasattr(img, "text") else []:
            info.add_text(key, str(value))
        info.add_text("phasetrace-run-id", run_id)
        dpi = img.info.get("dpi")
        with atomic_path(path) as tmp:
            img.save(tmp, format="PNG", pnginfo=info, **({"dpi": dpi} if dpi else {}))
