"""Operando simulation and the shipped example."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from phasetrace.schema import validate_stack
from phasetrace.simulate import (
    PhaseTrack, Scenario, phases_from_truth, simulate_operando, write_case,
)
from phasetrace.simulate.examples import CU_KA_LAB
from phasetrace.transitions import detect_transitions


def _small_scenario(n_scans=12):
    tracks = (PhaseTrack("P2", a=((0, 2.89), (1, 2.86)), c=((0, 11.12), (1, 11.30)),
                         fraction_charge=((0, 1.0), (0.45, 1.0), (0.6, 0.0), (1, 0.0))),
              PhaseTrack("O3", a=((0, 2.95), (1, 2.95)), c=((0, 16.0), (1, 16.0)),
                         fraction_charge=((0, 0.0), (0.45, 0.0), (0.6, 1.0), (1, 1.0))),
              PhaseTrack("Al", a=((0, 4.0495), (1, 4.0495)), is_cell_component=True, scale=0.3))
    return Scenario(name="small", tracks=tracks, voltage_charge=((0, 2.0), (1, 4.0)),
                    voltage_discharge=((0, 2.0), (1, 3.9)), n_scans=n_scans, instrument=CU_KA_LAB,
                    two_theta=(10.0, 50.0, 0.05))


def test_same_seed_same_stack_and_valid_schema():
    a = simulate_operando(_small_scenario(), seed=3)
    b = simulate_operando(_small_scenario(), seed=3)
    np.testing.assert_array_equal(a.stack.intensity.values, b.stack.intensity.values)
    validate_stack(a.stack)
    assert a.stack.attrs["wavelength2_A"] == pytest.approx(1.544414)
    assert list(a.stack.direction.values[:6]) == ["charge"] * 6


def test_truth_matches_tracks():
    sim = simulate_operando(_small_scenario(), seed=0)
    truth = sim.truth
    assert truth["sequence"] == "P2 → O3 → P2"
    for scan in truth["scans"]:
        p2 = scan["phases"].get("P2")
        if p2 is not None:
            assert p2["c"] == pytest.approx(11.12 + 0.18 * scan["soc"], abs=1e-9)
            assert p2["volume_per_fu"] == pytest.approx(p2["volume"] / 2)
    assert "Al" not in truth["scans"][0]["phases"]


def test_write_case_round_trip(tmp_path):
    sim = simulate_operando(_small_scenario(n_scans=4), seed=1)
    write_case(sim, tmp_path)
    data = np.loadtxt(tmp_path / "scans" / "scan_0002.xye")
    assert data.shape == (sim.stack.sizes["two_theta"], 3)
    np.testing.assert_array_equal(data[:, 1], sim.stack.intensity.values[2])
    assert (tmp_path / "scans" / "scan_0000.xye").read_text().startswith("# wavelength_A = 1.540593")


def test_example_files_parse_and_match_truth(example_dir):
    truth = json.loads((example_dir / "truth.json").read_text())
    files = sorted((example_dir / "scans").glob("scan_*.xye"))
    assert len(files) == len(truth["scans"]) >= 90
    head = files[0].read_text().splitlines()[0]
    assert head == f"# wavelength_A = {truth['wavelength_A']:.6f}"
    with open(example_dir / "scan_log.csv", newline="") as fh:
        log = list(csv.DictReader(fh))
    assert [row["file"] for row in log] == [f.name for f in files]
    echem = np.genfromtxt(example_dir / "echem.csv", delimiter=",", names=True)
    mid = np.array([0.5 * (float(r["start_time_s"]) + float(r["end_time_s"])) for r in log])
    volts = np.interp(mid, echem["time_s"], echem["voltage_V"])
    np.testing.assert_allclose(volts, [s["voltage"] for s in truth["scans"]], atol=0.01)
    # the P2 (002) reflection sits at d = c/2 of the truth cell (Cu Kα1, zero shift 0.03°)
    scan0 = np.loadtxt(files[0])
    expected = math.degrees(2 * math.asin(truth["wavelength_A"] / truth["scans"][0]["phases"]["P2"]["c"])) + 0.03
    sel = np.abs(scan0[:, 0] - expected) < 0.4
    assert scan0[sel, 0][np.argmax(scan0[sel, 1])] == pytest.approx(expected, abs=0.04)
    assert truth["sequence"] == "O3/P2 → P2/P3 → O3/P2"
    assert detect_transitions(phases_from_truth(truth)).sequence == truth["sequence"]


def test_cif_track_distorted_phase(mono_instrument):
    cif = Path(__file__).resolve().parents[2] / "reference_phases" / "P'2.cif"
    if not cif.is_file():
        pytest.skip("reference_phases/P'2.cif not available")
    tracks = (PhaseTrack("P2", a=((0, 2.88), (1, 2.88)), c=((0, 11.12), (1, 11.12)),
                         fraction_charge=((0, 1.0), (0.4, 1.0), (0.6, 0.0), (1, 0.0))),
              PhaseTrack("P'2", a=((0, 2.83), (1, 2.83)), b=((0, 5.27), (1, 5.27)), c=((0, 11.08), (1, 11.00)),
                         fraction_charge=((0, 0.0), (0.4, 0.0), (0.6, 1.0), (1, 1.0)), cif=str(cif)))
    scenario = Scenario(name="distort", tracks=tracks, voltage_charge=((0, 2.0), (1, 3.0)),
                        voltage_discharge=((0, 2.0), (1, 2.9)), n_scans=8, instrument=mono_instrument,
                        two_theta=(14.0, 18.0, 0.005))
    sim = simulate_operando(scenario, seed=0)
    last = sim.truth["scans"][3]["phases"]["P'2"]  # charge end: pure P'2
    assert last["space_group"] == "Cmcm"
    assert last["conventional"][1] == pytest.approx(5.27)
    assert last["volume_per_fu"] == pytest.approx(last["volume"] / 4, rel=1e-6)
    tt = sim.stack.two_theta.values
    y = sim.stack.intensity.values[3]
    c = sim.truth["scans"][3]["phases"]["P'2"]["c"]
    expected = math.degrees(2 * math.asin(1.540593 / c))  # (002) at d = c/2
    assert tt[np.argmax(y)] == pytest.approx(expected, abs=0.01)
