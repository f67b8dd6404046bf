"""Copy of main's lattice/pawley.py (before the refine engine), kept only as the benchmark baseline.

Whole-pattern (Pawley-type) refinement of the cells of the phases present in one scan.

Model of the background-subtracted pattern::

    y(2θ) = Σ_phases Σ_k A_k [φ(2θ − 2θ_k) + r φ(2θ − 2θ'_k)] + b0 + b1 (2θ − 2θ_mid)

with 2θ_k = 2 asin(λ / 2 d_k(cell)) + zero (2θ'_k with λ2 and ratio r for a Kα doublet),
φ a unit-area pseudo-Voigt of width ``fwhm_k = s_phase √(W + U tan² θ_k)`` and mixing η.
The intensities A_k ≥ 0 are solved by non-negative least squares at every step (variable
projection), so overlapping peaks, preferred orientation and intensity errors of the
reference structures do not bias the cells; the non-linear parameters (zero shift shared
by all phases, W, U, η, the width scale of each further phase and every phase's free cell
parameters) are refined by a bounded Levenberg–Marquardt loop with an analytic Jacobian.
Esds come from the Jacobian at the solution scaled by the reduced χ².
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import nnls

from phasetrace._kernels.lattice import pv_design
from phasetrace.errors import FitError
from phasetrace.phases.cell import cell_from_free, metric_from_free
from phasetrace.phases.reference import ReferencePhase

__all__ = ["PawleyResult", "pawley_refine"]

_LN2 = np.log(2.0)


@dataclass(frozen=True)
class PawleyResult:
    """Result of :func:`pawley_refine`.

    Attributes
    ----------
    free : list of ndarray
        Refined free cell parameters of each phase (Å, degrees).
    esd_free : list of ndarray
        Their standard uncertainties.
    cov_free : list of ndarray
        Covariance block (n_free, n_free) of each phase's free parameters.
    zero : float
        Zero shift, degrees 2θ (observed = calculated + zero).
    esd_zero : float
    hkl : list of ndarray
        Reflections (K_p, 3) used for each phase.
    intensity : list of ndarray
        Fitted integrated intensities A_k (K_p,), counts·degrees.
    calc : ndarray, shape (N,)
        Calculated pattern on the full grid (background-subtracted scale).
    redchi : float
        Reduced χ² over the fitted points.
    nfev : int
        Model evaluations.
    status : int
        1 converged, 2 damping exhausted (at a minimum within the bounds), 0 budget used.
    profile : ndarray, shape (3 + n_phases - 1,)
        Refined profile parameters W (deg²), U (deg²), η and the width scales of the
        phases after the first: a warm start for the next scan (``profile0``).
    """

    free: list[np.ndarray]
    esd_free: list[np.ndarray]
    cov_free: list[np.ndarray]
    zero: float
    esd_zero: float
    hkl: list[np.ndarray]
    intensity: list[np.ndarray]
    calc: np.ndarray
    redchi: float
    nfev: int
    status: int
    profile: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _positions(phase: ReferencePhase, free: np.ndarray, hkl: np.ndarray, wl: float) -> np.ndarray:
    m = metric_from_free(phase.crystal_system, free)
    q2 = (m[0] * hkl[:, 0] ** 2 + m[1] * hkl[:, 1] ** 2 + m[2] * hkl[:, 2] ** 2
          + 2 * (m[3] * hkl[:, 0] * hkl[:, 1] + m[4] * hkl[:, 0] * hkl[:, 2]
                 + m[5] * hkl[:, 1] * hkl[:, 2]))
    return 2 * np.degrees(np.arcsin(np.clip(0.5 * wl * np.sqrt(q2), 0.0, 0.999999)))


def _nnls_normal(design: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Non-negative least squares through the (scaled) normal equations, (N, K) → (K,)."""
    norms = np.maximum(np.linalg.norm(design, axis=0), 1e-30)
    d = design / norms
    gram = d.T @ d
    gram[np.diag_indices_from(gram)] += 1e-10
    try:
        chol = np.linalg.cholesky(gram)
    except np.linalg.LinAlgError:
        coef, _ = nnls(d, target, maxiter=20 * d.shape[1])
        return coef / norms
    z = np.linalg.solve(chol, d.T @ target)
    coef, _ = nnls(chol.T, z, maxiter=20 * d.shape[1])
    return coef / norms


class _Model:
    """Evaluates Φ, A and the Jacobian for a parameter vector (cached on the last x)."""

    def __init__(self, x, y, w, phases, hkls, wl, wl2, ratio):
        self.x, self.y, self.w = x, y, w
        self.phases, self.hkls = phases, hkls
        self.wl, self.wl2, self.ratio = wl, wl2, ratio
        self.n_phase = len(phases)
        self.sizes = [p.free_bounds.shape[0] for p in phases]
        self.mid = 0.5 * (x[0] + x[-1])
        xb = (x - self.mid) / max(x[-1] - x[0], 1e-9)
        self.base = np.stack([np.ones_like(xb), -np.ones_like(xb), xb, -xb], axis=1)
        self._key = None

    def unpack(self, p):
        zero, w_, u_, eta = p[:4]
        scales = np.concatenate([[1.0], p[4:4 + self.n_phase - 1]])
        frees, i = [], 3 + self.n_phase
        for n in self.sizes:
            frees.append(p[i:i + n])
            i += n
        return zero, w_, u_, eta, scales, frees

    def _columns(self, p):
        """Design matrix (N, K_total + 4: peaks then background) and derivative arrays."""
        zero, w_, u_, eta, scales, frees = self.unpack(p)
        n_par = p.size
        sizes = [h.shape[0] for h in self.hkls]
        k_tot = sum(sizes)
        design = np.zeros((self.x.size, k_tot + 4))
        design[:, k_tot:] = self.base
        dc, dw, de = (np.zeros((self.x.size, k_tot)) for _ in range(3))
        dpos = np.zeros((k_tot, n_par))
        dwid = np.zeros((k_tot, n_par))
        col = 0
        for j, (phase, hkl, free) in enumerate(zip(self.phases, self.hkls, frees)):
            k = sizes[j]
            tt0 = _positions(phase, free, hkl, self.wl)
            start = 3 + self.n_phase + sum(self.sizes[:j])
            for m in range(free.size):
                step = np.zeros(free.size)
                step[m] = 1e-5 * max(abs(free[m]), 1.0)
                dpos[col:col + k, start + m] = (
                    _positions(phase, free + step, hkl, self.wl) - tt0) / step[m]
            dpos[col:col + k, 0] = 1.0
            theta = np.radians(tt0 / 2)
            core = np.sqrt(np.maximum(w_ + u_ * np.tan(theta) ** 2, 1e-10))
            fwhm = np.ascontiguousarray(scales[j] * core)
            lines = [(tt0 + zero, 1.0, np.ones_like(tt0))]
            if np.isfinite(self.wl2) and self.ratio > 0:
                tt2 = _positions(phase, free, hkl, self.wl2)
                lines.append((tt2 + zero, self.ratio, np.tan(np.radians(tt2 / 2)) / np.tan(theta)))
            for centre, r, dfac in lines:
                pv_design(self.x, np.ascontiguousarray(centre), fwhm, float(r), float(eta),
                          np.ascontiguousarray(dfac), 15.0, col, design, dc, dw, de)
            dwid[col:col + k, 1] = scales[j] * 0.5 / core
            dwid[col:col + k, 2] = scales[j] * 0.5 * np.tan(theta) ** 2 / core
            if j > 0:
                dwid[col:col + k, 3 + j] = core
            col += k
        return design, dc, dw, de, dpos, dwid

    def evaluate(self, p):
        key = p.tobytes()
        if key == self._key:
            return self._cache
        design, dc, dw, de, dpos, dwid = self._columns(p)
        coef = _nnls_normal(design * self.w[:, None], self.y * self.w)
        amp = coef[:dc.shape[1]]
        calc = design @ coef
        resid = (self.y - calc) * self.w
        jac = -(((dc * amp) @ dpos) + ((dw * amp) @ dwid)) * self.w[:, None]
        jac[:, 3] = -(de @ amp) * self.w
        self._key, self._cache = key, (resid, jac, amp, calc)
        return self._cache


def _levenberg_marquardt(model: _Model, p0: np.ndarray, lb: np.ndarray, ub: np.ndarray, *,
                         max_nfev: int, ftol: float = 1e-5, xtol: float = 1e-7,
                         pred_tol: float = 0.01) -> tuple[np.ndarray, int, int]:
    """Bounded Levenberg–Marquardt (steps clipped to the bounds); returns (x, nfev, status).

    status: 1 converged (relative χ² change below ``ftol``, relative steps below ``xtol``,
    or, after a step that gained less than 10 ``ftol``, a nearly undamped step predicted to
    lower χ² by less than ``pred_tol`` times the reduced χ², i.e. the parameters within about
    √pred_tol esd of the minimum; the amplitudes' dependence is left out of that prediction,
    hence the double condition),
    2 damping exhausted, 0 evaluation budget used up.
    """
    p = p0.copy()
    resid, jac = model.evaluate(p)[:2]
    cost = float(resid @ resid)
    lam, nfev, last_gain = 1e-3, 1, 1.0
    while nfev < max_nfev:
        grad = jac.T @ resid
        hess = jac.T @ jac
        diag = np.maximum(np.diag(hess), 1e-12 * max(np.max(np.diag(hess)), 1e-300))
        try:
            step = np.linalg.solve(hess + lam * np.diag(diag), -grad)
        except np.linalg.LinAlgError:
            lam *= 10
            continue
        trial = np.clip(p + step, lb, ub)
        if lam <= 1e-2 and last_gain < 10 * ftol:
            moved = trial - p
            predicted = -(2.0 * grad @ moved + moved @ hess @ moved)
            if predicted < pred_tol * cost / max(resid.size - p.size, 1):
                return p, nfev, 1
        r_new = model.evaluate(trial)[0]
        nfev += 1
        c_new = float(r_new @ r_new)
        if c_new < cost:
            small_step = np.all(np.abs(trial - p) <= xtol * (np.abs(p) + xtol))
            last_gain = (cost - c_new) / cost
            done = last_gain < ftol or small_step
            p, cost = trial, c_new
            resid, jac = model.evaluate(p)[:2]
            lam = max(lam / 3, 1e-9)
            if done:
                return p, nfev, 1
        else:
            lam *= 4
            if lam > 1e8:
                return p, nfev, 2
    return p, nfev, 0


def _select_reflections(two_theta, phases, free0, wl, fwhm_deg) -> list[np.ndarray]:
    """Reflections (float hkl) of each phase inside the range and ≥ 0.1 % of its strongest."""
    lo, hi = two_theta[0], two_theta[-1]
    hkls = []
    for phase, free in zip(phases, free0):
        tt, inten = phase.intensities(cell_from_free(phase.crystal_system, free), wl)
        ok = np.isfinite(tt) & (tt > lo - 3 * fwhm_deg) & (tt < hi + 3 * fwhm_deg)
        ok &= inten >= 1e-3 * np.max(np.where(ok, inten, 0.0), initial=0.0)
        hkls.append(phase.hkl[ok].astype(float))
    return hkls


def _fit_mask(two_theta, net, sigma, phases, free0, hkls, wl, reach) -> np.ndarray:
    """Points with data and within ``reach`` degrees of a reflection."""
    centres = np.sort(np.concatenate(
        [_positions(p, f, h, wl) for p, f, h in zip(phases, free0, hkls)] + [np.zeros(0)]))
    mask = np.isfinite(net) & np.isfinite(sigma) & (sigma > 0)
    if centres.size == 0:
        return mask & False
    j = np.clip(np.searchsorted(centres, two_theta), 1, max(centres.size - 1, 1))
    dist = np.minimum(np.abs(two_theta - centres[j - 1]),
                      np.abs(two_theta - centres[np.minimum(j, centres.size - 1)]))
    return mask & (dist < reach)


def _start_and_bounds(phases, free0, fwhm_deg, zero0, max_zero_deg, free_bounds=None,
                      profile0=None):
    """Start vector and bounds: zero, W, U, η, width scales, then free cell parameters.

    ``free_bounds`` (per phase an (n_free, 2) array or None) replaces a phase's lattice
    range; such bounds are used as given (no 2 % widening)."""
    n_ph = len(phases)
    free_bounds = list(free_bounds) if free_bounds is not None else [None] * n_ph
    p0 = np.concatenate([[zero0, (0.8 * fwhm_deg) ** 2, 0.0, 0.5], np.ones(n_ph - 1), *free0])
    lb = np.concatenate([[zero0 - max_zero_deg, (0.2 * fwhm_deg) ** 2, 0.0, 0.0],
                         np.full(n_ph - 1, 0.3), *[p.free_bounds[:, 0] for p in phases]])
    ub = np.concatenate([[zero0 + max_zero_deg, (3 * fwhm_deg) ** 2, (5 * fwhm_deg) ** 2, 1.0],
                         np.full(n_ph - 1, 4.0), *[p.free_bounds[:, 1] for p in phases]])
    span = np.concatenate([p.free_bounds[:, 1] - p.free_bounds[:, 0] for p in phases])
    lb[3 + n_ph:] -= 0.02 * span
    ub[3 + n_ph:] += 0.02 * span
    if profile0 is not None:
        prof = np.asarray(profile0, float)
        p0[1:1 + min(prof.size, 2 + n_ph)] = prof[:2 + n_ph]
    i = 3 + n_ph
    for phase, fb in zip(phases, free_bounds):
        n = phase.free_bounds.shape[0]
        if fb is not None:
            lb[i:i + n], ub[i:i + n] = np.asarray(fb, float)[:, 0], np.asarray(fb, float)[:, 1]
        i += n
    return np.clip(p0, lb, ub), lb, ub


def _covariance(jac, redchi, start, sizes) -> tuple[np.ndarray, list[np.ndarray]]:
    """Esds of all parameters and the covariance block of each phase's free parameters."""
    try:
        cov = np.linalg.pinv(jac.T @ jac) * redchi
    except np.linalg.LinAlgError:
        cov = np.full((jac.shape[1], jac.shape[1]), np.nan)
    blocks = []
    for n in sizes:
        blocks.append(cov[start:start + n, start:start + n].copy())
        start += n
    return np.sqrt(np.maximum(np.diag(cov), 0.0)), blocks


def pawley_refine(
    two_theta: np.ndarray, net: np.ndarray, sigma: np.ndarray,
    phases: list[ReferencePhase], free0: list[np.ndarray], *,
    wavelength_A: float, wavelength2_A: float = float("nan"), kalpha2_ratio: float = 0.0,
    fwhm_deg: float, zero0: float = 0.0, max_zero_deg: float = 0.5, max_nfev: int = 40,
    free_bounds: list[np.ndarray | None] | None = None,
    profile0: np.ndarray | None = None,
) -> PawleyResult:
    """Refine cells, zero shift and widths of ``phases`` against one background-subtracted scan.

    Parameters
    ----------
    two_theta : ndarray, shape (N,)
        Degrees.
    net : ndarray, shape (N,)
        Background-subtracted intensity (NaN points are ignored).
    sigma : ndarray, shape (N,)
        One-sigma uncertainty of ``net``.
    phases : list of ReferencePhase
        Phases present (cell components included).
    free0 : list of ndarray
        Starting free cell parameters per phase (Å, degrees).
    wavelength_A, wavelength2_A, kalpha2_ratio : float
        Primary and second wavelength (Å; NaN if monochromatic) and I2/I1.
    fwhm_deg : float
        Starting peak width, degrees.
    zero0, max_zero_deg : float
        Starting zero shift and its bound (±), degrees.
    max_nfev : int
        Most model evaluations.
    free_bounds : list of (ndarray, shape (n_free, 2), or None), optional
        Per phase, bounds (Å, degrees) replacing its lattice range, e.g. to hold a distorted
        phase near its cell in neighbouring scans.

    Returns
    -------
    PawleyResult

    Raises
    ------
    FitError
        When too few data points lie near the phases' reflections.
    """
    hkls = _select_reflections(two_theta, phases, free0, wavelength_A, fwhm_deg)
    mask = _fit_mask(two_theta, net, sigma, phases, free0, hkls, wavelength_A,
                     6 * fwhm_deg + max_zero_deg)
    if mask.sum() <= 4 + sum(p.free_bounds.shape[0] for p in phases):
        raise FitError(f"only {int(mask.sum())} usable points near the reflections of "
                       f"{[p.label for p in phases]}; expected a pattern covering their peaks")
    x, y, w = two_theta[mask], net[mask], 1.0 / sigma[mask]
    model = _Model(x, y, w, phases, hkls, wavelength_A, wavelength2_A, kalpha2_ratio)
    p0, lb, ub = _start_and_bounds(phases, free0, fwhm_deg, zero0, max_zero_deg, free_bounds,
                                   profile0)
    x_best, nfev, status = _levenberg_marquardt(model, p0, lb, ub, max_nfev=max_nfev)
    resid, jac, amp, _ = model.evaluate(x_best)
    redchi = float(resid @ resid / max(resid.size - x_best.size - amp.size, 1))
    esd, cov_free = _covariance(jac, redchi, 3 + len(phases), model.sizes)
    _, _, _, _, _, frees = model.unpack(x_best)
    _, _, _, _, _, esds = model.unpack(esd)
    full = _Model(two_theta, np.zeros_like(two_theta), np.ones_like(two_theta), phases, hkls,
                  wavelength_A, wavelength2_A, kalpha2_ratio)
    phi_full = full._columns(x_best)[0]
    calc = phi_full[:, :amp.size] @ amp
    split = np.cumsum([h.shape[0] for h in hkls])[:-1]
    return PawleyResult(
        free=[f.copy() for f in frees], esd_free=[e.copy() for e in esds], cov_free=cov_free,
        zero=float(x_best[0]), esd_zero=float(esd[0]), hkl=[h.astype(int) for h in hkls],
        intensity=np.split(amp, split), calc=calc, redchi=redchi, nfev=nfev, status=status,
        profile=x_best[1:3 + len(phases)].copy())
