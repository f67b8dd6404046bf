"""Test helpers: synthetic patterns from reference phases and a loader for the shared cases.

Shared data live beside the repository (``<repo>/../shared``); tests skip when absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from phasetrace.phases.cell import cell_from_free
from phasetrace.schema import make_stack

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"


def pattern(phases, frees, two_theta, *, wavelength_A, fwhm=0.06, zero=0.0, scales=None,
            po_00l=1.0, wavelength2_A=np.nan, ratio=0.0, min_rel=0.0, eta=0.3):
    """Noise-free pattern: pseudo-Voigt peaks at the reflections of each phase/cell.

    ``po_00l`` multiplies the 00l intensities (preferred orientation); reflections weaker
    than ``min_rel`` (fraction of the strongest) are left out (missing weak reflections).
    """
    y = np.zeros_like(two_theta)
    scales = scales or [1.0] * len(phases)
    for phase, free, scale in zip(phases, frees, scales):
        cell = cell_from_free(phase.crystal_system, np.asarray(free, float))
        for wl, r in ((wavelength_A, 1.0), (wavelength2_A, ratio)):
            if not np.isfinite(wl) or r == 0:
                continue
            tt, inten = phase.intensities(cell, wl)
            ok = np.isfinite(tt)
            tt, inten, hkl = tt[ok], inten[ok], phase.hkl[ok]
            inten = inten / inten.max()
            inten = np.where(np.all(hkl[:, :2] == 0, axis=1), inten * po_00l, inten)
            keep = inten >= min_rel
            for c, a in zip(tt[keep] + zero, inten[keep]):
                x = (two_theta - c) / fwhm
                prof = (1 - eta) * np.exp(-4 * np.log(2) * x**2) + eta / (1 + 4 * x**2)
                y += scale * r * a * prof
    return y


def simulate_stack(patterns, two_theta, *, wavelength_A, background=100.0, peak_counts=2000.0,
                   seed=0, **kw):
    """Stack of noisy scans (Poisson) from noise-free patterns scaled to ``peak_counts``."""
    rng = np.random.default_rng(seed)
    mean = background + peak_counts * np.asarray(patterns)
    counts = rng.poisson(mean).astype(float)
    return make_stack(two_theta, counts, np.sqrt(np.maximum(counts, 1.0)),
                      wavelength_A=wavelength_A, **kw)


def load_case(name: str, scans=None):
    """Stack and truth of a shared case (``../shared/cases/<name>``), or None if absent."""
    base = SHARED / "cases" / name
    if not (base / "truth.json").is_file():
        return None, None
    files = sorted((base / "patterns").glob("*.xye"))
    if scans is not None:
        files = [files[i] for i in scans]
    with files[0].open() as fh:
        wl = float(fh.readline().split("=")[1])
    data = [np.loadtxt(f) for f in files]
    y = np.array([d[:, 1] for d in data])
    s = np.array([d[:, 2] for d in data])
    truth = json.loads((base / "truth.json").read_text())
    stack = make_stack(data[0][:, 0], y, s, wavelength_A=wl,
                       coords={"file": [f.name for f in files]})
    return stack, truth
