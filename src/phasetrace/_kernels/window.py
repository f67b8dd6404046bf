"""Window of one line of the whole-pattern model (:mod:`phasetrace._kernels.pattern`).

A line is evaluated only within ±``cutoff`` FWHM of its centre.  Cut off hard, the model
jumps whenever a window edge crosses a grid point as the centre or the width moves: the
Lorentzian part there is ``η 2/(πΓ(1 + 4 cutoff²))``, 1/577 of the line's height at 12 FWHM,
so an 8,000-count line on a 300-count background steps χ² by ~0.1 per crossing.  χ² is then a
staircase at the 0.1 level along any step, far above the solver's convergence threshold
(``tol × χ²_ν`` ≈ 1e-3): a Gauss–Newton step predicting a decrease of 0.01 can raise χ² by 0.2,
and the fit ends on stagnation, not on its convergence test.

The line is therefore multiplied by the smoothstep taper ``w(u) = 1 − 3t² + 2t³`` with
``t = u − (cutoff − 1)`` clipped to [0, 1] and ``u = |x − c|/Γ``: 1 out to ``cutoff − 1`` FWHM, 0
at the window edge, value and slope continuous, so χ² and its gradient are continuous in every
parameter.  The Lorentzian area left out grows from ``1 − (2/π) atan(2 cutoff)`` = 2.65 % to
2.77 % (× η) at 12 FWHM; the Gaussian part (< 1e-77 of its peak beyond 4 FWHM) is not touched
for ``cutoff ≥ 5``.
"""

from __future__ import annotations

import math

from numba import njit

from .profiles import _AG, _CG, _CL, pv_unit

__all__ = ["pv_window", "pv_window_value"]


@njit(cache=True, nogil=True)
def pv_window(dx: float, gam: float, eta: float, cutoff: float):
    """Tapered unit-area pseudo-Voigt at offset ``dx = x − c`` (FWHM ``gam``, mixing ``eta``).

    Returns ``(value, ∂/∂c, ∂/∂Γ, ∂/∂η)`` as :func:`phasetrace._kernels.profiles.pv_unit`,
    the taper's own derivatives included (``∂u/∂c = −sign(dx)/Γ``, ``∂u/∂Γ = −u/Γ``).
    """
    val, dc, dg, de = pv_unit(dx, gam, eta)
    u = abs(dx) / gam
    t = u - (cutoff - 1.0)
    if t <= 0.0:
        return val, dc, dg, de
    if t >= 1.0:
        return 0.0, 0.0, 0.0, 0.0
    w = 1.0 - t * t * (3.0 - 2.0 * t)
    dw = -6.0 * t * (1.0 - t) * val / gam          # value × ∂w/∂u / Γ
    dc = dc * w - (dw if dx > 0.0 else -dw)
    dg = dg * w - dw * u
    return val * w, dc, dg, de * w


@njit(cache=True, nogil=True)
def pv_window_value(dx: float, gam: float, eta: float, cutoff: float) -> float:
    """Value of :func:`pv_window` alone (the χ²-only evaluations of a fit), the same
    arithmetic as :func:`pv_window` and :func:`phasetrace._kernels.profiles.pv_unit`."""
    inv = 1.0 / gam
    u2 = dx * dx * inv * inv
    g = _CG * inv * math.exp(-_AG * u2) if u2 < 64.0 else 0.0
    val = eta * (_CL * inv * (1.0 / (1.0 + 4.0 * u2))) + (1.0 - eta) * g
    t = abs(dx) / gam - (cutoff - 1.0)
    if t <= 0.0:
        return val
    if t >= 1.0:
        return 0.0
    return val * (1.0 - t * t * (3.0 - 2.0 * t))
