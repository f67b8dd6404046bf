"""Fixtures for the electrochemistry tests: paths to shared data and small synthetic records."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from phasetrace.schema import make_stack

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared"
DATA = REPO / "tests" / "data" / "echem"


def shared_path(*parts: str) -> Path:
    """Path under ../shared, skipping the test when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {path}")
    return path


@pytest.fixture
def data_dir() -> Path:
    return DATA


def write_csv(path: Path, header: str, rows: np.ndarray) -> Path:
    """Write a CSV with ``header`` (comma-separated names) and numeric ``rows``."""
    lines = [header] + [",".join(f"{x:.10g}" for x in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def cycle_csv(tmp_path: Path) -> Path:
    """A synthetic record sampled every 10 s: 600 s rest at 3.0 V, 3600 s charge at
    +0.5 mA (3.0 → 4.2 V, linear), 3600 s discharge at −0.5 mA (4.2 → 3.0 V), then a
    second 3600 s charge.  Capacity in mAh/g for a 5 mg electrode."""
    t = np.arange(0.0, 600.0 + 3 * 3600.0 + 1.0, 10.0)
    v = np.interp(t, [0, 600, 4200, 7800, 11400], [3.0, 3.0, 4.2, 3.0, 4.2])
    cur = np.select([t <= 600, t <= 4200, t <= 7800], [0.0, 0.5, -0.5], 0.5)
    cur[0] = 0.0
    cap = np.concatenate(([0.0], np.cumsum(np.abs(cur[1:]) * 10.0 / 3600.0))) / 5e-3
    return write_csv(tmp_path / "echem.csv", "time_s,voltage_V,current_mA,capacity_mAh_g",
                     np.column_stack([t, v, cur, cap]))


def stack_of(n: int, **coords: object):
    """A tiny n-scan stack (11 points) with the given scan coordinates."""
    return make_stack(np.linspace(10.0, 20.0, 11), np.ones((n, 11)), wavelength_A=1.0,
                      coords=coords or None)


def load_xye_stack(folder: Path, wavelength_A: float):
    """Read .xye scans (2θ, I, σ) with numpy; the stack's ``file`` is the base name."""
    files = sorted(folder.glob("*.xye"))
    arrays = [np.loadtxt(f) for f in files]
    grid = arrays[0][:, 0]
    intensity = np.array([np.interp(grid, a[:, 0], a[:, 1]) for a in arrays])
    return make_stack(grid, intensity, wavelength_A=wavelength_A,
                      coords={"file": [os.path.basename(f) for f in files]})


@pytest.fixture
def shared():
    """``shared("cases", ...)`` → path under ../shared, or skip."""
    return shared_path


@pytest.fixture
def make_stack_n():
    """``make_stack_n(n, **coords)`` → tiny stack."""
    return stack_of


@pytest.fixture
def csv_writer():
    """``csv_writer(path, header, rows)`` → path."""
    return write_csv


@pytest.fixture
def xye_stack():
    """``xye_stack(folder, wavelength_A)`` → stack read with numpy."""
    return load_xye_stack
