"""Build a results Dataset (the results.nc layout) from a shared case folder.

The patterns, scan log and cycler record are read as they are; the phase part
(present, fraction, cells, volumes) comes from ``truth.json``, so figures can be
drawn and checked before the analysis pipeline exists.  ``background`` is a
rolling-minimum estimate and ``calc`` a smoothed copy of the data minus that
background (the pipeline's layout: the model pattern without background): they
stand in for the pipeline's fit, they are not one.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import xarray as xr
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import savgol_filter

from phasetrace.schema import make_stack

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
CASES = SHARED / "cases"
CASE_NAMES = ("lit_p2_o2", "t1_row04_p2p3_op4", "t1_row07_p2s_distort")

#: TMO2 slabs per conventional c of each layered phase (NaN: not layered along c).
SLABS = {"P2": 2, "O2": 2, "P3": 3, "O3": 3, "OP4": 4, "P'2": 2, "O1": 1}
FAMILY = {"P2": "P2", "P'2": "P2", "O2": "O2", "P3": "P3", "O3": "O3", "OP4": "OP4",
          "S": "spinel", "Al": "cell"}


def _cell_volume(a, b, c, al, be, ga):
    ca, cb, cg = (math.cos(math.radians(x)) for x in (al, be, ga))
    return a * b * c * math.sqrt(1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg)


def _read_patterns(folder: Path):
    files = sorted(folder.glob("*.xye"))
    header = files[0].read_text().splitlines()[0]
    wavelength = float(header.split("=")[1])
    arrays = [np.loadtxt(f, comments="#") for f in files]
    tt = arrays[0][:, 0]
    y = np.stack([a[:, 1] for a in arrays])
    s = np.stack([a[:, 2] for a in arrays])
    return files, wavelength, tt, y, s


def _scan_coords(case: Path, files) -> dict:
    log = np.genfromtxt(case / "scan_log.csv", delimiter=",", names=True, dtype=None, encoding="utf-8")
    echem = np.genfromtxt(case / "echem.csv", delimiter=",", names=True)
    t0, t1 = np.asarray(log["start_time_s"], float), np.asarray(log["end_time_s"], float)
    mid = 0.5 * (t0 + t1)
    current = np.interp(mid, echem["time_s"], echem["current_mA"])
    return {
        "file": np.array([f.name for f in files]),
        "time_s": mid, "time_start_s": t0, "time_end_s": t1,
        "voltage_V": np.interp(mid, echem["time_s"], echem["voltage_V"]),
        "capacity_mAh_g": np.interp(mid, echem["time_s"], echem["capacity_mAh_g"]),
        "current_mA": current,
        "cycle": np.ones(len(files), dtype=int),
        "direction": np.where(current > 0, "charge", "discharge"),
    }


def _phase_block(truth: dict, n: int, rng) -> tuple[list[str], dict[str, np.ndarray]]:
    labels = sorted({p for s in truth["scans"] for p in s["phases"]}) + ["Al"]
    shape = (n, len(labels))
    names = ("fraction", "a", "b", "c", "alpha", "beta", "gamma", "volume", "volume_per_fu",
             "esd_a", "esd_b", "esd_c", "esd_volume", "interlayer_d", "esd_interlayer_d",
             "volume_strain")
    out = {k: np.full(shape, np.nan) for k in names}
    out["present"] = np.zeros(shape, dtype=bool)
    for s in truth["scans"]:
        i = s["scan"]
        for label, p in s["phases"].items():
            j = labels.index(label)
            cell = p["conventional"]
            out["present"][i, j] = True
            out["fraction"][i, j] = p["fraction"]
            for k, v in zip(("a", "b", "c", "alpha", "beta", "gamma"), cell):
                out[k][i, j] = v
            out["volume"][i, j] = _cell_volume(*cell)
            out["volume_per_fu"][i, j] = p["volume_per_fu"]
            for k in ("a", "b", "c", "volume"):
                out[f"esd_{k}"][i, j] = abs(out[k][i, j]) * 2e-4 * (1 + rng.random())
            if label in SLABS:
                out["interlayer_d"][i, j] = cell[2] / SLABS[label]
                out["esd_interlayer_d"][i, j] = out["esd_c"][i, j] / SLABS[label]
    j = labels.index("Al")
    out["present"][:, j] = True
    for k, v in zip(("a", "b", "c", "alpha", "beta", "gamma"), (4.0495,) * 3 + (90.0,) * 3):
        out[k][:, j] = v
    for j in range(len(labels)):
        v = out["volume_per_fu"][:, j]
        first = np.flatnonzero(np.isfinite(v))
        if first.size:
            out["volume_strain"][:, j] = v / v[first[0]] - 1.0
    return labels, out


def _sequence(truth: dict, voltage: np.ndarray) -> dict:
    stages, transitions = [], []
    for k, st in enumerate(truth["stages"]):
        phases = st["phases"].split("/")
        stages.append({"phases": phases, "first_scan": st["first_scan"], "last_scan": st["last_scan"],
                       "voltage_start": float(voltage[st["first_scan"]]),
                       "voltage_end": float(voltage[st["last_scan"]])})
        if k:
            prev = stages[k - 1]
            a, b = prev["last_scan"] + 1, st["first_scan"] - 1
            transitions.append({"from": prev["phases"], "to": phases, "first_scan": a, "last_scan": b,
                                "kind": "two-phase", "voltage_start": float(voltage[a]),
                                "voltage_end": float(voltage[b])})
    text = " → ".join("/".join(s["phases"]) for s in stages)
    return {"sequence": text, "stages": stages, "transitions": transitions, "cell_components": ["Al"]}


def build_results(case: Path, *, seed: int = 0) -> xr.Dataset:
    """Results Dataset of one shared case (see module docstring)."""
    rng = np.random.default_rng(seed)
    truth = json.loads((case / "truth.json").read_text())
    files, wavelength, tt, y, s = _read_patterns(case / "patterns")
    coords = _scan_coords(case, files)
    ds = make_stack(tt, y, s, wavelength_A=wavelength, coords=coords, source_format="xye")
    bg = uniform_filter1d(minimum_filter1d(y, 61, axis=1), 61, axis=1)
    calc = savgol_filter(y, 9, 3, axis=1) - bg
    ds["background"] = (("scan", "two_theta"), bg, {"units": "counts"})
    ds["calc"] = (("scan", "two_theta"), calc, {"units": "counts"})
    labels, block = _phase_block(truth, y.shape[0], rng)
    for name, values in block.items():
        ds[name] = (("scan", "phase"), values)
    ds = ds.assign_coords(
        phase=("phase", np.array(labels)),
        phase_family=("phase", np.array([FAMILY.get(p, p) for p in labels])),
        is_cell_component=("phase", np.array([p == "Al" for p in labels])),
        phase_parent=("phase", np.array(["P2" if p == "P'2" else "" for p in labels])),
    )
    ds["zero_shift"] = ("scan", np.zeros(y.shape[0]))
    echem = np.genfromtxt(case / "echem.csv", delimiter=",", names=True)
    for name in ("time_s", "voltage_V", "current_mA", "capacity_mAh_g"):
        ds["echem_" + name] = ("echem_record", np.asarray(echem[name], float))
    hashes = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files[:5]}
    ds.attrs["sequence_json"] = json.dumps(_sequence(truth, coords["voltage_V"]), ensure_ascii=False)
    ds.attrs["provenance_json"] = json.dumps({"version": "0.1.0", "inputs": hashes,
                                              "options": {"phases": "auto"}})
    ds.attrs["options_json"] = json.dumps({"phases": "auto", "background": "snip"})
    return ds


def minimal_results(ds: xr.Dataset) -> xr.Dataset:
    """The same run with nothing identified: patterns and scan coords only."""
    keep = [v for v in ("intensity", "intensity_sigma") if v in ds]  # no echem record either
    out = ds[keep].drop_vars([c for c in ds.coords if "phase" in ds[c].dims or c == "phase"],
                             errors="ignore")
    out.attrs = {"wavelength_A": ds.attrs["wavelength_A"]}
    return out


def pixels(fig, dpi: int = 60):
    """RGB pixels of a figure drawn with Agg, shape (h, w, 3), values 0–255."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(dpi)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].astype(float)
