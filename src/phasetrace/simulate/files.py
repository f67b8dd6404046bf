"""Write a simulated experiment as files (the shared-case layout)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import OutputError
from .operando import OperandoSimulation

__all__ = ["write_case"]


def _header(sim: OperandoSimulation) -> str:
    at = sim.stack.attrs
    lines = [f"# wavelength_A = {at['wavelength_A']:.6f}"]
    if np.isfinite(at["wavelength2_A"]):
        lines += [f"# wavelength2_A = {at['wavelength2_A']:.6f}", f"# kalpha2_ratio = {at['kalpha2_ratio']:.3f}",
                  "# radiation = Cu Ka1+Ka2 (lab)"]
    lines += ["# SYNTHETIC pattern written by phasetrace.simulate (not measured)", "# x = 2theta_deg"]
    return "\n".join(lines)


def write_case(sim: OperandoSimulation, folder: str | Path, *, scans_dir: str = "scans") -> Path:
    """Write ``<scans_dir>/scan_NNNN.xye``, ``echem.csv``, ``scan_log.csv`` and ``truth.json``.

    Parameters
    ----------
    sim : OperandoSimulation
    folder : str or Path
        Output folder (created).
    scans_dir : str
        Sub-folder of the pattern files.

    Returns
    -------
    Path
        The folder.

    Notes
    -----
    Patterns are three columns, 2θ (deg, 3 decimals), counts (integer) and σ
    (1 decimal), to keep the files small.
    """
    out = Path(folder)
    try:
        (out / scans_dir).mkdir(parents=True, exist_ok=True)
        header = _header(sim)
        tt = sim.stack["two_theta"].values
        for i, name in enumerate(sim.stack["file"].values):
            y = sim.stack["intensity"].values[i]
            s = sim.stack["intensity_sigma"].values[i]
            body = "\n".join(f"{a:.3f} {int(b)} {c:.1f}" for a, b, c in zip(tt, y, s))
            (out / scans_dir / str(name)).write_text(header + "\n" + body + "\n")
        e = sim.echem
        rows = (f"{t:.1f},{v:.4f},{c:.3f},{q:.3f}" for t, v, c, q in
                zip(e["time_s"], e["voltage_V"], e["current_mA"], e["capacity_mAh_g"]))
        (out / "echem.csv").write_text("time_s,voltage_V,current_mA,capacity_mAh_g\n" + "\n".join(rows) + "\n")
        log = sim.scan_log
        rows = (f"{f},{a:.1f},{b:.1f}" for f, a, b in zip(log["file"], log["start_time_s"], log["end_time_s"]))
        (out / "scan_log.csv").write_text("file,start_time_s,end_time_s\n" + "\n".join(rows) + "\n")
        (out / "truth.json").write_text(json.dumps(sim.truth, indent=1, ensure_ascii=False) + "\n")
    except OSError as err:
        raise OutputError(f"{out}: cannot write the simulated case ({err}); choose a writable folder") from err
    return out
