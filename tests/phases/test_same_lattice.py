"""Which structure sits on a lattice two library phases share (``structure_choice``).

O'3 and P'3 are both C2/m with one cell family: a P'3 refined on an O'3 pattern lands on O'3's
lines and passes the add test (its lattice does carry the missing intensity).  The choice of
structure on that lattice is then made by χ² between the two (non-nested, same parameters).
Truth: the pattern is O'3 + P2, made by the independent simulator (tests/sim).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from phasetrace.config import IdentifyConfig
from phasetrace.phases import load_library
from phasetrace.phases.stack import StackIdentifier
from phasetrace.phases.structure_choice import best_structure
from phasetrace.refine import RefineOptions, refine_pattern, warm_start

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.crystal import Cell, load_structure, reflections  # noqa: E402
from sim.pattern import Instrument, background, lines_to_pattern, phase_lines  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

WL = 0.4959
INST = Instrument(wavelength=WL, wavelength2=float("nan"), kalpha2_ratio=0.0,
                  two_theta=(4.0, 26.0, 4401), geometry="transmission",
                  uvw=(0.0004, -0.0002, 0.0004), xy=(0.010, 0.005))
O3P = Cell(5.090, 2.855, 5.725, 90.0, 110.0, 90.0)
P2 = Cell(2.855, 2.855, 11.245, 90.0, 90.0, 120.0)


def test_o_prime_3_pattern_is_given_o_prime_3_not_p_prime_3():
    x = INST.grid()
    lines = [phase_lines(load_structure(lab), reflections(load_structure(lab), 0.9), cell, vf, INST)
             for lab, cell, vf in (("O'3", O3P, 0.7), ("P2", P2, 0.3))]
    bg = background(x, WL, level=200.0)
    net = lines_to_pattern(x, lines, 1.0)
    y = np.random.default_rng(3).poisson(bg + 6000.0 * net / net.max()).astype(float)
    sig = np.sqrt(np.maximum(y, 1.0))
    lib = {p.label: p for p in load_library(["P2", "O'3", "P'3"])}

    def fit(s, phases, starts, warm, before):
        return refine_pattern(x, y, sig, bg, phases, starts, wavelength_A=WL, fwhm_deg=0.03,
                              options=RefineOptions(), warm=warm)

    ident = StackIdentifier(list(lib.values()), fit, None, None, x, y[None], sig[None], 0.03,
                            IdentifyConfig(), set(), (WL,))
    p2 = fit(0, [lib["P2"]], [np.array([2.857, 11.24])], {}, [])
    start = np.array([O3P.a + 0.004, O3P.b - 0.002, O3P.c + 0.004, 110.05])
    with_p3 = fit(0, [lib["P2"], lib["P'3"]], [p2.free[0], start], warm_start(p2), [])
    phase, res = best_structure(ident, 0, [lib["P2"]], lib["P'3"], with_p3, {"P2"})
    assert phase.label == "O'3"
    chi2 = [r.redchi * (r.n_points - r.n_params) for r in (res, with_p3)]
    assert chi2[0] < chi2[1]
    # O'3 refined to the simulated cell (esd-level; the P'3 start was 0.004 Å off)
    a, b, c, beta = res.free[-1]
    assert abs(a - O3P.a) < 0.002 and abs(b - O3P.b) < 0.001 and abs(beta - 110.0) < 0.05
