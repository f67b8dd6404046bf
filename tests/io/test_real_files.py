"""Golden values on real files written by others (../shared/data); skipped when absent.

Peak positions are checked against physics: corundum (104) at 35.15° and rutile (110)
at 27.45° with Cu Kα; MnO (200) at 40.6°; CuCr2O4 (211) near 9.3° at λ = 0.413 Å.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from phasetrace.io import read_pattern, read_stack


# file, n_points, first 2θ, last 2θ, max intensity, 2θ of the max, λ1 (NaN: none), λ2, ratio
GOLDEN = [
    ("formats_datalab/xrd/Scan_C1.xrdml", 7181, 5.00475563, 124.99166689, 24224.0, 51.980, 1.540598, 1.544426, 0.5),
    ("formats_datalab/xrd/CG20396_jdb12-1.xrdml", 7181, 5.00835563, 124.99526689, 13036.0, 41.673,
     1.540598, 1.544426, 0.5),
    ("formats_datalab/xrd/HL1-2_5-90_60min.xrdml", 6474, 5.00116514, 89.99348491, 10841.0, 15.860,
     1.540598, 1.544426, 0.5),
    ("formats_datalab/xrd/JO_KL_16_ZF_3_60deg_0.02step_12degpermin_001.rasx", 2851, 3.0, 60.0, 34423.0, 7.38,
     1.540593, 1.544414, 0.5),
    ("formats_datalab/xrd/TiOF.brml", 2469, 9.998839261, 60.012776015, 8170.0, 27.042, 1.5406, 1.54439, 0.5),
    ("formats_datalab/xrd/TiO2.raw", 1647, 10.0, 70.041142, 11493.0, 27.472, 1.5406, 1.54439, 0.5),
    ("formats_datalab/xrd/example_bmb.xye", 575, 0.5, 1.073103125, 662.407183, 0.5, 0.414581, math.nan, 0.0),
    ("formats_datalab/xrd/example_mythen.dat", 730, 2.084, 5.0, 3321.320995, 4.712, math.nan, math.nan, 0.0),
    ("formats_datalab/xrd/example_mythen.xye", 74, 2.038, 2.33, 105132.0, 2.33, math.nan, math.nan, 0.0),
    ("formats_datalab/xrd/example_ocx.xy", 1876, 5.0, 80.0, 96.686, 69.12, math.nan, math.nan, 0.0),
    ("formats_datalab/xrd/example_evadiffract.xy", 28, 5.0001, 5.2743, 5.583, 5.1626, 1.540593, 1.544414, 0.5),
    ("lmo_spinel_scimap/LMO-two-phase.plt", 4001, 55.0, 75.0, 18.52898, 64.735, 1.54056, 1.54439, 0.5),
    ("lmo_spinel_scimap/corundum.brml", 6851, 10.0001, 80.0061, 40629.0, 35.151, 1.5406, 1.54439, 0.5),
    ("lmo_spinel_scimap/corundum.raw", 6851, 10.0001, 80.0060537, 40629.0, 35.151, 1.5406, 1.54439, 0.5),
    ("lmo_spinel_scimap/corundum.xye", 6851, 10.0001001, 80.0060511, 426.604166666667, 35.151,
     1.540593, 1.544414, 0.5),
    ("lmo_spinel_scimap/lmo-two-phase.brml", 6851, 10.0001, 80.0061, 3705.0, 19.167, 1.5406, 1.54439, 0.5),
    ("gsas2_seqtut_cucr2o4/OH_00.fxye", 12799, 0.5, 26.096, 8454.35653, 9.298, 0.413263, math.nan, 0.0),
    ("autoanalyzer_spectra/MnO.xy", 9001, 10.0, 100.0, 28818.0, 40.59, math.nan, math.nan, 0.0),
    ("operando_coincell_datalab/xrd_data/1355639_summed_mythen3.xye", 16553, 2.08, 68.312, 559873.0, 13.64,
     math.nan, math.nan, 0.0),
]


@pytest.mark.parametrize("rel, npts, first, last, ymax, at, l1, l2, ratio", GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden_values(shared_file, rel, npts, first, last, ymax, at, l1, l2, ratio):
    ds = read_pattern(shared_file(rel))
    tt = ds["two_theta"].values
    y = ds["intensity"].values[0]
    assert ds.sizes["scan"] == 1 and tt.size == npts
    assert tt[0] == pytest.approx(first, abs=1e-6) and tt[-1] == pytest.approx(last, abs=1e-6)
    assert y.max() == pytest.approx(ymax, rel=1e-9)
    assert tt[np.argmax(y)] == pytest.approx(at, abs=2e-3)
    np.testing.assert_allclose([ds.attrs["wavelength_A"], ds.attrs["wavelength2_A"]], [l1, l2], equal_nan=True)
    assert ds.attrs["kalpha2_ratio"] == pytest.approx(ratio)
    assert np.all(ds["intensity_sigma"].values > 0)
    assert ds["file"].values[0] == rel.rsplit("/", 1)[-1]


def test_peaks_where_physics_puts_them(shared_file):
    """Strongest reflections agree with Bragg's law for known phases (Cu Kα1)."""
    corundum = read_pattern(shared_file("lmo_spinel_scimap/corundum.raw"))
    lam = corundum.attrs["wavelength_A"]
    d_104 = 2.5515  # Å, α-Al2O3 (104)
    tt = corundum["two_theta"].values[np.argmax(corundum["intensity"].values[0])]
    assert tt == pytest.approx(np.degrees(2 * np.arcsin(lam / (2 * d_104))), abs=0.03)


@pytest.mark.parametrize("rel, when", [
    ("formats_datalab/xrd/Scan_C1.xrdml", "2020-11-06T18:09:37+00:00"),
    ("formats_datalab/xrd/TiOF.brml", "2025-02-26T10:47:52.870879+00:00"),
    ("formats_datalab/xrd/JO_KL_16_ZF_3_60deg_0.02step_12degpermin_001.rasx", "2025-03-07T13:28:15+00:00"),
    ("lmo_spinel_scimap/corundum.raw", "2015-06-04T11:30:38"),
    ("gsas2_seqtut_cucr2o4/OH_00.fxye", "2011-04-25T12:35:45.325926"),
    ("formats_datalab/xrd/example_bmb.xye", "2017-04-12T01:23:16.472073"),
])
def test_start_timestamps(shared_file, rel, when):
    ds = read_pattern(shared_file(rel))
    assert ds["datetime_start"].values[0] == when


def test_raw_and_brml_of_same_measurement_agree(shared_file):
    raw = read_pattern(shared_file("lmo_spinel_scimap/corundum.raw"))
    brml = read_pattern(shared_file("lmo_spinel_scimap/corundum.brml"))
    np.testing.assert_allclose(raw["two_theta"].values, brml["two_theta"].values, atol=1e-3)
    np.testing.assert_array_equal(raw["intensity"].values, brml["intensity"].values)
    assert raw["datetime_start"].values[0][:19] == brml["datetime_start"].values[0][:19]


def test_gsas_temperature_series(shared_file):
    ds = read_stack(shared_file("gsas2_seqtut_cucr2o4"))
    assert ds.sizes["scan"] == 17
    t = ds["temperature_K"].values
    assert t[0] == pytest.approx(6.778) and t[-1] == pytest.approx(288.7)
    assert np.all(np.diff(t) > 0)
    assert ds.attrs["wavelength_A"] == pytest.approx(0.413263)
    assert list(ds["file"].values[:2]) == ["OH_00.fxye", "OH_04.fxye"]


def test_xrdml_scan_c_series_is_ten_scans_on_one_grid(shared_file):
    folder = shared_file("formats_datalab/xrd")
    ds = read_stack(str(folder / "Scan_C*.xrdml"))
    assert ds.sizes == {"scan": 10, "two_theta": 7181}
    assert list(ds["file"].values) == [f"Scan_C{i}.xrdml" for i in range(1, 11)]
    starts = ds["datetime_start"].values
    assert starts[0] == "2020-11-06T18:09:37+00:00" and starts[-1] == "2020-11-06T20:24:25+00:00"
    assert np.all(starts[1:] > starts[:-1])  # ISO strings with one offset sort as times
    assert all(e > s for s, e in zip(starts, ds["datetime_end"].values))


def test_operando_coincell_needs_a_wavelength(shared_file):
    folder = shared_file("operando_coincell_datalab/xrd_data")
    from phasetrace.errors import ReaderError

    with pytest.raises(ReaderError, match="1355639_summed_mythen3.xye.*--wavelength"):
        read_stack(folder)
    ds = read_stack(folder, wavelength=0.49)
    assert ds.sizes == {"scan": 5, "two_theta": 16553}  # .DS_Store skipped
    assert ds.attrs["wavelength_A"] == 0.49


def test_shared_case_folder(shared_case):
    folder = shared_case("t1_row04_p2p3_op4/patterns")
    ds = read_stack(folder)
    assert ds.sizes["scan"] == len(list(folder.glob("*.xye")))
    assert ds["file"].values[0] == "scan_0000.xye"
    assert ds.attrs["wavelength_A"] == pytest.approx(0.7093)


@pytest.mark.parametrize("rel", [
    "formats_datalab/xrd/Scan_C1.xrdml", "formats_datalab/xrd/TiOF.brml", "formats_datalab/xrd/TiO2.raw",
    "formats_datalab/xrd/JO_KL_16_ZF_3_60deg_0.02step_12degpermin_001.rasx", "gsas2_seqtut_cucr2o4/OH_00.fxye",
])
def test_truncated_real_files_raise_reader_error(shared_file, tmp_path, rel):
    """Formats that declare their size (or are structured) detect truncation.

    A plain-text file cut at a line end is indistinguishable from a shorter scan.
    """
    from phasetrace.errors import ReaderError

    data = shared_file(rel).read_bytes()
    path = tmp_path / rel.rsplit("/", 1)[-1]
    path.write_bytes(data[: len(data) // 2 - 7])
    with pytest.raises(ReaderError, match=path.name.replace(".", r"\.")):
        read_pattern(path)


@pytest.mark.parametrize("ext", [".xrdml", ".brml", ".rasx", ".raw", ".fxye", ".plt", ".chi", ".h5", ".xye"])
def test_random_bytes_with_vendor_extension(tmp_path, rng, ext):
    from phasetrace.errors import ReaderError

    for k in range(5):
        path = tmp_path / f"junk{k}{ext}"
        path.write_bytes(rng.integers(0, 256, size=int(rng.integers(1, 3000)), dtype=np.uint8).tobytes())
        with pytest.raises(ReaderError, match=path.name.replace(".", r"\.")):
            read_pattern(path)
