"""Vendor and beamline formats on small files written here (real files: test_real_files.py)."""

from __future__ import annotations

import math
import struct
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from phasetrace.errors import ReaderError
from phasetrace.io import available_formats, read_pattern
from phasetrace.io import hdf5 as hdf5_reader
from phasetrace.schema import d_to_two_theta

# ----------------------------------------------------------------------------- xrdml
_XRDML = """<?xml version="1.0" encoding="UTF-8"?>
<xrdMeasurements xmlns="http://www.xrdml.com/XRDMeasurement/2.0">
 <xrdMeasurement measurementType="Scan">
  <usedWavelength intended="K-Alpha">
   <kAlpha1 unit="Angstrom">1.5405980</kAlpha1><kAlpha2 unit="Angstrom">1.5444260</kAlpha2>
   <ratioKAlpha2KAlpha1>0.5000</ratioKAlpha2KAlpha1>
  </usedWavelength>
  <incidentBeamPath><xRayTube><anodeMaterial>Cu</anodeMaterial></xRayTube></incidentBeamPath>
  {scans}
 </xrdMeasurement>
</xrdMeasurements>"""
_SCAN = """<scan appendNumber="{k}"><header><startTimeStamp>2024-01-01T10:{m:02d}:00+01:00</startTimeStamp>
<endTimeStamp>2024-01-01T10:{m2:02d}:00+01:00</endTimeStamp></header><dataPoints>
<positions axis="2Theta" unit="deg"><startPosition>10.0</startPosition><endPosition>11.0</endPosition></positions>
<positions axis="Omega" unit="deg"><startPosition>5.0</startPosition><endPosition>5.5</endPosition></positions>
<beamAttenuationFactors>{att}</beamAttenuationFactors>
<intensities unit="counts">{counts}</intensities></dataPoints></scan>"""


def _xrdml(tmp_path: Path, n_scans: int = 3, name: str = "multi.xrdml") -> Path:
    scans = []
    for k in range(n_scans):
        counts = " ".join(str(100 + 10 * k + i) for i in range(11))
        att = " ".join("2" if i == 5 else "1" for i in range(11))
        scans.append(_SCAN.format(k=k, m=10 * k, m2=10 * k + 9, counts=counts, att=att))
    path = tmp_path / name
    path.write_text(_XRDML.format(scans="\n".join(scans)))
    return path


def test_xrdml_multi_scan(tmp_path):
    ds = read_pattern(_xrdml(tmp_path))
    assert ds.sizes == {"scan": 3, "two_theta": 11}
    np.testing.assert_allclose(ds["two_theta"].values, np.linspace(10, 11, 11))
    assert ds["intensity"].values[2, 0] == 120.0
    assert ds["intensity"].values[0, 5] == 2 * 105.0  # attenuation factor applied
    assert ds.attrs["wavelength_A"] == 1.540598 and ds.attrs["wavelength2_A"] == 1.544426
    assert ds.attrs["kalpha2_ratio"] == 0.5 and ds.attrs["radiation"] == "CuKa"
    assert list(ds["datetime_start"].values) == [f"2024-01-01T10:{m:02d}:00+01:00" for m in (0, 10, 20)]
    assert ds["datetime_end"].values[0] == "2024-01-01T10:09:00+01:00"


@pytest.mark.parametrize("mutate, message", [
    (lambda s: s[: len(s) // 2], "not well-formed XML"),
    (lambda s: s.replace("xrdMeasurements", "somethingElse"), "expected an XRDML"),
    (lambda s: s.replace(">100 ", ">100 101 "), "for 12 (intensities|points)"),
    (lambda s: s.replace('axis="2Theta"', 'axis="Chi"'), "no 2Theta positions"),
    (lambda s: s.replace("<!--", "").replace('<?xml version="1.0" encoding="UTF-8"?>',
                                             '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>'),
     "DOCTYPE/ENTITY"),
])
def test_xrdml_errors(tmp_path, mutate, message):
    good = _xrdml(tmp_path, 1)
    bad = tmp_path / "bad.xrdml"
    bad.write_text(mutate(good.read_text()))
    with pytest.raises(ReaderError, match=message):
        read_pattern(bad)


# ------------------------------------------------------------------------------ brml
_RAWDATA = """<?xml version="1.0"?>
<RawData xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <TimeStampStarted>2015-06-04T11:30:38.5-05:00</TimeStampStarted>
 <TimeStampFinished>2015-06-04T12:30:17.6-05:00</TimeStampFinished>
 <DataRoutes><DataRoute RouteFlag="Measured">
  {datums}
  <DataViews>
   <RawDataView xsi:type="FixedRawDataView" Start="0" Length="1" LogicName="MeasuredTime" />
   <RawDataView xsi:type="FixedRawDataView" Start="1" Length="1" LogicName="AbsorptionFactor" />
   <RawDataView xsi:type="VaryingRawDataView" Start="2" Length="2"><Varying>
     <FieldDefinitions FieldName="TwoTheta" /><FieldDefinitions FieldName="Theta" /></Varying></RawDataView>
   <RawDataView xsi:type="RecordedRawDataView" Start="4" Length="1" />
  </DataViews>
 </DataRoute></DataRoutes>
 <Tube><WaveLengthAlpha1 Unit="A" Value="1.5406" /><WaveLengthAlpha2 Unit="A" Value="1.54439" />
 <WaveLengthRatio Unit="" Value="0.5" /><TubeMaterial>Cu</TubeMaterial></Tube>
</RawData>"""


def _zip(path: Path, members: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return path


def test_brml(tmp_path):
    datums = "".join(f"<Datum>96,{2 if i == 3 else 1},{20 + 0.02 * i:.2f},{10 + 0.01 * i:.3f},{50 + i}</Datum>"
                     for i in range(8))
    path = _zip(tmp_path / "s.brml", {"Experiment0/RawData0.xml": _RAWDATA.format(datums=datums),
                                      "experimentCollection.xml": "<ExperimentCollection/>"})
    ds = read_pattern(path)
    np.testing.assert_allclose(ds["two_theta"].values, 20 + 0.02 * np.arange(8))
    assert ds["intensity"].values[0, 0] == 50 and ds["intensity"].values[0, 3] == 2 * 53
    assert ds.attrs["wavelength_A"] == 1.5406 and ds.attrs["kalpha2_ratio"] == 0.5
    assert ds["datetime_start"].values[0] == "2015-06-04T11:30:38.500000-05:00"


def test_zip_that_is_not_brml(tmp_path):
    path = _zip(tmp_path / "x.brml", {"Data0/Profile0.txt": "1 2\n"})
    with pytest.raises(ReaderError, match=r"x\.brml: zip archive without Experiment\*/RawData\*\.xml"):
        read_pattern(path)


def test_brml_that_is_not_a_zip(tmp_path):
    path = tmp_path / "t.brml"
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ReaderError, match=r"t\.brml: not a valid Bruker \.brml file"):
        read_pattern(path)


# ------------------------------------------------------------------------------ rasx
_COND = """<?xml version="1.0" encoding="utf-8"?><MeasurementConditions><HWConfigurations><XrayGenerator>
<TargetName>Cu</TargetName><WaveType>Ka</WaveType><WavelengthKalpha1>1.540593</WavelengthKalpha1>
<WavelengthKalpha2>1.544414</WavelengthKalpha2></XrayGenerator></HWConfigurations>
<ScanInformation><StartTime>2025-03-07T13:28:15Z</StartTime><EndTime>2025-03-07T13:33:41Z</EndTime>
</ScanInformation></MeasurementConditions>"""


def test_rasx(tmp_path):
    profile = "".join(f"{3 + 0.02 * i:.4f}\t{1000 - i}\t{10 if i == 2 else 1}\r\n" for i in range(10))
    path = _zip(tmp_path / "r.rasx", {"Data0/Profile0.txt": "\ufeff" + profile,
                                      "Data0/MesurementConditions0.xml": _COND, "root.xml": "<Root/>"})
    ds = read_pattern(path)
    assert ds.sizes == {"scan": 1, "two_theta": 10}
    assert ds["intensity"].values[0, 2] == 9980.0  # counts × attenuator factor
    assert ds.attrs["wavelength_A"] == 1.540593 and ds.attrs["kalpha2_ratio"] == 0.5
    assert ds["datetime_start"].values[0] == "2025-03-07T13:28:15+00:00"


def test_zip_that_is_not_rasx(tmp_path):
    path = _zip(tmp_path / "b.rasx", {"Experiment0/RawData0.xml": "<RawData/>"})
    with pytest.raises(ReaderError, match=r"b\.rasx: zip archive without Data\*/Profile\*\.txt"):
        read_pattern(path)


# ------------------------------------------------------------------------- Bruker raw
def _raw4(y: np.ndarray, *, start: float = 10.0, step: float = 0.02, extra: int = 24) -> bytes:
    head = bytearray(61)
    head[0:7] = b"RAW4.00"
    head[12:22] = b"06/04/2015"
    head[24:32] = b"11:30:38"
    key = bytearray(36 + 4)
    struct.pack_into("<II", key, 0, 10, 40)
    key[12:20] = b"SAMPLEID"
    key[36:40] = b"Test"
    wl = bytearray(136)
    struct.pack_into("<II", wl, 0, 30, 136)
    struct.pack_into("<5d", wl, 72, 1.5418, 1.5406, 1.54439, 1.39222, 0.5)
    rng_head = bytearray(160)
    struct.pack_into("<II", rng_head, 4, y.size, y.size)
    struct.pack_into("<ddI", rng_head, 72, start, step, y.size)
    struct.pack_into("<I", rng_head, 140, extra)
    return bytes(head + key + wl + rng_head + bytes(extra)) + y.astype("<f4").tobytes()


def test_bruker_raw4(tmp_path):
    y = np.arange(100, 120, dtype=float)
    path = tmp_path / "s.raw"
    path.write_bytes(_raw4(y))
    ds = read_pattern(path)
    np.testing.assert_allclose(ds["two_theta"].values, 10 + 0.02 * np.arange(20))
    np.testing.assert_array_equal(ds["intensity"].values[0], y)
    assert (ds.attrs["wavelength_A"], ds.attrs["wavelength2_A"], ds.attrs["kalpha2_ratio"]) == (1.5406, 1.54439, 0.5)
    assert ds["datetime_start"].values[0] == "2015-06-04T11:30:38"
    assert ds.attrs["sample"] == "Test"


@pytest.mark.parametrize("content, message", [
    (_raw4(np.arange(20.0))[:-12], r"declares 20 points but the file ends 12 bytes early"),
    (b"RAW1.01" + bytes(800), "RAW version b'RAW1.01' is not supported"),
    (b"PK\x03\x04" + bytes(300), "not a Bruker RAW file"),
    (b"RAW4.00" + bytes(100), "too short"),
])
def test_bruker_raw_errors(tmp_path, content, message):
    path = tmp_path / "bad.raw"
    path.write_bytes(content)
    with pytest.raises(ReaderError, match=message):
        read_pattern(path)


# ------------------------------------------------------------------------------ GSAS
_GSAS_HEAD = "title line\n# Calibrated wavelength = 0.413263\n# Temp (K) =  100.5\n"


def test_gsas_fxye(tmp_path):
    body = "".join(f" {50 + 0.2 * i:.6f} {10.0 + i:.6f} {3.0:.6f}\n" for i in range(12))
    path = tmp_path / "a.fxye"
    path.write_text(_GSAS_HEAD + "BANK 1 12 12 CONS 50.000000 0.200000 0 0 FXYE\n" + body)
    ds = read_pattern(path)
    np.testing.assert_allclose(ds["two_theta"].values, 0.5 + 0.002 * np.arange(12))
    assert ds["intensity_sigma"].values[0, 0] == 3.0
    assert ds.attrs["wavelength_A"] == 0.413263 and ds["temperature_K"].values[0] == 100.5


def test_gsas_std_and_esd(tmp_path):
    y = np.arange(1, 13, dtype=float) * 10
    std = "".join(" 1" + f"{v:6.0f}" for v in y[:10]) + "\n" + "".join(" 1" + f"{v:6.0f}" for v in y[10:]) + "\n"
    esd = "".join(f"{v:8.1f}{2.0:8.1f}" for v in y[:5]) + "\n"
    esd += "".join(f"{v:8.1f}{2.0:8.1f}" for v in y[5:10]) + "\n" + "".join(f"{v:8.1f}{2.0:8.1f}" for v in y[10:])
    for name, fmt, body in (("std.gsa", "STD", std), ("esd.gsa", "ESD", esd)):
        path = tmp_path / name
        path.write_text(_GSAS_HEAD + f"BANK 1 12 2 CONS 1000.0 5.0 0 0 {fmt}\n" + body + "\n")
        ds = read_pattern(path)
        np.testing.assert_allclose(ds["two_theta"].values, 10 + 0.05 * np.arange(12))
        np.testing.assert_allclose(ds["intensity"].values[0], y)


def test_gsas_in_a_dat_file_is_recognised(tmp_path):
    body = "".join(f" {50 + 0.2 * i:.6f} {10.0 + i:.6f} 3.0\n" for i in range(6))
    path = tmp_path / "g.dat"
    path.write_text(_GSAS_HEAD + "BANK 1 6 6 CONS 50.0 0.2 0 0 FXYE\n" + body)
    assert read_pattern(path).attrs["source_format"] == "gsas"


@pytest.mark.parametrize("bank, body, message", [
    ("", "1 2 3\n", "no BANK record"),
    ("BANK 1 20 20 CONS 50.0 0.2 0 0 FXYE\n", "50 1 1\n50.2 2 1\n", "declares 20 points but has 2"),
    ("BANK 1 5 5 TIME_MAP 1 0 0 0 ALT\n", "1 2 3\n", "not supported"),
])
def test_gsas_errors(tmp_path, bank, body, message):
    path = tmp_path / "bad.gsa"
    path.write_text("title\n" + bank + body)
    with pytest.raises(ReaderError, match=message):
        read_pattern(path)


# ----------------------------------------------------------------------- chi and plt
def test_chi_two_theta_and_q(tmp_path):
    rows = "".join(f"  {5 + 0.1 * i:.4f}  {100 + i:.2f}\n" for i in range(10))
    tt_path = tmp_path / "a.chi"
    tt_path.write_text("title\n2-Theta Angle (Degrees)\nIntensity\n       10\n" + rows)
    ds = read_pattern(tt_path)
    assert ds["two_theta"].values[3] == pytest.approx(5.3) and math.isnan(ds.attrs["wavelength_A"])
    q_path = tmp_path / "q.chi"
    q_path.write_text("title\nQ (nm-1)\nIntensity\n       10\n" + rows)
    with pytest.raises(ReaderError, match="Q .*--wavelength"):
        read_pattern(q_path)
    from phasetrace.io import chi

    ds_q = chi.read(q_path, wavelength_A=0.5)
    assert ds_q["two_theta"].values[0] == pytest.approx(float(d_to_two_theta(2 * np.pi / 0.5, 0.5)))


def test_plt_wavelengths_and_ratio(tmp_path):
    rows = "".join(f"{55 + 0.005 * i:.3f} {4 + 0.01 * i}\n" for i in range(10))
    path = tmp_path / "a.plt"
    path.write_text("!@!!GADDS PLOTSO FILE: Chi integration type\n!@!!Wavelengths    1.54184   1.54056   1.54439\n"
                    "!@!XDegrees\n!@!YCounts\n" + rows)
    ds = read_pattern(path)
    assert (ds.attrs["wavelength_A"], ds.attrs["wavelength2_A"]) == (1.54056, 1.54439)
    assert ds.attrs["kalpha2_ratio"] == pytest.approx(0.5, abs=0.01)
    bad = tmp_path / "b.plt"
    bad.write_text(rows)
    with pytest.raises(ReaderError, match="not a GADDS PLOTSO"):
        read_pattern(bad)


# ------------------------------------------------------------------------------ HDF5
def test_hdf5_nxdata_stack(tmp_path):
    tt = np.linspace(2, 30, 200)
    y = np.vstack([100 + 1000 * np.exp(-0.5 * ((tt - 10 - 0.1 * k) / 0.05) ** 2) for k in range(4)])
    path = tmp_path / "s.nxs"
    with h5py.File(path, "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        data = entry.create_group("integrate/results")
        data.attrs.update({"NX_class": "NXdata", "signal": "I", "axes": [".", "2th"]})
        data["I"] = y
        data["2th"] = tt
        data["2th"].attrs["units"] = "deg"
        data["errors"] = np.sqrt(y)
        data["time"] = 1.7e9 + 60.0 * np.arange(4)
        data["temperature"] = np.array([20.0, 21, 22, 23])
        data["temperature"].attrs["units"] = "C"
        mono = entry.create_group("instrument/monochromator")
        mono["wavelength"] = 0.4959e-10
        mono["wavelength"].attrs["units"] = "m"
        f["distractor"] = np.zeros((3, 3))
    ds = read_pattern(path)
    assert ds.sizes == {"scan": 4, "two_theta": 200}
    assert ds.attrs["wavelength_A"] == pytest.approx(0.4959)
    assert ds["two_theta"].values[np.argmax(ds["intensity"].values[3])] == pytest.approx(10.3, abs=0.15)
    np.testing.assert_allclose(ds["intensity_sigma"].values, np.sqrt(y))
    assert ds["temperature_K"].values[0] == pytest.approx(293.15)
    assert ds["datetime_start"].values[1] == "2023-11-14T22:14:20+00:00"


def test_hdf5_heuristic_q_axis_transposed(tmp_path):
    lam = 0.7093
    d = np.linspace(5, 1.5, 100)
    q_nm = 10 * 2 * np.pi / d
    path = tmp_path / "q.h5"
    with h5py.File(path, "w") as f:
        f["processed/intensity"] = np.ones((100, 3)) * np.arange(1, 4)  # (points, frames)
        f["processed/q_nm^-1"] = q_nm
        f.attrs["wavelength"] = lam
        f.attrs["wavelength_units"] = "Å"
    ds = read_pattern(path)
    assert ds.sizes == {"scan": 3, "two_theta": 100}
    np.testing.assert_allclose(ds["two_theta"].values, d_to_two_theta(d, lam), atol=1e-9)
    assert ds["intensity"].values[2, 0] == 3.0


def test_hdf5_q_without_wavelength(tmp_path):
    path = tmp_path / "q.h5"
    with h5py.File(path, "w") as f:
        f["I"] = np.ones((2, 50))
        f["q"] = np.linspace(1, 5, 50)
    with pytest.raises(ReaderError, match="Q and the file gives no wavelength"):
        read_pattern(path)
    ds = hdf5_reader.read(path, wavelength_A=1.0)
    assert math.isnan(ds.attrs["wavelength_A"])  # the caller's wavelength is not claimed as a header value


def test_hdf5_without_patterns_or_not_hdf5(tmp_path):
    path = tmp_path / "n.h5"
    with h5py.File(path, "w") as f:
        f["image"] = np.ones((10, 10))
    with pytest.raises(ReaderError, match="no 1-D/2-D pattern dataset"):
        read_pattern(path)
    fake = tmp_path / "fake.h5"
    fake.write_text("not hdf5 at all")
    with pytest.raises(ReaderError, match=r"fake\.h5: not a readable HDF5 file"):
        read_pattern(fake)


def test_registry_lists_every_format():
    names = set(available_formats())
    assert {"text", "chi", "gsas", "xrdml", "brml", "bruker_raw", "rasx", "plt", "hdf5"} <= names
    assert ".xrdml" in available_formats()["xrdml"].extensions


def test_hdf5_axis_recognised_by_units(tmp_path):
    """pyFAI-style radial axis named ``radial`` with ``units="2th_deg"``."""
    tt = np.linspace(5, 25, 60)
    path = tmp_path / "r.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("entry/frames")
        g["radial"] = tt
        g["radial"].attrs["units"] = "2th_deg"
        g["intensity"] = np.vstack([np.full(60, 5.0), np.full(60, 7.0)])
        g["wavelength"] = 0.7093
        g["wavelength"].attrs["units"] = "angstrom"
    ds = read_pattern(path)
    np.testing.assert_allclose(ds["two_theta"].values, tt)
    assert ds.attrs["wavelength_A"] == pytest.approx(0.7093) and ds["intensity"].values[1, 0] == 7.0


# --------------------------------------------------- static fixtures in tests/data/io
FIXTURES = Path(__file__).resolve().parents[1] / "data" / "io"


def test_pyfai_dat_fixture():
    """pyFAI integrate1d header: wavelength in m; other numbers (distance, tilt) must not be mistaken for it."""
    ds = read_pattern(FIXTURES / "pyfai_2th.dat")
    assert ds.attrs["wavelength_A"] == pytest.approx(0.7093)
    assert ds.sizes["two_theta"] == 40
    assert ds["two_theta"].values[np.argmax(ds["intensity"].values[0])] == pytest.approx(11.0)
    assert math.isnan(ds["temperature_K"].values[0])


def test_fit2d_q_chi_fixture():
    """Peak written at Q = 2π/3 Å = 20.944 nm⁻¹ lands at d = 3 Å once converted with λ."""
    from phasetrace.io import chi
    from phasetrace.schema import two_theta_to_d

    ds = chi.read(FIXTURES / "fit2d_q.chi", wavelength_A=0.7093)
    peak = ds["two_theta"].values[np.argmax(ds["intensity"].values[0])]
    assert float(two_theta_to_d(peak, 0.7093)) == pytest.approx(3.0, abs=0.01)
