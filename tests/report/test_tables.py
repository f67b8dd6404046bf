"""Publication tables of a transition result."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from phasetrace.errors import OutputError, SchemaError
from phasetrace.report.tables import (
    latex_escape, sequence_table, stages_table, to_csv, to_latex, to_markdown, transitions_table,
)
from phasetrace.simulate import phases_from_states
from phasetrace.transitions import detect_transitions


@pytest.fixture
def result():
    """P2/P3 → OP4 → P2/P3 over 1.5–4.3 V with an Al collector."""
    up = [{"P2": 0.4, "P3": 0.6}] * 10 + [{"P2": 0.2, "P3": 0.3, "OP4": 0.5}] + [{"OP4": 1.0}] * 6
    states = up + up[::-1]
    volts = np.r_[np.linspace(1.5, 4.3, len(up)), np.linspace(4.3, 1.5, len(up))]
    return detect_transitions(phases_from_states(states, voltage_V=volts, cell_components=["Al"]))


def test_sequence_table_row(result):
    row = sequence_table(result, material="Na0.67Ni0.33Mn0.67O2").iloc[0]
    assert row["material"] == "Na0.67Ni0.33Mn0.67O2"
    assert row["starting phases"] == "P2/P3"
    assert row["voltage window"] == "1.50–4.30 V"
    assert row["sequence"] == "P2/P3 → OP4 → P2/P3"
    assert row["transitions"] == "two-phase"
    assert bool(row["reversible"]) is True
    assert row["cell components"] == "Al"


def test_stage_and_transition_tables(result):
    stages = stages_table(result)
    assert list(stages["phases"]) == ["P2/P3", "OP4", "P2/P3"]
    assert list(stages["first scan"]) == [0, 11, 24]  # scans 10 and 23 are transitional
    transitions = transitions_table(result)
    assert list(transitions["transition"]) == ["P2/P3 → OP4", "OP4 → P2/P3"]
    assert list(transitions["direction"]) == ["charge", "discharge"]
    assert "temperature start (K)" not in transitions.columns  # all-NaN columns dropped


def test_csv_round_trip(result, tmp_path):
    table = stages_table(result)
    text = to_csv(table, tmp_path / "stages.csv")
    back = pd.read_csv(io.StringIO(text))
    assert list(back["phases"]) == ["P2/P3", "OP4", "P2/P3"]
    assert (tmp_path / "stages.csv").read_text(encoding="utf-8") == text


def test_markdown_escapes_pipes():
    md = to_markdown(pd.DataFrame([{"sequence": "P2 → O2", "note": "a|b"}]))
    assert md.splitlines() == ["| sequence | note |", "| --- | --- |", "| P2 → O2 | a\\|b |"]


def test_latex_escapes_and_arrows(result):
    assert latex_escape("P2/P3 → OP4 & 5% #1 x_1 {y}") == \
        r"P2/P3 $\rightarrow$ OP4 \& 5\% \#1 x\_1 \{y\}"
    assert latex_escape("1.50–4.30 V") == "1.50--4.30 V"
    tex = to_latex(sequence_table(result, material="NaNi_{1/3}"), caption="Sequences & windows", label="tab:seq")
    assert r"P2/P3 $\rightarrow$ OP4 $\rightarrow$ P2/P3" in tex
    assert r"NaNi\_\{1/3\}" in tex
    assert r"\caption{Sequences \& windows}" in tex and r"\label{tab:seq}" in tex
    assert tex.count(r"\\") == 2  # header + one row
    assert "→" not in tex


def test_unwritable_path_raises_output_error(result, tmp_path):
    with pytest.raises(OutputError, match="cannot write"):
        to_csv(sequence_table(result), tmp_path / "missing" / "t.csv")


def test_tables_accept_dict_and_results_dataset(result):
    import json

    import xarray as xr

    seq = result.to_dict()
    ds = xr.Dataset(attrs={"sequence_json": json.dumps(seq, ensure_ascii=False)})
    for source in (seq, ds):
        assert sequence_table(source).iloc[0]["sequence"] == "P2/P3 → OP4 → P2/P3"
        assert list(stages_table(source)["first scan"]) == [0, 11, 24]
    with pytest.raises(SchemaError, match="sequence_json"):
        sequence_table(xr.Dataset())
