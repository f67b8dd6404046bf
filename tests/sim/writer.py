"""Write a simulated case in the layout of ``../shared/cases/*``.

``patterns/scan_NNNN.xye`` (``# wavelength_A = …`` header, plus ``# wavelength2_A``
and ``# kalpha2_ratio`` lines for a Kα1/Kα2 source; columns 2θ, counts, σ),
``echem.csv`` (time_s, voltage_V, current_mA, capacity_mAh_g), ``scan_log.csv``
(file, start_time_s, end_time_s) and ``truth.json`` (name, wavelength_A,
published_sequence, stages, sequence, scans — the format of the shared cases;
fractions are volume fractions).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .crystal import Cell, cell_volume
from .operando import HEXAGONAL, SPACE_GROUP, Case, SimResult, volume_per_fu

__all__ = ["write_case", "truth_of", "stage_label"]


def stage_label(phases) -> str:
    """Phases of a stage joined as in the shared truth: sorted names, '/'."""
    return "/".join(sorted(phases))


def _phase_entry(name: str, frac: float, cell: Cell) -> dict:
    conv = [round(v, 5) for v in cell.as_list()]
    b = cell.a if name in HEXAGONAL else cell.b
    return {"fraction": frac, "a": cell.a, "b": b, "c": cell.c, "volume": cell_volume(cell),
            "volume_per_fu": volume_per_fu(name, cell), "space_group": SPACE_GROUP[name],
            "conventional": conv}


def truth_of(case: Case, sim: SimResult) -> dict:
    """truth.json content of a simulated case."""
    stages = []
    for i, st in enumerate(case.stages):
        scans = [s for s, k in enumerate(sim.stage_of_scan) if k == i]
        stages.append({"phases": stage_label(st), "first_scan": scans[0], "last_scan": scans[-1],
                       "voltage_first": float(sim.voltage[scans[0]]),
                       "voltage_last": float(sim.voltage[scans[-1]])})
    scans = []
    for s in range(sim.counts.shape[0]):
        ph = {p: _phase_entry(p, float(f), sim.cells[s][p]) for p, f in sorted(sim.fractions[s].items())}
        scans.append({"scan": s, "voltage": float(sim.voltage[s]), "phases": ph,
                      "stage": stage_label(ph), "transitional": sim.stage_of_scan[s] < 0})
    out = {"name": case.name, "wavelength_A": case.instrument.wavelength,
           "published_sequence": case.published, "stages": stages,
           "sequence": " → ".join(s["phases"] for s in stages), "scans": scans}
    if case.cell_components:
        out["cell_components"] = sorted(case.cell_components)
    return out


def write_case(case: Case, sim: SimResult, folder: Path) -> Path:
    """Write the case folder (created; existing files replaced); returns it."""
    folder = Path(folder)
    pat = folder / "patterns"
    pat.mkdir(parents=True, exist_ok=True)
    inst = case.instrument
    head = [f"# wavelength_A = {inst.wavelength}"]
    if math.isfinite(inst.wavelength2) and inst.kalpha2_ratio > 0:
        head += [f"# wavelength2_A = {inst.wavelength2}", f"# kalpha2_ratio = {inst.kalpha2_ratio}"]
    head.append("# x = 2theta_deg")
    names = []
    for s, y in enumerate(sim.counts):
        name = f"scan_{s:04d}.xye"
        names.append(name)
        rows = np.column_stack([sim.two_theta, y, np.sqrt(np.maximum(y, 1.0))])
        body = "\n".join(f"{a:.4f} {b:.1f} {c:.2f}" for a, b, c in rows)
        (pat / name).write_text("\n".join(head) + "\n" + body + "\n", encoding="utf-8")
    e = sim.echem
    lines = ["time_s,voltage_V,current_mA,capacity_mAh_g"] + [
        f"{t:.1f},{v:.4f},{i:.3f},{q:.3f}" for t, v, i, q in e]
    (folder / "echem.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    log = ["file,start_time_s,end_time_s"] + [f"{n},{a:.1f},{b:.1f}" for n, (a, b) in zip(names, sim.times)]
    (folder / "scan_log.csv").write_text("\n".join(log) + "\n", encoding="utf-8")
    (folder / "truth.json").write_text(json.dumps(truth_of(case, sim), indent=1, ensure_ascii=False),
                                       encoding="utf-8")
    return folder
