"""Run machinery at scale: bounded tasks, one-selection survey reads, stage timings, library load."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from phasetrace import pipeline
from phasetrace.config import AnalysisConfig, Config, OutputConfig, PhaseConfig
from phasetrace.errors import ReaderError
from phasetrace.io.hdf5 import open_lazy
from phasetrace.phases.reflections import _scattering_factors
from phasetrace.pipeline import RunInputs, run_analysis
from phasetrace.stream import ChunkSource, open_source


def test_read_rows_gives_the_stored_scans(h5_stack):
    path, y = h5_stack
    part = open_lazy(path).read_rows([0, 5, 22])
    np.testing.assert_array_equal(part["intensity"].values, y[[0, 5, 22]])
    np.testing.assert_array_equal(part["intensity_sigma"].values, np.sqrt(np.maximum(y[[0, 5, 22]], 1.0)))
    np.testing.assert_array_equal(part["time_s"].values, [0.0, 300.0, 1320.0])
    with pytest.raises(ReaderError, match="expected increasing indices below 23"):
        open_lazy(path).read_rows([5, 2])


def test_survey_of_an_hdf5_stack_is_one_read(h5_stack, monkeypatch):
    path, y = h5_stack
    source = open_source(str(path))
    calls = []
    monkeypatch.setattr(ChunkSource, "read", lambda self: calls.append(self) or None)
    survey = source.take([0, 11, 22])
    assert calls == []  # no per-scan file opens
    np.testing.assert_array_equal(survey["intensity"].values, y[[0, 11, 22]])
    np.testing.assert_array_equal(survey["scan"].values, [0, 1, 2])


def test_scattering_factor_at_zero_angle_is_the_electron_count():
    f0 = _scattering_factors(["O", "Na", "Mn"], np.array([0.0]))[:, 0]
    np.testing.assert_allclose(f0, [8.0, 11.0, 25.0], atol=1e-9)


def test_library_load_does_not_import_plotting():
    code = ("import sys; from phasetrace.phases import load_library; load_library(['P2']); "
            "print('matplotlib.pyplot' in sys.modules, 'pymatgen.analysis.diffraction.xrd' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_serial_run_reads_bounded_tasks(tmp_path, experiment_factory, monkeypatch):
    """Without --chunk-scans a serial run reads DEFAULT_CHUNK_SCANS (+ 2 halos) scans at a time."""
    exp = experiment_factory(tmp_path, "cell", 0, 9)
    inputs = RunInputs(str(exp / "scans"), str(exp / "echem.csv"), str(exp / "scan_log.csv"))
    config = Config().replace(phases=PhaseConfig(names=("P2", "O3")),
                              output=OutputConfig(figures=False, report=False),
                              analysis=AnalysisConfig(block_scans=4, halo_scans=2))
    monkeypatch.setattr(pipeline, "DEFAULT_CHUNK_SCANS", 4)
    sizes = []
    real = ChunkSource.read
    monkeypatch.setattr(ChunkSource, "read", lambda self: sizes.append(self.n_scans) or real(self))
    results, _ = run_analysis(inputs, tmp_path / "out", config=config)
    tasks = sizes[-2:]  # after the survey's one-scan reads: blocks 0-3 and 4-8, each with its halo
    assert tasks == [4 + 2, 5 + 2]
    assert results.sizes["scan"] == 9
    stages = json.loads(results.attrs["stage_times_json"])
    assert list(stages)[:4] == ["open", "library", "plan", "hash"]
    assert {"analysis", "join", "transitions", "write", "task read", "task analyse"} <= set(stages)
