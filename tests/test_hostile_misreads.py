"""Input that used to be read wrongly without a word (issue 14, item 4): now read right or refused.

Through the CLI; ``info`` prints what phasetrace understood (2θ range, wavelength), so a
misread shows there.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from _hostile import error_line, run_cli, write_xy

TT = np.arange(10.0, 60.0, 0.02)
CU = 1.5406


def _write_x(path: Path, header: str, x: np.ndarray) -> Path:
    y = 100.0 + 1000.0 * np.exp(-0.5 * ((TT - 30.0) / 0.3) ** 2)
    path.write_text(header + "".join(f"{a:.12g} {b:.3f}\n" for a, b in zip(x, y)))
    return path


def _info(*args) -> str:
    res = run_cli("info", *args, timeout=120)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    return res.stdout


# ------------------------------------------------------------------ numbers in headers
def test_decimal_comma_wavelength_and_temperature(tmp_path):
    path = write_xy(tmp_path / "comma.xy", "# wavelength = 1,540593\n# Temp (K) = 298,5\n")
    out = _info(path)
    assert "wavelength:   1.54059 Å [from header]" in out  # not 1 Å
    assert "temperature:  298.5–298.5 K (1 scans)" in out


def test_ambiguous_separators_in_a_header_number_are_refused(tmp_path):
    path = write_xy(tmp_path / "amb.xy", "# wavelength = 1,540,593\n")
    res = run_cli("info", path, timeout=60)
    assert error_line(res) == (f"phasetrace: error: {path}: ambiguous number in header line "
                               "'# wavelength = 1,540,593' (decimal comma or thousands separator?); "
                               "write it as e.g. 1.540593")


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "-1.5406", "-inf"])
def test_wavelength_option_must_be_a_positive_finite_number(tmp_path, value):
    path = write_xy(tmp_path / "a.xy")
    res = run_cli("analyse", path, f"--wavelength={value}", "--out", tmp_path / "out", "--no-figures",
                  "--no-report", timeout=120)
    assert error_line(res) == (f"phasetrace: error: --wavelength {value}: expected a positive, finite wavelength "
                               "in Å (e.g. 1.5406) or CuKa/CuKa1/MoKa/AgKa")
    assert not (tmp_path / "out").exists()


def test_wavelength_option_with_a_decimal_comma_is_refused(tmp_path):
    path = write_xy(tmp_path / "a.xy")
    res = run_cli("info", path, "--wavelength", "1,5406", timeout=60)
    assert error_line(res) == ("phasetrace: error: --wavelength 1,5406: not a number of Å (use a decimal point) "
                               "nor one of CuKa, CuKa1, MoKa, AgKa")


# ------------------------------------------------------------------- units of the x axis
@pytest.mark.parametrize("header", ["# 2theta(rad) intensity\n", "# x-axis: 2theta [rad]\n",
                                    "# X unit = radians\n"])
def test_two_theta_in_radians_is_converted(tmp_path, header):
    path = _write_x(tmp_path / "rad.xy", "# wavelength_A = 1.5406\n" + header, np.deg2rad(TT))
    assert "2θ range:     10–59.98° (2500 points, step 0.02°)" in _info(path)


def test_radians_header_with_degree_values_is_refused(tmp_path):
    path = _write_x(tmp_path / "rad.xy", "# 2theta(rad) intensity\n", TT)
    res = run_cli("info", path, timeout=60)
    assert error_line(res) == (f"phasetrace: error: {path}: the header says the x column is 2θ in radians "
                               "('2theta(rad)') but it reaches 59.98; fix the header or the column")


def _q(two_theta: np.ndarray, wavelength: float) -> np.ndarray:
    return 4 * np.pi * np.sin(np.deg2rad(two_theta) / 2) / wavelength


@pytest.mark.parametrize("header, scale", [
    ("# x-axis: Q (A^-1)\n", 1.0), ("# x = Q_A^-1\n", 1.0), ("#  q_nm^-1  I\n", 10.0),
    ("# Q (1/nm), intensity\n", 10.0), ("# x unit: 1/Å\n", 1.0),
])
def test_q_columns_are_converted_with_the_wavelength(tmp_path, header, scale):
    path = _write_x(tmp_path / "q.xy", f"# wavelength_A = {CU}\n" + header, _q(TT, CU) * scale)
    out = _info(path)
    assert "2θ range:     10–59.98° (2500 points" in out
    assert "wavelength:   1.5406 Å [from header]" in out


def test_q_column_without_a_wavelength_is_refused(tmp_path):
    path = _write_x(tmp_path / "q.xy", "# x-axis: Q (A^-1)\n", _q(TT, CU))
    res = run_cli("info", path, timeout=60)
    assert error_line(res) == (f"phasetrace: error: {path}: x column is Q ('Q (A^-1)') and no wavelength is "
                               "known; pass --wavelength to convert it to 2θ")


def test_q_column_beyond_reach_of_the_wavelength_is_refused(tmp_path):
    path = _write_x(tmp_path / "q.xy", "# x-axis: Q (A^-1)\n", _q(TT, CU))
    res = run_cli("info", path, "--wavelength", "3.5", timeout=60)
    assert error_line(res) == f"phasetrace: error: {path}: Q values (in Å⁻¹) are unreachable at λ = 3.5 Å"


def test_d_spacing_column_is_converted(tmp_path):
    d = CU / (2 * np.sin(np.deg2rad(TT) / 2))
    path = _write_x(tmp_path / "d.xy", "# d (A)  I\n", d)
    assert "2θ range:     10–59.98° (2500 points, step 0.02°)" in _info(path, "--wavelength", str(CU))


# ---------------------------------------------------------- files outside the input
def _nxdata(path: Path, make_signal) -> Path:
    with h5py.File(path, "w") as f:
        g = f.create_group("entry")
        g.attrs.update({"NX_class": "NXdata", "signal": "I", "axes": "2th"})
        g["2th"] = TT
        g.attrs["wavelength"] = 0.5
        make_signal(g)
    return path


def _patterns_h5(path: Path) -> Path:
    with h5py.File(path, "w") as f:
        f["data"] = np.tile(100.0 + 1000.0 * np.exp(-0.5 * ((TT - 30.0) / 0.3) ** 2), (3, 1))
    return path


def test_hdf5_external_link_outside_the_input_folder_is_refused(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    target = _patterns_h5(tmp_path / "elsewhere" / "secret.h5")
    (tmp_path / "in").mkdir()
    path = _nxdata(tmp_path / "in" / "link.h5", lambda g: g.__setitem__("I", h5py.ExternalLink(str(target), "/data")))
    res = run_cli("info", path, timeout=60)
    assert error_line(res) == (f"phasetrace: error: {path}: external link /entry/I points to {target}, outside "
                               "the folder of the input file; refused (copy the target beside the input file)")
    rel = _nxdata(tmp_path / "in" / "rel.h5",
                  lambda g: g.__setitem__("I", h5py.ExternalLink("../elsewhere/secret.h5", "/data")))
    assert error_line(run_cli("info", rel, timeout=60)) == (
        f"phasetrace: error: {rel}: external link /entry/I points to ../elsewhere/secret.h5, outside the folder of "
        "the input file; refused (copy the target beside the input file)")


def test_hdf5_external_link_beside_the_input_is_followed(tmp_path):
    _patterns_h5(tmp_path / "data_000001.h5")
    path = _nxdata(tmp_path / "master.h5", lambda g: g.__setitem__("I", h5py.ExternalLink("data_000001.h5", "/data")))
    assert "scans:        3 from 1 file(s) (master.h5)" in _info(path)


def test_hdf5_external_raw_storage_outside_the_folder_is_refused(tmp_path):
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.zeros((3, TT.size)).tobytes())
    (tmp_path / "in").mkdir()
    path = _nxdata(tmp_path / "in" / "ext.h5", lambda g: g.create_dataset(
        "I", shape=(3, TT.size), dtype="f8", external=[(str(raw), 0, 3 * TT.size * 8)]))
    res = run_cli("info", path, timeout=60)
    assert error_line(res) == (f"phasetrace: error: {path}: dataset /entry/I (external storage) points to {raw}, "
                               "outside the folder of the input file; refused (copy the target beside the input "
                               "file)")


def test_symlink_out_of_the_input_folder_is_refused(tmp_path):
    folder = tmp_path / "scans"
    write_xy(folder / "s_1.xy", "# wavelength_A = 1.5406\n")
    outside = write_xy(tmp_path / "private" / "other.xy", "# wavelength_A = 1.5406\n")
    os.symlink(outside, folder / "s_2.xy")
    res = run_cli("info", folder, timeout=60)
    assert error_line(res) == (f"phasetrace: error: {folder / 's_2.xy'}: symbolic link to {outside}, outside the "
                               "input folder; refused (give that file explicitly if it should be read)")


# ----------------------------------------------------------------- options and names
@pytest.mark.parametrize("inside", [False, True])
def test_out_equal_to_or_inside_the_input_folder_is_refused(tmp_path, inside):
    folder = tmp_path / "scans"
    write_xy(folder / "s_1.xy", "# wavelength_A = 1.5406\n")
    out = folder / "results" if inside else folder
    res = run_cli("analyse", folder, "--out", out, "--no-figures", "--no-report", timeout=120)
    problem = f"--out is inside the input folder {folder}" if inside else "--out is the input folder"
    assert error_line(res) == (f"phasetrace: error: {out}: {problem}; the results would be read back as patterns "
                               "on the next run — choose an output folder outside the input")
    assert sorted(p.name for p in folder.iterdir()) == ["s_1.xy"]


def test_out_inside_the_folder_of_an_input_glob_is_refused(tmp_path):
    folder = tmp_path / "scans"
    write_xy(folder / "s_1.xy", "# wavelength_A = 1.5406\n")
    res = run_cli("analyse", f"{folder}/*.xy", "--out", folder, "--no-figures", "--no-report", timeout=120)
    assert error_line(res) == (f"phasetrace: error: {folder}: --out is the input folder; the results would be read "
                               "back as patterns on the next run — choose an output folder outside the input")


def test_empty_phase_list_is_refused(tmp_path):
    path = write_xy(tmp_path / "a.xy", "# wavelength_A = 1.5406\n")
    res = run_cli("analyse", path, "--phases", "", "--out", tmp_path / "out", timeout=120)
    assert error_line(res) == "phasetrace: error: --phases '': expected names such as P2,O3 or 'auto'"


@pytest.mark.parametrize("name, shown", [("bad\nname.xy", "bad\\nname.xy"), ("esc\x1b[2Jname.xy", "esc\\x1b[2Jname.xy"),
                                         ("line\u2028sep.xy", "line\\u2028sep.xy")])
def test_control_characters_in_file_names_are_escaped(tmp_path, name, shown):
    path = tmp_path / name
    path.write_text("not a pattern\n")
    res = run_cli("info", path, timeout=60)
    assert error_line(res) == (f"phasetrace: error: {tmp_path}/{shown}: no numeric data columns found; expected "
                               "lines like '10.00 123.4 [11.1]'")


# ------------------------------------------------------------ degenerate x columns
@pytest.mark.parametrize("x, problem", [
    (np.array([10.0, 10.02]), "only 2 data points; expected at least 5"),
    (np.array([10.0, 10.0, 10.0, 10.0, 10.0, 10.0]), "duplicated 2θ value 10° at points 0 and 1"),
    (np.array([10.0, 10.1, 10.05, 10.2, 10.3, 10.4]), "2θ is not monotonic at point 2 (10.1° then 10.05°); expected "
                                                      "strictly increasing values"),
])
def test_degenerate_steps(tmp_path, x, problem):
    path = tmp_path / "x.xy"
    path.write_text("".join(f"{a} 100\n" for a in x))
    assert error_line(run_cli("info", path, timeout=60)) == f"phasetrace: error: {path}: {problem}"


@pytest.mark.parametrize("header, shown", [("# Temp (K) = -5\n", "-5 K"), ("# temperature_C = -300\n", "-300 °C"),
                                           ("# Temp (K) = 1" + "0" * 400 + "\n", "inf K")])
def test_unphysical_header_temperature_is_refused(tmp_path, header, shown):
    path = write_xy(tmp_path / "t.xy", "# wavelength_A = 1.5406\n" + header)
    assert error_line(run_cli("info", path, timeout=60)) == (
        f"phasetrace: error: {path}: temperature {shown} in the header is not a physical temperature")


def test_unphysical_hdf5_temperature_is_refused(tmp_path):
    path = tmp_path / "t.h5"
    with h5py.File(path, "w") as f:
        f["2th"] = TT
        f["I"] = np.tile(100.0 + 1000.0 * np.exp(-0.5 * ((TT - 30.0) / 0.3) ** 2), (2, 1))
        f["temperature"] = np.array([300.0, -20.0])
        f["wavelength"] = 0.5
    assert error_line(run_cli("info", path, timeout=60)) == (
        f"phasetrace: error: {path}: dataset /temperature holds temperatures that are infinite or below 0 K")
