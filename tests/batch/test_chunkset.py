"""Chunk results read from their files on demand: the lazy join, the region writer, lattice.csv by slices."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from phasetrace.analysis import join_blocks
from phasetrace.chunkset import SUMMARY_VARS, in_memory, is_lazy, open_chunk, write_netcdf_regions
from phasetrace.output import lattice_frame, write_lattice_csv
from phasetrace.stream import load_chunk, save_chunk

PHASES = ["Al", "O3", "P2"]


def _chunk(first: int, n: int, width: int, seed: int) -> xr.Dataset:
    """A chunk result as analyse_task returns it: (scan, phase), (scan, peak), (scan, unindexed), maps."""
    rng = np.random.default_rng(seed)
    scans = np.arange(first, first + n)
    present = rng.random((n, 3)) < 0.6
    present[:, 0] = True  # the current collector: in every scan
    frac = np.where(present, rng.random((n, 3)), np.nan)
    rows = np.flatnonzero(scans % 3 == 0)
    return xr.Dataset(
        {"present": (("scan", "phase"), present), "fraction": (("scan", "phase"), frac),
         "a": (("scan", "phase"), 2.88 + 0.01 * rng.random((n, 3))),
         "c": (("scan", "phase"), 11.1 + 0.1 * rng.random((n, 3))),
         "fit_status": (("scan", "phase"), rng.integers(0, 3, (n, 3))),
         "volume_strain": (("scan", "phase"), rng.random((n, 3)) * 1e-3),
         "peak_center": (("scan", "peak"), 20 + rng.random((n, 4))),
         "peak_status": (("scan", "peak"), rng.integers(0, 4, (n, 4)).astype(np.int32)),
         "zero_shift": ("scan", rng.normal(0, 0.01, n)),
         "note": ("scan", np.array([f"s{i}" * (1 + i % 3) for i in scans])),
         "unindexed_peaks": (("scan", "unindexed"), rng.random((n, width)) * 60),
         "map_intensity": (("map_scan", "two_theta"), rng.random((rows.size, 5)).astype(np.float32)),
         "fwhm_deg": ("block", [0.1 + seed])},
        coords={"scan": scans, "phase": PHASES, "is_cell_component": ("phase", [True, False, False]),
                "time_s": ("scan", 60.0 * scans), "file": ("scan", [f"scan_{i:04d}.xye" for i in scans]),
                "map_scan": scans[rows], "two_theta": np.linspace(10, 20, 5),
                "block_start": ("block", [first])},
        attrs={"program": "test"})


@pytest.fixture
def chunk_files(tmp_path):
    parts = [_chunk(0, 7, 2, 0), _chunk(7, 6, 3, 1), _chunk(13, 8, 1, 2)]
    return [save_chunk(ds, tmp_path / f"chunk_{i:06d}.npz") for i, ds in enumerate(parts)]


def test_open_chunk_reads_per_scan_tables_only_when_computed(chunk_files):
    lazy = open_chunk(chunk_files[0])
    assert all(is_lazy(lazy[v]) for v in ("present", "a", "peak_center", "map_intensity", "note"))
    assert not any(is_lazy(lazy[c]) for c in lazy.coords) and not is_lazy(lazy["fwhm_deg"])
    xr.testing.assert_identical(lazy.compute(), load_chunk(chunk_files[0]))


def test_summary_in_memory_holds_only_what_transitions_read(chunk_files):
    joined = join_blocks([open_chunk(p) for p in chunk_files])
    summary = in_memory(joined)
    held = {v for v in summary.data_vars if summary[v].dims and "scan" in summary[v].dims}
    assert held == {"present", "fraction", "a", "c", "unindexed_peaks"} and held <= set(SUMMARY_VARS)
    assert not any(is_lazy(summary[v]) for v in summary.data_vars)
    assert is_lazy(joined["a"])  # the joined results keep reading the files
    ref = join_blocks([load_chunk(p) for p in chunk_files])
    np.testing.assert_array_equal(summary["unindexed_peaks"].values, ref["unindexed_peaks"].values)
    assert summary["unindexed_peaks"].shape == (21, 3)  # narrower chunks padded with NaN


def test_netcdf_by_regions_reads_back_as_xarrays_own_write(chunk_files, tmp_path):
    joined = join_blocks([open_chunk(p) for p in chunk_files])
    write_netcdf_regions(joined, tmp_path / "regions.nc", region_scans=4)  # 6 regions, not on chunk bounds
    join_blocks([load_chunk(p) for p in chunk_files]).to_netcdf(tmp_path / "whole.nc", engine="h5netcdf")
    with xr.open_dataset(tmp_path / "regions.nc", engine="h5netcdf") as a, \
            xr.open_dataset(tmp_path / "whole.nc", engine="h5netcdf") as b:
        xr.testing.assert_identical(a.load(), b.load())
        assert list(a.variables) == list(b.variables)
        assert a["note"].values.tolist()[:3] == ["s0", "s1s1", "s2s2s2"]
        assert a["map_scan"].values.tolist() == [0, 3, 6, 9, 12, 15, 18]


def test_lattice_csv_by_slices_equals_one_table(chunk_files, tmp_path):
    from phasetrace import chunkset

    joined = join_blocks([open_chunk(p) for p in chunk_files])
    ref = join_blocks([load_chunk(p) for p in chunk_files])
    chunkset.REGION_SCANS, size = 5, chunkset.REGION_SCANS
    try:
        write_lattice_csv(joined, tmp_path / "lattice.csv", run_id="r1")
    finally:
        chunkset.REGION_SCANS = size
    frame = lattice_frame(ref)
    frame["run_id"] = "r1"
    expected = frame.to_csv(index=False, float_format="%.6g", lineterminator="\n")
    assert (tmp_path / "lattice.csv").read_text(encoding="utf-8") == expected
    assert len(frame) == int(ref["present"].values.sum())  # one row per (scan, phase present)


def test_join_pads_a_chunk_without_unindexed_peaks(tmp_path):
    parts = [_chunk(0, 4, 0, 0), _chunk(4, 4, 2, 1)]  # the first chunk found no unindexed peak
    files = [save_chunk(ds, tmp_path / f"chunk_{i}.npz") for i, ds in enumerate(parts)]
    joined = join_blocks([open_chunk(p) for p in files])
    un = in_memory(joined)["unindexed_peaks"].values
    assert un.shape == (8, 2) and np.isnan(un[:4]).all() and np.isfinite(un[4:]).all()
