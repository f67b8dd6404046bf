"""The notebook API of the README's "From Python" section, on 6 scans of the example stack."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest


def test_import_phasetrace_stays_light():
    code = ("import sys, phasetrace as pt; "
            "print(sorted(m for m in ('numba', 'matplotlib', 'xarray', 'distributed', 'pymatgen') "
            "if m in sys.modules)); print(callable(pt.analyse), callable(pt.read))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["[]", "True True"]


@pytest.mark.slow
def test_read_align_analyse_plot_write_open(tmp_path, experiment_factory, truth):
    import phasetrace as pt
    from phasetrace.config import PhaseConfig

    exp = experiment_factory(tmp_path, "cell", 0, 6)
    stack = pt.read(exp / "scans")
    assert stack.sizes["scan"] == 6
    stack = pt.align_echem(stack, exp / "echem.csv", scan_log=exp / "scan_log.csv")
    np.testing.assert_allclose(stack["voltage_V"].values, [s["voltage"] for s in truth["scans"][:6]],
                               atol=0.02)  # V: the cycler record at mid-scan
    results = pt.analyse(stack, config=pt.Config().replace(phases=PhaseConfig(names=("P2", "O3"))))
    # physical facts of the example's first scans (truth.json): O3 + P2, P2 c = 11.12-11.14 Å
    assert pt.sequence_of(results)["sequence"] == "O3/P2"
    np.testing.assert_allclose(results["c"].sel(phase="P2").values,
                               [s["phases"]["P2"]["c"] for s in truth["scans"][:6]], atol=0.01)
    assert results["stage"].values.tolist() == [0] * 6
    assert results["stage_phases"].values.tolist() == ["O3/P2"]
    assert results["transition"].size == 0
    assert "echem_voltage_V" in results  # the voltage curve travels with the results
    assert pt.detect_transitions(results).sequence == "O3/P2"
    fig = pt.plot(results, "lattice")
    assert fig.axes
    written = pt.write(results, tmp_path / "out")
    assert {"sequence.json", "lattice.csv", "results.nc", "figures/lattice.png", "report.html"} <= set(written)
    out = tmp_path / "out"
    run_id = json.loads((out / "sequence.json").read_text())["run_id"]
    assert len(run_id) == 32
    # every file of the set carries the run id; the done-marker lists every file's SHA-256
    import csv

    from PIL import Image

    from phasetrace.output import file_sha256

    with open(out / "lattice.csv", newline="") as fh:
        assert {row["run_id"] for row in csv.DictReader(fh)} == {run_id}
    with open(out / "sequence.csv", newline="") as fh:
        assert {row["run_id"] for row in csv.DictReader(fh)} == {run_id}
    assert f"run_id: {run_id}" in (out / "sequence.md").read_text()
    assert f"run_id: {run_id}" in (out / "sequence.tex").read_text()
    assert f'content="{run_id}"' in (out / "report.html").read_text()
    with Image.open(out / "figures" / "lattice.png") as img:
        assert img.text["phasetrace-run-id"] == run_id
    marker = json.loads((out / ".phasetrace-done").read_text())
    assert marker["run_id"] == run_id
    assert marker["files"] == {name: file_sha256(path) for name, path in written.items()}
    reopened = pt.open_results(tmp_path / "out")
    assert reopened.attrs["run_id"] == run_id
    assert pt.sequence_of(reopened)["sequence"] == "O3/P2"
    (tmp_path / "out" / ".phasetrace-done").unlink()
    with pytest.raises(pt.PhasetraceError, match="incomplete result set"):
        pt.open_results(tmp_path / "out")


def _imports(path) -> set[str]:
    """Top-level phasetrace modules a module imports (anywhere in it, lazy imports included)."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(a.name for a in node.names)
    return found


def test_no_import_cycle_between_top_level_modules():
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "src" / "phasetrace"
    graph = {p.stem: _imports(p) & {q.stem for q in src.glob("*.py")} for p in src.glob("*.py")}
    graph = {k: v - {"__init__", k} for k, v in graph.items()}

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    cycles = sorted(m for m in graph if m in reach(m))
    assert cycles == [], f"modules on an import cycle: {cycles}"
    assert not (src / "stream_output.py").exists()  # the duplicate writer is gone
