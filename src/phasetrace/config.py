"""Run configuration: frozen dataclasses, read from TOML and validated on load.

A bad option fails before the first scan is touched (``__post_init__`` checks).
The resolved configuration is stored in the output ``attrs`` and the report.

Examples
--------
>>> cfg = Config.from_dict({"phases": {"phases": "P2,O3"}})
>>> cfg.phases.names
('P2', 'O3')
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigError

__all__ = ["BackgroundConfig", "PeakFitConfig", "PhaseConfig", "TransitionConfig",
           "OutputConfig", "AnalysisConfig", "IdentifyConfig", "RefineConfig", "Config"]


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} = {value!r} is not one of {', '.join(allowed)}")


@dataclass(frozen=True)
class BackgroundConfig:
    """Background estimation.

    Attributes
    ----------
    method : {"snip", "arpls", "none"}
        pybaselines algorithm used per scan.
    """

    method: Literal["snip", "arpls", "none"] = "snip"

    def __post_init__(self) -> None:
        _choice("background.method", self.method, ("snip", "arpls", "none"))


@dataclass(frozen=True)
class PeakFitConfig:
    """Peak fitting.

    Attributes
    ----------
    profile : {"pseudo_voigt", "split_pseudo_voigt", "pearson7"}
        Line shape.
    enabled : bool
        Fit individual peaks (``peak_*`` variables in results.nc).
    """

    profile: Literal["pseudo_voigt", "split_pseudo_voigt", "pearson7"] = "pseudo_voigt"
    enabled: bool = True

    def __post_init__(self) -> None:
        _choice("peaks.profile", self.profile, ("pseudo_voigt", "split_pseudo_voigt", "pearson7"))


@dataclass(frozen=True)
class PhaseConfig:
    """Reference phases.

    Attributes
    ----------
    names : tuple of str or "auto"
        Phase labels to consider, or ``"auto"`` for the whole library.
    reference_dir : str
        Extra CIF folder ("" for none).
    calibrate : str
        Standard or cell part whose literature cell calibrates the wavelength (synchrotron)
        or zero/displacement (lab) for the whole stack ("" for none).
    elements : tuple of str
        Elements of the sample: the automatic search keeps only phases made of them
        (cell components are always kept); ``()`` for no restriction.
    """

    names: tuple[str, ...] | Literal["auto"] = "auto"
    reference_dir: str = ""
    calibrate: str = ""
    elements: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.names, str) and self.names != "auto":
            raise ConfigError(f"phases = {self.names!r}: expected 'auto' or a list of labels")
        if isinstance(self.elements, str):
            object.__setattr__(self, "elements", tuple(
                e.strip() for e in self.elements.split(",") if e.strip()))
        else:
            object.__setattr__(self, "elements", tuple(self.elements))
        if self.elements:
            from .phases.chemistry import check_elements

            check_elements(self.elements)


@dataclass(frozen=True)
class TransitionConfig:
    """Transition detection.

    Attributes
    ----------
    x : {"auto", "voltage_V", "temperature_K", "time_s", "capacity_mAh_g"}
        Independent variable of the series.
    min_fraction : float
        Fraction (0–1) below which a phase does not define a stage.
    min_scans : int
        Shortest stage, in scans.
    """

    x: Literal["auto", "voltage_V", "temperature_K", "time_s", "capacity_mAh_g"] = "auto"
    min_fraction: float = 0.05
    min_scans: int = 3

    def __post_init__(self) -> None:
        _choice("transitions.x", self.x,
                ("auto", "voltage_V", "temperature_K", "time_s", "capacity_mAh_g"))
        if not 0.0 <= self.min_fraction < 1.0:
            raise ConfigError(f"transitions.min_fraction = {self.min_fraction}: expected 0 <= f < 1")
        if self.min_scans < 1:
            raise ConfigError(f"transitions.min_scans = {self.min_scans}: expected >= 1")


@dataclass(frozen=True)
class OutputConfig:
    """What is written besides sequence.json, lattice.csv and results.nc.

    Attributes
    ----------
    figures : bool
        Write ``figures/`` (PNG 300 dpi + PDF).
    report : bool
        Write ``report.html``.
    material : str
        Material name for the publication table ("" if none).
    """

    figures: bool = True
    report: bool = True
    material: str = ""


@dataclass(frozen=True)
class AnalysisConfig:
    """How a stack is cut into analysis blocks, and the stack-wide decisions.

    The phase analysis is sequential in time (each scan starts from its
    predecessors' cells, zero shift and assemblage), so its result for a scan
    depends on which scans were analysed with it.  To make a run's answer
    independent of how it is executed (in memory, in chunks, on local processes
    or on a Dask cluster) the analysis itself is defined on fixed blocks of
    ``block_scans`` consecutive scans, each analysed with ``halo_scans`` extra
    scans on either side that are dropped afterwards.  Execution chunks
    (``--chunk-scans``) are whole numbers of blocks.

    Attributes
    ----------
    block_scans : int
        Scans per analysis block.  A last block shorter than half a block is merged
        into the previous one.
    halo_scans : int
        Context scans analysed on each side of a block and discarded.  Must cover
        the memory of the sequential analysis: the zero shift settles after 5
        scans and each scan starts from its neighbours' solutions, hence 8.
    survey_scans : int
        Evenly spaced scans read once for the stack-wide decisions (Kα2 line, the
        start positions of the per-peak fits).
    detect_kalpha2 : bool
        Test the data for an unannounced Kα2 line (Kα1 wavelength and no λ2 given),
        once for the whole stack, on the brightest survey scan.
    """

    block_scans: int = 64
    halo_scans: int = 8
    survey_scans: int = 32
    detect_kalpha2: bool = True

    def __post_init__(self) -> None:
        if self.block_scans < 1 or self.halo_scans < 0 or self.survey_scans < 1:
            raise ConfigError(f"analysis.block_scans = {self.block_scans}, halo_scans = {self.halo_scans}, "
                              f"survey_scans = {self.survey_scans}: expected block_scans >= 1, "
                              "halo_scans >= 0, survey_scans >= 1")


@dataclass(frozen=True)
class IdentifyConfig:
    """Phase presence by model comparison (:mod:`phasetrace.phases.presence`, ``[identify]``).

    Attributes
    ----------
    alpha : float
        Significance level of every presence test: a phase in a scan's model is kept when
        removing it worsens the whole-pattern fit with p < alpha, a candidate is added when
        adding it improves the fit with p < alpha (Hamilton F-test on the nested
        refinements, degrees of freedom reduced for serially correlated residuals).
        0.001: a chance of at most 1 in 1000 per test of calling a phase that is not there.
    residual_alpha : float
        False-alarm probability per scan of a residual peak: the fit's residual is searched
        for positive peaks above Φ⁻¹(1 − residual_alpha / M) σ (M resolution elements,
        Bonferroni) and the cell search proposes candidates where one is found.
    propose_score : float
        Smallest weighted completeness (0–1) of a cell-search match for the phase to be
        proposed as a candidate.  It only proposes (the F-test decides); 0.5 = half the
        phase's (√I-weighted) reflections on observed peaks, so a phase showing only its
        stronger half is still tried.
    max_candidates : int
        Add tests per proposal round (candidates in order of completeness): bounds the
        refits per scan.
    max_iter : int
        Jacobian evaluations per whole-pattern refinement.
    wald_margin : float
        A phase in the model whose linearised (Wald) log10 p on its scale factor is below
        ``wald_margin × log10(alpha)`` is kept without the removal refit (its evidence is
        recorded as ``"wald"``); 3: a thousand times beyond the decision level at
        alpha = 0.001, where the nested refit cannot reverse the decision.
    """

    alpha: float = 1e-3
    residual_alpha: float = 1e-3
    propose_score: float = 0.5
    max_candidates: int = 4
    max_iter: int = 60
    wald_margin: float = 3.0

    def __post_init__(self) -> None:
        if not (0.0 < self.alpha < 0.5 and 0.0 < self.residual_alpha < 0.5):
            raise ConfigError(f"identify.alpha = {self.alpha}, residual_alpha = {self.residual_alpha}: "
                              "expected 0 < alpha < 0.5")
        if not 0.0 <= self.propose_score <= 1.0:
            raise ConfigError(f"identify.propose_score = {self.propose_score}: expected 0..1")
        if self.max_candidates < 1 or self.max_iter < 5 or self.wald_margin < 1.0:
            raise ConfigError(f"identify.max_candidates = {self.max_candidates}, max_iter = "
                              f"{self.max_iter}, wald_margin = {self.wald_margin}: expected "
                              ">= 1, >= 5 and >= 1")


@dataclass(frozen=True)
class RefineConfig:
    """Per-scan whole-pattern refinement (:mod:`phasetrace.refine`, ``[refine]``).

    Attributes
    ----------
    intensities : str
        ``"rietveld"``: each phase's intensities are a scale factor times |F|² of its
        reference structure (atoms fixed, March–Dollase orientation for layered phases);
        ``"pawley"``: free intensities (no trustworthy structure) for every phase.
    pawley_phases : tuple of str
        Phases refined with free intensities while the others use their structures.
    geometry : str
        ``"reflection"`` (zero shift and sample displacement D·cos θ), ``"transmission"``
        (zero shift only) or ``"auto"``: reflection for laboratory lines of λ ≥ 1 Å (Cr, Fe,
        Co, Cu), transmission for Mo, Ag and synchrotron beams — set by the absorption
        length of an electrode (:func:`phasetrace.refine.model.resolve_geometry`).
    stacking_faults : bool
        Refine a stacking-fault breadth Δl (Warren rod broadening of the h − k ≠ 3n, l ≠ 0
        reflections) for the O/P intergrowths (OP4, OP2) and ``stacking_fault_labels``.
    stacking_fault_labels : tuple of str
        Further layered phases in hexagonal cells refined with Δl (e.g. a faulted O3).
    n_background : int
        Refinable Chebyshev terms on top of the estimated background.
    max_zero_deg, max_displacement_deg : float
        Bounds (±, degrees) of the zero shift and of D in D·cos θ in the first scans.
    zero_settle_scans : int
        Converged scans after which zero and displacement are held near the median of the
        last ``zero_settle_scans`` (the instrument and the specimen height do not jump).
    zero_drift_deg : float
        Allowed departure from that median, degrees.
    collapse_sigma : float
        A pseudo-tetragonal orthorhombic cell whose b − c is within this many esds is
        refined and reported with b = c (≈ an F-test at 95 % for one constraint).
    min_snr : float
        Peak-detection threshold (noise units) of the cell search.
    unindexed_snr : float
        Peaks no phase explains are reported from this SNR up.
    """

    intensities: str = "rietveld"
    pawley_phases: tuple[str, ...] = ()
    geometry: str = "auto"
    stacking_faults: bool = True
    stacking_fault_labels: tuple[str, ...] = ()
    n_background: int = 3
    max_zero_deg: float = 0.5
    max_displacement_deg: float = 1.0
    zero_settle_scans: int = 5
    zero_drift_deg: float = 0.02
    collapse_sigma: float = 2.0
    min_snr: float = 4.0
    unindexed_snr: float = 8.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "pawley_phases", tuple(self.pawley_phases))
        object.__setattr__(self, "stacking_fault_labels", tuple(self.stacking_fault_labels))
        if self.intensities not in ("rietveld", "pawley"):
            raise ConfigError(f"refine.intensities = {self.intensities!r}: expected 'rietveld' "
                              "or 'pawley'")
        if self.geometry not in ("auto", "reflection", "transmission"):
            raise ConfigError(f"refine.geometry = {self.geometry!r}: expected 'auto', "
                              "'reflection' or 'transmission'")
        if (self.n_background < 0 or self.zero_settle_scans < 1 or self.max_zero_deg < 0
                or self.max_displacement_deg < 0 or self.zero_drift_deg < 0
                or self.collapse_sigma <= 0 or self.min_snr <= 0 or self.unindexed_snr <= 0):
            raise ConfigError("refine: n_background >= 0, zero_settle_scans >= 1, bounds >= 0, "
                              "collapse_sigma, min_snr and unindexed_snr > 0 expected")


@dataclass(frozen=True)
class Config:
    """The whole run configuration."""

    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    peaks: PeakFitConfig = field(default_factory=PeakFitConfig)
    phases: PhaseConfig = field(default_factory=PhaseConfig)
    transitions: TransitionConfig = field(default_factory=TransitionConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    identify: IdentifyConfig = field(default_factory=IdentifyConfig)
    refine: RefineConfig = field(default_factory=RefineConfig)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """Build and validate from a nested dict (TOML tables → sections)."""
        sections = {f.name: f.type for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        section_types = {"background": BackgroundConfig, "peaks": PeakFitConfig,
                         "phases": PhaseConfig, "transitions": TransitionConfig,
                         "output": OutputConfig, "analysis": AnalysisConfig,
                         "identify": IdentifyConfig, "refine": RefineConfig}
        for key, value in data.items():
            if key not in sections:
                raise ConfigError(f"unknown config section [{key}]; expected one of {', '.join(sections)}")
            if not isinstance(value, dict):
                raise ConfigError(f"config section [{key}] must be a table")
            klass = section_types[key]
            known = {f.name for f in dataclasses.fields(klass)}
            value = dict(value)
            if key == "phases":
                names = value.pop("phases", value.pop("names", "auto"))
                if isinstance(names, str) and names != "auto":
                    names = tuple(n.strip() for n in names.split(",") if n.strip())
                elif isinstance(names, list):
                    names = tuple(names)
                value["names"] = names
            unknown = set(value) - known
            if unknown:
                raise ConfigError(f"unknown option(s) {sorted(unknown)} in [{key}]; known: {sorted(known)}")
            try:
                kwargs[key] = klass(**value)
            except TypeError as err:
                raise ConfigError(f"bad value in [{key}]: {err}") from err
        return cls(**kwargs)

    @classmethod
    def from_toml(cls, path: str | Path) -> Config:
        """Read a TOML file; errors name the file."""
        path = Path(path)
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError as err:
            raise ConfigError(f"{path}: config file not found") from err
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path}: not valid TOML ({err})") from err
        try:
            return cls.from_dict(data)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from err

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict (lists for tuples), suitable for TOML/JSON."""
        out = dataclasses.asdict(self)
        names = out["phases"].pop("names")
        out["phases"]["phases"] = list(names) if not isinstance(names, str) else names
        return out

    def to_toml(self) -> str:
        """Serialise to TOML text (round-trips through :meth:`from_dict`)."""
        import tomli_w

        return tomli_w.dumps(self.to_dict())

    def replace(self, **sections: Any) -> Config:
        """Return a copy with whole sections replaced."""
        return dataclasses.replace(self, **sections)
