"""The simulator puts peaks where Bragg's law says, with the documented instrument effects."""

from __future__ import annotations

import math

import numpy as np
import pytest

from phasetrace.errors import ConfigError, PhaseLibraryError
from phasetrace.simulate import (
    Instrument, PhaseContribution, calculate_pattern, d_spacings, prototype, reflections,
)

LAMBDA = 1.540593


def _bragg(d: float, wavelength: float = LAMBDA) -> float:
    return math.degrees(2 * math.asin(wavelength / (2 * d)))


def _peak_near(tt, y, center, half=0.3):
    sel = (tt > center - half) & (tt < center + half)
    return float(tt[sel][np.argmax(y[sel])])


def _p2(c=11.16, a=2.886, scale=100.0):
    return PhaseContribution(reflections("P2", a=2.886, c=11.16), (a, a, c, 90.0, 90.0, 120.0), scale)


def test_d_spacings_follow_the_metric():
    d = d_spacings(np.array([[0, 0, 2], [1, 0, 0], [1, 1, 0]]), (2.886, 2.886, 11.16, 90, 90, 120))
    assert d == pytest.approx([11.16 / 2, 2.886 * math.sqrt(3) / 2, 2.886 / 2], rel=1e-12)
    assert d_spacings(np.array([[1, 1, 1]]), (4.0495,) * 3 + (90,) * 3)[0] == pytest.approx(4.0495 / math.sqrt(3))


@pytest.mark.parametrize("c", [11.10, 11.16, 11.40])
def test_p2_002_peak_at_half_c(mono_instrument, c):
    tt = np.arange(10.0, 20.0, 0.002)
    y = calculate_pattern(tt, [_p2(c=c)], mono_instrument)
    assert _peak_near(tt, y, _bragg(c / 2)) == pytest.approx(_bragg(c / 2), abs=0.004)


def test_peaks_move_with_a_not_c(mono_instrument):
    tt = np.arange(30.0, 40.0, 0.002)
    y = calculate_pattern(tt, [_p2(a=2.850)], mono_instrument)
    d100 = 2.850 * math.sqrt(3) / 2
    assert _peak_near(tt, y, _bragg(d100)) == pytest.approx(_bragg(d100), abs=0.004)


def test_zero_shift_moves_every_peak(mono_instrument):
    tt = np.arange(10.0, 20.0, 0.002)
    shifted = Instrument(**{**mono_instrument.__dict__, "zero_shift_deg": 0.05})
    y = calculate_pattern(tt, [_p2()], shifted)
    assert _peak_near(tt, y, _bragg(5.58)) == pytest.approx(_bragg(5.58) + 0.05, abs=0.004)


def test_kalpha2_adds_a_half_intensity_line_at_lambda2(mono_instrument):
    tt = np.arange(75.0, 80.0, 0.002)
    doublet = Instrument(**{**mono_instrument.__dict__, "wavelength2_A": 1.544414, "kalpha2_ratio": 0.5})
    al = PhaseContribution(reflections("Al", a=4.0495), (4.0495,) * 3 + (90.0,) * 3, 100.0)
    y1 = calculate_pattern(tt, [al], mono_instrument)
    y2 = calculate_pattern(tt, [al], doublet)
    d311 = 4.0495 / math.sqrt(11)
    extra = y2 - y1
    assert _peak_near(tt, extra, _bragg(d311, 1.544414)) == pytest.approx(_bragg(d311, 1.544414), abs=0.004)
    area1, area2 = np.trapezoid(y1 - 10.0, tt), np.trapezoid(extra, tt)
    assert area2 / area1 == pytest.approx(0.5, rel=0.05)


def test_march_dollase_r_below_one_enhances_basal_peaks(mono_instrument):
    tt = np.arange(10.0, 40.0, 0.002)
    textured = Instrument(**{**mono_instrument.__dict__, "po_march_r": 0.7})

    def ratio(inst):
        y = calculate_pattern(tt, [_p2()], inst)
        return y[np.abs(tt - _bragg(5.58)) < 0.2].max() / y[np.abs(tt - _bragg(2.886 * math.sqrt(3) / 2)) < 0.2].max()

    assert ratio(textured) > 1.5 * ratio(mono_instrument)


def test_spinel_prototype_has_lmo_composition_and_111_first(mono_instrument):
    s = prototype("S", a=8.24)
    assert s.composition.reduced_formula == "LiMn2O4"
    tt = np.arange(10.0, 70.0, 0.005)
    spinel = PhaseContribution(reflections("S", a=8.24), (8.24,) * 3 + (90.0,) * 3, 100.0)
    y = calculate_pattern(tt, [spinel], mono_instrument)
    # LiMn2O4 with Cu Kα: (111) strongest, at d = a/√3
    assert tt[np.argmax(y)] == pytest.approx(_bragg(8.24 / math.sqrt(3)), abs=0.004)


def test_unknown_prototype_and_bad_instrument_raise():
    with pytest.raises(PhaseLibraryError, match="XYZ"):
        prototype("XYZ", a=3.0)
    with pytest.raises(ConfigError, match="wavelength"):
        Instrument(wavelength_A=154.06)
