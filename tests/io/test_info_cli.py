"""``phasetrace info``: the summary of an input stack."""

from __future__ import annotations

import numpy as np
import pytest

from phasetrace.cli.main import main


@pytest.fixture
def run_folder(tmp_path, write_xye):
    tt = np.round(np.arange(20.0, 22.0, 0.01), 5)
    folder = tmp_path / "run"
    for k in range(1, 5):
        y = 50 + 1000 * np.exp(-0.5 * ((tt - 21 - 0.01 * k) / 0.05) ** 2)
        write_xye(f"scan_{k}.xye", tt, y, folder=folder,
                  header=(f"# wavelength_A = 0.7093\n# Temp (K) = {300 + k}\n"
                          f"# Scan time = 2024-05-01T10:{10 * k:02d}:00\n"))
    return folder


def test_info_summary(run_folder, capsys):
    assert main(["info", str(run_folder)]) == 0
    out = capsys.readouterr().out
    assert "scans:        4 from 4 file(s) (scan_1.xye … scan_4.xye)" in out
    assert "2θ range:     20–21.99° (200 points, step 0.01°)" in out
    assert "wavelength:   0.7093 Å [from header]" in out
    assert "temperature:  301–304 K (4 scans)" in out
    assert "2024-05-01T10:10:00 → 2024-05-01T10:40:00 (0.5 h" in out


def test_info_without_wavelength_says_what_to_do(tmp_path, write_xye, capsys):
    tt = np.arange(10.0, 12.0, 0.01)
    write_xye("a.xye", tt, 100 + tt)
    assert main(["info", str(tmp_path / "a.xye")]) == 0
    assert "none in the headers: pass --wavelength" in capsys.readouterr().out
    assert main(["info", str(tmp_path / "a.xye"), "--wavelength", "MoKa"]) == 0
    assert "0.709317 Å (Kα2 0.713607 Å, I2/I1 0.5) [from option]" in capsys.readouterr().out


def test_info_bad_input_exits_1_with_one_line(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nothing")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("phasetrace: error:") and "nothing: no such file or folder" in err[-1]


def test_info_echem_coverage(run_folder, tmp_path, capsys):
    pytest.importorskip("phasetrace.echem")
    t = np.arange(0.0, 3001.0, 10.0)
    echem = tmp_path / "echem.csv"
    echem.write_text("time_s,voltage_V\n" + "".join(f"{a},{3.0 + a / 3000:.4f}\n" for a in t))
    log = tmp_path / "scan_log.csv"
    log.write_text("file,start_time_s,end_time_s\n" + "".join(
        f"scan_{k}.xye,{600 * (k - 1)},{600 * (k - 1) + 500}\n" for k in range(1, 5)))
    assert main(["info", str(run_folder), "--echem", str(echem), "--scan-log", str(log)]) == 0
    out = capsys.readouterr().out
    assert "coverage:     4 of 4 scans inside the echem record" in out
    assert "echem:        301 records over 0.8333 h, 3–4 V" in out


def test_info_accepts_shell_expanded_files(run_folder, capsys):
    files = sorted(str(p) for p in run_folder.glob("scan_*.xye"))
    assert main(["info", *files[:3]]) == 0
    assert "scans:        3 from 3 file(s)" in capsys.readouterr().out
