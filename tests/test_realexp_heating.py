"""A simulated synthesis (heating) series with eight user phases: onsets and ends of each phase.

The series (tests/realexp_heating.py) is drawn with pymatgen and numpy only; the analysis
gets the eight CIFs through --reference-dir and the temperature from each file header.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import realexp_heating as heating  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def heating_run(tmp_path_factory):
    from phasetrace.cli.main import main

    root = tmp_path_factory.mktemp("heating")
    labels = heating.write_cifs(root / "cifs")
    truth = heating.simulate(root / "scans")
    out = root / "out"
    argv = ["analyse", str(root / "scans"), "--reference-dir", str(root / "cifs"),
            "--phases", ",".join(labels), "--out", str(out), "--no-figures", "--no-report"]
    assert main(argv) == 0
    return truth, out


def test_onsets_and_ends_within_two_scans(heating_run):
    truth, out = heating_run
    seq = json.loads((out / "sequence.json").read_text())
    found = {e["phase"]: e for e in seq["phase_evolution"]}
    assert set(found) == set(truth["phases"])                  # all eight phases identified
    for phase, (first, last) in truth["windows"].items():
        assert abs(found[phase]["first_scan"] - first) <= 2, phase
        assert abs(found[phase]["last_scan"] - last) <= 2, phase
        temps = truth["temperature_K"]
        assert found[phase]["onset_K"] == pytest.approx(temps[found[phase]["first_scan"]])
    assert found["P2"]["present_at_end"] and not found["P2"]["present_at_start"]


def test_evolution_tables_and_lattice_temperature(heating_run):
    truth, out = heating_run
    rows = list(csv.DictReader((out / "evolution.csv").open()))
    assert [r["phase"] for r in rows][-1] == "P2"              # the product forms last
    assert {"onset (K)", "end (K)", "max fraction"} <= set(rows[0])
    assert (out / "evolution.md").read_text().startswith("| phase | first scan |")
    assert "\\begin{tabular}" in (out / "evolution.tex").read_text()
    lattice = list(csv.DictReader((out / "lattice.csv").open()))
    t = {int(r["scan"]): float(r["temperature_K"]) for r in lattice}
    assert all(t[s] == pytest.approx(truth["temperature_K"][s]) for s in t)
    p2 = [float(r["a"]) for r in lattice if r["phase"] == "P2"]
    assert np.all(np.diff(p2) > -2e-4)                         # thermal expansion: a grows
