"""Every new analyse option reaches the configuration, and has a batch-manifest key."""

from __future__ import annotations

import re

import pytest

from phasetrace.batch import _experiment_config, read_manifest
from phasetrace.cli.main import build_parser
from phasetrace.config import Config
from phasetrace.errors import ConfigError


def _args(*extra):
    return build_parser().parse_args(["analyse", "in", *extra])


def test_cli_options_reach_the_config():
    from phasetrace.cli.analyse import build_config

    args = _args("--calibrate", "Si", "--elements", "Li, Mn,O", "--temperature-log", "t.csv")
    config = build_config(args)
    assert config.phases.calibrate == "Si" and config.phases.elements == ("Li", "Mn", "O")
    assert args.temperature_log == "t.csv" and args.echem_outside == "auto"


def test_config_file_elements_are_checked():
    assert Config.from_dict({"phases": {"elements": "Na,Mn,O"}}).phases.elements == ("Na", "Mn", "O")
    with pytest.raises(ConfigError, match=re.escape("elements 'Q': not element symbols")):
        Config.from_dict({"phases": {"elements": ["Na", "Q"]}})


def test_manifest_keys_for_every_option(tmp_path):
    (tmp_path / "scans").mkdir()
    (tmp_path / "manifest.toml").write_text(
        '[[experiment]]\nname = "heat"\ninput = "scans"\ntemperature_log = "furnace.csv"\n'
        'echem_outside = "nan"\ncalibrate = "LaB6"\nelements = "Na,Ni,Mn,O"\n')
    (exp,) = read_manifest(tmp_path / "manifest.toml")
    assert exp.echem_outside == "nan" and exp.temperature_log == str(tmp_path / "furnace.csv")
    config = _experiment_config(exp, Config())
    assert config.phases.calibrate == "LaB6" and config.phases.elements == ("Na", "Ni", "Mn", "O")


def test_manifest_bad_echem_outside(tmp_path):
    (tmp_path / "scans").mkdir()
    path = tmp_path / "manifest.toml"
    path.write_text('[[experiment]]\ninput = "scans"\nechem_outside = "ignore"\n')
    with pytest.raises(ConfigError, match=re.escape(
            f"{path}: experiment 1: echem_outside = 'ignore'; expected auto, raise or nan")):
        read_manifest(path)
