"""The self-contained HTML report."""

import base64
import importlib.util
import re
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

from phasetrace.report import lattice_summary, write_html  # noqa: E402


def _builder():
    path = Path(__file__).resolve().parents[1] / "plot" / "results_builder.py"
    spec = importlib.util.spec_from_file_location("results_builder_for_report", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def results():
    builder = _builder()
    case = builder.CASES / "lit_p2_o2"
    if not (case / "truth.json").is_file():
        pytest.skip(f"shared case not available at {case}")
    return builder.build_results(case).isel(scan=slice(0, 120, 2))


@pytest.fixture(scope="module")
def report_text(results, tmp_path_factory):
    path = write_html(results, tmp_path_factory.mktemp("rep"), dpi=50)
    assert path.name == "report.html"
    return path.read_text(encoding="utf-8")


def test_self_contained(report_text):
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", report_text)
    assert "<link" not in report_text and "<script" not in report_text
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', report_text)
    from phasetrace.plot import FIGURES

    assert len(images) == len(FIGURES) == 6  # contour, lattice, fractions, waterfall, fit, fit_quality
    assert all(base64.b64decode(img)[:8] == b"\x89PNG\r\n\x1a\n" for img in images)


def test_sequence_stages_and_transitions(report_text):
    assert "P2 → O2 → P2" in report_text
    stage_table = report_text.split("<h3>Stages</h3>")[1].split("</table>")[0]
    assert stage_table.count("<tr>") == 1 + 3
    trans_table = report_text.split("<h3>Transitions</h3>")[1].split("</table>")[0]
    assert trans_table.count("two-phase") == 2


def test_strain_sentence_from_data(results, report_text):
    strain = 100 * results["volume_strain"].sel(phase="P2").values
    worst = float(strain[abs(strain) == abs(strain[~(strain != strain)]).max()][0])
    assert worst < -1.0
    assert f"P2: ΔV = −{abs(worst):.1f} %" in report_text
    (p2,) = [s for s in lattice_summary(results) if s.phase == "P2"]
    assert p2.strain_voltage_V > 4.0  # the P2 cell is smallest at the top of charge


def test_provenance_and_options(report_text):
    assert "phasetrace 0.1.0" in report_text
    assert "scan_0000.xye" in report_text and re.search(r"[0-9a-f]{64}", report_text)
    assert "&quot;background&quot;: &quot;snip&quot;" in report_text


def test_given_figures_and_bare_results(results, tmp_path):
    png = tmp_path / "x.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 16)
    svg = tmp_path / "y.svg"
    svg.write_text("<svg xmlns='http://www.w3.org/2000/svg'></svg>")
    bare = results[["intensity"]]
    assert "phase" not in bare.coords
    bare.attrs = {}
    text = write_html(bare, tmp_path / "r.html", figures=[png, svg]).read_text()
    assert text.count("data:image/png;base64") == 1 and text.count("data:image/svg+xml;base64") == 1
    assert "not determined" in text and "No phase identified" in text
