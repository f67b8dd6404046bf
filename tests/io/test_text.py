"""Plain-text reader: layouts, header fields, data checks, and fuzzing."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phasetrace.errors import ReaderError
from phasetrace.io import read_pattern
from phasetrace.io import text as text_reader
from phasetrace.schema import d_to_two_theta


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def _rows(n: int = 20, start: float = 10.0, step: float = 0.05, sep: str = " ", sigma: bool = True) -> str:
    lines = []
    for i in range(n):
        y = 100.0 + i
        cols = [f"{start + i * step:.3f}", f"{y:.1f}"] + ([f"{math.sqrt(y):.3f}"] if sigma else [])
        lines.append(sep.join(cols))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name, content", [
    ("a.xye", _rows()),
    ("a.xy", _rows(sigma=False)),
    ("a.csv", "2theta,intensity,sigma\n" + _rows(sep=",")),
    ("a.dat", _rows(sep="\t")),
    ("a.txt", "# semicolons and decimal commas\n" + _rows(sep=";").replace(".", ",")),
    ("a.xye", "/* block\n comment */\n" + _rows() + "\n\n# trailing comment\n"),
    ("a.xy", "\ufeff" + _rows(sigma=False)),
])
def test_layouts(tmp_path, name, content):
    ds = read_pattern(_write(tmp_path, name, content))
    tt = ds["two_theta"].values
    assert tt.size == 20 and tt[0] == pytest.approx(10.0) and tt[-1] == pytest.approx(10.95)
    assert ds["intensity"].values[0, 5] == pytest.approx(105.0)
    assert ds["intensity_sigma"].values[0, 5] == pytest.approx(math.sqrt(105.0), abs=1e-3)
    assert math.isnan(ds.attrs["wavelength_A"])


@pytest.mark.parametrize("header, l1, l2, ratio", [
    ("# wavelength_A = 1.5406\n", 1.5406, math.nan, 0.0),
    ("# Calibrated wavelength = 0.413263\n", 0.413263, math.nan, 0.0),
    ("# Wavelength: 1.0332e-10 m\n", 1.0332, math.nan, 0.0),
    ("# wavelength_nm = 0.07093\n", 0.7093, math.nan, 0.0),
    ("# Wavelength (nm) = 0.04959\n", 0.4959, math.nan, 0.0),
    ("# lambda = 0.7093\n", 0.7093, math.nan, 0.0),
    ("'Id: \"x\" Operator: \"y\" Anode: Cu Scantype: \"z\"\n", 1.540593, 1.544414, 0.5),
    ("# wavelength_A = 1.5406\n# wavelength2_A = 1.5444\n# kalpha2_ratio = 0.48\n", 1.5406, 1.5444, 0.48),
])
def test_header_wavelength(tmp_path, header, l1, l2, ratio):
    ds = read_pattern(_write(tmp_path, "w.xye", header + _rows()))
    assert ds.attrs["wavelength_A"] == pytest.approx(l1)
    np.testing.assert_allclose(ds.attrs["wavelength2_A"], l2, equal_nan=True)
    assert ds.attrs["kalpha2_ratio"] == pytest.approx(ratio)


def test_wavelength_in_nm_is_refused(tmp_path):
    with pytest.raises(ReaderError, match=r"w\.xye.*looks like Cu Kα given in nm"):
        read_pattern(_write(tmp_path, "w.xye", "# wavelength_A = 0.15406\n" + _rows()))


def test_implausible_wavelength_is_refused(tmp_path):
    with pytest.raises(ReaderError, match="not a plausible X-ray wavelength"):
        read_pattern(_write(tmp_path, "w.xye", "# wavelength_A = 154.06\n" + _rows()))


@pytest.mark.parametrize("line, kelvin", [
    ("# Temp (K) = 6.778", 6.778), ("# temperature_C = 25", 298.15), ("# Temperature: 300 K", 300.0),
    ("# temperature = 25 C", 298.15),
])
def test_header_temperature(tmp_path, line, kelvin):
    ds = read_pattern(_write(tmp_path, "t.xye", line + "\n" + _rows()))
    assert ds["temperature_K"].values[0] == pytest.approx(kelvin)


def test_header_start_time(tmp_path):
    ds = read_pattern(_write(tmp_path, "t.xye", "# Scan time = APR 25, 2011 12:35:45.325926\n" + _rows()))
    assert ds["datetime_start"].values[0] == "2011-04-25T12:35:45.325926"


def test_q_column_converted_with_header_wavelength(tmp_path):
    lam = 1.0
    d = np.linspace(4.0, 2.0, 30)  # Å
    q = 2 * np.pi / d
    body = "\n".join(f"{a:.8f} {100 + i}" for i, a in enumerate(q))
    ds = read_pattern(_write(tmp_path, "q.dat", f"# Wavelength: {lam * 1e-10:.6e} m\n#  q_A^-1  I\n{body}\n"))
    np.testing.assert_allclose(ds["two_theta"].values, d_to_two_theta(d, lam), atol=1e-6)
    nm = "\n".join(f"{a * 10:.8f} {100 + i}" for i, a in enumerate(q))
    ds_nm = read_pattern(_write(tmp_path, "qnm.dat", f"# wavelength_A = {lam}\n# q_nm^-1 I\n{nm}\n"))
    np.testing.assert_allclose(ds_nm["two_theta"].values, ds["two_theta"].values, atol=1e-6)


def test_q_column_without_wavelength_needs_one(tmp_path):
    path = _write(tmp_path, "q.dat", "# q_nm^-1 I\n" + _rows(sigma=False))
    with pytest.raises(ReaderError, match="Q .*--wavelength"):
        read_pattern(path)
    ds = text_reader.read(path, wavelength_A=1.0)
    assert ds["two_theta"].values[0] == pytest.approx(float(d_to_two_theta(2 * np.pi / 1.0, 1.0)), abs=1e-6)


def test_descending_two_theta_is_reversed(tmp_path):
    rows = _rows().splitlines()[::-1]
    ds = read_pattern(_write(tmp_path, "down.xye", "\n".join(rows)))
    assert np.all(np.diff(ds["two_theta"].values) > 0)
    assert ds["intensity"].values[0, 0] == pytest.approx(100.0)


def test_small_negative_noise_is_accepted(tmp_path):
    body = "\n".join(f"{10 + 0.1 * i:.2f} {v:.1f}" for i, v in enumerate([-3, 2, -1, 500, 1000, 480, 4, -2, 1, 0]))
    ds = read_pattern(_write(tmp_path, "bgsub.xy", body))
    assert ds["intensity"].values.min() == -3.0


def test_third_column_that_is_not_sigma_is_ignored(tmp_path, caplog):
    """Counts (Poisson about 1000 + a peak) beside a smooth background curve of ~1000 (as
    XRD-AutoAnalyzer's example files have): the curve states errors ~30× the counts'
    scatter (√1000 ≈ 32), so it is not σ; σ = √I is used and the file is named."""
    rng = np.random.default_rng(0)
    tt = np.arange(10.0, 30.0, 0.02)
    mean = 1000.0 + 800.0 * np.exp(-0.5 * ((tt - 20.0) / 0.1) ** 2)
    y = rng.poisson(mean).astype(float)
    body = "\n".join(f"{a:.2f} {b:.0f} {1000 - 2 * (a - 10):.1f}" for a, b in zip(tt, y))
    path = _write(tmp_path, "bg.xy", body)
    with caplog.at_level("WARNING"):
        ds = read_pattern(path)
    np.testing.assert_allclose(ds["intensity_sigma"].values[0], np.sqrt(y))
    assert f"{path}: the third column is not the intensities' σ" in caplog.text
    # the same counts with their true σ keep the column
    body = "\n".join(f"{a:.2f} {b:.0f} {math.sqrt(m):.3f}" for a, b, m in zip(tt, y, mean))
    ds = read_pattern(_write(tmp_path, "sig.xye", body))
    np.testing.assert_allclose(ds["intensity_sigma"].values[0], np.sqrt(mean), atol=1e-3)


def test_zero_sigma_becomes_counting_error(tmp_path):
    body = "\n".join(f"{10 + 0.1 * i:.2f} {0 if i == 2 else 100} {0 if i == 2 else 10}" for i in range(10))
    ds = read_pattern(_write(tmp_path, "zero.xye", body))
    assert ds["intensity_sigma"].values[0, 2] == 1.0


@pytest.mark.parametrize("name, content, message", [
    ("empty.xy", "", r"empty\.xy: empty file"),
    ("header.xy", "# only a header\n# nothing else\n", "no numeric data"),
    ("garbage.xy", b"\x00\x01\x02\xff\xfe" * 50, "binary data"),
    ("ctrl.xy", bytes(range(1, 32)) * 20, "binary data"),
    ("trunc.xye", _rows() + "10.999", r"line 21 has 1 columns, expected 3 \(truncated file\?\)"),
    ("ragged.xye", _rows(5) + "11 12\n" + _rows(5, start=20), "ragged columns"),
    ("words.xy", _rows(sigma=False) + "11.0 abc\n", r"line 21 is not numeric"),
    ("nan.xy", "10 1\n10.1 2\n10.2 nan\n10.3 4\n10.4 5\n10.5 6\n", r"intensity of scan 0 at point 2 is nan"),
    ("inf.xy", "10 1\n10.1 inf\n10.2 3\n10.3 4\n10.4 5\n10.5 6\n", r"point 1 is inf"),
    ("nanx.xy", "10 1\nnan 2\n10.2 3\n10.3 4\n10.4 5\n10.5 6\n", r"2θ value at point 1 is nan"),
    ("dup.xy", "10 1\n10.1 2\n10.1 3\n10.3 4\n10.4 5\n", r"duplicated 2θ value 10\.1° at points 1 and 2"),
    ("zigzag.xy", "10 1\n10.2 2\n10.1 3\n10.3 4\n10.4 5\n", r"not monotonic at point 2"),
    ("short.xy", "10 1\n10.1 2\n10.2 3\n10.3 4\n", "only 4 data points"),
    ("centideg.xy", "\n".join(f"{5000 + 20 * i} {i + 1}" for i in range(10)), r"not 2θ in degrees"),
    ("neg.xy", "\n".join(f"{10 + 0.1 * i:.1f} {-500 if i == 3 else 100}" for i in range(10)),
     r"intensities down to -500"),
    ("negsig.xye", "\n".join(f"{10 + 0.1 * i:.1f} 100 {-1 if i == 3 else 10}" for i in range(10)),
     "σ column has negative values"),
    ("one.xy", "\n".join(str(10 + i) for i in range(10)), "no numeric data"),
])
def test_bad_input_names_file_and_problem(tmp_path, name, content, message):
    path = _write(tmp_path, name, content)
    with pytest.raises(ReaderError, match=message) as info:
        read_pattern(path)
    assert name in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ReaderError, match=r"nope\.xy: no such file"):
        read_pattern(tmp_path / "nope.xy")


def test_unsupported_extension(tmp_path):
    with pytest.raises(ReaderError, match=r"unsupported file type '\.foo'"):
        read_pattern(_write(tmp_path, "a.foo", _rows()))


def test_format_override_reads_odd_extension(tmp_path):
    ds = read_pattern(_write(tmp_path, "a.prn", _rows()), format="text")
    assert ds.sizes["two_theta"] == 20


def test_reading_does_not_change_the_file(tmp_path):
    path = _write(tmp_path, "a.xye", "# wavelength_A = 1.5406\n" + _rows())
    before = path.read_bytes()
    read_pattern(path)
    assert path.read_bytes() == before


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=600))
def test_fuzz_bytes_give_dataset_or_reader_error(tmp_path, data):
    path = tmp_path / "fuzz.xy"
    path.write_bytes(data)
    try:
        ds = read_pattern(path)
    except ReaderError:
        return
    assert np.all(np.diff(ds["two_theta"].values) > 0)
    assert np.all(np.isfinite(ds["intensity"].values))


_number = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32).map(repr),
                    st.integers(-10**6, 10**6).map(str), st.sampled_from(["nan", "-", "1e999", "", "#", "x"]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(_number, min_size=0, max_size=4), max_size=30),
       sep=st.sampled_from([" ", ",", "\t", ";"]),
       header=st.sampled_from(["", "# wavelength_A = 1.54\n", "# wavelength = abc\n", "# Temp (K) = x\n"]))
def test_fuzz_numeric_text_gives_dataset_or_reader_error(tmp_path, rows, sep, header):
    path = tmp_path / "fuzz.xye"
    path.write_text(header + "\n".join(sep.join(r) for r in rows))
    try:
        ds = read_pattern(path)
    except ReaderError:
        return
    assert ds.sizes["two_theta"] >= 5
