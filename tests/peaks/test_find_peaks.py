"""find_peaks: candidates per scan and tracks through the stack."""

import numpy as np

from phasetrace.peaks import find_peaks
from phasetrace.peaks.profiles import pseudo_voigt
from phasetrace.schema import make_stack


def test_tracks_follow_drift_and_split_on_jumps():
    rng = np.random.default_rng(3)
    x = np.linspace(20.0, 40.0, 2001)
    n = 40
    drift = 25.0 + np.linspace(0.0, 1.0, n)            # moves by 10 FWHM, 0.25 FWHM per scan
    jump = np.where(np.arange(n) < 20, 33.0, 34.0)       # jumps by 10 FWHM at scan 20
    y = np.array([rng.poisson(150 + pseudo_voigt(x, center=drift[s], fwhm=0.1, eta=0.5, area=40)
                              + pseudo_voigt(x, center=jump[s], fwhm=0.1, eta=0.5, area=40))
                  for s in range(n)]).astype(float)
    tr = find_peaks(make_stack(x, y), background=None)
    pos = tr["position"].values
    assert tr.sizes["peak"] == 3, pos
    k = int(np.argmin(np.abs(pos - 25.5)))
    assert tr["n_detections"].values[k] == n          # one track over the whole drift
    np.testing.assert_allclose(tr["track_center"].values[:, k], drift, atol=0.02)
    a, b = (int(np.argmin(np.abs(pos - v))) for v in (33.0, 34.0))
    # detection averages ±1 scan and a nearby noise maximum may join a track, so a track's
    # ends are known to a couple of scans; fit_stack then decides per scan (below detection)
    assert abs(tr["last_scan"].values[a] - 19) <= 2 and abs(tr["first_scan"].values[b] - 20) <= 2
    assert abs(tr.attrs["fwhm_deg"] - 0.1) < 0.03
