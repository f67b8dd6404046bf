"""Hostile input that used to end in a traceback (issue 14, item 3): one line, exit 1 (130 for Ctrl-C).

Through the CLI, as a user runs it; ``--debug`` still shows the traceback.
"""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from _hostile import INFO_AS_BYTES, error_line, run_cli, write_xy

TT = np.arange(10.0, 60.0, 0.02)


def _set_encrypted_flag(path: Path) -> None:
    """Mark every member as encrypted (general-purpose flag bit 0), as a password-protected zip is."""
    data = bytearray(path.read_bytes())
    for sig, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (i := data.find(sig, start)) >= 0:
            data[i + offset] |= 0x01
            start = i + 4
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("suffix, member", [(".brml", "Experiment0/RawData0.xml"), (".rasx", "Data0/Profile0.txt")])
def test_encrypted_zip_member(tmp_path, suffix, member):
    path = tmp_path / f"locked{suffix}"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, "<RawData/>" if suffix == ".brml" else "10 1\n11 2\n")
    _set_encrypted_flag(path)
    res = run_cli("info", path, as_bytes=INFO_AS_BYTES, timeout=60)
    assert error_line(res) == (f"phasetrace: error: {path}: archive member {member} is encrypted "
                               "(password-protected); phasetrace reads only unencrypted archives")


def _nxdata(path: Path, make_signal) -> Path:
    with h5py.File(path, "w") as f:
        g = f.create_group("entry")
        g.attrs.update({"NX_class": "NXdata", "signal": "I", "axes": "2th"})
        g["2th"] = TT
        g.attrs["wavelength"] = 0.5
        make_signal(g)
    return path


def _analyse(path: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_cli("analyse", path, "--out", out, "--no-figures", "--no-report", *extra, timeout=300)


@pytest.mark.parametrize("command", ["info", "analyse"])
def test_hdf5_soft_link_loop(tmp_path, command):
    def loop(g):
        g["I"] = h5py.SoftLink("/entry/J")
        g["J"] = h5py.SoftLink("/entry/I")

    path = _nxdata(tmp_path / "loop.h5", loop)
    res = run_cli("info", path, timeout=60) if command == "info" else _analyse(path, tmp_path / "out")
    assert error_line(res) == (f"phasetrace: error: {path}: soft link /entry/I → /entry/J does not resolve "
                               "(a loop or a dangling link)")


@pytest.mark.parametrize("command", ["info", "analyse"])
def test_hdf5_external_link_to_a_missing_file(tmp_path, command):
    path = _nxdata(tmp_path / "ext.h5", lambda g: g.__setitem__("I", h5py.ExternalLink("missing.h5", "/data")))
    res = run_cli("info", path, timeout=60) if command == "info" else _analyse(path, tmp_path / "out")
    assert error_line(res) == (f"phasetrace: error: {path}: external link /entry/I points to missing.h5, "
                               "which does not exist")


def _timed(path: Path, times: list[float]) -> Path:
    y = 100.0 + 1000.0 * np.exp(-0.5 * ((TT - 30.0) / 0.3) ** 2)
    with h5py.File(path, "w") as f:
        f["2th"] = TT
        f["I"] = np.tile(y, (len(times), 1))
        f["time"] = np.array(times, dtype=float)
        f["wavelength"] = 0.5
    return path


@pytest.mark.parametrize("times, problem", [
    ([1e20, 1e20 + 60, 1e20 + 120], "time value 1e+20 in dataset /time is after the year 2100 as seconds since "
                                    "1970; expected seconds since the epoch or since the start"),
    ([0.0, 60.0, 1e20], "dataset /time mixes relative times (0 s) with epoch-like values (1e+20 s); expected one "
                        "kind"),
    ([0.0, np.inf, 120.0], "dataset /time holds infinite time values; expected seconds"),
])
@pytest.mark.parametrize("command", ["info", "analyse"])
def test_hdf5_impossible_time_stamps(tmp_path, command, times, problem):
    path = _timed(tmp_path / "t.h5", times)
    res = run_cli("info", path, timeout=60) if command == "info" else _analyse(path, tmp_path / "out")
    assert error_line(res) == f"phasetrace: error: {path}: {problem}"


def test_hdf5_nan_and_negative_times_are_unknown_or_relative(tmp_path):
    """NaN = not recorded; negative seconds are relative to a clock zero after the scan (documented)."""
    path = _timed(tmp_path / "t.h5", [-60.0, np.nan, 60.0])
    res = run_cli("info", path, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "time span:    -60–60 s" in res.stdout


def _sitecustomize(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(body)
    return folder


_BOOM_READ = """
import phasetrace.io as io

def read_stack(*args, **kwargs):
    raise ZeroDivisionError("injected by the test")

io.read_stack = read_stack
"""


def test_unexpected_exception_is_one_line_and_debug_shows_the_traceback(tmp_path):
    path = write_xy(tmp_path / "a.xy", "# wavelength_A = 1.5406\n")
    inject = _sitecustomize(tmp_path / "inject", _BOOM_READ)
    res = run_cli("info", path, inject=inject, timeout=60)
    assert error_line(res) == (f"phasetrace: error: {path}: unexpected ZeroDivisionError: injected by the test "
                               "(run with --debug for the traceback)")
    res = run_cli("--debug", "info", path, inject=inject, timeout=60)
    assert res.returncode != 0 and "Traceback" in res.stderr and "ZeroDivisionError" in res.stderr


def test_plot_of_a_file_that_is_not_results(tmp_path):
    path = tmp_path / "other.nc"
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(3)
    res = run_cli("plot", path, "--out", tmp_path / "figs", timeout=120)
    assert error_line(res) == (f"phasetrace: error: {path}: not a phasetrace results file (no 'intensity' "
                               "variable); expected the results.nc written by 'phasetrace analyse'")


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2, 0.5, 1.0, 2.0, 4.0])
def test_ctrl_c_at_any_moment_is_one_line_exit_130(tmp_path, delay):
    """SIGINT while importing, parsing, reading or analysing: exit 130, the line 'phasetrace: interrupted'.

    The delay counts from the moment ``phasetrace.cli.main`` is imported (seen with
    ``-X importtime``), the first phasetrace code that runs; a signal during the
    interpreter's own start-up (``site``) is Python's to report, not phasetrace's.
    """
    folder = tmp_path / "scans"
    for k in range(3):
        write_xy(folder / f"s_{k}.xy", "# wavelength_A = 1.5406\n", centre=30.0 + 0.1 * k)
    proc = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "phasetrace", "analyse", str(folder),
                             "--out", str(tmp_path / "out"), "--no-figures", "--no-report"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    started = threading.Event()

    def read() -> None:
        for line in proc.stderr:
            lines.append(line)
            if line.rstrip().endswith("phasetrace.cli.main"):
                started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert started.wait(120), "phasetrace.cli.main was never imported"
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    reader.join(timeout=30)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal")
    err = "".join(ln for ln in lines if not ln.startswith("import time:"))
    assert "Traceback" not in err, err
    assert proc.returncode == 130, (proc.returncode, err)
    assert err.strip().split("\n")[-1] == "phasetrace: interrupted"


_BOOM_ONE = """
import phasetrace.pipeline as pipeline

_real = pipeline.run_analysis

def run_analysis(inputs, out, **kwargs):
    if "broken" in str(inputs.input):
        raise ZeroDivisionError("injected by the test")
    return _real(inputs, out, **kwargs)

pipeline.run_analysis = run_analysis
"""


def test_batch_experiment_with_an_unexpected_error_fails_alone(tmp_path):
    for name in ("broken", "good"):
        folder = tmp_path / name
        for k in range(2):
            write_xy(folder / f"s_{k}.xy", "# wavelength_A = 1.5406\n", centre=30.0 + 0.1 * k)
    manifest = tmp_path / "m.toml"
    manifest.write_text('[[experiment]]\nname = "broken"\ninput = "broken"\n'
                        '[[experiment]]\nname = "good"\ninput = "good"\n')
    inject = _sitecustomize(tmp_path / "inject", _BOOM_ONE)
    out = tmp_path / "out"
    res = run_cli("batch", manifest, "--out", out, "--no-figures", "--no-report", inject=inject, timeout=600)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    with open(out / "summary.csv", newline="") as fh:
        rows = {r["name"]: r for r in csv.DictReader(fh)}
    assert rows["broken"]["status"] == "failed"
    assert rows["broken"]["error"] == f"{tmp_path / 'broken'}: unexpected ZeroDivisionError: injected by the test"
    assert rows["good"]["status"] == "ok"
    assert (out / "good" / "sequence.json").is_file() and (out / "good" / ".phasetrace-done.json").is_file()
    assert f"broken: failed: {tmp_path / 'broken'}: unexpected ZeroDivisionError: injected by the test\n" in res.stdout


def test_parser_is_built_without_heavy_imports():
    """Ctrl-C is caught from the start: building the parser imports no numpy/xarray/numba/h5py."""
    code = ("import sys, phasetrace.cli.main as m; m.build_parser(); "
            "print(sorted(k for k in ('numpy', 'xarray', 'numba', 'h5py', 'scipy', 'matplotlib') if k in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
