"""``phasetrace info INPUT``: summarise an input stack without analysing it.

Prints the number of scans and files, the 2θ range and step, the wavelength(s)
and where they came from, the time span and temperature range given by the
headers, and, with ``--echem``, how the scans line up with the cycler record.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import PhasetraceError

if TYPE_CHECKING:  # numpy/xarray are imported when the command runs (Ctrl-C is caught from the start)
    import numpy as np
    import xarray as xr

__all__ = ["add_parser", "run", "summarize_stack"]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``info`` subcommand to ``subparsers`` (``func=run``)."""
    p = subparsers.add_parser(
        "info", help="summarise an input stack (scans, 2θ range, wavelength, times, echem coverage)",
        description="Read INPUT (folder, file, glob) and print what phasetrace sees in it.")
    p.add_argument("input", metavar="INPUT", nargs="+",
                   help="folder of patterns, a (multi-scan) file, a glob, or several files (shell-expanded)")
    p.add_argument("--wavelength", default=None, metavar="Å",
                   help="wavelength in Å or CuKa/CuKa1/MoKa/AgKa (overrides headers)")
    p.add_argument("--format", default=None, help="reader name (default: from the file extensions)")
    p.add_argument("--echem", default=None, metavar="FILE", help="cycler file, to report echem coverage")
    p.add_argument("--scan-log", default=None, metavar="FILE", help="CSV file,start_time_s,end_time_s")
    p.set_defaults(func=run)
    return p


def _step_text(tt: np.ndarray) -> str:
    import numpy as np

    d = np.diff(tt)
    if d.size == 0:
        return ""
    lo, hi, med = float(d.min()), float(d.max()), float(np.median(d))
    if hi - lo <= 1e-3 * med:
        return f"step {med:.5g}°"
    return f"step {med:.5g}° (non-uniform {lo:.4g}–{hi:.4g}°)"


def _wavelength_text(ds: xr.Dataset) -> str:
    l1 = ds.attrs.get("wavelength_A", math.nan)
    if not math.isfinite(l1):
        return "none in the headers: pass --wavelength (Å, or CuKa/MoKa/AgKa) before analysing"
    text = f"{l1:.6g} Å"
    l2 = ds.attrs.get("wavelength2_A", math.nan)
    if math.isfinite(l2):
        text += f" (Kα2 {l2:.6g} Å, I2/I1 {ds.attrs.get('kalpha2_ratio', 0.0):.3g})"
    return f"{text} [from {ds.attrs.get('wavelength_source', 'header')}]"


def _time_text(ds: xr.Dataset) -> str:
    import numpy as np

    if "datetime_start" in ds.coords:
        texts = [t for t in ds["datetime_start"].values.astype(str) if t.strip()]
        if texts:
            try:
                times = sorted(datetime.fromisoformat(t) for t in texts)
                span_h = (times[-1] - times[0]).total_seconds() / 3600.0
            except (TypeError, ValueError):
                return f"{texts[0]} → {texts[-1]} ({len(texts)} of {ds.sizes['scan']} scans timestamped)"
            return (f"{times[0].isoformat()} → {times[-1].isoformat()} ({span_h:.3g} h between first and "
                    f"last start; {len(texts)} of {ds.sizes['scan']} scans timestamped)")
    if "time_s" in ds.coords and np.any(np.isfinite(ds["time_s"].values)):
        t = ds["time_s"].values
        return f"{np.nanmin(t):.6g}–{np.nanmax(t):.6g} s"
    return "not in the headers (use --scan-log, or scans are spread over the echem record)"


def _temperature_text(ds: xr.Dataset) -> str:
    import numpy as np

    if "temperature_K" not in ds.coords or not np.any(np.isfinite(ds["temperature_K"].values)):
        return "not in the headers"
    t = ds["temperature_K"].values
    n = int(np.isfinite(t).sum())
    return f"{np.nanmin(t):.5g}–{np.nanmax(t):.5g} K ({n} scans)"


def summarize_stack(ds: xr.Dataset) -> list[str]:
    """Lines describing a stack: scans, files, 2θ grid, wavelength, times, temperatures.

    Parameters
    ----------
    ds : xarray.Dataset
        Stack from :func:`phasetrace.io.read_stack`.

    Returns
    -------
    list of str
        One ``label: value`` line each.
    """
    import numpy as np

    tt = ds["two_theta"].values
    files = list(dict.fromkeys(ds["file"].values.astype(str))) if "file" in ds.coords else []
    y = ds["intensity"].values
    lines = [
        f"scans:        {ds.sizes['scan']} from {len(files)} file(s)"
        + (f" ({files[0]} … {files[-1]})" if len(files) > 1 else (f" ({files[0]})" if files else "")),
        f"format:       {ds.attrs.get('source_format', '')}",
        f"2θ range:     {tt[0]:.5g}–{tt[-1]:.5g}° ({tt.size} points, {_step_text(tt)})",
        f"wavelength:   {_wavelength_text(ds)}",
        f"intensity:    {np.min(y):.5g} to {np.max(y):.5g} (max in scan {int(np.argmax(np.max(y, axis=1)))})",
        f"time span:    {_time_text(ds)}",
        f"temperature:  {_temperature_text(ds)}",
    ]
    if ds.attrs.get("radiation"):
        lines.insert(4, f"radiation:    {ds.attrs['radiation']}")
    return lines


def _echem_lines(ds: xr.Dataset, echem: str | None, scan_log: str | None) -> list[str]:
    import numpy as np

    try:
        from ..echem import align, read_echem
    except ImportError as err:
        return [f"echem:        not available in this build ({err})"]
    record = read_echem(echem) if echem else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        aligned = align(ds, record, scan_log=scan_log, outside="nan")
    lines = []
    if record is not None:
        t = record["time_s"].values
        v = record["voltage_V"].values
        lines.append(f"echem:        {t.size} records over {(t[-1] - t[0]) / 3600.0:.4g} h, "
                     f"{np.nanmin(v):.4g}–{np.nanmax(v):.4g} V")
    lines.append(f"scan times:   {aligned.attrs.get('time_source', '')}")
    if record is not None and "voltage_V" in aligned.coords:
        volt = aligned["voltage_V"].values
        ok = np.isfinite(volt)
        span = f", {np.nanmin(volt):.4g}–{np.nanmax(volt):.4g} V" if ok.any() else ""
        lines.append(f"coverage:     {int(ok.sum())} of {volt.size} scans inside the echem record{span}")
    lines += [f"note:         {w.message}" for w in caught]
    return lines


def run(args: argparse.Namespace) -> int:
    """Run ``phasetrace info``; return the exit status (0)."""
    from ..io import read_stack

    inputs = [args.input] if isinstance(args.input, str) else list(args.input)
    source = inputs[0] if len(inputs) == 1 else inputs
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = read_stack(source, format=args.format, wavelength=args.wavelength, require_wavelength=False)
    lines = [f"input:        {' '.join(inputs) if len(inputs) < 4 else f'{len(inputs)} paths'}"]
    lines += summarize_stack(ds)
    lines += [f"note:         {w.message}" for w in caught]
    if args.echem or args.scan_log:
        try:
            lines += _echem_lines(ds, args.echem, args.scan_log)
        except PhasetraceError:
            raise
        except (KeyError, AttributeError, TypeError, ValueError) as err:
            lines.append(f"echem:        could not summarise ({type(err).__name__}: {err})")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
