"""viewer.html in a real headless Chromium (selenium + chromedriver from Debian's packages).

scripts/setup-browser.sh (run by scripts/test.sh, hence by .ci/run) installs the
browser; the test skips, giving the reason, only when that install was impossible.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from phasetrace.report.viewer import write_viewer
from phasetrace.schema import make_stack

MARK = Path(os.environ.get("TMPDIR", "/tmp")) / "phasetrace-browser-unavailable"
SHOTS = os.environ.get("PHASETRACE_SCREENSHOTS")  # folder to keep the screenshots in, if set


def _browser() -> tuple[str, str]:
    """(chromium binary, chromedriver) or skip/fail with the reason."""
    binary = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                   if shutil.which(n)), None)
    driver = shutil.which("chromedriver")
    if binary and driver:
        return binary, driver
    reason = MARK.read_text().strip() if MARK.is_file() else ""
    if os.environ.get("CI") and not reason:
        pytest.fail("Chromium/chromedriver missing in CI although scripts/setup-browser.sh did not "
                    "report the install impossible; run scripts/setup-browser.sh")
    pytest.skip("headless browser not available: " + (reason or "chromium and chromedriver not on "
                "PATH; run scripts/setup-browser.sh (apt-get install chromium chromium-driver)"))


def _results():
    """20 scans: a P2 (002) peak moving to low angle on charge, Pawley-like calc + background."""
    tt = np.linspace(10.0, 40.0, 1501)
    n = 20
    c = np.linspace(11.10, 11.40, n)
    centre = np.degrees(2 * np.arcsin(1.540593 / c))
    bg = 50.0 + 0.5 * (40.0 - tt)
    model = np.stack([2000.0 * np.exp(-0.5 * ((tt - x) / 0.06) ** 2) for x in centre])
    rng = np.random.default_rng(1)
    obs = rng.poisson(model + bg).astype(float)
    volts = np.linspace(2.5, 4.2, n)
    ds = make_stack(tt, obs, wavelength_A=1.540593, coords={"voltage_V": volts,
                                                               "time_s": np.arange(n) * 600.0})
    ds["background"] = (("scan", "two_theta"), np.broadcast_to(bg, obs.shape).copy())
    ds["calc"] = (("scan", "two_theta"), model)
    cells = {"a": np.full(n, 2.88), "b": np.full(n, 2.88), "c": c, "alpha": np.full(n, 90.0),
             "beta": np.full(n, 90.0), "gamma": np.full(n, 120.0), "fraction": np.ones(n),
             "interlayer_d": c / 2, "volume_per_fu": 2.88 ** 2 * np.sqrt(3) / 2 * c / 2}
    for name, v in cells.items():
        ds[name] = (("scan", "phase"), v[:, None])
    ds["present"] = (("scan", "phase"), np.ones((n, 1), bool))
    ds = ds.assign_coords(phase=("phase", ["P2"]), is_cell_component=("phase", [False]))
    ds.attrs["sequence_json"] = json.dumps({"sequence": "P2", "stages": [], "transitions": []})
    return ds


@pytest.fixture(scope="module")
def results():
    return _results()


@pytest.fixture(scope="module")
def page(results, tmp_path_factory):
    return write_viewer(results, tmp_path_factory.mktemp("viewer") / "viewer.html")


@pytest.fixture(scope="module")
def driver():
    binary, chromedriver = _browser()
    pytest.importorskip("selenium", reason="selenium not installed (pip install -e '.[test]')")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1500,1300"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    drv = webdriver.Chrome(service=Service(chromedriver), options=opts)
    yield drv
    drv.quit()


def _load(drv, path: Path) -> None:
    drv.get(path.as_uri())
    deadline = time.time() + 60
    while time.time() < deadline:
        if drv.execute_script("return document.body && document.body.getAttribute('data-ready')"):
            return
        time.sleep(0.2)
    raise AssertionError(f"viewer did not finish drawing; console: {drv.get_log('browser')}")


def _title(drv) -> str:
    return drv.find_element("id", "pattern-title").text


def _requests(drv) -> list[str]:
    """URLs of every network request the page made (Chrome performance log, CDP Network events)."""
    urls = []
    for entry in drv.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def _shot(drv, tmp_path: Path, name: str) -> Path:
    folder = Path(SHOTS) if SHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    drv.save_screenshot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path


def test_page_is_self_contained(page):
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=", text)            # plotly.js and the code inline
    assert not re.search(r"<link[^>]+href=", text)
    assert not re.search(r"""<(img|iframe)[^>]+src=["']?(https?:|//)""", text)


def test_hover_and_click_on_the_map_update_the_pattern(driver, page, results, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains

    driver.get_log("performance")  # drop earlier entries
    _load(driver, page)
    first = _title(driver)
    assert first.startswith("Scan 0 ·") and "R_wp" in first
    drag = driver.find_element("css selector", "#map .nsewdrag")  # the heatmap's plot area
    h = drag.size["height"]
    # the scan axis runs upwards: a point 0.4 of the height above the centre is a late scan
    ActionChains(driver).move_to_element_with_offset(drag, 5, -int(0.4 * h)).perform()
    deadline = time.time() + 10
    while _title(driver) == first and time.time() < deadline:
        time.sleep(0.1)
    hovered = _title(driver)
    scan = int(hovered.split("·")[0].split()[1])
    assert scan >= 15, hovered                                # a late scan, not scan 0
    volt = float(results["voltage_V"].values[scan])
    assert f"Voltage {volt:.4g}" in hovered                    # that scan's voltage
    # the pattern panel itself now shows that scan: its observed trace is that scan's counts
    drawn = driver.execute_script("return document.getElementById('pattern').data[0].y")
    np.testing.assert_allclose(drawn, results["intensity"].values[scan], rtol=1e-6)
    ActionChains(driver).move_to_element_with_offset(drag, 5, int(0.4 * h)).click().perform()
    time.sleep(0.5)
    clicked = _title(driver)
    assert int(clicked.split("·")[0].split()[1]) <= 4, clicked  # an early scan, kept (pinned)
    ActionChains(driver).move_to_element_with_offset(drag, 5, -int(0.4 * h)).perform()
    time.sleep(0.5)
    assert _title(driver) == clicked                           # hover no longer moves it
    cells = driver.find_element("id", "cells").text
    assert "P2" in cells and "11.1" in cells                   # c of an early scan, Å
    _shot(driver, tmp_path, "viewer_clicked")
    urls = _requests(driver)
    assert urls and all(u.startswith(("file:", "data:", "blob:", "about:")) for u in urls), urls


def test_works_with_the_network_blocked(driver, page, tmp_path):
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["http://*", "https://*", "ws://*",
                                                                "wss://*"]})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0})
    try:
        driver.get_log("performance")
        _load(driver, page)
        assert driver.execute_script("return document.getElementById('map').data.length") >= 2
        assert driver.execute_script("return document.getElementById('lattice').data.length") >= 2
        assert driver.execute_script("return window.phasetraceViewer.current") == 0
        driver.execute_script("window.phasetraceViewer.show(12)")
        assert _title(driver).startswith("Scan 12 ·")
        _shot(driver, tmp_path, "viewer_offline")
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
        assert all(u.startswith(("file:", "data:", "blob:", "about:")) for u in _requests(driver))
    finally:
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})


def test_a_run_without_phases_or_calc_still_draws(driver, results, tmp_path):
    bare = results[["intensity", "intensity_sigma"]]
    bare.attrs = {"wavelength_A": 1.540593}
    path = write_viewer(bare, tmp_path / "viewer.html")
    driver.get_log("browser")
    _load(driver, path)
    assert _title(driver).startswith("Scan 0")
    assert "No phase in this scan" in driver.find_element("id", "cells").text
    driver.execute_script("window.phasetraceViewer.show(7)")
    assert _title(driver).startswith("Scan 7")
    assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
