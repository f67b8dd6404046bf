"""A results folder is one set: locked while written, resumed by content, refused when incomplete.

Each test drives ``phasetrace analyse`` as a user would (a subprocess, SIGKILL)
on a few scans of the synthetic example stack (P2 + O3 region, truth.json).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from phasetrace.cli.main import main

OPTIONS = ["--phases", "P2,O3", "--no-report", "--no-progress"]
SRC = Path(__file__).resolve().parents[2] / "src"


def _args(exp: Path) -> list[str]:
    return [str(exp / "scans"), "--echem", str(exp / "echem.csv"), "--scan-log", str(exp / "scan_log.csv")]


def _start(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(SRC)}
    return subprocess.Popen([sys.executable, "-m", "phasetrace", "analyse", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait(condition, proc: subprocess.Popen, what: str, timeout: float = 300) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"analyse exited ({proc.returncode}) before {what}: "
                                 f"{proc.stderr.read().decode()[-2000:]}")
        if time.monotonic() > end:
            proc.kill()
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.02)


def _lattice(out: Path) -> list[dict]:
    with open(out / "lattice.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row.pop("run_id", None)
    return rows


@pytest.mark.slow
def test_second_run_on_a_locked_out_fails_with_one_line(tmp_path, experiment_factory, capsys,
                                                       restore_logging):
    exp = experiment_factory(tmp_path, "cell", 0, 9)
    out = tmp_path / "out"
    first = _start([*_args(exp), "--out", str(out), "--no-figures", *OPTIONS])
    lock = out / ".phasetrace.lock"
    try:
        _wait(lambda: lock.is_file() and lock.read_text().strip(), first, "the first run took the lock",
              timeout=120)
        assert main(["analyse", *_args(exp), "--out", str(out), "--no-figures", *OPTIONS]) == 1
        err = capsys.readouterr().err
        assert err == (f"phasetrace: error: {out}: another phasetrace run (pid {first.pid} on "
                       f"{socket.gethostname()}) is writing to this folder; wait for it to finish or "
                       "choose another --out\n")
    finally:
        first.wait(timeout=600)
    assert first.returncode == 0
    # the first run's set is complete and its own
    seq = json.loads((out / "sequence.json").read_text())
    marker = json.loads((out / ".phasetrace-done").read_text())
    assert seq["run_id"] == marker["run_id"]
    assert not lock.exists()


def _same_size_copy(src: Path, dst: Path) -> None:
    """Overwrite ``dst`` with the data of ``src``, padded/trimmed in a comment to dst's size and mtime."""
    st = dst.stat()
    lines = src.read_text().splitlines(keepends=True)
    header = [ln for ln in lines if ln.startswith("#") and ("wavelength" in ln or "kalpha2" in ln)]
    data = [ln for ln in lines if not ln.startswith("#")]
    pad = st.st_size - len("".join(header + data).encode()) - 3
    assert pad >= 0
    dst.write_text("".join(header) + "#" + " " * pad + "x\n" + "".join(data))
    assert dst.stat().st_size == st.st_size
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.slow
def test_resume_reanalyses_a_scan_whose_content_changed(tmp_path, experiment_factory, capsys,
                                                        restore_logging):
    exp = experiment_factory(tmp_path, "cell", 0, 9)
    other = experiment_factory(tmp_path, "late", 60, 1)  # truth.json: P2 c 11.26 Å there, 11.12 Å in scan 0
    (tmp_path / "blocks.toml").write_text("[analysis]\nblock_scans = 4\nhalo_scans = 2\n")
    args = [*_args(exp), "--chunk-scans", "4", "--config", str(tmp_path / "blocks.toml"),
            "--no-figures", *OPTIONS]
    out = tmp_path / "out"
    proc = _start([*args, "--out", str(out)])
    _wait(lambda: (out / ".phasetrace-chunks" / "chunk_000000.npz").is_file(), proc, "the first chunk")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "sequence.json").exists(), "the run finished before it could be killed"
    assert (out / ".phasetrace.lock").read_text().startswith(f"pid {proc.pid} ")  # left behind by the kill
    # same name, size and mtime; other bytes (the pattern of scan 60) for scan 1, in the finished chunk
    _same_size_copy(other / "scans" / "scan_0060.xye", exp / "scans" / "scan_0001.xye")

    assert main(["analyse", *args, "--out", str(out), "--resume"]) == 0  # a dead run's lock is no lock
    assert main(["analyse", *args, "--out", str(tmp_path / "fresh")]) == 0
    capsys.readouterr()
    resumed, fresh = _lattice(out), _lattice(tmp_path / "fresh")
    assert resumed == fresh
    c1 = [float(r["c"]) for r in fresh if r["scan"] == "1" and r["phase"] == "P2"]
    c0 = [float(r["c"]) for r in fresh if r["scan"] == "0" and r["phase"] == "P2"]
    assert c1 and c0 and c1[0] > c0[0] + 0.02  # Å: scan 1 now holds the charged (larger c) pattern


@pytest.mark.slow
def test_sigkill_between_output_files_leaves_a_set_plot_refuses(tmp_path, experiment_factory, capsys,
                                                                 restore_logging):
    a = experiment_factory(tmp_path, "a", 0, 5)
    b = experiment_factory(tmp_path, "b", 5, 5)
    out = tmp_path / "out"
    assert main(["analyse", *_args(a), "--out", str(out), "--no-figures", *OPTIONS]) == 0
    assert main(["plot", str(out / "results.nc"), "--figure", "lattice", "--format", "png"]) == 0
    before = (out / "sequence.json").stat().st_mtime_ns
    proc = _start([*_args(b), "--out", str(out), *OPTIONS])  # figures on: writing takes seconds
    _wait(lambda: (out / "sequence.json").stat().st_mtime_ns != before, proc, "the second run's sequence.json")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    capsys.readouterr()
    assert main(["plot", str(out / "results.nc"), "--figure", "lattice", "--format", "png"]) == 1
    assert capsys.readouterr().err == (
        f"phasetrace: error: {out}: incomplete result set (no .phasetrace-done marker: a run writing to "
        "this folder did not finish); re-run 'phasetrace analyse'\n")
