"""Fixtures for the reader tests: the shared real data and small files written on the fly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

#: ../shared/data beside the repository (CI clones shared/ next to the repo).
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
DATA = SHARED / "data"
CASES = SHARED / "cases"


@pytest.fixture
def shared_file():
    """Factory: path to a file or folder under ../shared/data (or ../shared), skipping when absent."""

    def _get(rel: str, *, root: Path = DATA) -> Path:
        path = root / rel
        if not path.exists():
            pytest.skip(f"shared data not available: {rel}")
        return path

    return _get


@pytest.fixture
def shared_case():
    """Factory: path under ../shared/cases, skipping when absent."""

    def _get(rel: str) -> Path:
        path = CASES / rel
        if not path.exists():
            pytest.skip(f"shared case not available: {rel}")
        return path

    return _get


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261123)


@pytest.fixture
def write_xye(tmp_path: Path):
    """Factory writing a 3-column .xye file with an optional header; returns its path."""

    def _write(name: str, tt: np.ndarray, y: np.ndarray, *, header: str = "", folder: Path | None = None) -> Path:
        path = (folder or tmp_path) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = "\n".join(f"{a:.5f} {b:.3f} {np.sqrt(max(b, 1.0)):.3f}" for a, b in zip(tt, y))
        path.write_text(header + rows + "\n")
        return path

    return _write
