"""A run's answer does not depend on how it was executed.

For every shared case (../shared/cases), the same scans analysed through the CLI
in memory, with ``--chunk-scans 16``, with ``--jobs 2`` and on a real Dask
scheduler with two worker processes on 127.0.0.1 (started here) give the same
sequence.json and lattice.csv, apart from the run id.  They are equal to the
bit, not to a tolerance: every execution analyses the same blocks with the same
stack-wide plan in the same code (phasetrace.analysis), and no reduction crosses
a block.

To keep the suite fast each case is cut to 24 consecutive scans and the analysis
blocks are set to 8 scans (halo 4), so that ``--chunk-scans 16`` splits the stack
into two chunks of 2 and 1 blocks and ``--jobs 2`` runs three one-block chunks
at once; the full cases with the default blocks are measured in the closing note
of issue 13.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from phasetrace.cli.main import main

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "cases"
CASES = sorted(p.name for p in SHARED.glob("*") if (p / "scan_log.csv").is_file()) if SHARED.is_dir() else []
FIRST, N_SCANS = 40, 24
OPTIONS = ["--no-figures", "--no-report", "--no-progress"]

pytestmark = [pytest.mark.shared]


def _subset(case: Path, folder: Path) -> Path:
    """Scans FIRST..FIRST+N_SCANS-1 of a case with their scan-log rows and the cycler file."""
    (folder / "patterns").mkdir(parents=True)
    log = (case / "scan_log.csv").read_text().splitlines()
    files = sorted((case / "patterns").iterdir())[FIRST:FIRST + N_SCANS]
    names = {f.name for f in files}
    for f in files:
        shutil.copy(f, folder / "patterns" / f.name)
    rows = [log[0]] + [row for row in log[1:] if row.split(",")[0] in names]
    (folder / "scan_log.csv").write_text("\n".join(rows) + "\n")
    shutil.copy(case / "echem.csv", folder / "echem.csv")
    (folder / "blocks.toml").write_text("[analysis]\nblock_scans = 8\nhalo_scans = 4\n")
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """``dask scheduler`` and ``dask worker`` (2 processes, 1 thread each) on 127.0.0.1."""
    pytest.importorskip("distributed")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
           "MPLBACKEND": "Agg"}
    log = tmp_path_factory.mktemp("dask")
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    procs = [subprocess.Popen(dask + ["--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0",
                                      "--no-show"], env=env, stdout=subprocess.DEVNULL,
                              stderr=open(log / "scheduler.log", "w"))]
    procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address,
                                   "--nworkers", "2", "--nthreads", "1", "--host", "127.0.0.1",
                                   "--no-dashboard", "--local-directory", str(log)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=open(log / "worker.log", "w")))
    from distributed import Client

    deadline = time.monotonic() + 120
    while True:
        try:
            with Client(address, timeout=5, set_as_default=False) as client:
                client.wait_for_workers(2, timeout=60)
            break
        except (OSError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    yield address
    from phasetrace.parallel import disconnect

    disconnect()
    for proc in reversed(procs):
        proc.terminate()
        proc.wait(timeout=30)


def _outputs(out: Path) -> tuple[dict, list[dict], set[str]]:
    seq = json.loads((out / "sequence.json").read_text(encoding="utf-8"))
    rows = list(csv.DictReader(io.StringIO((out / "lattice.csv").read_text(encoding="utf-8"))))
    run_ids = {seq.pop("run_id")} | {row.pop("run_id") for row in rows}
    return seq, rows, run_ids


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES or [pytest.param("none", marks=pytest.mark.skip(
    reason="../shared/cases not present"))])
def test_same_answer_in_memory_chunked_processes_and_dask(name, tmp_path, scheduler, restore_logging, capsys):
    import xarray as xr

    data = _subset(SHARED / name, tmp_path / "data")
    base = [str(data / "patterns"), "--echem", str(data / "echem.csv"), "--scan-log",
            str(data / "scan_log.csv"), "--config", str(data / "blocks.toml"), *OPTIONS]
    ways = {"memory": [], "chunks16": ["--chunk-scans", "16"], "jobs2": ["--jobs", "2", "--chunk-scans", "8"],
            "dask": ["--scheduler", scheduler, "--chunk-scans", "8"]}
    for way, extra in ways.items():
        assert main(["analyse", *base, "--out", str(tmp_path / way), *extra]) == 0, capsys.readouterr().err
    seq0, rows0, ids0 = _outputs(tmp_path / "memory")
    assert seq0["stages"] and rows0 and len(ids0) == 1
    with xr.open_dataset(tmp_path / "memory" / "results.nc", engine="h5netcdf") as ref:
        ref = ref.load()
    seen: set[str] = set()
    for way in ways:
        seq, rows, ids = _outputs(tmp_path / way)
        assert len(ids) == 1 and ids.isdisjoint(seen), way  # every file of a run: its own run id
        seen |= ids
        assert seq == seq0, way
        assert rows == rows0, way
        with xr.open_dataset(tmp_path / way / "results.nc", engine="h5netcdf") as ds:
            for var in ("a", "c", "fraction", "zero_shift", "redchi"):  # bit-identical, not just to 6 digits
                np.testing.assert_array_equal(ds[var].values, ref[var].values, err_msg=f"{way}: {var}")
    assert {r["scan"] for r in rows0} == {str(i) for i in range(N_SCANS)}
