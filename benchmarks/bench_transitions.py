"""Transition-detection benchmark: the stage that reads the joined per-scan summary.

Builds, without any pattern fitting, the per-(scan, phase) Dataset that
:func:`phasetrace.transitions.detect_transitions` reads at the end of a run of the
``bench_scale.py`` stack: a sodium layered oxide going P2/P3 → OP4 → P2/P3 on each
charge/discharge cycle of ``--cycle-scans`` scans (fraction knots and cells as in
``bench_scale.scenario``), repeated to ``--scans`` scans, with Gaussian noise of
``--noise`` (0.01) on every fraction, a phase absent (``present`` False, fraction
NaN) where its noisy fraction is below 0.01, Al as a cell component in every scan,
and cells with 2e-4 Å noise.  Then it times, in this process, CPU (``time.process_time``)
and wall: ``detect_transitions`` (the pipeline's call, default options),
``minor_phases`` and ``phase_evolution``.

``--dump FILE`` writes the sequence.json dict (``to_dict()``, floats as ``repr``) and the
raw segmentation (spans and ramp fits) so two versions of the code can be compared exactly.

Usage::

    python benchmarks/bench_transitions.py --scans 1000 10000 100000 [--dump out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import xarray as xr


def _interp(knots: tuple, x: np.ndarray) -> np.ndarray:
    k = np.asarray(knots, dtype=float)
    return np.interp(x, k[:, 0], k[:, 1])


def stack_summary(n_scans: int, *, cycle_scans: int = 200, noise: float = 0.01, seed: int = 0) -> xr.Dataset:
    """Per-(scan, phase) phases Dataset of ``n_scans`` scans (see the module docstring)."""
    rng = np.random.default_rng(seed)
    pos = np.arange(n_scans) % cycle_scans
    half = cycle_scans // 2
    charging = pos < half
    soc = np.where(charging, pos / half, 1.0 - (pos - half) / half)
    ch = {"P2": ((0.0, 0.4), (0.70, 0.4), (0.80, 0.0), (1.0, 0.0)),
          "P3": ((0.0, 0.6), (0.70, 0.6), (0.80, 0.0), (1.0, 0.0)),
          "OP4": ((0.0, 0.0), (0.70, 0.0), (0.80, 1.0), (1.0, 1.0))}
    dis = {"P2": ((0.0, 0.4), (0.65, 0.4), (0.75, 0.0), (1.0, 0.0)),
           "P3": ((0.0, 0.6), (0.65, 0.6), (0.75, 0.0), (1.0, 0.0)),
           "OP4": ((0.0, 0.0), (0.65, 0.0), (0.75, 1.0), (1.0, 1.0))}
    cells = {"P2": (((0.0, 2.880), (0.70, 2.854)), ((0.0, 11.14), (0.70, 11.27))),
             "P3": (((0.0, 2.905), (0.70, 2.866)), ((0.0, 16.56), (0.70, 16.89))),
             "OP4": (((0.0, 2.838), (1.0, 2.838)), ((0.0, 20.27), (1.0, 20.27))),
             "Al": (((0.0, 4.0495), (1.0, 4.0495)), ((0.0, 4.0495), (1.0, 4.0495)))}
    labels = ["P2", "P3", "OP4", "Al"]
    frac = np.column_stack([np.where(charging, _interp(ch[p], soc), _interp(dis[p], soc)) for p in labels[:3]])
    frac = frac + noise * rng.standard_normal(frac.shape)
    present3 = frac >= 0.01
    frac = np.where(present3, frac, np.nan)
    frac = frac / np.nansum(frac, axis=1, keepdims=True)
    present = np.column_stack([present3, np.ones(n_scans, bool)])
    fraction = np.column_stack([frac, np.full(n_scans, np.nan)])
    a = np.column_stack([_interp(cells[p][0], soc) for p in labels]) + 2e-4 * rng.standard_normal((n_scans, 4))
    c = np.column_stack([_interp(cells[p][1], soc) for p in labels]) + 2e-4 * rng.standard_normal((n_scans, 4))
    a, c = np.where(present, a, np.nan), np.where(present, c, np.nan)
    hexa = np.array([120.0, 120.0, 120.0, 90.0])
    vol = np.where(present, a * a * c * np.where(hexa == 120.0, np.sqrt(3) / 2, 1.0), np.nan)
    volts = np.where(charging, _interp(((0.0, 1.5), (0.70, 3.90), (0.80, 4.10), (1.0, 4.30)), soc),
                     _interp(((0.0, 1.5), (0.65, 3.80), (0.75, 4.00), (1.0, 4.20)), soc))
    sp = ("scan", "phase")
    return xr.Dataset(
        {"present": (sp, present), "fraction": (sp, fraction), "a": (sp, a), "b": (sp, a.copy()),
         "c": (sp, c), "alpha": (sp, np.where(present, 90.0, np.nan)), "beta": (sp, np.where(present, 90.0, np.nan)),
         "gamma": (sp, np.where(present, hexa, np.nan)), "volume_per_fu": (sp, vol / 2),
         "esd_a": (sp, np.where(present, 2e-4, np.nan)), "esd_c": (sp, np.where(present, 2e-4, np.nan))},
        coords={"scan": np.arange(n_scans), "phase": labels,
                "is_cell_component": ("phase", [False, False, False, True]),
                "phase_parent": ("phase", ["", "", "", ""]),
                "voltage_V": ("scan", volts), "time_s": ("scan", np.arange(n_scans) * 60.0),
                "direction": ("scan", np.where(charging, "charge", "discharge"))})


def _recorded(seen: list):
    """``segment`` wrapped to keep its result (the spans and fits detect_transitions used)."""
    from phasetrace.transitions._candidates import segment

    def wrapped(*args, **kwargs):
        spans, fits = segment(*args, **kwargs)
        seen.append({"spans": [[s.start, s.stop, s.core_start, s.core_stop] for s in spans],
                     "fits": [[repr(f.t0), repr(f.t1), repr(f.t_mid), repr(f.r2), repr(f.monotonic)]
                              for f in fits]})
        return spans, fits
    return wrapped


def run(n_scans: int) -> dict:
    """Time the transition stage on ``n_scans`` scans; return timings and outputs."""
    from phasetrace.transitions import detect, detect_transitions
    from phasetrace.transitions.evolution import phase_evolution
    from phasetrace.transitions.minor import minor_phases

    ds = stack_summary(n_scans)
    out: dict = {"scans": n_scans}
    seen: list = []
    detect.segment = _recorded(seen)
    c0, w0 = time.process_time(), time.perf_counter()
    result = detect_transitions(ds)
    out["detect_cpu_s"], out["detect_wall_s"] = time.process_time() - c0, time.perf_counter() - w0
    c0 = time.process_time()
    minor = minor_phases(ds, min_fraction=0.05, stage_phases=set())
    evo = [e.to_dict() for e in phase_evolution(ds)]
    out["minor_evolution_cpu_s"] = time.process_time() - c0
    seq = result.to_dict()
    out["n_stages"], out["n_transitions"] = len(seq["stages"]), len(seq["transitions"])
    out["sequence_head"] = result.sequence[:80]
    out["outputs"] = {"sequence": json.loads(json.dumps(seq, default=repr), parse_float=str),
                      "minor": minor, "evolution": json.loads(json.dumps(evo), parse_float=str),
                      "segmentation": seen[0]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scans", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--dump", help="write the outputs (exact) to this JSON file")
    args = parser.parse_args()
    dumps = {}
    for n in args.scans:
        r = run(n)
        dumps[str(n)] = r.pop("outputs")
        print(json.dumps({**r, "load_avg": os.getloadavg()[0]}), flush=True)
    if args.dump:
        with open(args.dump, "w") as f:
            json.dump(dumps, f, sort_keys=True)


if __name__ == "__main__":
    main()
