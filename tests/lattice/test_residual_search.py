"""The cell search is not repeated on a residual already searched (phases/stack.py), and a
phase that appears later is still found from the scan where it begins."""

from __future__ import annotations

import numpy as np
import pytest

from phasetrace.lattice import analyse_phases

from phasesim import pattern, simulate_stack

TT = np.arange(10.0, 70.0, 0.02)
WL = 1.540593
FOREIGN = 27.5          # a line no library phase has (an unindexed cell part)
ONSET = 8               # first scan with O2


@pytest.fixture(scope="module")
def run(by_label):
    """12 scans: P2 (c growing 0.01 Å per scan) and the foreign line in every scan; O2 from
    scan 8 on at scale 0.5, 0.8, 1.0, 1.0 of P2's."""
    lib = [by_label["P2"], by_label["O2"]]
    ys = []
    for s in range(12):
        phases, frees, scales = [lib[0]], [[2.87, 11.16 + 0.01 * s]], [1.0]
        if s >= ONSET:
            phases, frees = phases + [lib[1]], frees + [[2.83, 8.90]]
            scales = scales + [min(0.5 + 0.3 * (s - ONSET), 1.0)]
        y = pattern(phases, frees, TT, wavelength_A=WL, scales=scales, fwhm=0.08)
        ys.append(y + 0.4 * np.exp(-4 * np.log(2) * ((TT - FOREIGN) / 0.08) ** 2))
    stack = simulate_stack(ys, TT, wavelength_A=WL, seed=3)
    return analyse_phases(stack, library=lib, survey=[0], detect_kalpha2=False,
                          geometry="transmission")


def test_foreign_line_searched_once_and_left_unindexed(run):
    """The cell search (its match scores are recorded where it ran) runs on the survey scan
    and not again while the only residual is the same unindexed line under the same model."""
    searched = np.isfinite(run.score.values).any(axis=1)
    assert searched[0]
    assert not searched[1:ONSET].any()
    assert all(np.nanmin(np.abs(run.unindexed_peaks.values[s] - FOREIGN)) < 0.03
               for s in range(ONSET))


def test_phase_appearing_later_is_found_where_it_begins(run):
    present = run.present.sel(phase="O2").values.astype(bool)
    assert not present[:ONSET].any() and present[ONSET:].all()
    assert run.present.sel(phase="P2").values.astype(bool).all()
