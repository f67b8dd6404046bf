"""Fixtures for batch, resume, chunked and Dask tests: small experiments cut from the example stack."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "patterns" / "p2o3_example"


def _require_example() -> None:
    if not (EXAMPLE / "scans").is_dir():
        pytest.skip(f"{EXAMPLE} (synthetic example stack) not present")


def make_experiment(root: Path, name: str, first: int, n_scans: int) -> Path:
    """Copy scans first..first+n-1 of the example, its cycler file and the matching scan-log rows."""
    _require_example()
    folder = root / name
    (folder / "scans").mkdir(parents=True)
    log = (EXAMPLE / "scan_log.csv").read_text().splitlines()
    rows = [log[0]]
    for i in range(first, first + n_scans):
        fname = f"scan_{i:04d}.xye"
        shutil.copy(EXAMPLE / "scans" / fname, folder / "scans" / fname)
        rows.append(log[i + 1])
    (folder / "scan_log.csv").write_text("\n".join(rows) + "\n")
    shutil.copy(EXAMPLE / "echem.csv", folder / "echem.csv")
    return folder


@pytest.fixture
def truth() -> dict:
    """truth.json of the example stack."""
    _require_example()
    return json.loads((EXAMPLE / "truth.json").read_text())


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    """A TOML manifest of three 5-scan experiments (P2 + O3 region of the example)."""
    for name, first in (("cellA", 0), ("cellB", 5), ("cellC", 10)):
        make_experiment(tmp_path / "data", name, first, 5)
    text = ['[defaults]\nphases = "P2,O3"\n']
    for name in ("cellA", "cellB", "cellC"):
        text.append(f'[[experiment]]\nname = "{name}"\ninput = "data/{name}/scans"\n'
                    f'echem = "data/{name}/echem.csv"\nscan_log = "data/{name}/scan_log.csv"\n')
    path = tmp_path / "manifest.toml"
    path.write_text("\n".join(text))
    return path


@pytest.fixture(scope="session")
def experiment_factory():
    """:func:`make_experiment` as a fixture: ``factory(root, name, first_scan, n_scans) -> folder``."""
    return make_experiment


@pytest.fixture
def restore_logging():
    """cli.main attaches a handler to the (captured) stderr; put the logging set-up back afterwards."""
    logger = logging.getLogger("phasetrace")
    handlers, level = logger.handlers[:], logger.level
    yield
    logger.handlers[:], logger.level = handlers, level
    logging.getLogger("py.warnings").handlers[:] = []
    logging.captureWarnings(False)


@pytest.fixture
def h5_stack(tmp_path):
    """A 23-scan NeXus-like HDF5 stack of Poisson counts: (path, intensities)."""
    rng = np.random.default_rng(1)
    x = np.linspace(10, 40, 301)
    y = rng.poisson(100, (23, 301)).astype(float)
    path = tmp_path / "stack.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("entry/data")
        g.attrs.update(NX_class="NXdata", signal="I", axes=[".", "2th"])
        g["I"], g["2th"], g["time"] = y, x, np.arange(23) * 60.0
        f["entry"].attrs["wavelength"] = 0.7
    return path, y
