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


def test_temperature_log_through_load_stack(tmp_path):
    """Two headerless-temperature scans, a scan log in seconds and a furnace log in °C."""
    import numpy as np

    from phasetrace.pipeline import RunInputs, load_stack

    scans = tmp_path / "scans"
    scans.mkdir()
    tt = np.arange(10.0, 20.0, 0.05)
    for name in ("s1.xy", "s2.xy"):
        (scans / name).write_text("# wavelength_A = 0.5\n" + "\n".join(f"{t:.2f} 100" for t in tt) + "\n")
    (tmp_path / "log.csv").write_text("file,start_time_s,end_time_s\ns1.xy,0,60\ns2.xy,600,660\n")
    (tmp_path / "furnace.csv").write_text("time_s,temperature_C\n0,26.85\n1200,626.85\n")
    stack = load_stack(RunInputs(input=str(scans), scan_log=str(tmp_path / "log.csv"),
                                 temperature_log=str(tmp_path / "furnace.csv")))
    # 0.5 K/s from 300 K: mid-times 30 s and 630 s → 315 K and 615 K
    assert stack["temperature_K"].values == pytest.approx([315.0, 615.0])
