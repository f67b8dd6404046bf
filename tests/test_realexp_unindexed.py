"""When nothing fits: unindexed peaks (2θ, d, intensity) and suggestions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

from phasetrace.phases.unindexed import unindexed_summary


def _results(positions_per_scan, *, present=False, wavelength=0.5):
    tt = np.arange(5.0, 30.0, 0.005)
    n = len(positions_per_scan)
    width = max(len(p) for p in positions_per_scan)
    un = np.full((n, width), np.nan)
    inten = np.full((n, tt.size), 100.0)
    for s, pos in enumerate(positions_per_scan):
        un[s, :len(pos)] = pos
        for p, h in zip(pos, (1000.0, 400.0, 50.0)):
            inten[s] += h * np.exp(-0.5 * ((tt - p) / 0.02) ** 2)
    return xr.Dataset(
        {"unindexed_peaks": (("scan", "unindexed"), un),
         "intensity": (("scan", "two_theta"), inten),
         "background": (("scan", "two_theta"), np.full((n, tt.size), 100.0)),
         "present": (("scan", "phase"), np.array([[present, False]] * n))},
        coords={"two_theta": tt, "phase": ["X", "Al"], "is_cell_component": ("phase", [False, True])},
        attrs={"wavelength_A": wavelength})


def test_peaks_gathered_over_scans_with_bragg_d():
    # a peak drifting by 0.004° per scan stays one peak; a second one appears in two scans
    res = _results([[10.000, 20.0], [10.004, 20.0], [10.008]])
    summary = unindexed_summary(res)
    assert summary.no_sample_phase and summary.n_peaks == 2
    first = summary.peaks[0]                         # strongest first
    assert first.two_theta == pytest.approx(10.004, abs=1e-3) and first.n_scans == 3
    assert first.d_spacing == pytest.approx(0.5 / (2 * math.sin(math.radians(10.004 / 2))), rel=1e-4)
    assert first.intensity == pytest.approx(1000.0, rel=0.01)
    assert summary.peaks[1].n_scans == 2 and summary.peaks[1].intensity == pytest.approx(400.0, rel=0.01)


def test_suggestions_name_the_options():
    summary = unindexed_summary(_results([[12.0]]), options={"reference_dir": "", "elements": (),
                                                             "calibrate": "", "names": "auto"})
    text = " | ".join(summary.suggestions)
    assert "--reference-dir DIR" in text and "--elements LIST" in text
    assert "--calibrate PHASE (e.g. Al, Si, LaB6) if the wavelength 0.5 Å is approximate" in text
    assert summary.log_text().startswith("no sample phase identified; 1 unindexed peak(s): 12.000° (d ")


def test_lab_wavelength_needs_no_calibration_hint():
    summary = unindexed_summary(_results([[30.0 - 1.0]], present=True, wavelength=1.540593))
    assert not summary.no_sample_phase
    assert not any("--calibrate" in s for s in summary.suggestions)


def test_peaks_beyond_the_reflection_lists_are_counted_not_listed():
    # at λ = 0.5 Å, 2θ = 28° is d = 1.033 Å, 29.9° is 0.97 Å; with d_min 1.0 Å only the first
    res = _results([[28.0, 29.9]])
    summary = unindexed_summary(res, d_min_A=1.0)
    assert [p.two_theta for p in summary.peaks] == [28.0]
    assert summary.n_beyond_lists == 1
    assert "1 unindexed peak(s) (and 1 at d below the reflection lists)" in summary.log_text()
