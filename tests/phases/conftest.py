"""Fixtures for the phase-library and identification tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lattice"))

from phasesim import SHARED, load_case, simulate_stack  # noqa: E402,F401

from phasetrace.phases import load_library  # noqa: E402


@pytest.fixture(scope="session")
def library():
    """The whole built-in library."""
    return load_library("auto")


@pytest.fixture(scope="session")
def by_label(library):
    """Library phases by label."""
    return {p.label: p for p in library}
