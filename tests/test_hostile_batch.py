"""Batch manifests that try to write or delete outside ``--out`` (issue 14, item 1).

An experiment's name becomes the folder ``OUT/<name>``: it must be a plain folder name.
The partial-file clean-up removes only phasetrace's own temporaries inside the run's folders.
"""

from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path

import pytest

from _hostile import error_line, run_cli, write_xy

OPTIONS = ("--no-figures", "--no-report")


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def layout(tmp_path):
    write_xy(tmp_path / "cell" / "s_1.xy", "# wavelength_A = 1.5406\n")
    write_xy(tmp_path / "cell" / "s_2.xy", "# wavelength_A = 1.5406\n", centre=30.1)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / ".thesis.tex.a1b2c3d4.part").write_text("someone's unsaved work")
    (victim / "data.csv").write_text("keep me")
    return tmp_path


@pytest.mark.parametrize("name, problem", [
    ("../victim", "starts with '.' (hidden or parent folder)"),
    ("..", "starts with '.' (hidden or parent folder)"),
    ("/", "contains a path separator"),
    ("VICTIM_ABS", "contains a path separator"),
    ("a/../../victim", "contains a path separator"),
    ("a\\\\b", "contains a path separator"),
    ("two\\nlines", "contains control characters"),
    ("nul\\u0000byte", "contains control characters"),
    ("summary.csv", "is the name of a batch summary file"),
    ("   ", "is empty"),
])
def test_experiment_names_must_be_plain_folder_names(layout, name, problem):
    name = name.replace("VICTIM_ABS", str(layout / "victim"))
    manifest = layout / "m.toml"
    manifest.write_text(f'[[experiment]]\nname = "{name}"\ninput = "cell"\n')
    before = _tree(layout / "victim")
    out = layout / "out"
    res = run_cli("batch", manifest, "--out", out, *OPTIONS, timeout=120)
    shown = name.replace("\\\\", "\\").replace("\\n", "\n").replace("\\u0000", "\x00")
    assert error_line(res) == (f"phasetrace: error: {manifest}: experiment 1: name {shown!r} {problem}; a name "
                               "must be a plain folder name (results go to OUT/<name>)").replace(
                                   "\n", "\\n").replace("\x00", "\\x00")
    assert _tree(layout / "victim") == before
    assert not out.exists()


def test_yaml_and_csv_manifests_are_checked_the_same_way(layout):
    (layout / "m.yaml").write_text("experiments:\n  - {name: ../victim, input: cell}\n")
    (layout / "m.csv").write_text("name,input\n../victim,cell\n")
    for ext in ("yaml", "csv"):
        manifest = layout / f"m.{ext}"
        res = run_cli("batch", manifest, "--out", layout / "out", *OPTIONS, timeout=120)
        assert error_line(res) == (f"phasetrace: error: {manifest}: experiment 1: name '../victim' starts with '.' "
                                   "(hidden or parent folder); a name must be a plain folder name (results go to "
                                   "OUT/<name>)")


def test_empty_phase_list_and_bad_wavelength_in_a_manifest(layout):
    manifest = layout / "m.toml"
    manifest.write_text('[[experiment]]\nname = "a"\ninput = "cell"\nphases = " , "\n')
    assert error_line(run_cli("batch", manifest, "--out", layout / "out", timeout=120)) == (
        f"phasetrace: error: {manifest}: experiment 1: phases ' , ': expected names such as P2,O3 or 'auto'")
    manifest.write_text('[[experiment]]\nname = "a"\ninput = "cell"\nwavelength = "-1"\n')
    assert error_line(run_cli("batch", manifest, "--out", layout / "out", timeout=120)) == (
        f"phasetrace: error: {manifest}: experiment 1: --wavelength -1: expected a positive, finite wavelength in Å "
        "(e.g. 1.5406) or CuKa/CuKa1/MoKa/AgKa")


def test_clean_up_touches_only_phasetrace_temporaries_inside_out(layout):
    """A killed run's ``.lattice.csv.*.part`` goes; a user's ``.notes.part``, links and the victim stay."""
    out = layout / "out"
    exp = out / "cellA"
    exp.mkdir(parents=True)
    (exp / ".lattice.csv.k2j9x_a1.part").write_text("half a file of a killed run")
    (exp / ".notes.part").write_text("mine")
    (exp / "deep").mkdir()
    (exp / "deep" / ".results.nc.abcdefgh.part").write_text("not in a folder phasetrace writes")
    os.symlink(layout / "victim", exp / "figures")  # figures/ leading outside: never searched
    manifest = layout / "m.toml"
    manifest.write_text('[[experiment]]\nname = "cellA"\ninput = "cell"\n')
    before = _tree(layout / "victim")
    res = run_cli("batch", manifest, "--out", out, *OPTIONS, timeout=600)
    assert "Traceback" not in res.stderr, res.stderr
    assert not (exp / ".lattice.csv.k2j9x_a1.part").exists()
    assert (exp / ".notes.part").read_text() == "mine"
    assert (exp / "deep" / ".results.nc.abcdefgh.part").exists()
    assert _tree(layout / "victim") == before


def test_experiment_folder_that_is_a_link_outside_out_fails_that_row(layout):
    write_xy(layout / "cell2" / "s_1.xy", "# wavelength_A = 1.5406\n")
    out = layout / "out"
    out.mkdir()
    os.symlink(layout / "victim", out / "evil")
    manifest = layout / "m.toml"
    manifest.write_text('[[experiment]]\nname = "evil"\ninput = "cell"\n'
                        '[[experiment]]\nname = "fine"\ninput = "cell2"\n')
    before = _tree(layout / "victim")
    res = run_cli("batch", manifest, "--out", out, *OPTIONS, timeout=600)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    with open(out / "summary.csv", newline="") as fh:
        rows = {r["name"]: r for r in csv.DictReader(fh)}
    assert rows["evil"]["status"] == "failed"
    assert rows["evil"]["error"] == f"{out / 'evil'}: experiment folder is a link leading outside {out}; refused"
    assert rows["fine"]["status"] == "ok"
    assert _tree(layout / "victim") == before


def test_batch_output_inside_an_experiment_input_fails_that_row(layout):
    manifest = layout / "m.toml"
    manifest.write_text('[[experiment]]\nname = "a"\ninput = "cell"\n')
    out = layout / "cell" / "results"
    res = run_cli("batch", manifest, "--out", out, *OPTIONS, timeout=300)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert (f"a: failed: {out / 'a'}: --out is inside the input folder {layout / 'cell'}; the results would be read "
            "back as patterns on the next run — choose an output folder outside the input\n") in res.stdout
