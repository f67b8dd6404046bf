"""A batch killed with SIGKILL mid-way resumes without redoing finished work or leaving corrupt files."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from phasetrace.batch import DONE_MARKER
from phasetrace.cli.main import main

NAMES = ("cellA", "cellB", "cellC")
OPTIONS = ["--no-figures", "--no-report", "--no-progress"]


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"batch exited ({proc.returncode}) before {path} appeared: "
                                 f"{proc.stderr.read().decode()[-2000:]}")
        if time.monotonic() > end:
            proc.kill()
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.05)


@pytest.mark.slow
def test_kill_and_resume(manifest, tmp_path, capsys, restore_logging):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "phasetrace", "batch", str(manifest), "--out", str(out), *OPTIONS]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "MPLBACKEND": "Agg"})
    first = out / "cellA" / DONE_MARKER
    _wait_for(first, proc, timeout=300)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    finished_at = first.stat().st_mtime_ns
    killed = [n for n in NAMES if not (out / n / DONE_MARKER).exists()]
    assert killed, "the run finished before it could be killed"

    assert main(["batch", str(manifest), "--out", str(out), "--resume", *OPTIONS]) == 0
    stdout = capsys.readouterr().out
    assert "cellA: ok (resumed)" in stdout
    assert first.stat().st_mtime_ns == finished_at  # not redone
    for name in NAMES:
        marker = json.loads((out / name / DONE_MARKER).read_text())
        assert marker["row"]["status"] == "ok"
        seq = json.loads((out / name / "sequence.json").read_text())
        assert seq["stages"] and seq["sequence"]
        with open(out / name / "lattice.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert {r["phase"] for r in rows} >= {"P2"}
        assert all(0 <= int(r["scan"]) < 5 for r in rows)
    with open(out / "summary.csv", newline="") as fh:
        summary = list(csv.DictReader(fh))
    assert [r["name"] for r in summary] == list(NAMES)
    assert all(r["status"] == "ok" and r["n_scans"] == "5" for r in summary)
    leftovers = [p for p in out.rglob("*.part")]
    assert not leftovers, f"temporary files left: {leftovers}"
