"""Statistics of the presence tests (phasetrace.phases.presence) against known values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from phasetrace.config import Config, IdentifyConfig
from phasetrace.errors import ConfigError
from phasetrace.phases.presence import (Residual, correlation_factor, f_test, residual_grown,
                                        residual_snr_limit, wald_log10_p)


def test_white_residuals_count_fully():
    r = np.random.default_rng(1).normal(size=40000)
    assert correlation_factor(r) == pytest.approx(1.0, abs=0.03)


def test_ar1_residuals_count_as_fewer_points():
    """AR(1), ρ = 0.8: N_eff/N = (1 − ρ)/(1 + ρ) = 1/9 (Bérar & Lelann 1991)."""
    rng = np.random.default_rng(2)
    e = rng.normal(size=200000)
    r = np.empty_like(e)
    r[0] = e[0]
    for i in range(1, e.size):
        r[i] = 0.8 * r[i - 1] + e[i]
    assert correlation_factor(r) == pytest.approx(1 / 9, rel=0.05)


def test_f_test_matches_chi2_limit():
    """k = 1, ν large: F → χ²₁, P(χ²₁ > 10) = 1.565e-3."""
    f, lp = f_test(100010.0, 100000.0, 1, 100001, 1)
    assert f == pytest.approx(10.0, rel=1e-4)
    assert 10 ** lp == pytest.approx(1.565e-3, rel=0.01)


def test_correlation_factor_divides_the_evidence():
    """The same Δχ² with residuals correlated so that N_eff = N/10 is far weaker evidence."""
    _, white = f_test(1100.0, 1000.0, 2, 1002, 2)
    f, lp = f_test(1100.0, 1000.0, 2, 1002, 2, corr=0.1)
    assert f == pytest.approx(5.0, rel=1e-6)      # F = (100/2)/(1000/1000) × 0.1
    assert white < -20 and -4 < lp < -1


def test_worse_fit_with_more_parameters_is_no_evidence():
    assert f_test(1000.0, 1005.0, 3, 500, 10) == (0.0, 0.0)


def test_wald_scale_against_zero():
    """t = 5 σ, white residuals, ν large: two-sided normal tail 5.7e-7."""
    assert 10 ** wald_log10_p(5.0, 1.0, 1.0, 100000, 10) == pytest.approx(5.73e-7, rel=0.02)


def test_residual_threshold_bonferroni():
    """30° at 0.1° FWHM = 300 elements, α = 0.001: Φ⁻¹(1 − 3.33e-6) = 4.50."""
    tt = np.linspace(10.0, 40.0, 3001)
    assert residual_snr_limit(tt, 0.1, 1e-3) == pytest.approx(4.50, abs=0.01)


def test_identify_section_round_trips_and_validates():
    cfg = Config.from_dict({"identify": {"alpha": 1e-4, "max_candidates": 2}})
    assert cfg.identify == IdentifyConfig(alpha=1e-4, max_candidates=2)
    assert Config.from_dict(cfg.to_dict()).identify.alpha == 1e-4
    with pytest.raises(ConfigError, match="identify.alpha"):
        IdentifyConfig(alpha=0.7)
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['min_score'\] in \[identify\]"):
        Config.from_dict({"identify": {"min_score": 0.6}})
    assert math.log10(IdentifyConfig().alpha) == -3



TT_R = np.linspace(20.0, 40.0, 2001)      # 0.01° steps, FWHM 0.1°
SIG_R = np.full(TT_R.size, 10.0)          # counting σ of ~100 counts


def _line(area_counts, centre=30.0, fwhm=0.1):
    """Gaussian residual line of the given net area (counts summed over the points)."""
    g = np.exp(-4 * math.log(2) * ((TT_R - centre) / fwhm) ** 2)
    return area_counts * g / g.sum()


def test_constant_residual_retested_at_most_at_rate_alpha():
    """The same unindexed line in fresh counting noise: the growth test flags a fraction of
    scans no larger than α (one-sided Φ⁻¹(1 − α) on the area difference; 4000 trials, the
    binomial 99.9 % bound on 4 expected is 12)."""
    rng = np.random.default_rng(5)
    line = _line(2000.0)
    first = Residual(np.array([30.0]), line + rng.normal(0, 10, TT_R.size), SIG_R,
                     frozenset({"P2"}))
    flagged = sum(residual_grown(TT_R, Residual(np.array([30.0 + rng.normal(0, 0.01)]),
                                                line + rng.normal(0, 10, TT_R.size), SIG_R,
                                                frozenset({"P2"})),
                                 first, fwhm_deg=0.1, alpha=1e-3)
                  for _ in range(4000))
    assert flagged <= 12


def test_grown_new_or_other_model_residual_is_searched_again():
    """σ of the area difference over ±FWHM (21 points, σ 10 each, two scans) is
    10·√42 = 64.8 counts; k = Φ⁻¹(1 − 10⁻³) = 3.09: growth by 400 counts (6.2 σ) is a
    new search, by 100 (1.5 σ) is not; a line 0.15° (1.5 FWHM) away from every tested one
    is new; a line that vanished is not; a line that was there but below the detection
    threshold in the tested scan (not in its peak list) is not new data; another model is a
    new null hypothesis."""
    old = Residual(np.array([30.0]), _line(2000.0), SIG_R, frozenset({"P2"}))

    def now(resid, pos=(30.0,), labels=("P2",)):
        return Residual(np.array(pos), resid, SIG_R, frozenset(labels))

    kw = {"fwhm_deg": 0.1, "alpha": 1e-3}
    assert residual_grown(TT_R, now(_line(2400.0)), old, **kw)
    assert not residual_grown(TT_R, now(_line(2100.0)), old, **kw)
    assert residual_grown(TT_R, now(_line(2000.0) + _line(2000.0, 30.15), (30.0, 30.15)), old,
                          **kw)
    assert not residual_grown(TT_R, now(np.zeros(TT_R.size), ()), old, **kw)
    undetected = Residual(np.array([]), _line(2000.0), SIG_R, frozenset({"P2"}))
    assert not residual_grown(TT_R, now(_line(2000.0)), undetected, **kw)
    assert residual_grown(TT_R, now(_line(2000.0), labels=("P2", "O2")), old, **kw)
