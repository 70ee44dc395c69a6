"""bench/bench.py end to end on one small op: the markdown it writes has the
machine, a table row with numbers and the targets section."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("OOMLESS_BIN")
BUILD = os.path.dirname(BIN) if BIN else None
pytestmark = pytest.mark.skipif(
    not BUILD or not os.path.exists(os.path.join(BUILD, "oomless_bench")),
    reason="OOMLESS_BIN not set or oomless_bench not built")


def test_bench_writes_a_table(tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    raw = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "bench.py"), "--build", BUILD,
                        "--ops", "relu", "--dtype", "bf16", "--scale", "0.002", "--reps", "1",
                        "--budget", "0.1", "--copy-mb", "16", "--out", str(out), "--json", str(raw)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    md = out.read_text()
    assert "Machine:" in md and "## Targets" in md
    rows = [line for line in md.splitlines() if line.startswith("| relu | bf16 |")]
    assert len(rows) == 1
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells[2] == "[1,4,3840,96]"
    assert re.fullmatch(r"[\d.]+ ms", cells[3]) and re.fullmatch(r"[\d.]+ ms", cells[4])
    assert re.fullmatch(r"[\d.]+x", cells[5]) and re.fullmatch(r"[\d.]+", cells[10])
    assert "relu bf16" in md.split("## Targets")[1]
