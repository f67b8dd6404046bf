"""Transition detection on hand-built phase series."""

from __future__ import annotations

import json

import numpy as np
import pytest

from phasetrace.errors import ConfigError, SchemaError
from phasetrace.simulate import phases_from_states
from phasetrace.transitions import detect_transitions, join_phases, sort_phases


def _ramp(a: str, b: str, n: int) -> list[dict]:
    return [{a: 1 - f, b: f} for f in np.linspace(0, 1, n + 2)[1:-1]]


def test_canonical_phase_order_matches_truth_files():
    assert join_phases(["P3", "P2"]) == "P2/P3"
    assert join_phases(["S", "P'2"]) == "P'2/S"
    assert join_phases(["P3", "OP4", "P2"]) == "OP4/P2/P3"
    assert sort_phases(["P2", "O3", "P2"]) == ["O3", "P2"]


def test_one_misidentified_scan_creates_no_stage():
    states = [{"P2": 1.0}] * 30
    states[12] = {"O3": 1.0}
    res = detect_transitions(phases_from_states(states, voltage_V=np.linspace(3.0, 4.0, 30)))
    assert res.sequence == "P2"
    assert res.transitions == ()
    assert res.message.startswith("no phase transition detected")
    assert res.stages[0].confidence < 1.0


def test_spurious_minor_phase_is_not_a_stage_member():
    rng = np.random.default_rng(3)
    states = [{"P2": 1.0} for _ in range(40)]
    for i in rng.choice(40, 8, replace=False):
        states[i] = {"P2": 0.97, "O3": 0.03}
    res = detect_transitions(phases_from_states(states, voltage_V=np.linspace(3.0, 4.0, 40)))
    assert res.sequence == "P2"


def test_minor_phase_near_threshold_does_not_flicker():
    rng = np.random.default_rng(4)
    states = [{"O3": 0.95, "S": 0.05 + rng.normal(0, 0.006)} for _ in range(40)]
    res = detect_transitions(phases_from_states(states, voltage_V=np.linspace(3.0, 4.0, 40)))
    assert res.sequence == "O3/S"


def test_slow_exchange_with_constant_assemblage_is_a_transition():
    states = [{"P2": 1.0}] * 10 + _ramp("P2", "O3", 20) + [{"O3": 1.0}] * 10
    volts = np.linspace(2.0, 4.0, len(states))
    res = detect_transitions(phases_from_states(states, voltage_V=volts))
    assert res.sequence == "P2 → O3"
    (tr,) = res.transitions
    assert (tr.first_scan, tr.last_scan) == (10, 29)
    assert tr.kind == "two-phase"
    assert tr.voltage_mid == pytest.approx(volts[19] + 0.5 * (volts[20] - volts[19]), abs=0.06)


def test_label_switch_without_coexistence_is_solid_solution_or_distortion():
    volts = np.linspace(3.0, 4.2, 20)
    res = detect_transitions(phases_from_states([{"P2": 1.0}] * 10 + [{"OP4": 1.0}] * 10, voltage_V=volts))
    assert res.sequence == "P2 → OP4"
    assert res.transitions[0].kind == "solid-solution"
    assert (res.transitions[0].first_scan, res.transitions[0].last_scan) == (9, 10)
    res = detect_transitions(phases_from_states([{"O3": 1.0}] * 10 + [{"O'3": 1.0}] * 10, voltage_V=volts))
    assert res.transitions[0].kind == "distortion"
    assert res.transitions[0].mechanism == "solid-solution"


def test_missing_scans_keep_input_numbering():
    states = [{"P2": 1.0}] * 15 + _ramp("P2", "O2", 4) + [{"O2": 1.0}] * 15
    ds = phases_from_states(states, voltage_V=np.linspace(3.5, 4.4, len(states)))
    res = detect_transitions(ds.drop_sel(scan=[3, 4, 25]))
    assert [(s.first_scan, s.last_scan) for s in res.stages] == [(0, 14), (19, 33)]


def test_direction_inferred_from_voltage():
    v = np.r_[np.linspace(3.0, 4.4, 20), np.linspace(4.4, 3.0, 20)]
    states = [{"P2": 1.0} if x < 4.0 else {"O2": 1.0} for x in v]
    res = detect_transitions(phases_from_states(states, voltage_V=v))
    assert res.sequence == "P2 → O2 → P2"
    assert [t.direction for t in res.transitions] == ["charge", "discharge"]
    assert res.stages[1].direction == "charge+discharge"


def test_to_dict_has_contract_structure():
    states = [{"P2": 0.4, "P3": 0.6}] * 8 + _ramp("P3", "OP4", 3) + [{"OP4": 1.0}] * 8
    ds = phases_from_states(states, voltage_V=np.linspace(3.0, 4.3, len(states)), cell_components=["Al", "Be"])
    out = detect_transitions(ds).to_dict()
    assert list(out)[:4] == ["sequence", "stages", "transitions", "cell_components"]
    assert out["cell_components"] == ["Al", "Be"]
    for key in ("phases", "first_scan", "last_scan", "voltage_start", "voltage_end"):
        assert key in out["stages"][0]
    for key in ("from", "to", "first_scan", "last_scan", "kind", "voltage_start", "voltage_end"):
        assert key in out["transitions"][0]
    assert out["stages"][0]["phases"] == ["P2", "P3"]
    json.dumps(out, allow_nan=False, ensure_ascii=False)


def test_input_is_not_modified():
    states = [{"P2": 1.0}] * 6 + [{"O2": 1.0}] * 6
    ds = phases_from_states(states, voltage_V=np.linspace(3, 4, 12))
    before = ds.copy(deep=True)
    detect_transitions(ds)
    assert ds.identical(before)


@pytest.mark.parametrize("kwargs, text", [({"min_fraction": 1.2}, "min_fraction"), ({"smooth": 2}, "smooth"),
                                          ({"x": "pressure"}, "x="), ({"min_scans": 0}, "min_scans")])
def test_invalid_options_raise_config_error(kwargs, text):
    ds = phases_from_states([{"P2": 1.0}] * 5)
    with pytest.raises(ConfigError, match=text):
        detect_transitions(ds, **kwargs)


def test_wrong_dataset_raises_schema_error():
    ds = phases_from_states([{"P2": 1.0}] * 5).rename({"phase": "ph"})
    with pytest.raises(SchemaError, match="phase"):
        detect_transitions(ds)


def test_short_minor_flicker_does_not_split_a_stage():
    states = [{"P2": 1.0}] * 60
    for i in (20, 21, 22, 23):  # four scans with 8 % of a phantom O2
        states[i] = {"P2": 0.92, "O2": 0.08}
    res = detect_transitions(phases_from_states(states, voltage_V=np.linspace(3.0, 4.0, 60)))
    assert res.sequence == "P2"


def test_long_noisy_series_gives_exact_bounds():
    rng = np.random.default_rng(0)
    n = 600
    exchange = np.clip((np.arange(n) - 200) / 60, 0, 1) - np.clip((np.arange(n) - 440) / 60, 0, 1)
    states = []
    for g in np.clip(exchange + rng.normal(0, 0.03, n), 0, 1):
        states.append({"P2": 1 - g, "O2": g} if g > 0.02 else {"P2": 1.0})
    res = detect_transitions(phases_from_states(states, voltage_V=np.linspace(3.0, 4.5, n)))
    assert res.sequence == "P2 → O2 → P2"
    bounds = [b for s in res.stages for b in (s.first_scan, s.last_scan)]
    assert bounds == pytest.approx([0, 200, 260, 440, 500, 599], abs=2)


def test_repeated_cycles_give_every_stage_at_its_bounds():
    # eight charge/discharge cycles of 150 scans: P2 → O2 (exchange over scans 30–45 of the
    # cycle) → P2 (back over 90–105), noise 0.03 on the O2 fraction; every cycle's stages
    # must come out at the simulated bounds, however many candidates the noise creates
    rng = np.random.default_rng(1)
    n, cycle = 1200, 150
    pos = np.arange(n) % cycle
    exchange = np.clip((pos - 30) / 15, 0, 1) - np.clip((pos - 90) / 15, 0, 1)
    states = []
    for g in np.clip(exchange + rng.normal(0, 0.03, n), 0, 1):
        states.append({"P2": 1 - g, "O2": g} if g > 0.02 else {"P2": 1.0})
    res = detect_transitions(phases_from_states(states, voltage_V=np.linspace(3.0, 4.5, n)))
    assert res.sequence == " → ".join(["P2", "O2"] * 8 + ["P2"])
    truth = [0] + [c * cycle + k for c in range(8) for k in (30, 45, 90, 105)] + [n - 1]
    bounds = [b for s in res.stages for b in (s.first_scan, s.last_scan)]
    assert bounds == pytest.approx(truth, abs=2)
