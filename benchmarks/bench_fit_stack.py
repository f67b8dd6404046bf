"""Benchmark: fit a large operando stack with ``fit_stack`` against scipy and lmfit loops.

Usage::

    python benchmarks/bench_fit_stack.py [--scans 10000] [--points 4000] [--peaks 20]
                                         [--scipy-sample 100] [--lmfit-sample 20] [--cold] [--no-auto]

Builds a synthetic stack (pseudo-Voigt peaks drifting by a few FWHM over the
stack, sloped background, Poisson noise), then reports, in one run:

* JIT compile (or cache load) time of the kernels, timed on a 4-scan stack;
* ``fit_stack(ds, peaks=<2θ list>, background=None)``: the fitting engine;
* ``fit_stack(ds)`` (``peaks="auto"``, SNIP background): the full default path;
* a per-peak ``scipy.optimize.curve_fit`` loop and an lmfit loop (the engine
  of xrdfit) on a sample of scans, fitting the same windows;
* scans/s for each, the ratios, and the peak resident memory.

``--cold`` points ``NUMBA_CACHE_DIR`` at an empty folder so the kernels are
really compiled.  Timings are wall-clock on whatever machine runs the script.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import warnings

import numpy as np


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scans", type=int, default=10_000)
    ap.add_argument("--points", type=int, default=4000)
    ap.add_argument("--peaks", type=int, default=20)
    ap.add_argument("--scipy-sample", type=int, default=100, help="scans fitted with curve_fit")
    ap.add_argument("--lmfit-sample", type=int, default=20, help="scans fitted with lmfit")
    ap.add_argument("--cold", action="store_true", help="compile the kernels (empty numba cache)")
    ap.add_argument("--no-auto", action="store_true", help="skip the peaks='auto' + SNIP run")
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args()


def cpu_s() -> float:
    """User + system CPU seconds of this process (all threads) so far."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def rss_mb() -> float:
    """Peak resident memory of this process so far, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def build_stack(n_scans: int, n_points: int, n_peaks: int, seed: int):
    """Synthetic stack and its truth: centres (scan, peak), FWHM, η, areas (peak,)."""
    from phasetrace._kernels.profiles import eval_peaks
    from phasetrace.schema import make_stack

    rng = np.random.default_rng(seed)
    x = np.linspace(10.0, 70.0, n_points)
    c0 = np.sort(rng.uniform(12.0, 68.0, n_peaks))
    while np.min(np.diff(c0)) < 0.8:           # keep peaks a few FWHM apart at the start
        c0 = np.sort(rng.uniform(12.0, 68.0, n_peaks))
    fwhm = rng.uniform(0.08, 0.15, n_peaks)
    eta = rng.uniform(0.2, 0.8, n_peaks)
    area = rng.uniform(8.0, 60.0, n_peaks)
    drift = rng.uniform(-0.3, 0.3, n_peaks)    # up to ~3 FWHM over the stack
    t = np.linspace(0.0, 1.0, n_scans)[:, None]
    centers = c0 + drift * np.sin(np.pi * t)
    bg = 200.0 + 1.5 * (70.0 - x)
    y = np.empty((n_scans, n_points))
    pk = np.zeros((n_peaks, 5))
    pk[:, 1], pk[:, 2], pk[:, 3] = fwhm, eta, area
    row = np.empty(n_points)
    for s in range(n_scans):
        pk[:, 0] = centers[s]
        eval_peaks(x, pk, 0, 1.0, 0.0, row)
        y[s] = row + bg
    y = rng.poisson(y).astype(float)
    return make_stack(x, y, np.sqrt(np.maximum(y, 1.0)), wavelength_A=0.7093), centers, fwhm


def pv_linear(x, c, w, eta, a, b0, b1):
    """Pseudo-Voigt plus a linear background (for curve_fit)."""
    from phasetrace.peaks.profiles import pseudo_voigt
    return pseudo_voigt(x, center=c, fwhm=w, eta=eta, area=a) + b0 + b1 * (x - c)


def scipy_loop(ds, centers, fwhm, scans) -> float:
    """Per-peak curve_fit loop over ``scans``; returns seconds."""
    from scipy.optimize import curve_fit
    x = ds["two_theta"].values
    t0 = time.perf_counter()
    for s in scans:
        y = ds["intensity"].values[s]
        sig = ds["intensity_sigma"].values[s]
        for k, c in enumerate(centers[0]):
            m = np.abs(x - c) < 3.0 * fwhm[k] + 0.35
            p0 = [c, fwhm[k], 0.5, (y[m].max() - y[m].min()) * fwhm[k], y[m].min(), 0.0]
            try:
                curve_fit(pv_linear, x[m], y[m], p0=p0, sigma=sig[m], absolute_sigma=False,
                          bounds=([c - 0.4, 0.01, 0, 0, -np.inf, -np.inf],
                                  [c + 0.4, 1.0, 1, np.inf, np.inf, np.inf]))
            except RuntimeError:
                pass
    return time.perf_counter() - t0


def lmfit_loop(ds, centers, fwhm, scans) -> float:
    """Per-peak lmfit loop (PseudoVoigtModel + LinearModel, as in xrdfit); returns seconds."""
    from lmfit.models import LinearModel, PseudoVoigtModel
    x = ds["two_theta"].values
    model = PseudoVoigtModel() + LinearModel()
    t0 = time.perf_counter()
    for s in scans:
        y = ds["intensity"].values[s]
        sig = ds["intensity_sigma"].values[s]
        for k, c in enumerate(centers[0]):
            m = np.abs(x - c) < 3.0 * fwhm[k] + 0.35
            pars = model.make_params(center=0.0, sigma=fwhm[k] / 2, fraction=0.5,
                                     amplitude=(y[m].max() - y[m].min()) * fwhm[k],
                                     slope=0.0, intercept=float(y[m].min()))
            pars["center"].set(min=-0.4, max=0.4)
            pars["fraction"].set(min=0, max=1)
            # x relative to the peak, so that the linear background is well conditioned
            model.fit(y[m], pars, x=x[m] - c, weights=1.0 / sig[m])
    return time.perf_counter() - t0


def main() -> int:
    args = parse()
    if args.cold:
        os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="phasetrace-numba-")
    import numba

    from phasetrace.errors import FitWarning
    from phasetrace.peaks import fit_stack
    from phasetrace.schema import FitStatus
    warnings.simplefilter("ignore", FitWarning)

    out = sys.stdout.write
    out(f"machine: {os.cpu_count()} CPUs, numba threads {numba.get_num_threads()}, "
        f"load avg {os.getloadavg()[0]:.1f}\n")
    t0 = time.perf_counter()
    ds, centers, fwhm = build_stack(args.scans, args.points, args.peaks, args.seed)
    out(f"built {args.scans} scans x {args.points} points x {args.peaks} peaks in "
        f"{time.perf_counter() - t0:.1f} s (data {ds['intensity'].nbytes / 2**20:.0f} MB)\n")
    peaks = centers[0]

    small = ds.isel(scan=slice(0, 4))
    t0 = time.perf_counter()
    fit_stack(small, peaks=peaks, background=None)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    fit_stack(small, peaks=peaks, background=None)
    warm = time.perf_counter() - t0
    out(f"JIT {'compile' if args.cold else 'compile/cache load'}: {first - warm:.2f} s\n")

    rss0 = rss_mb()
    c0 = cpu_s()
    t0 = time.perf_counter()
    res = fit_stack(ds, peaks=peaks, background=None)
    t_fit = time.perf_counter() - t0
    c_fit = cpu_s() - c0
    st = res["status"].values
    err = np.abs(res["center"].values - centers)[st == FitStatus.CONVERGED]
    rate = args.scans / t_fit
    out(f"fit_stack(peaks=list, background=None): {t_fit:.2f} s -> {rate:,.0f} scans/s; "
        f"converged {np.mean(st == FitStatus.CONVERGED):.1%}, median |centre error| "
        f"{np.median(err):.1e} deg; peak RSS {rss_mb():.0f} MB (before {rss0:.0f} MB)\n")
    out(f"  CPU {c_fit:.2f} s -> {args.scans / c_fit:,.0f} scans per CPU-second "
        f"(load-independent; × threads for an idle machine)\n")
    del res

    if not args.no_auto:
        t0 = time.perf_counter()
        res = fit_stack(ds)
        t_auto = time.perf_counter() - t0
        out(f"fit_stack(ds) [peaks='auto', SNIP background]: {t_auto:.2f} s -> "
            f"{args.scans / t_auto:,.0f} scans/s, {res.sizes['peak']} peaks found; "
            f"peak RSS {rss_mb():.0f} MB\n")
        del res

    rng = np.random.default_rng(1)
    sample = rng.choice(args.scans, size=min(args.scipy_sample, args.scans), replace=False)
    t_sc = scipy_loop(ds, centers, fwhm, sample)
    rate_sc = sample.size / t_sc
    out(f"scipy curve_fit loop: {sample.size} scans in {t_sc:.2f} s -> {rate_sc:,.1f} scans/s\n")
    try:
        sample = sample[: min(args.lmfit_sample, sample.size)]
        t_lm = lmfit_loop(ds, centers, fwhm, sample)
        rate_lm = sample.size / t_lm
        out(f"lmfit loop: {sample.size} scans in {t_lm:.2f} s -> {rate_lm:,.1f} scans/s\n")
    except ImportError:
        rate_lm = float("nan")
        out("lmfit not installed: skipped\n")
    out(f"speed-up of fit_stack: {rate / rate_sc:,.0f}x scipy loop, {rate / rate_lm:,.0f}x lmfit loop\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
