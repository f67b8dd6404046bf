"""Degenerate and hostile input through the whole pipeline (issue 8).

Each case asserts the honest outcome: a clear error naming the problem, or a
result that says what it could not find — never an invented phase.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from phasetrace.config import Config, OutputConfig, PhaseConfig
from phasetrace.errors import PhaseLibraryError
from phasetrace.pipeline import analyse_stack
from phasetrace.schema import make_stack
from phasetrace.simulate import PhaseTrack, Scenario, simulate_operando
from phasetrace.simulate.examples import CU_KA_LAB

ROOT = Path(__file__).resolve().parents[1]
NO_FILES = Config(output=OutputConfig(figures=False, report=False))


def _p2_only(n_scans=12, seed=3):
    """A P2 cathode in solid solution only (no phase transition), Al peaks, Cu Kα1+2."""
    tracks = (PhaseTrack("P2", a=((0.0, 2.89), (1.0, 2.87)), c=((0.0, 11.12), (1.0, 11.25))),
              PhaseTrack("Al", a=((0.0, 4.0495), (1.0, 4.0495)), is_cell_component=True, scale=0.3))
    scen = Scenario(name="p2_only", tracks=tracks, voltage_charge=((0.0, 2.5), (1.0, 4.0)),
                    voltage_discharge=((1.0, 4.0), (0.0, 2.5)), n_scans=n_scans,
                    instrument=CU_KA_LAB, two_theta=(10.0, 70.0, 0.03), peak_scale=150.0)
    return simulate_operando(scen, seed=seed)


@pytest.fixture(scope="module")
def p2_sim():
    return _p2_only()


def test_no_transition_gives_one_stage(p2_sim):
    res = analyse_stack(p2_sim.stack, config=NO_FILES)
    seq = json.loads(res.attrs["sequence_json"])
    assert seq["sequence"] == "P2"
    assert seq["transitions"] == []
    assert "no phase transition" in seq.get("message", "").lower()
    assert "Al" in seq["cell_components"]


def test_one_scan_stack(p2_sim):
    one = p2_sim.stack.isel(scan=[0])
    res = analyse_stack(one, config=NO_FILES)
    seq = json.loads(res.attrs["sequence_json"])
    assert seq["transitions"] == []
    present = res["present"].sel(phase="P2").values
    assert bool(present[0])


def test_flat_noise_identifies_nothing():
    rng = np.random.default_rng(0)
    tt = np.arange(10, 70, 0.02)
    y = rng.poisson(200.0, size=(6, tt.size)).astype(float)
    res = analyse_stack(make_stack(tt, y, wavelength_A=1.5406), config=NO_FILES)
    assert not bool(res["present"].any()), "a phase was invented from pure noise"
    seq = json.loads(res.attrs["sequence_json"])
    assert seq["stages"] == [] or all(not s["phases"] for s in seq["stages"])


def test_unknown_reference_phase_is_named(p2_sim):
    cfg = Config(phases=PhaseConfig(names=("P2", "Q7")), output=OutputConfig(figures=False, report=False))
    with pytest.raises(PhaseLibraryError, match="Q7"):
        analyse_stack(p2_sim.stack, config=cfg)


def test_broken_cif_in_reference_dir_is_named(tmp_path, p2_sim):
    (tmp_path / "Broken.cif").write_text("data_broken\n_cell_length_a 3.0\nthis is not a cif loop\n")
    cfg = Config(phases=PhaseConfig(reference_dir=str(tmp_path)),
                 output=OutputConfig(figures=False, report=False))
    with pytest.raises(PhaseLibraryError, match="Broken.cif"):
        analyse_stack(p2_sim.stack, config=cfg)


def _tree_hash(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_cli_never_modifies_inputs_and_reruns_cleanly(tmp_path, p2_sim):
    from phasetrace.simulate import write_case

    case = tmp_path / "case"
    write_case(p2_sim, case)
    before = _tree_hash(case)
    out = tmp_path / "out"
    out.mkdir()
    (out / "my_notes.txt").write_text("keep me")
    (out / "lattice.csv").write_text("stale")
    patterns = next(p for p in case.iterdir() if p.is_dir())
    cmd = [sys.executable, "-m", "phasetrace", "analyse", str(patterns), "--out", str(out),
           "--echem", str(case / "echem.csv"), "--scan-log", str(case / "scan_log.csv"),
           "--no-figures", "--no-report"]
    for _ in range(2):
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr
    assert _tree_hash(case) == before
    assert (out / "my_notes.txt").read_text() == "keep me"
    assert (out / "lattice.csv").read_text().startswith("scan,phase,a,b,c")
    assert not list(out.glob(".*.part"))


def test_source_never_evaluates_or_unpickles_data():
    pattern = re.compile(r"\b(eval|exec)\(|pickle\.loads?\(|allow_pickle\s*=\s*True|yaml\.load\(|"
                         r"marshal\.loads?\(|shelve\.open\(")
    offenders = [f"{p.relative_to(ROOT)}:{i}" for p in (ROOT / "src").rglob("*.py")
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if pattern.search(line)]
    assert offenders == []


def test_no_print_in_library_code():
    offenders = [f"{p.relative_to(ROOT)}:{i}" for p in (ROOT / "src").rglob("*.py")
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if re.match(r"\s*print\(", line)]
    assert offenders == []
