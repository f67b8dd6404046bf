"""Declared parameters, options and results of the whole-pattern refinement (no packed vectors).

Status codes (``fit_status`` in ``results.nc``, CF ``flag_values``/``flag_meanings``; the name in
``lattice.csv``):

=====  ================  ==========================================================
code   name              meaning
=====  ================  ==========================================================
0      converged         χ² at a minimum inside the bounds; esds from the covariance
1      iteration_limit   the iteration budget ran out before the convergence test passed
2      at_bound          a cell parameter, the zero shift, the displacement or the upper
                         bound of the phase's stacking-fault breadth holds the minimum
                         (value biased)
3      singular          the normal matrix is not positive definite at the solution
                         (a parameter undetermined: no esd)
4      not_refined       too few data points near the phase's reflections
=====  ================  ==========================================================

Only ``converged`` fits give values (cells, fractions) to tables and transitions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

__all__ = ["RefineStatus", "STATUS_MEANINGS", "Parameter", "RefineOptions", "PhaseSolution",
           "RefineResult"]


class RefineStatus(IntEnum):
    """Outcome of one refinement, per scan and per (scan, phase); see the module table."""

    CONVERGED = 0
    ITERATION_LIMIT = 1
    AT_BOUND = 2
    SINGULAR = 3
    NOT_REFINED = 4

    @property
    def label(self) -> str:
        return self.name.lower()


#: space-separated names in code order (CF ``flag_meanings``).
STATUS_MEANINGS = " ".join(s.label for s in RefineStatus)


@dataclass(frozen=True)
class Parameter:
    """One refined quantity (lmfit-like): value, esd (NaN when fixed or held), bounds."""

    name: str
    value: float
    esd: float
    lower: float
    upper: float
    vary: bool
    at_bound: bool = False


@dataclass(frozen=True)
class RefineOptions:
    """Model and solver options of :func:`phasetrace.refine.refine_pattern`.

    Attributes
    ----------
    intensities : str
        ``"rietveld"``: per phase a scale factor times the reference structure's m|F|²
        (Lorentz–polarisation, March–Dollase preferred orientation for layered phases);
        ``"pawley"``: one free intensity per reflection for every phase.
    pawley_labels : tuple of str
        Phases refined with free intensities in Rietveld mode (no trustworthy structure).
        Cell components (foil, window) always are: rolled foils are strongly textured and
        their intensities carry no fraction.
    geometry : str
        ``"reflection"`` (zero shift and sample displacement D cos θ), ``"transmission"``
        (zero shift only: capillary/transmission has no first-order displacement term) or
        ``"auto"``: reflection for a laboratory Kα1 line of λ ≥ 1 Å (Cr, Fe, Co, Cu in
        :data:`phasetrace.schema.WAVELENGTHS_A`, ±0.0015 Å), transmission for hard
        radiation (Mo, Ag Kα, synchrotron) that operando cells are measured through
        (absorption lengths: see :func:`phasetrace.refine.model.resolve_geometry`).
    preferred_orientation : bool
        Refine a March–Dollase r along the layer normal (c*) of layered phases.
    stacking_faults : bool
        Refine a stacking-fault breadth Δl for the O/P intergrowths (OP4, OP2) and the
        phases in ``stacking_fault_labels``
        (:func:`phasetrace.refine.model.stacking_fault_sensitive`): their h − k ≠ 3n,
        l ≠ 0 reflections get an extra Lorentzian Γ_sf = Δl λ |l| c*² / (d* cos θ) (rad 2θ):
        a breadth Δl (FWHM, reciprocal-lattice units of l) along the c* rod projected on d*
        (Warren 1969 §13: random layer faults broaden those rods by a constant Δl, ∝ the
        fault probability, and leave h − k = 3n and 00l sharp).  Its lower bound 0 (no
        faults) is physical and is not flagged.
    stacking_fault_labels : tuple of str
        Further layered phases in hexagonal cells (e.g. ``("O3",)`` for a faulted O3) that
        get the term.
    max_sf_dl : float
        Upper bound of Δl (rlu).  1: the breadth equals the spacing of l along the rod, the
        reflections of the stacking no longer exist as Bragg peaks (random stacking), so a
        fit reaching it is flagged ``at_bound``.
    n_background : int
        Refinable Chebyshev terms added to the estimated background.
    zero0, max_zero_deg, displacement0, max_displacement_deg : float
        Starts and (±) bounds, degrees 2θ; a bound of 0 fixes the parameter.
    degenerate_rho2 : float
        In reflection geometry the zero is held at ``zero0`` when its squared correlation with
        the displacement exceeds this (0.99: esds inflated more than tenfold; over a narrow
        2θ range cos θ is nearly constant and the two cannot be told apart).
    max_iter : int
        Jacobian evaluations allowed.
    tol : float
        Convergence: a Gauss–Newton step predicting a χ² decrease below ``tol × χ²_ν``
        (every parameter then moves by less than √tol esd; see ``fit_pattern``).
    cutoff : float
        Peak window, ± FWHM.
    """

    intensities: str = "rietveld"
    pawley_labels: tuple[str, ...] = ()
    geometry: str = "auto"
    preferred_orientation: bool = True
    stacking_faults: bool = True
    stacking_fault_labels: tuple[str, ...] = ()
    max_sf_dl: float = 1.0
    n_background: int = 3
    zero0: float = 0.0
    max_zero_deg: float = 0.5
    displacement0: float = 0.0
    max_displacement_deg: float = 1.0
    degenerate_rho2: float = 0.99
    max_iter: int = 60
    tol: float = 1e-3
    cutoff: float = 12.0


@dataclass
class PhaseSolution:
    """Refined state of one phase in one scan.

    Attributes
    ----------
    label : str
    mode : str
        ``"rietveld"`` or ``"pawley"``.
    free, esd_free : ndarray (n_free,)
        Free cell parameters of the phase's crystal system (Å, degrees) and esds.
    cov_free : ndarray (n_free, n_free)
    tie : str
        ``""`` or ``"b=c"`` when refined with two axes constrained equal.
    scale, esd_scale : float
        Rietveld scale S (NaN in Pawley mode).
    u, w, eta, po_r : float
        Caglioti U, W (deg²), Lorentz fraction, March–Dollase r (1: none / not refined).
    sf_dl, esd_sf_dl : float
        Stacking-fault breadth Δl along c* (FWHM, reciprocal-lattice units; see
        ``RefineOptions.stacking_faults``) and its esd; NaN when not refined.
    hkl : ndarray (K, 3) int
    intensity : ndarray (K,)
        Integrated Kα1 intensities A_k (counts·deg).
    status : RefineStatus
    weight_fraction, esd_weight_fraction, volume_fraction, esd_volume_fraction : float
        NaN for cell components and Pawley phases.
    q : ndarray
        Reciprocal-metric parameters (internal; a warm start for the next scan).
    """

    label: str
    mode: str
    free: np.ndarray
    esd_free: np.ndarray
    cov_free: np.ndarray
    tie: str
    scale: float
    esd_scale: float
    u: float
    w: float
    eta: float
    po_r: float
    hkl: np.ndarray
    intensity: np.ndarray
    status: RefineStatus
    weight_fraction: float = np.nan
    esd_weight_fraction: float = np.nan
    volume_fraction: float = np.nan
    esd_volume_fraction: float = np.nan
    q: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sf_dl: float = np.nan
    esd_sf_dl: float = np.nan


@dataclass
class RefineResult:
    """Result of :func:`phasetrace.refine.refine_pattern` for one scan.

    ``calc`` is the calculated pattern on the observed scale (phases + background) on the full
    grid, ``background`` its background part (estimated baseline + refined terms); R-factors
    compare the observed counts with ``calc`` over the fitted points, weights 1/σ²:
    ``rwp = 100 √(Σw(y−calc)²/Σwy²)``, ``rp = 100 Σ|y−calc|/Σ|y|``, ``gof = √(χ²/(N−P))``.
    Esds are from the full covariance (JᵀWJ)⁻¹ scaled by χ²_ν.
    """

    phases: list[PhaseSolution]
    zero: float
    esd_zero: float
    displacement: float
    esd_displacement: float
    geometry: str
    calc: np.ndarray
    background: np.ndarray
    rwp: float
    rp: float
    gof: float
    redchi: float
    n_points: int
    n_params: int
    nfev: int
    n_iter: int
    status: RefineStatus
    params: list[Parameter]
    covariance: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))
    background_coeffs: np.ndarray = field(default_factory=lambda: np.zeros(0))

    # views used by the stack analysis (one entry per phase, in order)
    @property
    def free(self) -> list[np.ndarray]:
        return [p.free for p in self.phases]

    @property
    def esd_free(self) -> list[np.ndarray]:
        return [p.esd_free for p in self.phases]

    @property
    def cov_free(self) -> list[np.ndarray]:
        return [p.cov_free for p in self.phases]

    @property
    def hkl(self) -> list[np.ndarray]:
        return [p.hkl for p in self.phases]

    @property
    def intensity(self) -> list[np.ndarray]:
        return [p.intensity for p in self.phases]

    @property
    def converged(self) -> bool:
        return self.status == RefineStatus.CONVERGED

    def param(self, name: str) -> Parameter:
        """The declared parameter called ``name`` (e.g. ``"P2.scale"``, ``"zero"``)."""
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"no refined parameter {name!r}; have {[p.name for p in self.params]}")
