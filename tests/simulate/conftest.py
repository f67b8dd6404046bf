"""Fixtures for simulator tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from phasetrace.simulate import Instrument

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def mono_instrument() -> Instrument:
    """Monochromatic Cu Kα1, no zero shift, no texture, narrow peaks."""
    return Instrument(wavelength_A=1.540593, caglioti_u=0.0, caglioti_v=0.0, caglioti_w=0.0025, eta=0.3,
                      po_march_r=1.0, background=(10.0, 0.0, 1.0, 0.0, 20.0, 5.0))


@pytest.fixture
def example_dir() -> Path:
    """The shipped example folder (skip when it has not been generated)."""
    folder = REPO / "patterns" / "p2o3_example"
    if not (folder / "truth.json").is_file():
        pytest.skip("patterns/p2o3_example not generated (run patterns/make_example.py)")
    return folder
