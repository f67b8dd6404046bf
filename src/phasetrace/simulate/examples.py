"""Ready-made scenarios: the shipped P2/O3 example (``patterns/p2o3_example``)."""

from __future__ import annotations

from .operando import PhaseTrack, Scenario
from .pattern import Instrument

__all__ = ["p2o3_scenario", "CU_KA_LAB"]

#: lab Cu Kα1 + Kα2 diffractometer with an operando cell (reflection geometry).
CU_KA_LAB = Instrument(wavelength_A=1.540593, wavelength2_A=1.544414, kalpha2_ratio=0.5,
                       caglioti_u=0.03, caglioti_v=-0.01, caglioti_w=0.02, eta=0.5, zero_shift_deg=0.03,
                       po_march_r=0.85, background=(60.0, 400.0, 8.0, 80.0, 22.0, 8.0))


def p2o3_scenario(*, n_scans: int = 100) -> Scenario:
    """Biphasic P2/O3 cathode (Na~0.7Ni1/3Mn2/3O2-like), 2.0–4.1 V, one cycle.

    On charge P2 (60 %) is a solid solution (c 11.12 → 11.30 Å, a 2.890 → 2.860 Å)
    while O3 (40 %) turns into P3 by a two-phase reaction at SOC 0.30–0.42
    (a 3.1–3.2 V plateau); on discharge P3 returns to O3 at SOC 0.28–0.16 (lower
    voltage: hysteresis).  Sequence: ``O3/P2 → P2/P3 → O3/P2``.  Al current
    collector peaks throughout.

    Parameters
    ----------
    n_scans : int
        Scans over the cycle (even).

    Returns
    -------
    Scenario
    """
    tracks = (
        PhaseTrack("P2", a=((0.0, 2.890), (1.0, 2.860)), c=((0.0, 11.12), (1.0, 11.30)),
                   fraction_charge=((0.0, 0.6), (1.0, 0.6))),
        PhaseTrack("O3", a=((0.0, 2.960), (0.42, 2.940), (1.0, 2.940)), c=((0.0, 15.95), (0.42, 16.08), (1.0, 16.08)),
                   fraction_charge=((0.0, 0.4), (0.30, 0.4), (0.42, 0.0), (1.0, 0.0)),
                   fraction_discharge=((0.0, 0.4), (0.16, 0.4), (0.28, 0.0), (1.0, 0.0))),
        PhaseTrack("P3", a=((0.0, 2.905), (0.10, 2.905), (1.0, 2.870)), c=((0.0, 16.60), (0.10, 16.60), (1.0, 16.95)),
                   fraction_charge=((0.0, 0.0), (0.30, 0.0), (0.42, 0.4), (1.0, 0.4)),
                   fraction_discharge=((0.0, 0.0), (0.16, 0.0), (0.28, 0.4), (1.0, 0.4))),
        PhaseTrack("Al", a=((0.0, 4.0495), (1.0, 4.0495)), is_cell_component=True, scale=0.35),
    )
    return Scenario(
        name="p2o3_example", tracks=tracks,
        voltage_charge=((0.0, 2.0), (0.05, 2.55), (0.30, 3.10), (0.42, 3.20), (0.80, 3.85), (1.0, 4.10)),
        voltage_discharge=((1.0, 4.00), (0.80, 3.70), (0.28, 3.02), (0.16, 2.94), (0.05, 2.45), (0.0, 2.0)),
        capacity_mAh_g=150.0, current_mA=0.1, mass_g=0.003, n_scans=n_scans, scan_gap_s=20.0,
        start="charge", instrument=CU_KA_LAB, two_theta=(10.0, 70.0, 0.03), peak_scale=120.0,
        size_fwhm_deg=0.08, published_sequence="P2/O3 → P2/P3 → P2/O3")
