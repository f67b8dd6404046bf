"""save_all file set and the `phasetrace plot` subcommand."""

import matplotlib.image as mpimg
import pytest

from phasetrace.cli.main import main
from phasetrace.errors import ConfigError
from phasetrace.plot import save_all


@pytest.fixture(scope="module")
def results_nc(tmp_path_factory, p2o2_results):
    path = tmp_path_factory.mktemp("run") / "results.nc"
    p2o2_results.isel(scan=slice(0, 120, 3)).to_netcdf(path, engine="h5netcdf")
    return path


def test_save_all_writes_contract_figures(tmp_path, distort_results):
    before = distort_results.copy(deep=True)
    paths = save_all(distort_results, tmp_path, formats=("png", "pdf"), dpi=100)
    names = {p.relative_to(tmp_path).as_posix() for p in paths}
    assert {"figures/contour.png", "figures/lattice.png", "figures/contour.pdf",
            "figures/fractions.png", "figures/waterfall.png", "figures/fit.png"} <= names
    img = mpimg.imread(tmp_path / "figures" / "contour.png")
    assert img.shape[1] == 700  # 7 in at 100 dpi: full page width
    assert (tmp_path / "figures" / "lattice.pdf").read_bytes()[:4] == b"%PDF"
    assert distort_results.identical(before)


def test_save_all_into_a_figures_folder_does_not_nest(tmp_path, bare_results):
    paths = save_all(bare_results, tmp_path / "figures", formats=("svg",), names=["contour", "lattice"])
    assert sorted(p.name for p in paths) == ["contour.svg", "lattice.svg"]
    assert all(p.parent == tmp_path / "figures" for p in paths)


def test_save_all_rejects_unknown_format(tmp_path, bare_results):
    with pytest.raises(ConfigError, match="format 'gif'"):
        save_all(bare_results, tmp_path, formats=("gif",), names=["contour"])


def test_cli_plot_contour_options(results_nc, tmp_path):
    rc = main(["plot", str(results_nc), "--figure", "contour", "--window", "14:21",
               "--window", "30:40", "--scale", "log", "--axis", "two_theta", "--x", "scan",
               "--scans", "0:30", "--format", "png", "--dpi", "80", "--out", str(tmp_path)])
    assert rc == 0
    assert (tmp_path / "figures" / "contour.png").stat().st_size > 10_000
    assert not (tmp_path / "figures" / "lattice.png").exists()


def test_cli_plot_all_next_to_results(results_nc):
    rc = main(["plot", str(results_nc), "--format", "png", "--dpi", "60", "--scan", "3"])
    assert rc == 0
    folder = results_nc.parent / "figures"
    assert {p.stem for p in folder.glob("*.png")} == {"contour", "lattice", "fractions",
                                                      "waterfall", "fit", "fit_quality"}


def test_cli_plot_errors(results_nc, tmp_path, capsys):
    assert main(["plot", str(tmp_path / "missing.nc")]) == 1
    assert "no such results file" in capsys.readouterr().err
    assert main(["plot", str(results_nc), "--figure", "fit", "--scan", "1000",
                 "--out", str(tmp_path)]) == 1
    assert "scan 1000 is not in the results" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["plot", str(results_nc), "--window", "20:5"])
    assert exc.value.code == 2
