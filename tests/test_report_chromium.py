"""Render report.html in headless Chromium: the tables reach the DOM and the figures decode."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image
from test_report import _build  # the hand-made store of the main report tests

from gefu.bench.report import write_report


def _chromium() -> str | None:
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


CHROMIUM = _chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium not installed (no `chromium` on PATH, no /usr/bin/chromium)"
)
BAR_BLUE = (0x4C, 0x78, 0xA8)  # the bar colour in plots.metric_bars
OUTPUT_BLUE = (30, 30, 220)  # zerodce's sample crop in test_report._build


def _run(tmp_path, *args: str) -> str:
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1280,3400", *args,
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chromium")
    _build(tmp / "results")
    html = write_report(tmp / "results")["html"]
    url = html.resolve().as_uri()
    dom = _run(tmp, "--dump-dom", url)
    shot = tmp / "shot.png"
    _run(tmp, f"--screenshot={shot}", url)
    with Image.open(shot) as im:
        pixels = np.asarray(im.convert("RGB"))
    return dom, pixels


def test_dom_has_the_tables(page):
    dom, _ = page
    assert dom.count("<table>") == 2
    for name in ("zerodce", "gamma", "identity", "broken", "neverran", "a&lt;b&gt;|&amp;c"):
        assert f'<td class="text">{name}</td>' in dom
    assert "<strong>20.20 ± 1.25</strong>" in dom
    assert dom.count('<img src="data:image/png;base64,') == 5


def test_screenshot_shows_the_figures(page):
    _, pixels = page
    assert pixels.shape[:2] == (3400, 1280)
    packed = pixels.astype(np.uint32) @ np.array([1 << 16, 1 << 8, 1], np.uint32)
    assert len(np.unique(packed)) > 100  # not blank (anti-aliased text alone gives a few hundred)

    def count(rgb) -> int:
        return int(np.all(pixels == np.array(rgb, np.uint8), axis=-1).sum())

    # colours found only inside the embedded PNGs (none with the images removed): the bar
    # charts and a sample crop were decoded and drawn
    assert count(BAR_BLUE) > 5000
    assert count(OUTPUT_BLUE) > 1000
