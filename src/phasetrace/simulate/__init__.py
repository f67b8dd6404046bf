"""phasetrace.simulate: synthetic operando stacks with known truth.

Public API
----------
Instrument, PhaseContribution, calculate_pattern(two_theta, phases, inst), add_noise(expected, rng)
prototype(label, *, a, c=None), reflections(label, *, a, c=None, d_min=0.9), d_spacings(hkl, cell)
reflections_from_cif(path, *, d_min=0.9) -> (Reflections, space group, O per cell)
PhaseTrack, Scenario, OperandoSimulation, simulate_operando(scenario, *, seed=0)
write_case(sim, folder) ; p2o3_scenario(*, n_scans=100)
phases_from_states(states, *, voltage_V=None, ...), phases_from_truth(truth, *, cell_components=())

pymatgen is imported only when reflections are first computed.
"""

from __future__ import annotations

from .examples import CU_KA_LAB, p2o3_scenario
from .files import write_case
from .operando import OperandoSimulation, PhaseTrack, Scenario, simulate_operando
from .pattern import Instrument, PhaseContribution, add_noise, calculate_pattern, pseudo_voigt
from .phases import CELL_COMPONENTS, PHASE_FAMILIES, phases_from_states, phases_from_truth
from .structures import PROTOTYPES, Reflections, d_spacings, prototype, reflections, reflections_from_cif

__all__ = [
    "Instrument", "PhaseContribution", "calculate_pattern", "add_noise", "pseudo_voigt",
    "prototype", "reflections", "reflections_from_cif", "d_spacings", "Reflections", "PROTOTYPES",
    "PhaseTrack", "Scenario", "OperandoSimulation", "simulate_operando", "write_case",
    "p2o3_scenario", "CU_KA_LAB", "phases_from_states", "phases_from_truth", "CELL_COMPONENTS",
    "PHASE_FAMILIES",
]
