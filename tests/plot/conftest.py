"""Fixtures: results Datasets built from the shared operando cases (skipped when absent)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from results_builder import CASE_NAMES, CASES, build_results, minimal_results  # noqa: E402


def _case(name: str):
    folder = CASES / name
    if not (folder / "truth.json").is_file():
        pytest.skip(f"shared case {name} not available at {folder}")
    return build_results(folder)


@pytest.fixture(scope="session", params=CASE_NAMES)
def case_results(request):
    """Results Dataset of each shared case in turn."""
    return _case(request.param)


@pytest.fixture(scope="session")
def p2o2_results():
    """Results of the P2 → O2 → P2 case (Cu Kα1)."""
    return _case("lit_p2_o2")


@pytest.fixture(scope="session")
def distort_results():
    """Results of the P2/S → P'2/S → P2/S case (synchrotron)."""
    return _case("t1_row07_p2s_distort")


@pytest.fixture(scope="session")
def bare_results(p2o2_results):
    """Results with no phases, sequence or background: only patterns and scan coords."""
    return minimal_results(p2o2_results)

