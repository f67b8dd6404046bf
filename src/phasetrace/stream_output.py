"""Final step of the chunked analysis: join the chunks, align, detect transitions, write.

Used by :func:`phasetrace.stream.analyse_chunked`; the files written are those of
:func:`phasetrace.pipeline.write_outputs` (CONTRACT.md).  ``results.nc`` holds
every per-scan result and, instead of all the patterns, an intensity map of at
most ``max_map_scans`` scans on its own dimension ``map_scan``
(``map_intensity``, ``map_background``, ``map_calc``); the figures and the
report are drawn from that decimated view.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from . import __version__
from .config import Config
from .output import (file_sha256, json_default, prepare_out_dir, write_json_atomic, write_netcdf_atomic,
                     write_text_atomic)
from .schema import LATTICE_CSV_COLUMNS, PHASE, SCAN, TWO_THETA, make_stack

logger = logging.getLogger(__name__)

__all__ = ["finish", "join_chunks", "lattice_frame", "map_view"]

#: lattice.csv columns after LATTICE_CSV_COLUMNS, as in phasetrace.lattice.lattice_table.
_EXTRA = ("esd_alpha", "esd_beta", "esd_gamma", "esd_volume_per_fu", "interlayer_d",
          "esd_interlayer_d", "volume_strain", "score", "volume_fraction", "esd_fraction",
          "esd_volume_fraction")
_READER_COORDS = ("file", "time_s", "time_start_s", "time_end_s", "temperature_K",
                  "datetime_start", "datetime_end")
#: above this many input files provenance keeps one digest of all file digests.
_MAX_HASHED_FILES = 1000


def join_chunks(paths: list[Path]) -> xr.Dataset:
    """Concatenate chunk files (in scan order) into one per-scan results Dataset.

    Variables on ``scan`` are joined along ``scan``, the ``map_*`` patterns along
    ``map_scan``.
    """
    from .stream import load_chunk

    tables, maps = [], []
    for path in paths:
        ds = load_chunk(path)
        map_vars = [v for v in ds.data_vars if "map_scan" in ds[v].dims]
        maps.append(ds[map_vars])
        tables.append(ds.drop_vars(map_vars).drop_dims(["map_scan", TWO_THETA], errors="ignore"))
    table = xr.concat(tables, dim=SCAN, data_vars="minimal", coords="minimal", compat="override")
    joined = xr.concat(maps, dim="map_scan", data_vars="minimal", coords="minimal", compat="override")
    out = xr.merge([table, joined], compat="override", combine_attrs="override")
    out.attrs = {k: v for k, v in tables[0].attrs.items() if not k.startswith("chunk_")}
    return out


def _align(results: xr.Dataset, inputs: Any, two_theta: np.ndarray, wavelength: tuple) -> xr.Dataset:
    """Electrochemistry for every scan, computed on a light skeleton stack (5 points per scan)."""
    from .echem import align, read_echem
    from .pipeline import attach_echem_record

    echem = read_echem(inputs.echem) if inputs.echem else None
    if echem is None and not inputs.scan_log and not inputs.temperature_log:
        return results
    n = results.sizes[SCAN]
    coords = {c: results[c].values for c in _READER_COORDS if c in results.coords}
    skeleton = make_stack(two_theta[:5], np.zeros((n, 5)), np.ones((n, 5)), wavelength_A=wavelength[0],
                          coords=coords)
    aligned = align(skeleton, echem, scan_log=inputs.scan_log or None, outside=inputs.echem_outside,
                    temperature_log=inputs.temperature_log or None)
    new = {c: (SCAN, aligned[c].values, aligned[c].attrs) for c in aligned.coords
           if aligned[c].dims == (SCAN,) and c != SCAN}
    results = results.assign_coords(new)
    results.attrs.update({k: v for k, v in aligned.attrs.items() if k.startswith(("echem", "align"))})
    return attach_echem_record(results, echem) if echem is not None else results


def lattice_frame(results: xr.Dataset) -> Any:
    """The ``lattice.csv`` table, as :func:`phasetrace.lattice.lattice_table` but vectorised.

    Returns
    -------
    pandas.DataFrame
        One row per (scan, phase present), scan-major, same columns and order.
    """
    import pandas as pd

    s, j = np.nonzero(results["present"].values)
    data: dict[str, Any] = {"scan": results[SCAN].values[s].astype(int),
                            "phase": results[PHASE].values[j].astype(str)}
    for col in LATTICE_CSV_COLUMNS[2:] + _EXTRA:
        data[col] = (results[col].values[s, j].astype(float) if col in results
                     else np.full(s.size, np.nan))
    if "fit_status" in results:   # names of phasetrace.refine.RefineStatus
        from .refine import STATUS_MEANINGS

        names = np.array(STATUS_MEANINGS.split() + ["absent"])
        data["fit_status"] = names[results["fit_status"].values[s, j].astype(int)]
    data["is_cell_component"] = results["is_cell_component"].values[j].astype(bool)
    for c in ("zero_shift", "displacement", "rwp"):
        if c in results:
            data[c] = results[c].values[s].astype(float)
    from .lattice.output import known_scan_coords

    for c in known_scan_coords(results):
        data[c] = results[c].values[s]
    return pd.DataFrame(data)


def map_view(results: xr.Dataset) -> xr.Dataset:
    """Results restricted to the map scans, with the patterns back on (scan, two_theta).

    This is what the figures and the HTML report are drawn from.
    """
    keep = results["map_scan"].values
    per_scan = [v for v in results.data_vars if SCAN in results[v].dims]
    others = [v for v in results.data_vars if SCAN not in results[v].dims and "map_scan" not in results[v].dims]
    view = results[per_scan + others].sel({SCAN: keep})
    for name in ("intensity", "background", "calc"):
        if f"map_{name}" in results:
            values = results[f"map_{name}"].values.astype(float)
            view[name] = ((SCAN, TWO_THETA), values)
    return view.assign_coords({TWO_THETA: results[TWO_THETA].values})


def _provenance(inputs: Any, source: Any, config: Config) -> dict[str, Any]:
    paths = [Path(p) for p in source.paths] if source.kind == "files" else [Path(source.paths[0])]
    hashes: dict[str, str] = {}
    if len(paths) <= _MAX_HASHED_FILES:
        hashes = {p.name: file_sha256(p) for p in paths}
    else:
        tree = hashlib.sha256()
        for p in paths:
            tree.update(f"{p.name}:{file_sha256(p)}\n".encode())
        hashes = {f"{len(paths)} files (sha256 of 'name:sha256' lines)": tree.hexdigest()}
    for extra in (inputs.echem, inputs.scan_log):
        if extra:
            hashes[Path(extra).name] = file_sha256(extra)
    return {"program": "phasetrace", "version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "input": str(inputs.input),
            "echem": inputs.echem, "scan_log": inputs.scan_log, "wavelength_option": inputs.wavelength,
            "options": config.to_dict(), "input_sha256": hashes}


def finish(chunk_paths: list[Path], inputs: Any, out: Path, *, source: Any, config: Config,
           chunk_scans: int) -> tuple[xr.Dataset, dict[str, Path]]:
    """Join the chunks, align, detect transitions and write every output file.

    Returns
    -------
    results : xarray.Dataset
        As written to ``results.nc``.
    written : dict of str to Path
        Output files.
    """
    from .pipeline import with_minor_phases
    from .transitions import detect_transitions

    t0 = time.perf_counter()
    out = prepare_out_dir(out)
    results = _align(join_chunks(chunk_paths), inputs, source.two_theta, source.wavelength)
    tc = config.transitions
    transitions = detect_transitions(results, x=tc.x, min_fraction=tc.min_fraction, min_scans=tc.min_scans)
    results.attrs.update(
        sequence_json=json.dumps(with_minor_phases(transitions.to_dict(), results,
                                                   min_fraction=tc.min_fraction),
                                 ensure_ascii=False, default=json_default),
        options_json=json.dumps(config.to_dict(), ensure_ascii=False),
        provenance_json=json.dumps(_provenance(inputs, source, config), ensure_ascii=False,
                                   default=json_default),
        program=f"phasetrace {__version__}", chunked=1, chunk_scans=int(chunk_scans),
        wavelength_A=source.wavelength[0], wavelength2_A=source.wavelength[1],
        kalpha2_ratio=source.wavelength[2],
        map_note="map_* hold every k-th pattern (scans in map_scan); per-scan results cover all scans")
    written = _write(results, transitions, out, config)
    logger.info("joined %d chunks, transitions and outputs in %.1f s", len(chunk_paths),
                time.perf_counter() - t0)
    return results, written


def _write(results: xr.Dataset, transitions: Any, out: Path, config: Config) -> dict[str, Path]:
    from .report import tables

    written = {"sequence.json": write_json_atomic(out / "sequence.json", transitions.to_dict())}
    csv = lattice_frame(results).to_csv(index=False, float_format="%.6g")
    written["lattice.csv"] = write_text_atomic(out / "lattice.csv", csv)
    table = tables.sequence_table(transitions, material=config.output.material or None)
    written["sequence.csv"] = write_text_atomic(out / "sequence.csv", tables.to_csv(table))
    written["sequence.md"] = write_text_atomic(out / "sequence.md", tables.to_markdown(table))
    written["sequence.tex"] = write_text_atomic(out / "sequence.tex", tables.to_latex(table))
    written["results.nc"] = write_netcdf_atomic(_netcdf_ready(results), out / "results.nc")
    if not (config.output.figures or config.output.report):
        return written
    view = map_view(results)
    pngs = None
    if config.output.figures:
        from .plot import save_all

        paths = [Path(p) for p in save_all(view, out / "figures")]
        written.update({f"figures/{p.name}": p for p in paths})
        pngs = [p for p in paths if p.suffix == ".png"]
    if config.output.report:
        from .report import try_write_viewer, write_html

        written.update(try_write_viewer(view, out))  # interactive viewer.html beside the report
        written["report.html"] = write_html(view, out / "report.html", figures=pngs,
                                            viewer="viewer.html" in written)
    return written


def _netcdf_ready(results: xr.Dataset) -> xr.Dataset:
    ds = results.copy()
    for name in list(ds.variables):
        if ds[name].dtype == object:
            ds[name] = ds[name].astype(str)
    for key, value in list(ds.attrs.items()):
        if isinstance(value, (bool, np.bool_)):
            ds.attrs[key] = int(value)
        elif value is None:
            ds.attrs[key] = ""
        elif isinstance(value, (dict, list, tuple)):
            ds.attrs[key] = json.dumps(value, default=json_default)
    return ds
