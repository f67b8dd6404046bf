"""The Numba Levenberg–Marquardt against scipy.optimize.least_squares on identical problems."""

import _reference as ref
import numpy as np
import pytest
from scipy.optimize import least_squares

from phasetrace.peaks import fit_stack_array
from phasetrace.schema import FitStatus

TRUE = [(30.00, 0.10, 0.3, 60.0), (30.17, 0.12, 0.6, 35.0)]


def make_problem(seed, n_scans=1):
    """Two overlapping pseudo-Voigts on a sloped background, Poisson noise."""
    rng = np.random.default_rng(seed)
    x = np.linspace(29.3, 30.9, 321)
    model = 80.0 + 15.0 * (x - 30.1)
    for c, w, eta, a in TRUE:
        model = model + ref.pseudo_voigt(x, c, w, eta, a)
    y = rng.poisson(model, size=(n_scans, x.size)).astype(float)
    return x, y, np.sqrt(np.maximum(y, 1.0))


def start_values():
    p0 = np.array([[29.98, 0.13, 0.5, np.nan, 0.0], [30.19, 0.13, 0.5, np.nan, 0.0]])
    lo = np.array([[0.0, 0.02, 0.0, 0.0, 0.0]] * 2)
    hi = np.array([[0.0, 0.5, 1.0, np.inf, 0.0]] * 2)
    return p0, lo, hi


def scipy_fit(x, y, s, p0, dc, window_range):
    """Same model, bounds and points with scipy (trust-region reflective)."""
    m = (x >= window_range[0]) & (x <= window_range[1])
    xm, ym, sm = x[m], y[m], s[m]
    xmid = 0.5 * (xm[0] + xm[-1])

    def model(q):
        out = q[0] + q[1] * (xm - xmid)
        for k in range(2):
            c, w, eta, a = q[2 + 4 * k: 6 + 4 * k]
            out = out + ref.pseudo_voigt(xm, c, w, eta, a)
        return out

    q0 = [ym.min(), 0.0]
    lo, hi = [-np.inf, -np.inf], [np.inf, np.inf]
    for k in range(2):
        c = p0[k, 0]
        q0 += [c, p0[k, 1], p0[k, 2], 5.0]
        lo += [c - dc, 0.02, 0.0, 0.0]
        hi += [c + dc, 0.5, 1.0, np.inf]
    res = least_squares(lambda q: (ym - model(q)) / sm, q0, bounds=(lo, hi), x_scale="jac",
                        xtol=1e-14, ftol=1e-14, gtol=1e-14, max_nfev=5000)
    dof = xm.size - len(q0)
    cov = np.linalg.inv(res.jac.T @ res.jac) * (2 * res.cost / dof)
    return res.x, np.sqrt(np.diag(cov))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_agrees_with_scipy_least_squares(seed):
    x, y, s = make_problem(seed)
    p0, lo, hi = start_values()
    fit = fit_stack_array(x, y, s, p0, lo, hi, center_range=0.1, window=3.0, windows=[0, 0])
    assert np.all(fit.status == FitStatus.CONVERGED)
    b0, b1, xmid = fit.background[0, 0]
    # the window spans [29.98 - 3·0.13, 30.19 + 3·0.13] → same points for scipy
    q, esd = scipy_fit(x, y[0], s[0], p0, 0.1, (29.98 - 0.39, 30.19 + 0.39))
    for k in range(2):
        assert fit.params[0, k, 0] == pytest.approx(q[2 + 4 * k], abs=1e-4)
        assert fit.params[0, k, 3] == pytest.approx(q[5 + 4 * k], rel=1e-3)
        assert fit.esd[0, k, 0] == pytest.approx(esd[2 + 4 * k], rel=0.02)
        assert fit.esd[0, k, 3] == pytest.approx(esd[5 + 4 * k], rel=0.02)


def test_fixed_slot_stays_fixed():
    x, y, s = make_problem(5)
    p0, lo, hi = start_values()
    lo[:, 2] = hi[:, 2] = p0[:, 2] = 0.45
    fit = fit_stack_array(x, y, s, p0, lo, hi, center_range=0.1)
    assert np.all(fit.params[0, :, 2] == 0.45)
    assert np.all(fit.esd[0, :, 2] == 0.0)


def test_all_nan_scan_and_unconvergeable_scan():
    x, y, s = make_problem(6, n_scans=3)
    y[1] = np.nan
    p0, lo, hi = start_values()
    fit = fit_stack_array(x, y, s, p0, lo, hi, center_range=0.1, maxiter=50)
    assert np.all(fit.status[1] == FitStatus.NO_DATA)
    assert np.all(np.isnan(fit.params[1]))
    assert np.all(fit.status[[0, 2]] == FitStatus.CONVERGED)
    bad = fit_stack_array(x, y[:1], s[:1], p0 + [0.05, 0.2, 0, 0, 0], lo, hi, center_range=0.1, maxiter=1)
    assert np.all(bad.status == FitStatus.NOT_CONVERGED)
    assert np.all(np.isnan(bad.params))


def test_kernel_status_codes_match_schema():
    from phasetrace._kernels import batch
    assert (batch.ST_CONVERGED, batch.ST_HIT_BOUND, batch.ST_BELOW_DETECTION,
            batch.ST_NOT_CONVERGED, batch.ST_NO_DATA) == (
        FitStatus.CONVERGED, FitStatus.HIT_BOUND, FitStatus.BELOW_DETECTION,
        FitStatus.NOT_CONVERGED, FitStatus.NO_DATA)


def test_kernels_import_only_numpy_numba_math():
    import ast
    from pathlib import Path

    import phasetrace._kernels as kernels
    folder = Path(kernels.__file__).parent
    for path in [folder / f for f in ("__init__.py", "profiles.py", "lm.py", "batch.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [(node.module or "").split(".")[0]]
            else:
                continue
            assert set(names) <= {"numpy", "numba", "math", "__future__"}, (path.name, names)
