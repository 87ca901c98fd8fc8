"""The HTML report in a real browser: headless Chromium (Debian's chromium and chromium-driver) via selenium.

The report is opened from file:// with the network switched off (DevTools
offline emulation plus a host resolver that resolves nothing). Checks: no
console errors, every image decoded, no horizontal scrolling at 1280 px and at
390 px (a phone), light and dark; the sortable per-class table sorts.
Skipped cleanly when Chromium, chromedriver or selenium is missing
(``make test-browser`` installs them where it can).

Set ``REPORT_SHOTS=DIR`` to also save full-page screenshots there
(``<name>-<width>-<scheme>.png``), to look at them.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.cli_helpers import run

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
WIDTHS = (1280, 390)

pytestmark = pytest.mark.skipif(
    not (shutil.which("chromium") and shutil.which("chromedriver")),
    reason="needs chromium and chromedriver on PATH (apt-get install chromium chromium-driver; make test-browser)",
)


@pytest.fixture(scope="module")
def driver():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                "--host-resolver-rules=MAP * ~NOTFOUND", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--window-size=1280,900",
                "--force-device-scale-factor=1"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        drv = webdriver.Chrome(options=opts, service=Service(shutil.which("chromedriver")))
    except Exception as exc:  # a broken install is a skip, not a failure of calib
        pytest.skip(f"chromium did not start: {str(exc).splitlines()[0]}")
    drv.execute_cdp_cmd("Network.enable", {})
    drv.execute_cdp_cmd("Network.emulateNetworkConditions",
                        {"offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0})
    yield drv
    drv.quit()


def _report(tmp_path_factory, name: str, args: list[str]) -> Path:
    out = tmp_path_factory.mktemp("browser") / f"{name}.html"
    result = run([*args, "--html-out", str(out)])
    assert result.exit_code in (0, 1), result.stderr
    return out


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    return {
        "audit": _report(tmp_path_factory, "audit", [
            "audit", str(SAMPLE / "multiclass_probs.csv"), "--calibrators", "temperature,isotonic",
            "--objective", "f1", "--threshold-bootstrap", "20", "--max-ece", "0.05"]),
        "binary": _report(tmp_path_factory, "binary", ["audit", str(SAMPLE / "binary.csv")]),
        "thresholds": _report(tmp_path_factory, "thresholds", [
            "thresholds", str(SAMPLE / "binary.csv"), str(SAMPLE / "multiclass_probs.csv"), "--bootstrap", "20"]),
        "groups": _report(tmp_path_factory, "groups", [
            "audit", str(_regions(tmp_path_factory)), "--statistics", "--by", "region", "--objective", "f1",
            "--threshold-bootstrap", "20", "--fail-if", "worst_group_ece > 0.05"]),
    }


def _regions(tmp_path_factory) -> Path:
    """Binary scores, calibrated except region 'south' (overconfident): a --statistics --by report."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 3000
    p = rng.uniform(0.05, 0.95, n)
    y = (rng.uniform(size=n) < p).astype(int)
    region = rng.choice(["north", "south", "east", "west"], n)
    scores = np.where(region == "south", np.clip(0.5 + 1.9 * (p - 0.5), 0.01, 0.99), p)
    path = tmp_path_factory.mktemp("browser") / "regions.csv"
    pd.DataFrame({"label": y, "p_1": scores, "region": region}).to_csv(path, index=False)
    return path


def _show(driver, path: Path, width: int, scheme: str) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
    driver.get_log("browser")  # drop what an earlier page logged
    driver.get(path.as_uri())
    driver.execute_script("return document.readyState")


def _screenshot(driver, path: Path, name: str, width: int, scheme: str) -> None:
    folder = os.environ.get("REPORT_SHOTS")
    if not folder:
        return
    height = driver.execute_script("return Math.ceil(document.documentElement.scrollHeight)")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": min(height, 16000), "scale": 1}})
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / f"{name}-{width}-{scheme}.png").write_bytes(base64.b64decode(shot["data"]))


@pytest.mark.parametrize("name", ["audit", "binary", "thresholds", "groups"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", WIDTHS)
def test_report_renders_offline(driver, reports, name, width, scheme):
    path = reports[name]
    _show(driver, path, width, scheme)
    state = driver.execute_script("""
        const imgs = Array.from(document.images);
        return {
          broken: imgs.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt.slice(0, 60)),
          images: imgs.length,
          scrollWidth: document.documentElement.scrollWidth,
          clientWidth: document.documentElement.clientWidth,
          wide: Array.from(document.querySelectorAll('body *'))
                 .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1
                              && !e.closest('.scroll'))
                 .slice(0, 5).map(e => e.tagName + '.' + e.className),
          scheme: matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light',
          bg: getComputedStyle(document.querySelector('.calib-report')).backgroundColor,
        };""")
    _screenshot(driver, path, name, width, scheme)
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == [], json.dumps(errors, indent=1)
    assert state["broken"] == []
    assert state["images"] == {"thresholds": 0, "groups": 5}.get(name, 3)  # groups: + CORP and the groups figure
    assert state["scrollWidth"] <= state["clientWidth"], state
    assert state["wide"] == [], state
    assert state["scheme"] == scheme
    assert state["bg"] == ("rgb(22, 22, 22)" if scheme == "dark" else "rgb(255, 255, 255)")


def test_class_table_sorts_on_click(driver, reports):
    _show(driver, reports["audit"], 1280, "light")
    from selenium.webdriver.common.by import By

    table = driver.find_element(By.CSS_SELECTOR, "#classes table.sortable")
    first = lambda: [r.find_element(By.TAG_NAME, "th").text for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")]  # noqa: E731
    worst_first = first()
    button = table.find_element(By.XPATH, ".//thead//th[normalize-space()='Class']//button")
    button.click()
    assert first() == sorted(worst_first, key=str.lower)
    button.click()
    assert first() == sorted(worst_first, key=str.lower, reverse=True)
    ece = table.find_element(By.XPATH, ".//thead//th[normalize-space()='ECE']//button")
    ece.click()
    ece.click()  # descending: worst first again
    assert first() == worst_first
    assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
