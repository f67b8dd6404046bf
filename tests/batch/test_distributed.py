"""A real Dask distributed cluster on loopback gives the same results as a local run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phasetrace.batch import read_manifest, run_batch
from phasetrace.config import Config, OutputConfig, PhaseConfig
from phasetrace.parallel import disconnect

distributed = pytest.importorskip("distributed")

FILES = ("sequence.json", "lattice.csv")


@pytest.fixture(scope="module")
def cluster():
    """One in-process worker (threads) on 127.0.0.1, no dashboard."""
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
                                  host="127.0.0.1",
                                  dashboard_address=None) as c:
        yield c
        disconnect()


def _config() -> Config:
    return Config().replace(output=OutputConfig(figures=False, report=False))


def _outputs(root: Path, name: str) -> dict[str, str]:
    """The files with their run id (32 hex digits) masked: every run has its own."""
    import re

    return {f: re.sub(r"[0-9a-f]{32}", "RUN", (root / name / f).read_text()) for f in FILES}


@pytest.mark.slow
def test_batch_on_scheduler_equals_local(manifest, tmp_path, cluster):
    experiments = read_manifest(manifest)[:2]
    local = run_batch(experiments, tmp_path / "local", config=_config())
    remote = run_batch(experiments, tmp_path / "dask", config=_config(), scheduler=cluster.scheduler_address)
    assert [r["status"] for r in local] == [r["status"] for r in remote] == ["ok", "ok"], (local, remote)
    for exp in experiments:
        assert _outputs(tmp_path / "dask", exp.name) == _outputs(tmp_path / "local", exp.name)
    # the first five scans of the example are O3 + P2 (truth.json)
    seq = json.loads((tmp_path / "dask" / "cellA" / "sequence.json").read_text())
    assert seq["sequence"] == "O3/P2"
    assert (tmp_path / "dask" / "summary.csv").read_text() == (tmp_path / "local" / "summary.csv").read_text()


@pytest.mark.slow
def test_chunked_on_scheduler_equals_local(manifest, tmp_path, cluster):
    from phasetrace.config import AnalysisConfig
    from phasetrace.pipeline import RunInputs, run_analysis

    exp = read_manifest(manifest)[0]
    inputs = RunInputs(exp.input, exp.echem, exp.scan_log)
    config = _config().replace(phases=PhaseConfig(names=("P2", "O3")),
                               analysis=AnalysisConfig(block_scans=2, halo_scans=2))
    local, _ = run_analysis(inputs, tmp_path / "local", config=config, chunk_scans=2)
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        remote, _ = run_analysis(inputs, tmp_path / "dask", config=config, chunk_scans=2, scheduler=client)
    assert local.sizes["scan"] == remote.sizes["scan"] == 5
    assert _outputs(tmp_path, "dask") == _outputs(tmp_path, "local")


def test_connect_without_scheduler_is_a_config_error():
    from phasetrace.errors import ConfigError
    from phasetrace.parallel import connect

    with pytest.raises(ConfigError, match="no Dask scheduler answered"):
        connect("tcp://127.0.0.1:9", timeout=1)
