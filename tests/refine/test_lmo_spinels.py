"""LMO (scimap test data, lab Cu Kα reflection, 55–75° 2θ) against its published refinement.

scimap's own refinement of ``LMO-two-phase.plt`` gives a = 8.146 and 8.065 Å and of
``LMO-solid-solution.plt`` 8.168 Å (m3wolf/electrolab ``tests/test_lmo.py``), without a
sample-displacement term.  A displacement D cos θ shifts both spinels of one scan alike, so
the *difference* of the two cells (0.081 Å) is what any model must reproduce; the cells
themselves move by the displacement correction (here −0.2° 2θ: −0.02 Å).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from phasetrace.io.stack import read_pattern
from phasetrace.phases import load_library, twin
from phasetrace.phases.peaksearch import estimate_background
from phasetrace.refine import RefineStatus, refine_pattern

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "lmo_spinel_scimap"
pytestmark = pytest.mark.shared


def _refine(name, starts):
    path = DATA / name
    if not path.exists():
        pytest.skip(f"{path} not available")
    ds = read_pattern(path)
    x = ds["two_theta"].values.astype(float)
    y = np.asarray(ds["intensity"].values, float).ravel()
    sig = np.full_like(y, np.median(np.abs(np.diff(y))) / 0.6745 / np.sqrt(2))
    s = load_library(["S"])[0]
    phases = [s, twin(s)][:len(starts)]
    return refine_pattern(x, y, sig, estimate_background(x, y[None, :])[0], phases,
                          [np.array([a]) for a in starts], wavelength_A=1.540593,
                          wavelength2_A=1.544414, kalpha2_ratio=0.5, fwhm_deg=0.35)


def test_two_spinels_cell_difference_as_published():
    res = _refine("LMO-two-phase.plt", [8.14, 8.06])
    assert res.status == RefineStatus.CONVERGED and res.geometry == "reflection"
    assert not res.param("displacement").at_bound
    a = sorted(float(p.free[0]) for p in res.phases)
    assert a[1] - a[0] == pytest.approx(8.146 - 8.065, abs=0.004)


def test_solid_solution_cell_within_the_displacement_correction():
    """One spinel; its cell is scimap's 8.168 Å less the displacement's share:
    Δa/a = −(D/2) cos²θ / sin θ (D in rad) at the strongest line, (440)."""
    res = _refine("LMO-solid-solution.plt", [8.16])
    assert res.status == RefineStatus.CONVERGED and not res.param("displacement").at_bound
    th = np.radians(64.49 / 2)
    want = 8.168 * (1 + np.radians(res.displacement) / 2 * np.cos(th) ** 2 / np.sin(th))
    assert float(res.phases[0].free[0]) == pytest.approx(want, abs=0.003)
