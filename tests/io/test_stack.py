"""read_stack: sources, ordering, common grid, wavelength resolution."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from phasetrace.errors import InterpolationWarning, ReaderError
from phasetrace.io import natural_key, read_stack



def gaussian_pattern(tt: np.ndarray, center: float, *, height: float = 1000.0, fwhm: float = 0.1,
                     background: float = 50.0) -> np.ndarray:
    """One Gaussian peak on a flat background (counts)."""
    sigma = fwhm / 2.3548
    return background + height * np.exp(-0.5 * ((tt - center) / sigma) ** 2)


@pytest.fixture
def series(tmp_path, write_xye):
    """Twelve scans scan_1 ... scan_12 whose peak moves 0.01° per scan, plus distractors."""
    tt = np.round(np.arange(20.0, 22.0, 0.01), 5)
    folder = tmp_path / "run"
    for k in range(1, 13):
        write_xye(f"scan_{k}.xye", tt, gaussian_pattern(tt, 21.0 + 0.01 * k),
                  header="# wavelength_A = 0.7093\n", folder=folder)
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(100))
    (folder / "echem.csv").write_text("time_s,voltage_V\n0,3.0\n10,3.1\n")
    return folder


def test_folder_natural_order_skips_hidden_and_other_files(series, caplog):
    ds = read_stack(series)
    assert ds.sizes["scan"] == 12
    assert list(ds["file"].values[:3]) == ["scan_1.xye", "scan_2.xye", "scan_3.xye"]
    assert ds["file"].values[-1] == "scan_12.xye"
    assert ds.attrs["wavelength_A"] == 0.7093 and ds.attrs["n_files"] == 12
    peak = ds["two_theta"].values[np.argmax(ds["intensity"].values, axis=1)]
    np.testing.assert_allclose(peak, 21.0 + 0.01 * np.arange(1, 13), atol=1e-9)
    assert "echem.csv" in caplog.text


def test_natural_key():
    assert sorted(["s_10", "s_2", "S_1"], key=natural_key) == ["S_1", "s_2", "s_10"]


def test_glob_and_list_sources(series):
    ds = read_stack(str(series / "scan_1*.xye"))
    assert list(ds["file"].values) == ["scan_1.xye", "scan_10.xye", "scan_11.xye", "scan_12.xye"]
    listed = read_stack([series / "scan_3.xye", series / "scan_1.xye"])
    assert list(listed["file"].values) == ["scan_3.xye", "scan_1.xye"]  # a list keeps its order


def test_input_files_unchanged(series):
    before = {p.name: p.read_bytes() for p in series.iterdir()}
    read_stack(series)
    assert {p.name: p.read_bytes() for p in series.iterdir()} == before


def test_progress_callback(series):
    calls = []
    read_stack(series, progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, 12) and calls[-1] == (12, 12)


def test_slightly_different_grids_are_interpolated_with_warning(tmp_path, write_xye):
    tt = np.arange(20.0, 22.0, 0.01)
    write_xye("a_1.xye", tt, gaussian_pattern(tt, 21.0), header="# wavelength_A = 1.0\n")
    shifted = tt + 0.004
    write_xye("a_2.xye", shifted, gaussian_pattern(shifted, 21.0), header="# wavelength_A = 1.0\n")
    with pytest.warns(InterpolationWarning, match=r"1 of 2 files .* grid of a_1\.xye .*largest offset 0\.004°"):
        ds = read_stack(tmp_path)
    assert ds["two_theta"].values[0] == pytest.approx(20.01)  # cropped to the common range
    y = ds["intensity"].values
    assert abs(ds["two_theta"].values[np.argmax(y[1])] - 21.0) < 0.011
    np.testing.assert_allclose(y[0], y[1], rtol=0.1, atol=20)


def test_same_grid_gives_no_warning(series):
    with warnings.catch_warnings():
        warnings.simplefilter("error", InterpolationWarning)
        read_stack(series)


def test_non_overlapping_ranges_name_the_files(tmp_path, write_xye):
    a = np.arange(10.0, 12.0, 0.01)
    b = np.arange(30.0, 32.0, 0.01)
    write_xye("low.xye", a, gaussian_pattern(a, 11), header="# wavelength_A = 1.0\n")
    write_xye("high.xye", b, gaussian_pattern(b, 31), header="# wavelength_A = 1.0\n")
    with pytest.raises(ReaderError, match=r"do not overlap: high\.xye covers 30–31\.99°, low\.xye covers 10–11\.99°"):
        read_stack(tmp_path)


def test_disagreeing_header_wavelengths_name_two_files(tmp_path, write_xye):
    tt = np.arange(10.0, 12.0, 0.01)
    write_xye("s_1.xye", tt, gaussian_pattern(tt, 11), header="# wavelength_A = 1.5406\n")
    write_xye("s_2.xye", tt, gaussian_pattern(tt, 11), header="# wavelength_A = 0.7093\n")
    with pytest.raises(ReaderError, match=r"s_1\.xye says 1\.5406 Å, s_2\.xye says 0\.7093 Å"):
        read_stack(tmp_path)
    assert read_stack(tmp_path, wavelength="CuKa1").attrs["wavelength_A"] == 1.540593


def test_missing_wavelength(tmp_path, write_xye):
    tt = np.arange(10.0, 12.0, 0.01)
    write_xye("n_1.xye", tt, gaussian_pattern(tt, 11))
    with pytest.raises(ReaderError, match=r"n_1\.xye: no wavelength in the file header; pass --wavelength"):
        read_stack(tmp_path)
    assert math.isnan(read_stack(tmp_path, require_wavelength=False).attrs["wavelength_A"])
    ds = read_stack(tmp_path, wavelength="CuKa")
    assert (ds.attrs["wavelength_A"], ds.attrs["wavelength2_A"], ds.attrs["kalpha2_ratio"]) == (1.540593, 1.544414, 0.5)
    assert ds.attrs["radiation"] == "CuKa" and ds.attrs["wavelength_source"] == "option"
    assert read_stack(tmp_path, wavelength="0.4959").attrs["wavelength_A"] == 0.4959


@pytest.mark.parametrize("value, message", [
    (0.15406, "looks like Cu Kα given in nm"), (0.07093, "looks like Mo Kα given in nm"),
    (154.06, "not a plausible X-ray wavelength"), ("CuKb", "unknown wavelength 'CuKb'"),
])
def test_bad_wavelength_option(tmp_path, write_xye, value, message):
    tt = np.arange(10.0, 12.0, 0.01)
    write_xye("n_1.xye", tt, gaussian_pattern(tt, 11))
    with pytest.raises(ReaderError, match=message):
        read_stack(tmp_path, wavelength=value)


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing", r"missing: no such file or folder"),
    (lambda p: str(p / "*.xye"), r"glob pattern matched no files"),
    (lambda p: p, r"folder holds no supported pattern files"),
    (lambda p: [], "empty list"),
])
def test_source_errors(tmp_path, make, message):
    (tmp_path / "notes.md").write_text("hello")
    with pytest.raises(ReaderError, match=message):
        read_stack(make(tmp_path))


def test_one_bad_file_is_named(series):
    (series / "scan_5.xye").write_text("10 1\n10.1 2\n10.1 3\n10.3 4\n10.4 5\n")
    with pytest.raises(ReaderError, match=r"scan_5\.xye: duplicated 2θ"):
        read_stack(series)
