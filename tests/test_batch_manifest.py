"""Batch manifests: the three formats agree, and bad manifests give clear errors."""

import pytest

from phasetrace.batch import read_manifest
from phasetrace.errors import ConfigError


@pytest.fixture
def layout(tmp_path):
    for name in ("cellA", "cellB"):
        (tmp_path / name / "patterns").mkdir(parents=True)
        (tmp_path / name / "echem.csv").write_text("time_s,voltage_V\n0,3\n")
    return tmp_path


def test_formats_agree(layout):
    (layout / "m.toml").write_text(
        '[defaults]\nwavelength = "CuKa"\n'
        '[[experiment]]\nname = "A"\ninput = "cellA/patterns"\nechem = "cellA/echem.csv"\n'
        '[[experiment]]\nname = "B"\ninput = "cellB/patterns"\nphases = "P2,O3"\n')
    (layout / "m.yaml").write_text(
        "defaults:\n  wavelength: CuKa\nexperiments:\n"
        "  - {name: A, input: cellA/patterns, echem: cellA/echem.csv}\n"
        "  - {name: B, input: cellB/patterns, phases: 'P2,O3'}\n")
    (layout / "m.csv").write_text(
        "name,input,echem,wavelength,phases\nA,cellA/patterns,cellA/echem.csv,CuKa,\n"
        "B,cellB/patterns,,CuKa,\"P2,O3\"\n")
    parsed = [read_manifest(layout / f"m.{ext}") for ext in ("toml", "yaml", "csv")]
    assert parsed[0] == parsed[1] == parsed[2]
    a, b = parsed[0]
    assert a.echem == str(layout / "cellA" / "echem.csv")
    assert a.wavelength == "CuKa" and b.phases == "P2,O3" and a.phases == "auto"


@pytest.mark.parametrize("text, match", [
    ("[[experiment]]\nname='A'\n", "no 'input'"),
    ("[[experiment]]\ninput='nowhere'\n", "does not exist"),
    ("[[experiment]]\ninput='cellA/patterns'\ncolour='red'\n", "unknown key"),
    ("[[experiment]]\ninput='cellA/patterns'\nname='x'\n[[experiment]]\ninput='cellB/patterns'\nname='x'\n",
     "duplicate"),
    ("title = 'empty'\n", "no experiments"),
])
def test_bad_manifest(layout, text, match):
    (layout / "bad.toml").write_text(text)
    with pytest.raises(ConfigError, match=match):
        read_manifest(layout / "bad.toml")


def test_unknown_manifest_format(layout):
    (layout / "m.json").write_text("{}")
    with pytest.raises(ConfigError, match="must be .toml"):
        read_manifest(layout / "m.json")
