"""Command-line behaviour: exit codes and one-line error messages."""

import subprocess
import sys

import pytest

from phasetrace.cli.main import main


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "phasetrace", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_no_command_is_usage_error(capsys):
    assert main([]) == 2


def test_unknown_option_exits_2():
    with pytest.raises(SystemExit) as exc:
        main(["analyse", "x", "--no-such-option"])
    assert exc.value.code == 2


def test_help_lists_subcommands():
    res = run_cli("--help")
    assert res.returncode == 0
    for name in ("analyse", "info", "plot", "batch"):
        assert name in res.stdout


def test_missing_input_is_one_line_error(tmp_path):
    res = run_cli("analyse", str(tmp_path / "nope"), "--out", str(tmp_path / "out"))
    assert res.returncode == 1
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert "nope" in lines[0] and "Traceback" not in res.stderr


def test_bad_phase_option_names_it(tmp_path):
    res = run_cli("analyse", str(tmp_path), "--phases", " , ", "--out", str(tmp_path / "o"))
    assert res.returncode == 1
    assert "--phases" in res.stderr


def test_missing_wavelength_is_reported(tmp_path):
    data = tmp_path / "scans"
    data.mkdir()
    for i in range(3):
        (data / f"s_{i}.xy").write_text("\n".join(f"{10 + 0.02 * k:.2f} {100 + k % 7}" for k in range(200)))
    res = run_cli("analyse", str(data), "--out", str(tmp_path / "o"))
    assert res.returncode == 1
    assert "--wavelength" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "o" / "sequence.json").exists()
