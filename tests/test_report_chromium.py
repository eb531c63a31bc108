"""Render report.html in headless Chromium: the tables reach the DOM and the figures decode."""

from __future__ import annotations

import json
import os
import re
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
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1280,3400",
        *args,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


# Appended to a copy of the page: clicks the psnr header of the lol · iqa leaderboard once
# (ascending) and, in a second table, the enhancer header twice (descending); at the load
# event, counts the figures that decoded.
CLICKS = """<script>
var heads = function (title) {
  var h = Array.from(document.querySelectorAll("h2")).find(function (e) {
    return e.textContent === title; });
  var t = h.nextElementSibling; while (!t.querySelector("table")) t = t.nextElementSibling;
  return t.querySelector("table").tHead.rows[0].cells;
};
heads("lol · iqa")[2].click();
var det = heads("darkface · det"); det[1].click(); det[1].click();
window.addEventListener("load", function () {
  var imgs = Array.from(document.images);
  document.body.dataset.decoded = imgs.filter(function (i) {
    return i.complete && i.naturalWidth > 100; }).length + "/" + imgs.length;
});
</script>"""


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chromium")
    _build(tmp / "results")
    html = write_report(tmp / "results")["html"]
    url = html.resolve().as_uri()
    netlog = tmp / "netlog.json"
    dom = _run(tmp, f"--log-net-log={netlog}", "--dump-dom", url)
    shot = tmp / "shot.png"
    _run(tmp, f"--screenshot={shot}", url)
    with Image.open(shot) as im:
        pixels = np.asarray(im.convert("RGB"))
    clicked = tmp / "results" / "clicked.html"
    text = html.read_text(encoding="utf-8")
    clicked.write_text(text.replace("</body>", CLICKS + "</body>"), encoding="utf-8")
    sorted_dom = _run(tmp, "--dump-dom", clicked.resolve().as_uri())
    return dom, pixels, netlog.read_text(encoding="utf-8"), sorted_dom


def _order(dom: str, title: str) -> list[str]:
    section = dom.split(f"<h2>{title}</h2>", 1)[1].split("</table>", 1)[0]
    body = section.split("<tbody>", 1)[1]
    return re.findall(r'<tr><td class="num"[^>]*>[^<]*</td><td class="text">([^<]*)</td>', body)


def test_dom_has_the_tables(page):
    dom = page[0]
    # the GEFU summary, both leaderboards and the paired-comparison matrix of lol · iqa (kept,
    # with the note that its 5 images cannot make a pair significant; no strata: no stratum
    # table)
    assert dom.count('<table class="sortable">') == 4
    assert "Underpowered: no pair can be significant with 5 unit(s)" in dom
    assert dom.index("GEFU summary") < dom.index("<h2>lol · iqa</h2>")
    for name in ("zerodce", "gamma", "identity", "broken", "neverran", "a&lt;b&gt;|&amp;c"):
        assert f'<td class="text">{name}</td>' in dom
    assert "<strong>20.20 [19.00, 21.60]</strong>" in dom  # BCa: test_report._ci
    assert dom.count('<img src="data:image/png;base64,') == 5


def test_tables_sort_by_the_clicked_header(page):
    dom, sorted_dom = page[0], page[3]
    assert _order(dom, "lol · iqa") == [
        "zerodce",
        "gamma",
        "identity",
        "a&lt;b&gt;|&amp;c",
        "broken",
        "neverran",
    ]
    # psnr ascending: numbers by value (identity 11, gamma 15, zerodce 20.2), empty cells last
    assert _order(sorted_dom, "lol · iqa")[:3] == ["identity", "gamma", "zerodce"]
    assert 'aria-sort="ascending"' in sorted_dom and 'aria-sort="descending"' in sorted_dom


def test_every_figure_decodes_with_its_caption(page):
    dom, sorted_dom = page[0], page[3]
    assert 'data-decoded="5/5"' in sorted_dom  # counted at the load event: all decoded
    figures = re.findall(r"<figure>(.*?)</figure>", dom, re.S)
    assert len(figures) == 5
    for fig in figures:
        alt = re.search(r'alt="([^"]+)"', fig).group(1)
        assert f"<figcaption>{alt}</figcaption>" in fig


def _page_requests(netlog_text: str) -> list[str]:
    """URLs the page asked for, from Chromium's net log: request jobs started by a document
    (the browser's own background requests have no initiating origin)."""
    log = json.loads(netlog_text)
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    begin = log["constants"]["logEventPhase"]["PHASE_BEGIN"]
    return [
        e["params"]["url"]
        for e in log["events"]
        if (e["type"], e["phase"]) == (start, begin)
        and e["params"].get("initiator") != "not an origin"
    ]


def test_nothing_is_fetched_from_the_network(page, tmp_path):
    assert _page_requests(page[2]) == []
    # the check itself sees a page that fetches something
    control = tmp_path / "control.html"
    control.write_text('<img src="http://127.0.0.1:9/x.png">', encoding="utf-8")
    netlog = tmp_path / "control.json"
    _run(tmp_path, f"--log-net-log={netlog}", "--dump-dom", control.as_uri())
    assert _page_requests(netlog.read_text(encoding="utf-8")) == ["http://127.0.0.1:9/x.png"]


def test_screenshot_shows_the_figures(page):
    pixels = page[1]
    assert pixels.shape[:2] == (3400, 1280)
    packed = pixels.astype(np.uint32) @ np.array([1 << 16, 1 << 8, 1], np.uint32)
    assert len(np.unique(packed)) > 100  # not blank (anti-aliased text alone gives a few hundred)

    def count(rgb) -> int:
        return int(np.all(pixels == np.array(rgb, np.uint8), axis=-1).sum())

    # colours found only inside the embedded PNGs (none with the images removed): the bar
    # charts and a sample crop were decoded and drawn
    assert count(BAR_BLUE) > 5000
    assert count(OUTPUT_BLUE) > 1000
