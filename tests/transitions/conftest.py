"""Fixtures for transition tests: shared truth cases and realistic corruption."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from phasetrace.simulate import phases_from_truth

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
CASES = ("lit_p2_o2", "t1_row04_p2p3_op4", "t1_row07_p2s_distort")


def _load_truth(name: str) -> dict:
    """truth.json of a shared case, skipping the test when ../shared is absent."""
    path = SHARED / "cases" / name / "truth.json"
    if not path.is_file():
        pytest.skip(f"shared case {name} not available at {path}")
    return json.loads(path.read_text())


@pytest.fixture(params=CASES)
def case(request) -> tuple[dict, xr.Dataset]:
    """(truth, phases Dataset built from it with an Al current collector)."""
    truth = _load_truth(request.param)
    return truth, phases_from_truth(truth, cell_components=["Al"])


def _corrupt(ds: xr.Dataset, rng: np.random.Generator, *, noise: float = 0.03, bad_scan: int | None = None,
            spurious: int = 0, drop: int = 0) -> xr.Dataset:
    """Noisy fractions, one misidentified scan, a spurious low-fraction O'3, missing scans."""
    ds = ds.copy(deep=True)
    cell = ds["is_cell_component"].values
    frac = ds["fraction"].values
    present = ds["present"].values.copy()
    noisy = np.clip(np.where(np.isfinite(frac), frac + rng.normal(0.0, noise, frac.shape), np.nan), 0.0, None)
    present &= ~((noisy < 0.02) & ~cell)
    noisy = np.where(present, noisy, np.nan)
    if bad_scan is not None:
        sample = np.flatnonzero(~cell)
        was = sample[present[bad_scan, sample]]
        other = sample[~present[bad_scan, sample]]
        present[bad_scan, was] = False
        noisy[bad_scan, was] = np.nan
        j = other[0] if other.size else sample[0]
        present[bad_scan, j] = True
        noisy[bad_scan, j] = 1.0
    ds["fraction"].values[:] = noisy
    ds["present"].values[:] = present
    if spurious:
        ds = ds.reindex(phase=[*ds.phase.values, "O'3"])
        ds["present"] = ds["present"].fillna(False).astype(bool)
        ds = ds.assign_coords(is_cell_component=ds["is_cell_component"].fillna(False).astype(bool),
                              phase_parent=ds["phase_parent"].fillna("O3"),
                              phase_family=ds["phase_family"].fillna("layered"))
        scans = rng.choice(ds.sizes["scan"], spurious, replace=False)
        ds["present"].loc[{"phase": "O'3", "scan": scans}] = True
        ds["fraction"].loc[{"phase": "O'3", "scan": scans}] = rng.uniform(0.01, 0.045, spurious)
    if drop:
        ds = ds.drop_sel(scan=rng.choice(ds.sizes["scan"], drop, replace=False))
    return ds


@pytest.fixture
def load_truth():
    """Function name -> truth dict (skips when ../shared is absent)."""
    return _load_truth


@pytest.fixture
def corrupt():
    """The corruption function :func:`_corrupt`."""
    return _corrupt
