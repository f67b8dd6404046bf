"""Configuration: validation on load and TOML round trip."""

import tomllib

import pytest

from phasetrace.config import Config, TransitionConfig
from phasetrace.errors import ConfigError


def test_toml_round_trip(tmp_path):
    cfg = Config.from_dict({"phases": {"phases": "P2,O3,P3"}, "transitions": {"min_scans": 4},
                            "output": {"material": "Na2/3Ni1/3Mn2/3O2"}})
    path = tmp_path / "c.toml"
    path.write_text(cfg.to_toml())
    again = Config.from_toml(path)
    assert again == cfg
    assert again.phases.names == ("P2", "O3", "P3")
    assert tomllib.loads(cfg.to_toml())["transitions"]["min_scans"] == 4


@pytest.mark.parametrize("data, match", [
    ({"transitions": {"min_fraction": 1.5}}, "min_fraction"),
    ({"background": {"method": "magic"}}, "background.method"),
    ({"peaks": {"profile": "gauss"}}, "peaks.profile"),
    ({"nonsense": {}}, "unknown config section"),
    ({"transitions": {"speed": 3}}, "unknown option"),
])
def test_bad_values_fail_on_load(data, match):
    with pytest.raises(ConfigError, match=match):
        Config.from_dict(data)


def test_bad_toml_names_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[phases\nphases = 3")
    with pytest.raises(ConfigError, match="broken.toml"):
        Config.from_toml(path)


def test_min_scans_positive():
    with pytest.raises(ConfigError):
        TransitionConfig(min_scans=0)


def test_analysis_blocks_are_toml_settable_and_validated(tmp_path):
    from phasetrace.config import AnalysisConfig

    path = tmp_path / "c.toml"
    path.write_text("[analysis]\nblock_scans = 16\nhalo_scans = 4\ndetect_kalpha2 = false\n")
    cfg = Config.from_toml(path)
    assert cfg.analysis == AnalysisConfig(block_scans=16, halo_scans=4, survey_scans=32, detect_kalpha2=False)
    assert Config.from_dict(cfg.to_dict()) == cfg  # recorded in provenance, round-trips
    path.write_text("[analysis]\nblock_scans = 0\n")
    with pytest.raises(ConfigError, match="analysis.block_scans = 0"):
        Config.from_toml(path)


def test_refinement_options_are_toml_settable_and_validated(tmp_path):
    from phasetrace.config import RefineConfig

    path = tmp_path / "r.toml"
    path.write_text('[refine]\ngeometry = "transmission"\npawley_phases = ["OP4"]\n')
    cfg = Config.from_toml(path)
    assert cfg.refine == RefineConfig(geometry="transmission", pawley_phases=("OP4",))
    assert Config.from_dict(cfg.to_dict()) == cfg  # recorded in provenance, round-trips
    path.write_text('[refine]\ngeometry = "sideways"\n')
    with pytest.raises(ConfigError, match="r.toml: refine.geometry = 'sideways'"):
        Config.from_toml(path)
