"""The vectorised running median equals the obvious per-scan loop (naive reference)."""

import numpy as np
import pytest

from phasetrace.transitions._features import running_median


def _naive(values, window):
    half, out, n = window // 2, np.array(values, dtype=float), len(values)
    if half == 0 or n < 3:
        return out
    for i in range(n):
        h = min(half, i, n - 1 - i)
        out[i] = np.median(values[i - h:i + h + 1], axis=0)
    return out


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 11, 40])
@pytest.mark.parametrize("window", [1, 3, 5, 7])
def test_matches_naive(n, window):
    rng = np.random.default_rng(n * 10 + window)
    values = rng.normal(size=(n, 3))
    values[rng.random((n, 3)) < 0.1] = np.nan
    np.testing.assert_allclose(running_median(values, window=window), _naive(values, window),
                               equal_nan=True)


def test_single_outlier_removed():
    values = np.full((9, 1), 0.5)
    values[4] = 0.0  # one misidentified scan
    assert running_median(values, window=3)[4, 0] == 0.5
