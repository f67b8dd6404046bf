"""Per-scan CPU cost of the whole-pattern refinement (issue 11): a 4-phase, 4,400-point
synchrotron scan (λ = 0.4959 Å, 2θ 4–26° in 0.005° steps; P2 + P3 + O3 + Al foil).

Times, in one run, on the same simulated scans (cells drifting slowly through the stack):

* ``refine_pattern`` sequential — each scan starts from its neighbour's solution (as in
  ``analyse_phases``), Rietveld intensities;
* ``refine_pattern`` cold — from the search cells, no warm start;
* main's ``pawley_refine`` (copied in ``_pawley_main.py``) on the background-subtracted scan;
* ``scipy.optimize.least_squares`` (``trf``, bounds, analytic Jacobian from the same Numba
  model) on the same model and start as the cold run.

Prints CPU ms per scan (``time.process_time``, BLAS limited to one thread), the ratios
(old / new, scipy / new) and the load average, and checks that scipy and the Numba LM reach
the same minimum (χ² ratio).
Usage: ``python benchmarks/bench_refine.py [--scans N]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))

from phasetrace.phases import load_library  # noqa: E402
from phasetrace.phases.cell import cell_from_free  # noqa: E402
from phasetrace.refine import RefineOptions, refine_pattern, warm_start  # noqa: E402
from phasetrace.refine.fit import _evaluate, _kernel_args, _linear_start  # noqa: E402
from phasetrace.refine.model import build_layout, chebyshev, resolve_geometry  # noqa: E402

WL = 0.4959
TT = np.arange(4.0, 26.0, 0.005)          # 4,400 points
LABELS = ("P2", "P3", "O3", "Al")


def _simulate(lib, n_scans, seed=1):
    """Scans with pseudo-Voigt lines at every reflection (reference |F|², PO-free), noise."""
    rng = np.random.default_rng(seed)
    scans, truths = [], []
    for s in range(n_scans):
        f = s / max(n_scans - 1, 1)
        frees = {"P2": [2.885 - 0.01 * f, 11.14 + 0.05 * f], "P3": [2.90 - 0.01 * f, 16.56],
                 "O3": [2.96, 16.02 - 0.03 * f], "Al": [4.0495]}
        fr = {"P2": 0.3 + 0.2 * f, "P3": 0.3, "O3": 0.4 - 0.2 * f, "Al": 0.05}
        y = np.zeros_like(TT)
        for lab in LABELS:
            ph = lib[lab]
            tt, inten = ph.intensities(cell_from_free(ph.crystal_system, np.array(frees[lab])), WL)
            ok = np.isfinite(tt) & (tt > TT[0] - 1) & (tt < TT[-1] + 1)
            vol = np.prod(frees[lab][:1]) ** 2 * frees[lab][-1]
            for c, a in zip(tt[ok] + 0.01, inten[ok] * fr[lab] / vol ** 2):
                w = np.sqrt(0.0004 + 0.001 * np.tan(np.radians(c / 2)) ** 2)
                x = (TT - c) / w
                y += a * (0.6 * 0.9394 / w * np.exp(-2.7726 * x * x) + 0.4 * 0.6366 / w / (1 + 4 * x * x))
        bg = 300.0 - 100.0 * (TT - TT[0]) / (TT[-1] - TT[0])
        counts = rng.poisson(bg + 8000.0 * y / y.max()).astype(float)
        scans.append((counts, np.sqrt(np.maximum(counts, 1.0)), bg))
        truths.append({lab: np.array(v) * (1 + 0.0015 * rng.standard_normal(len(v)))
                       for lab, v in frees.items()})
    return scans, truths


def _cpu(fun):
    t0 = time.process_time()
    out = fun()
    return time.process_time() - t0, out


def _scipy_fit(phases, starts, counts, sig, bg, options):
    from scipy.optimize import least_squares

    geometry = resolve_geometry(options.geometry, WL)
    layout = build_layout(phases, starts, TT, wavelength_A=WL, fwhm_deg=0.03, options=options,
                          geometry=geometry)
    sw = 1.0 / sig
    args = _kernel_args(layout, TT, bg, chebyshev(TT, options.n_background), WL, np.nan, 0.0,
                        options)
    p0 = _linear_start(layout, np.clip(layout.p0, layout.lb, layout.ub), args, counts, sw, bg)
    free = layout.lb < layout.ub
    lb, ub = layout.lb[free], layout.ub[free]
    span = np.where(np.isfinite(ub - lb), ub - lb, 1.0)
    x0 = np.clip(p0[free], lb + 1e-6 * span, ub - 1e-6 * span)   # trf: strictly inside

    def full(x):
        p = p0.copy()
        p[free] = x
        return p

    def fun(x):
        return (counts - _evaluate(full(x), args, False)[0]) * sw

    def jac(x):
        return -_evaluate(full(x), args)[1][:, free] * sw[:, None]

    return least_squares(fun, x0, jac=jac, bounds=(lb, ub), method="trf", x_scale="jac",
                         ftol=1e-8, xtol=1e-10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scans", type=int, default=20)
    args = ap.parse_args()
    lib = {p.label: p for p in load_library(list(LABELS))}
    phases = [lib[lab] for lab in LABELS]
    scans, truths = _simulate(lib, args.scans)
    from _pawley_main import pawley_refine as main_pawley

    opts = RefineOptions()
    kw = dict(wavelength_A=WL, fwhm_deg=0.03)
    # compile / warm caches
    refine_pattern(TT, *scans[0][:2], scans[0][2], phases, [truths[0][lab] for lab in LABELS],
                   options=opts, **kw)
    main_pawley(TT, scans[0][0] - scans[0][2], scans[0][1], phases,
                [truths[0][lab] for lab in LABELS], **kw)
    rows = {}
    with threadpool_limits(limits=1, user_api="blas"):
        prev, t_seq, t_cold, t_main, t_scipy, status = None, 0.0, 0.0, 0.0, 0.0, []
        chi2_ratio = []
        n_scipy = min(args.scans, 5)
        for s, (counts, sig, bg) in enumerate(scans):
            starts = [truths[s][lab] for lab in LABELS]
            seq_starts = [p.free for p in prev.phases] if prev is not None else starts
            dt, prev = _cpu(lambda: refine_pattern(TT, counts, sig, bg, phases, seq_starts,
                                                   options=opts, warm=warm_start(prev), **kw))
            t_seq += dt
            status.append(int(prev.status))
            dt, cold = _cpu(lambda: refine_pattern(TT, counts, sig, bg, phases, starts,
                                                   options=opts, **kw))
            t_cold += dt
            dt, _ = _cpu(lambda: main_pawley(TT, counts - bg, sig, phases, starts, **kw))
            t_main += dt
            if s < n_scipy:
                dt, ls = _cpu(lambda: _scipy_fit(phases, starts, counts, sig, bg, opts))
                t_scipy += dt
                chi2_ratio.append(cold.redchi * (cold.n_points - cold.n_params) / (2 * ls.cost))
    n = args.scans
    rows = {"refine_pattern sequential (warm)": t_seq / n, "refine_pattern cold": t_cold / n,
            "main pawley_refine": t_main / n, "scipy least_squares (same model)": t_scipy / n_scipy}
    load = os.getloadavg()
    print(f"{n} scans x {TT.size} points x {len(LABELS)} phases, CPU ms per scan "
          f"(load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f})")
    for name, t in rows.items():
        print(f"  {name:36s} {1e3 * t:8.1f} ms")
    base = rows["refine_pattern sequential (warm)"]
    print(f"  ratio main pawley / sequential      {rows['main pawley_refine'] / base:8.1f}x")
    print(f"  ratio scipy / sequential            "
          f"{rows['scipy least_squares (same model)'] / base:8.1f}x")
    print(f"  ratio scipy / cold (same start)     "
          f"{rows['scipy least_squares (same model)'] / rows['refine_pattern cold']:8.1f}x")
    print(f"  chi2 Numba LM / scipy (cold)        {np.median(chi2_ratio):8.5f} "
          f"(max {max(chi2_ratio):.5f})")
    print(f"  converged {sum(s == 0 for s in status)}/{n}")


if __name__ == "__main__":
    main()
