"""One setting through a series, and the higher-symmetry cell when a distortion is not significant.

An orthorhombic phase whose reference cell has two axes within 2 % of each other (pseudo-
tetragonal, e.g. Fddd CuCr2O4 with b ≈ c) has two equivalent labellings once the axes cross.
The fit keeps the labels of the reference structure (its |F|² belong to them); for reporting,
the pair is written longer-first (b ≥ c), so the labels never swap within a series.

When the refined difference of the pair is within ``n_sigma`` esds of zero (esd from the full
covariance, so the b–c correlation counts), the scan is refined again with the two axes tied
and that higher-symmetry cell is reported.  For one linear constraint this is the F-test
F = (Δ/σ_Δ)² < n_sigma² (n_sigma = 2: the split is kept only when it is significant at ~95 %).
Distorted layered variants (O'3, P'2, P'3, which have a parent) are left alone: their
distortion is judged against the parent phase by the identification.
"""

from __future__ import annotations

import numpy as np

from ..phases.reference import ReferencePhase

__all__ = ["pseudo_tetragonal_pair", "tie_name", "report_setting", "insignificant_split"]

_NAMES = "abc"
#: relative length difference of the reference cell's axes below which a pair is equivalent.
PSEUDO_TETRAGONAL_REL = 0.02


def pseudo_tetragonal_pair(phase: ReferencePhase) -> tuple[int, int] | None:
    """Indices (i < j) of the two nearly equal axes of an orthorhombic phase, else None."""
    if phase.crystal_system != "orthorhombic" or phase.parent or phase.family == "layered":
        return None
    abc = np.asarray(phase.cell[:3], float)
    best = min(((i, j) for i in range(3) for j in range(i + 1, 3)),
               key=lambda ij: abs(abc[ij[0]] / abc[ij[1]] - 1.0))
    return best if abs(abc[best[0]] / abc[best[1]] - 1.0) < PSEUDO_TETRAGONAL_REL else None


def tie_name(pair: tuple[int, int]) -> str:
    """``"b=c"`` for the pair (1, 2), etc."""
    return f"{_NAMES[pair[0]]}={_NAMES[pair[1]]}"


def report_setting(phase: ReferencePhase, free: np.ndarray, cov: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Free parameters and covariance with a pseudo-tetragonal pair ordered longer-first."""
    pair = pseudo_tetragonal_pair(phase)
    if pair is None or free[pair[0]] >= free[pair[1]]:
        return free, cov
    order = np.arange(free.size)
    order[[pair[0], pair[1]]] = order[[pair[1], pair[0]]]
    return free[order], cov[np.ix_(order, order)]


def insignificant_split(phase: ReferencePhase, free: np.ndarray, cov: np.ndarray,
                        n_sigma: float) -> str:
    """The tie (``"b=c"``…) when the pair's difference is within ``n_sigma`` esds, else ``""``."""
    pair = pseudo_tetragonal_pair(phase)
    if pair is None or not np.all(np.isfinite(cov)):
        return ""
    i, j = pair
    diff = free[i] - free[j]
    esd = float(np.sqrt(max(cov[i, i] + cov[j, j] - 2 * cov[i, j], 0.0)))
    return tie_name(pair) if abs(diff) <= n_sigma * esd else ""
