"""report.html in headless Chromium: the three charts are there, laid out and
painted (each SVG has a non-empty rendered box and marks after the load event).

Needs OOMLESS_BIN (the CLI) and Debian's chromium; skips with a reason otherwise.
"""
import os
import re
import shutil
import subprocess
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUITE = os.path.join(REPO, "suites", "seed.json")
CHARTS = ("chart-grid", "chart-bytes", "chart-time")


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    binary = os.environ.get("OOMLESS_BIN")
    if not binary:
        pytest.skip("OOMLESS_BIN is not set (path of the oomless CLI)")
    out = tmp_path_factory.mktemp("html")
    subprocess.run([binary, "sweep", "--suite", SUITE, "--out", str(out), "--op", "add",
                    "--op", "softmax", "--op", "mm"], check=True, capture_output=True,
                   env=dict(os.environ, CI="true"), timeout=600)
    return out / "report.html"


def dump_dom(path):
    exe = chromium()
    if not exe:
        pytest.skip("chromium is not installed (scripts/install-deps.sh installs it)")
    profile = tempfile.mkdtemp(prefix="oomless-chromium-")
    try:
        p = subprocess.run(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", "--dump-dom", f"file://{path}"],
            capture_output=True, text=True, timeout=180)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout


def svg_tag(dom, chart):
    m = re.search(r'<svg[^>]*\bid="%s"[^>]*>' % chart, dom)
    assert m, f"{chart} missing from the rendered page"
    return m.group(0)


def test_page_is_self_contained(report):
    html = report.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert "https://" not in html and "<link" not in html and "<script src" not in html
    for chart in CHARTS:
        assert f'id="{chart}"' in html


def test_charts_render_non_empty_in_chromium(report):
    dom = dump_dom(report)
    for chart in CHARTS:
        tag = svg_tag(dom, chart)
        rendered = re.search(r'data-rendered="(\d+)x(\d+)"', tag)
        assert rendered, f"{chart}: the load handler did not run: {tag[:300]}"
        w, h = int(rendered.group(1)), int(rendered.group(2))
        assert w > 100 and h > 50, f"{chart} rendered as {w}x{h}"
        marks = re.search(r'data-marks="(\d+)"', tag)
        assert marks and int(marks.group(1)) > 0, f"{chart} has no rects or circles"
    # The grid has a cell per (operator, shape) with cases: 3 operators here.
    grid = dom[dom.index('id="chart-grid"'):dom.index("</svg>", dom.index('id="chart-grid"'))]
    assert grid.count('class="cell"') >= 3
    # The time chart has a point per case (40 add + 30 softmax + 24 mm).
    time = dom[dom.index('id="chart-time"'):dom.index("</svg>", dom.index('id="chart-time"'))]
    assert time.count("<circle") == 94
