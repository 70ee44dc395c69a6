"""The model report (oomless model plan --out) in headless Chromium: the memory
timeline and the traffic chart are laid out and painted, the timeline has a
strict and an auto series per panel, capacity lines and the first strict OOM,
and the node table has a row per node.

Needs OOMLESS_BIN and Debian's chromium; skips with a reason otherwise.
"""
import os
import re
import subprocess

import pytest

from test_html import dump_dom, svg_tag

BIN = os.environ.get("OOMLESS_BIN")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GRAPH = os.path.join(REPO, "tests", "data", "graphs", "mini_yolo.graph.json")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    if not BIN:
        pytest.skip("OOMLESS_BIN is not set (path of the oomless CLI)")
    out = tmp_path_factory.mktemp("model_html")
    # A 4 MB L1: strict runs out of memory, auto fits with chains.
    r = subprocess.run([BIN, "model", "plan", GRAPH, "--l1-budget", "4MB", "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return out / "report.html"


def test_page_is_self_contained(report):
    html = report.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert "https://" not in html and "<link" not in html and "<script src" not in html
    for chart in ("chart-timeline", "chart-traffic"):
        assert f'id="{chart}"' in html
    for table in ("verdict", "traffic", "largest", "nodes", "chains"):
        assert f'<table id="{table}"' in html


def test_charts_render_in_chromium(report):
    dom = dump_dom(report)
    for chart in ("chart-timeline", "chart-traffic"):
        tag = svg_tag(dom, chart)
        rendered = re.search(r'data-rendered="(\d+)x(\d+)"', tag)
        assert rendered, f"{chart}: the load handler did not run: {tag[:300]}"
        w, h = int(rendered.group(1)), int(rendered.group(2))
        assert w > 300 and h > 60, f"{chart} rendered as {w}x{h}"
        marks = re.search(r'data-marks="(\d+)"', tag)
        assert marks and int(marks.group(1)) > 0, f"{chart} has no marks"
    start = dom.index('id="chart-timeline"')
    timeline = dom[start:dom.index("</svg>", start)]
    # Two panels (L1, DRAM), each with a strict and an auto series over 188 nodes.
    assert timeline.count('class="strict"') == 2 and timeline.count('class="auto"') == 2
    for series in re.findall(r'<polyline class="(?:strict|auto)" points="([^"]*)"', timeline):
        assert len(series.split()) == 188
    assert timeline.count('class="limit"') == 2
    assert "first OOM:" in timeline
    rows = dom[dom.index('<table id="nodes"'):]
    rows = rows[:rows.index("</table>")]
    assert rows.count("<tr>") == 1 + 188
