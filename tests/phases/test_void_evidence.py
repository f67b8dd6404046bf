"""Which presence tests a refinement that did not end cleanly can still decide.

A phase's evidence is void when what the refinement left undetermined is its own (its cell
or March–Dollase r on a bound: the F distribution of nested models does not hold on a
boundary), or when the phase is a candidate of an add test of a model that did not converge.
A remove test of a model that is singular or at its iteration limit *as a whole* keeps its
F: χ² at a singular minimum is still the minimum, at the iteration limit an upper bound of
it, and neither says which phase is absent.
"""

from types import SimpleNamespace

from phasetrace.phases.structure_choice import void_evidence
from phasetrace.refine import RefineStatus


def _result(status, at_bound=()):
    names = ["zero", "P2.scale", "P2.q0", "P2.q1", "O3.scale", "O3.q0", "O3.q1", "O3.po_r"]
    params = [SimpleNamespace(name=n, at_bound=n in at_bound) for n in names]
    return SimpleNamespace(phases=[SimpleNamespace(status=status)] * 2, params=params)


def test_singular_model_keeps_the_remove_test():
    big = _result(RefineStatus.SINGULAR)
    assert not void_evidence(big, "O3", 1, removing=True)
    assert void_evidence(big, "O3", 1, removing=False)


def test_iteration_limit_keeps_the_remove_test_unless_the_phase_cell_is_on_a_bound():
    assert not void_evidence(_result(RefineStatus.ITERATION_LIMIT), "O3", 1, removing=True)
    held = _result(RefineStatus.ITERATION_LIMIT, at_bound={"O3.q1"})
    assert void_evidence(held, "O3", 1, removing=True)
    assert not void_evidence(held, "P2", 0, removing=True)


def test_own_bound_is_void_for_every_test():
    big = _result(RefineStatus.AT_BOUND, at_bound={"O3.q0"})
    assert void_evidence(big, "O3", 1, removing=True)
    assert void_evidence(big, "O3", 1, removing=False)
    converged = _result(RefineStatus.CONVERGED)
    assert not void_evidence(converged, "O3", 1, removing=True)
    r_held = _result(RefineStatus.CONVERGED, at_bound={"O3.po_r"})
    assert void_evidence(r_held, "O3", 1, removing=True)
