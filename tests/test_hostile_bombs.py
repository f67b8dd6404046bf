"""Memory and time bombs (issue 14, item 2): small files that would make a reader allocate or
loop without bound are refused with one line, under an address-space limit and a timeout.

Limits (phasetrace.io._limits): 256 MiB decompressed per zip archive, 10⁵ archive members,
10⁶ scans × 10⁶ points per HDF5 stack, a chunked HDF5 dataset must store at least 1/1000 of
what it declares, header lines parsed in linear time, no XML DTD/entities in any encoding.
"""

from __future__ import annotations

import struct
import time
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from _hostile import ANALYSE_AS_BYTES, INFO_AS_BYTES, error_line, run_cli, write_xy

MIB = 1024**2


def _inflating_member(zf: zipfile.ZipFile, name: str, n_bytes: int) -> None:
    """A member of ``n_bytes`` uncompressed (deflate of spaces, ~1000:1), written in 1 MiB blocks."""
    block = b" " * MIB
    zinfo = zipfile.ZipInfo(name)
    zinfo.compress_type = zipfile.ZIP_DEFLATED
    with zf.open(zinfo, "w", force_zip64=True) as fh:
        fh.write(b"<RawData>")
        for _ in range(n_bytes // MIB):
            fh.write(block)
        fh.write(b"</RawData>")


def _deflated(path: Path) -> zipfile.ZipFile:
    return zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)


def test_brml_member_inflating_to_600_mb_is_refused_unread(tmp_path):
    path = tmp_path / "bomb.brml"
    with _deflated(path) as zf:
        _inflating_member(zf, "Experiment0/RawData0.xml", 600 * MIB)
    assert path.stat().st_size < 5 * MIB
    t0 = time.perf_counter()
    res = run_cli("info", path, as_bytes=INFO_AS_BYTES, timeout=120)
    assert error_line(res) == (
        f"phasetrace: error: {path}: the 1 archive members to read declare 629145619 bytes uncompressed; "
        "refusing more than 256 MiB decompressed per archive (a zip bomb or not a Bruker .brml file)")
    assert time.perf_counter() - t0 < 60


def test_brml_ten_members_of_60_mb_are_refused_together(tmp_path):
    path = tmp_path / "ten.brml"
    with _deflated(path) as zf:
        for k in range(10):
            _inflating_member(zf, f"Experiment0/RawData{k}.xml", 60 * MIB)
    res = run_cli("info", path, as_bytes=INFO_AS_BYTES, timeout=120)
    assert error_line(res) == (
        f"phasetrace: error: {path}: the 10 archive members to read declare 629145790 bytes uncompressed; "
        "refusing more than 256 MiB decompressed per archive (a zip bomb or not a Bruker .brml file)")


def _patch_sizes(data: bytearray, declared: int) -> None:
    """Make every local and central header of a (non-zip64) archive declare ``declared`` bytes."""
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (i := data.find(sig, start)) >= 0:
            data[i + offset:i + offset + 4] = struct.pack("<I", declared)
            start = i + 4


def test_brml_member_whose_header_lies_about_its_size(tmp_path):
    """The header says 1000 bytes, the stream inflates to 300 MB: never more than the budget is inflated."""
    path = tmp_path / "liar.brml"
    with _deflated(path) as zf:
        zinfo = zipfile.ZipInfo("Experiment0/RawData0.xml")
        zinfo.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(zinfo, "w") as fh:
            fh.write(b"<RawData>")
            for _ in range(300):
                fh.write(b" " * MIB)
            fh.write(b"</RawData>")
    data = bytearray(path.read_bytes())
    _patch_sizes(data, 1000)
    path.write_bytes(bytes(data))
    res = run_cli("info", path, as_bytes=INFO_AS_BYTES, timeout=120)
    assert error_line(res).startswith(
        f"phasetrace: error: {path}: archive member Experiment0/RawData0.xml cannot be read (truncated or corrupt: ")


def test_archive_with_200000_members_is_refused(tmp_path):
    path = tmp_path / "many.rasx"
    with zipfile.ZipFile(path, "w") as zf:
        for k in range(200_000):
            zf.writestr(f"Data0/x{k}", b"")
    res = run_cli("info", path, as_bytes=INFO_AS_BYTES, timeout=120)
    assert error_line(res) == (f"phasetrace: error: {path}: archive has 200000 members; refusing more than 100000 "
                               "(not a Rigaku .rasx file)")


_LOL = ('<?xml version="1.0" encoding="{enc}"?>\n<!DOCTYPE lolz [<!ENTITY a "aaaaaaaaaaaaaaaa">'
        + "".join(f'<!ENTITY {c} "{("&" + p + ";") * 16}">' for p, c in zip("abcdefg", "bcdefgh"))
        + ']>\n<xrdMeasurements xmlns="http://www.xrdml.com/XRDMeasurement/2.0">&h;</xrdMeasurements>\n')


_ENCODINGS = {"utf-8": lambda t: t.encode("utf-8"), "utf-16": lambda t: t.encode("utf-16"),
              "utf-16-be-bom": lambda t: b"\xfe\xff" + t.encode("utf-16-be"),
              "utf-8-bom": lambda t: b"\xef\xbb\xbf" + t.encode("utf-8")}


@pytest.mark.parametrize("encoding", sorted(_ENCODINGS))
def test_xml_entity_expansion_is_refused_in_any_encoding(tmp_path, encoding):
    path = tmp_path / f"lol_{encoding}.xrdml"
    declared = "UTF-8" if encoding.startswith("utf-8") else "UTF-16"
    path.write_bytes(_ENCODINGS[encoding](_LOL.format(enc=declared)))
    res = run_cli("info", path, as_bytes=INFO_AS_BYTES, timeout=60)
    assert error_line(res) == (f"phasetrace: error: {path}: XML with a DOCTYPE/ENTITY declaration is refused "
                               "(entity expansion could exhaust memory)")


def test_xml_in_an_encoding_expat_cannot_read_is_refused(tmp_path):
    """UTF-32 (no parser support): refused as unreadable, never decoded by hand and expanded."""
    path = tmp_path / "lol32.xrdml"
    path.write_bytes(_LOL.format(enc="UTF-32").encode("utf-32"))
    res = run_cli("info", path, as_bytes=INFO_AS_BYTES, timeout=60)
    assert error_line(res).startswith(f"phasetrace: error: {path}: not well-formed XML (truncated or corrupt: ")


def test_brml_member_with_entities_is_refused(tmp_path):
    path = tmp_path / "lol.brml"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("Experiment0/RawData0.xml", _LOL.format(enc="UTF-16").encode("utf-16"))
    res = run_cli("info", path, as_bytes=INFO_AS_BYTES, timeout=60)
    assert error_line(res) == (f"phasetrace: error: {path}:Experiment0/RawData0.xml: XML with a DOCTYPE/ENTITY "
                               "declaration is refused (entity expansion could exhaust memory)")


def test_deeply_nested_xml_is_an_error_not_a_crash(tmp_path):
    path = tmp_path / "deep.xrdml"
    depth = 200_000
    path.write_text('<?xml version="1.0"?><xrdMeasurements>' + "<a>" * depth + "</a>" * depth
                    + "</xrdMeasurements>")
    res = run_cli("info", path, as_bytes=INFO_AS_BYTES, timeout=60)
    assert error_line(res) == f"phasetrace: error: {path}: no <scan> elements; expected at least one measured scan"


def _declared_h5(path: Path, shape: tuple[int, int]) -> Path:
    """A small file declaring a huge chunked, compressed pattern dataset that holds nothing."""
    with h5py.File(path, "w") as f:
        f.create_dataset("I", shape=shape, dtype="f4", chunks=(1, min(shape[1], 1000)), compression="gzip")
        f["2th"] = np.linspace(1.0, 30.0, shape[1])
        f["wavelength"] = 0.5
    return path


@pytest.mark.parametrize("command", ["info", "analyse"])
def test_hdf5_declaring_1e9_by_1e5_is_refused(tmp_path, command):
    path = _declared_h5(tmp_path / "huge.h5", (10**9, 10**5))
    assert path.stat().st_size < 2 * MIB
    extra = ["--out", tmp_path / "out", "--no-figures", "--no-report"] if command == "analyse" else []
    res = run_cli(command, path, *extra, as_bytes=ANALYSE_AS_BYTES, timeout=180)
    assert error_line(res) == (f"phasetrace: error: {path}: dataset /I declares shape (1000000000, 100000); "
                               "refusing more than 1000000 scans of 1000000 points")
    assert not (tmp_path / "out" / ".phasetrace-chunks").exists()


@pytest.mark.parametrize("command", ["info", "analyse"])
def test_hdf5_declaring_more_than_it_stores_is_refused(tmp_path, command):
    """10⁶ × 10⁴ float32 = 37 GiB declared, nothing written: fill values, not measured patterns."""
    path = _declared_h5(tmp_path / "empty.h5", (10**6, 10**4))
    extra = ["--out", tmp_path / "out", "--no-figures", "--no-report"] if command == "analyse" else []
    res = run_cli(command, path, *extra, as_bytes=ANALYSE_AS_BYTES, timeout=180)
    assert error_line(res) == (f"phasetrace: error: {path}: dataset /I declares 37.3 GiB but the file stores 0 B "
                               "of it: mostly unwritten values or a compression bomb; refused")


@pytest.mark.parametrize("line", [
    "# wavelength" + " " * 100_000 + "x",
    "# Temp (" + " \t" * 50_000 + "K",
    "# Scan time" + " " * 100_000 + ":" + " " * 1000,
    "# lambda " + "wavelength " * 9_000,
])
def test_long_header_lines_parse_in_linear_time(tmp_path, line):
    path = write_xy(tmp_path / "long.xy", line + "\n# wavelength_A = 1.5406\n")
    t0 = time.perf_counter()
    res = run_cli("info", path, as_bytes=INFO_AS_BYTES, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "wavelength:   1.5406 Å [from header]" in res.stdout
    assert time.perf_counter() - t0 < 45  # the former regex took > 20 s for 5000 spaces


def test_csv_with_a_million_columns(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(["1.0"] * 1_000_000) + "\n")
    res = run_cli("info", path, as_bytes=INFO_AS_BYTES, timeout=60)
    assert error_line(res) == f"phasetrace: error: {path}: only 1 data points; expected at least 5"


def test_text_file_over_128_mib_is_refused_unread(tmp_path):
    path = tmp_path / "big.xy"
    with open(path, "wb") as fh:
        fh.truncate(129 * MIB)  # sparse: no disk space used
    res = run_cli("info", path, as_bytes=INFO_AS_BYTES, timeout=60)
    assert error_line(res) == (f"phasetrace: error: {path}: file of 129 MiB; refusing more than 128 MiB for this "
                               "format (not a single pattern file?)")


def test_huge_number_in_header_is_refused(tmp_path):
    path = write_xy(tmp_path / "huge.xy", "# wavelength = 1" + "0" * 5000 + "\n")
    res = run_cli("info", path, as_bytes=INFO_AS_BYTES, timeout=60)
    assert error_line(res).startswith(f"phasetrace: error: {path}: wavelength inf is not a plausible X-ray wavelength")
