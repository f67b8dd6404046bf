"""A minor phase at a known cell stays in the model when a major phase starts to misfit."""

from __future__ import annotations

import numpy as np

from phasetrace.lattice import analyse_phases

from phasesim import pattern, simulate_stack

TT = np.arange(10.0, 70.0, 0.02)
WL = 1.540593


def test_current_collector_kept_beside_a_misfit_major_phase(by_label):
    """10 scans with the same Al foil (3 % of the P2 scale, its 111/200/220 lines between
    the P2 peaks).  From scan 4 on the P2 electrode has a spread of interlayer spacings
    (c = 11.09, 11.16, 11.23 Å in 3:4:3): one cell cannot fit it and the residual under every
    P2 peak is a ripple correlated over the peak width (χ²_ν ≈ 4.4 against 1.0 before).
    The foil does not change, so it is present in every scan: its evidence is the residual
    under its own lines, which the P2 ripples do not reach."""
    ys = []
    for s in range(10):
        spread = 0.0 if s < 4 else 0.07
        ys.append(pattern([by_label["P2"]] * 3 + [by_label["Al"]],
                          [[2.886, 11.16 - spread], [2.886, 11.16], [2.886, 11.16 + spread],
                           [4.0495]], TT, wavelength_A=WL, scales=[0.3, 0.4, 0.3, 0.03],
                          fwhm=0.08))
    stack = simulate_stack(ys, TT, wavelength_A=WL, seed=7, peak_counts=4000.0)
    library = [by_label[k] for k in ("P2", "P3", "O3", "OP4", "Al", "Cu", "Be")]
    res = analyse_phases(stack, library=library)
    labels = list(res.phase.values)
    found = [{labels[j] for j in np.flatnonzero(res.present.values[s])} for s in range(10)]
    assert all(f == {"P2", "Al"} for f in found), found
    assert np.all(res.redchi.values[4:] > 3.0)       # the major phase does misfit there
