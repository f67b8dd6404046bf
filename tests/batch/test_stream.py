"""Chunked analysis: analysis blocks, lazy HDF5 reads, the outputs, chunk-level resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from phasetrace.analysis import block_bounds
from phasetrace.config import AnalysisConfig, Config, OutputConfig, PhaseConfig
from phasetrace.errors import ConfigError, ReaderError
from phasetrace.io.hdf5 import open_lazy, read
from phasetrace.lattice import lattice_table
from phasetrace.output import lattice_frame
from phasetrace.pipeline import CHUNK_DIR, RunInputs, run_analysis
from phasetrace.stream import open_source


@pytest.mark.parametrize("n, size, expected", [
    (10, 4, [(0, 4), (4, 8), (8, 10)]),
    (9, 4, [(0, 4), (4, 9)]),  # a last block under half a block joins the previous one
    (3, 10, [(0, 3)]),
    (0, 5, []),
])
def test_block_bounds(n, size, expected):
    assert list(block_bounds(n, size)) == expected


def test_block_bounds_rejects_zero():
    with pytest.raises(ConfigError, match="block_scans=0"):
        block_bounds(10, 0)


def test_lazy_hdf5_slices_equal_full_read(h5_stack):
    path, y = h5_stack
    lazy = open_lazy(path)
    assert lazy.n_scans == 23
    part = lazy.read(5, 12)
    assert part.sizes["scan"] == 7
    np.testing.assert_array_equal(part["intensity"].values, y[5:12])
    np.testing.assert_array_equal(part["time_s"].values, np.arange(5, 12) * 60.0)
    assert part.attrs["wavelength_A"] == pytest.approx(0.7)
    np.testing.assert_array_equal(read(path)["intensity"].values[5:12], part["intensity"].values)
    with pytest.raises(ReaderError, match="scans 30:40 requested; the file has 23"):
        lazy.read(30, 40)


def test_open_source_parts_keep_global_offsets(h5_stack):
    path, y = h5_stack
    source = open_source(str(path))
    assert (source.kind, source.n_scans) == ("hdf5", 23)
    chunk = source.part(10, 20).read()
    assert chunk.attrs["first_scan"] == 10
    np.testing.assert_array_equal(chunk["intensity"].values, y[10:20])


def test_open_source_without_wavelength(tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    x = np.linspace(10, 20, 50)
    for i in range(2):
        np.savetxt(folder / f"s_{i}.xy", np.column_stack([x, 100 + x]))
    with pytest.raises(ReaderError, match="pass --wavelength"):
        open_source(str(folder))
    assert open_source(str(folder), wavelength="CuKa1").wavelength[0] == pytest.approx(1.5406, abs=1e-4)


def _config():
    """P2 + O3 candidates, analysis blocks of 4 scans (halo 2): 9 scans are blocks 0-3 and 4-8."""
    return Config().replace(phases=PhaseConfig(names=("P2", "O3")),
                            output=OutputConfig(figures=False, report=False),
                            analysis=AnalysisConfig(block_scans=4, halo_scans=2))


@pytest.fixture(scope="module")
def chunked(tmp_path_factory, experiment_factory):
    root = tmp_path_factory.mktemp("chunked")
    exp = experiment_factory(root, "cell", 0, 9)
    inputs = RunInputs(str(exp / "scans"), str(exp / "echem.csv"), str(exp / "scan_log.csv"))
    out = root / "out"
    results, written = run_analysis(inputs, out, config=_config(), chunk_scans=4, max_map_scans=4)
    return inputs, out, results, written


@pytest.mark.slow
def test_chunked_outputs(chunked, truth):
    _, out, results, written = chunked
    assert {"sequence.json", "lattice.csv", "results.nc", "sequence.csv"} <= set(written)
    assert not (out / CHUNK_DIR).exists()
    assert json.loads((out / "sequence.json").read_text())["sequence"] == "O3/P2"
    saved = xr.open_dataset(out / "results.nc", engine="h5netcdf")
    assert saved.sizes["scan"] == 9
    np.testing.assert_array_equal(saved["map_scan"].values, [0, 3, 6])  # every 3rd scan, ≤ 4 kept
    assert saved["map_intensity"].shape == (3, saved.sizes["two_theta"])
    # voltages come from the cycler record through the scan log (same clock)
    np.testing.assert_allclose(saved["voltage_V"].values, [s["voltage"] for s in truth["scans"][:9]],
                               atol=0.02)
    saved.close()


@pytest.mark.slow
def test_chunked_lattice_matches_truth(chunked, truth):
    _, out, results, _ = chunked
    c = results["c"].sel(phase="P2").values
    expected = [s["phases"]["P2"]["c"] for s in truth["scans"][:9]]
    np.testing.assert_allclose(c, expected, atol=0.01)  # Å, across both chunk boundaries
    assert lattice_frame(results).equals(lattice_table(results))


@pytest.mark.slow
def test_chunk_resume_skips_finished_chunks(chunked, tmp_path):
    inputs, _, reference, _ = chunked
    out = tmp_path / "out"

    class Stop(Exception):
        pass

    def stop_after_first(done, total):
        if done > 0:
            raise Stop

    with pytest.raises(Stop):
        run_analysis(inputs, out, config=_config(), chunk_scans=4, max_map_scans=4,
                     progress=stop_after_first)
    assert len(list((out / CHUNK_DIR).glob("chunk_*.npz"))) == 1
    # what a SIGKILL during a write leaves behind, and a file of the user's
    (out / CHUNK_DIR / ".chunk_000001.npz.x1y2.part").write_bytes(b"half a chunk")
    (out / ".results.nc.x1y2.part").write_bytes(b"half a file")
    (out / ".notes.part").write_text("mine")
    seen = []
    results, _ = run_analysis(inputs, out, config=_config(), chunk_scans=4, max_map_scans=4,
                              resume=True, progress=lambda done, total: seen.append(done))
    assert seen[0] == 4  # the first chunk (scans 0-3) was reused, not recomputed
    assert seen[-1] == 9
    assert [p.name for p in out.rglob("*.part")] == [".notes.part"]
    xr.testing.assert_equal(results[["a", "c", "fraction"]], reference[["a", "c", "fraction"]])


@pytest.mark.slow
def test_chunked_on_two_processes_equals_one(chunked, tmp_path):
    inputs, out, _, _ = chunked
    run_analysis(inputs, tmp_path / "j2", config=_config(), chunk_scans=4, max_map_scans=4, jobs=2)
    for name in ("sequence.json", "lattice.csv"):
        ours, theirs = ((tmp_path / "j2" / name).read_text(), (out / name).read_text())
        assert _without_run_id(ours) == _without_run_id(theirs)


def _without_run_id(text: str) -> str:
    import re

    return re.sub(r"[0-9a-f]{32}", "RUN", text)


def test_batch_cli_rejects_bad_chunk_size(manifest, capsys, restore_logging):
    from phasetrace.cli.main import main

    assert main(["batch", str(manifest), "--chunk-scans", "0", "--out", str(manifest.parent / "o")]) == 1
    assert "--chunk-scans 0: expected a positive number of scans" in capsys.readouterr().err


@pytest.mark.slow
def test_batch_with_chunks(manifest, tmp_path):
    from phasetrace.batch import read_manifest, run_batch

    rows = run_batch(read_manifest(manifest)[:1], tmp_path / "out", config=_config(), chunk_scans=3)
    assert rows[0]["status"] == "ok" and rows[0]["n_scans"] == 5
    assert rows[0]["sequence"] == "O3/P2"
    assert not (tmp_path / "out" / "cellA" / CHUNK_DIR).exists()
