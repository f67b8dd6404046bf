"""Where the whole-pattern LM stops is the minimum, to the precision its convergence test states.

The contract (``phasetrace._kernels.lm.lm_propose``): at convergence every parameter is within
√tol esd of the least-squares minimum (0.03 esd for the default ``tol = 1e-3``) and χ² within
``tol × χ²_ν`` of it.  The minimum is found independently by scipy ``least_squares`` (trust-region
reflective, tolerances 1e-15) polishing the same model from the LM's solution; the scan is a
sequential one (warm start from the neighbouring scan's solution, as in a stack), on a pattern of
the independent simulator (tests/sim).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import least_squares

from phasetrace.phases import load_library
from phasetrace.refine import RefineOptions, RefineStatus, refine_pattern, warm_start
from phasetrace.refine.fit import _evaluate, _kernel_args
from phasetrace.refine.model import build_layout, chebyshev, resolve_geometry
from sim.crystal import Cell, load_structure, reflections
from sim.pattern import Instrument, background, lines_to_pattern, phase_lines

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

WL1, WL2 = 1.540593, 1.544414
HEX = dict(alpha=90.0, beta=90.0, gamma=120.0)
INST = Instrument(wavelength=WL1, wavelength2=WL2, kalpha2_ratio=0.5,
                  two_theta=(10.0, 70.0, 3001), geometry="reflection", displacement_mm=0.05,
                  zero_deg=0.01, uvw=(0.0045, -0.0025, 0.0030), xy=(0.030, 0.020))


def _scan(p2_c, p3_c, seed):
    x = INST.grid()
    lines = []
    for lab, cell, vf in (("P2", Cell(2.885, 2.885, p2_c, **HEX), 0.6),
                          ("P3", Cell(2.880, 2.880, p3_c, **HEX), 0.4)):
        st = load_structure(lab)
        lines.append(phase_lines(st, reflections(st, 1.2), cell, vf, INST, po_r=0.9))
    bg = background(x, WL1, level=250.0)
    net = lines_to_pattern(x, lines, 1.0)
    y = np.random.default_rng(seed).poisson(bg + 5000.0 * net / net.max()).astype(float)
    return x, y, np.sqrt(np.maximum(y, 1.0)), bg


def test_sequential_refinement_stops_at_the_least_squares_minimum():
    lib = {p.label: p for p in load_library(["P2", "P3"])}
    phases = [lib["P2"], lib["P3"]]
    opts = RefineOptions()
    kw = dict(wavelength_A=WL1, wavelength2_A=WL2, kalpha2_ratio=0.5, fwhm_deg=0.1,
              options=opts)
    x, y, sig, bg = _scan(11.14, 16.56, 1)
    first = refine_pattern(x, y, sig, bg, phases, [np.array([2.887, 11.16]),
                                                   np.array([2.878, 16.59])], **kw)
    # the next scan of a stack: c moved by ~2 FWHM-equivalents at high angle
    x, y, sig, bg = _scan(11.16, 16.53, 2)
    warm = warm_start(first)
    res = refine_pattern(x, y, sig, bg, phases, [p.free for p in first.phases], warm=warm,
                         **kw)
    assert res.status == RefineStatus.CONVERGED

    layout = build_layout(phases, [p.free for p in first.phases], x, wavelength_A=WL1,
                          fwhm_deg=0.1, options=opts, geometry=resolve_geometry(opts.geometry, WL1),
                          warm=warm)
    args = _kernel_args(layout, x, bg, chebyshev(x, opts.n_background), WL1, WL2, 0.5, opts)
    p_lm = np.array([p.value for p in res.params])
    # the refined slots (the zero is held where it cannot be told from the displacement)
    free = np.array([p.vary and not p.at_bound for p in res.params])
    sw = 1.0 / sig

    def full(v):
        p = p_lm.copy()
        p[free] = v
        return p

    ls = least_squares(lambda v: (y - _evaluate(full(v), args, False)[0]) * sw, p_lm[free],
                       jac=lambda v: -_evaluate(full(v), args)[1][:, free] * sw[:, None],
                       method="trf", x_scale="jac", xtol=1e-15, ftol=1e-15, gtol=1e-15)
    chi2_lm = res.redchi * (res.n_points - res.n_params)
    chi2_min = 2 * ls.cost
    assert chi2_min <= chi2_lm + 1e-9 * chi2_lm          # scipy polished, never worse
    assert chi2_lm - chi2_min <= opts.tol * max(res.redchi, 1.0)
    esd = np.array([p.esd for p in res.params])[free]
    shift = np.abs(p_lm[free] - ls.x) / esd
    assert np.max(shift) <= np.sqrt(opts.tol)
