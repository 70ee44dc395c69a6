"""The seed suite file and `oomless sweep` / `oomless merge` end to end.

OOMLESS_BIN is the path of the CLI (tests that need it skip when it is unset).
Only pre-check sweeps and tiny run-mode cases: nothing here needs much RAM.
"""
import csv
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEED_DATA = os.path.join(REPO, "..", "shared", "data", "seed_suite.json")
SUITE = os.path.join(REPO, "suites", "seed.json")
REPORTS = ["results.json", "results.csv", "summary.txt", "report.md", "report.html"]
FIRST_ADD_MESSAGE = ("Out of Memory: Not enough space to allocate 534773760 B L1 buffer across "
                     "64 banks, where each bank needs to store 8355840 B")


@pytest.fixture(scope="module")
def oomless():
    path = os.environ.get("OOMLESS_BIN")
    if not path:
        pytest.skip("OOMLESS_BIN is not set (path of the oomless CLI)")
    return os.path.abspath(path)


def sweep(oomless, out, *args, check=True):
    env = dict(os.environ, CI="true")
    p = subprocess.run([oomless, "sweep", "--suite", SUITE, "--out", str(out), *args],
                       capture_output=True, text=True, env=env, timeout=600)
    if check:
        assert p.returncode == 0, p.stderr + p.stdout
    return p


def load(out):
    with open(os.path.join(str(out), "results.json"), encoding="utf-8") as f:
        return json.load(f)


def comparable(case):
    """A case without what differs between two runs of it (time, clock)."""
    return {k: v for k, v in case.items() if k not in ("seconds", "timestamp")}


# --- the suite file --------------------------------------------------------------------------

def test_suite_is_up_to_date(tmp_path):
    if not os.path.exists(SEED_DATA):
        pytest.skip(f"{SEED_DATA} not present")
    out = tmp_path / "seed.json"
    subprocess.run([sys.executable, os.path.join(REPO, "scripts", "build_suites.py"), SEED_DATA,
                    "--out", str(out)], check=True, capture_output=True)
    with open(SUITE, encoding="utf-8") as f:
        committed = f.read()
    assert out.read_text(encoding="utf-8") == committed, \
        "suites/seed.json is stale: run python3 scripts/build_suites.py"


def test_suite_counts_every_case_once():
    with open(SUITE, encoding="utf-8") as f:
        suite = json.load(f)
    cases = suite["cases"]
    assert len(cases) == suite["counts"]["cases"] == 1779
    assert sum(c["ran_in_seed_run"] for c in cases) == suite["counts"]["ran_in_seed_run"] == 758
    assert len({c["id"] for c in cases}) == len(cases)
    assert len({c["op"] for c in cases}) == 46
    for c in cases:
        assert c["dtype"] == "bf16" and c["layout"] == "tile" and c["memory"] == "l1"
        assert all("=" in a for a in c["args"]), c


def test_suite_records_the_seeds_reported_counts():
    with open(SUITE, encoding="utf-8") as f:
        ops = json.load(f)["ops"]
    if ops["add"]["seed_reported_oom"] is None:
        pytest.skip("generated without the seed summary")
    assert ops["add"]["seed_reported_oom"] == 26
    assert sum(o["seed_reported_oom"] for o in ops.values()) == 720


def test_suite_placement_follows_the_tests():
    with open(SUITE, encoding="utf-8") as f:
        cases = {c["id"]: c for c in json.load(f)["cases"]}
    add = cases["add/0"]
    assert add["shapes_as_given"] == [[1, 3, 2176, 3840]] * 2
    assert add["shapes"] == [[1, 2176, 3840, 3]] * 2  # NHWC, as the test permuted it
    assert cases["linear/0"]["shapes"] == [[27, 1, 256], [256, 256]]  # [b,h] -> (b,1,h)
    assert cases["linear/0"]["out_memory"] == "dram"  # ttnn.linear's default output memory
    assert "out_memory" not in cases["add/0"]
    assert cases["mm/0"]["shapes"] == [[64000, 128], [128, 256]]  # tuples as given
    bn = cases["native_batch_norm/0"]
    assert bn["shapes"] == [[1, 2176, 3840, 3], [3], [3]]
    ones = cases["ones/0"]
    assert ones["shapes"] == [] and ones["args"] == ["size=1,2176,3840,3"]
    assert cases["split/0"]["args"] == ["split_size=96", "dim=1"]  # dim after the permute
    sws = cases["split_with_sizes/0"]
    assert sws["args"] == ["split_sizes=48,48", "dim=3"] and sws["args_note"]
    assert cases["softmax/0"]["args"] == ["dim=-1"] and cases["softmax/0"]["args_note"]
    assert "channels_last=true" in cases["upsample_nearest2d/0"]["args"]


# --- sweep -----------------------------------------------------------------------------------

def test_query_sweep_writes_the_reports(oomless, tmp_path):
    out = tmp_path / "r"
    p = sweep(oomless, out, "--mode", "query", "--op", "add", "--op", "relu")
    assert "\r" not in p.stdout  # quiet progress when not a terminal / CI
    for name in REPORTS:
        assert (out / name).stat().st_size > 0, name
    data = load(out)
    cases = data["cases"]
    assert len(cases) == 80  # 40 add + 40 relu, each once
    assert {c["op"] for c in cases} == {"add", "relu"}
    assert all(c["policy"] == "strict" and c["mode"] == "query" for c in cases)
    statuses = {"PASS", "FAIL_L1_OUT_OF_MEM", "FAIL_DRAM_OUT_OF_MEM", "FAIL_CB_OUT_OF_MEM",
                "FAIL_ASSERT_EXCEPTION"}
    assert all(c["status"] in statuses for c in cases)
    oom = sum(c["status"].endswith("_OUT_OF_MEM") for c in cases)
    seed_oom = sum(c["status"].endswith("_OUT_OF_MEM") for c in cases if c["ran_in_seed_run"])
    summary = (out / "summary.txt").read_text()
    assert f"TOTAL OOM CASES: {oom} (each counted once; {seed_oom} among the seed run's cases)" \
        in summary
    assert "n/a (no auto run)" in summary
    # The seed's own (double-counted) figure next to ours: add printed 26 for 13 cases.
    assert "SEED SAID" in summary and "26 (13)" in summary
    with open(out / "results.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(cases)
    assert [r["id"] for r in rows] == [c["id"] for c in cases]
    assert [r["status"] for r in rows] == [c["status"] for c in cases]
    md = (out / "report.md").read_text()
    assert "## Per operator" in md and "## Per shape" in md


def test_first_add_case_has_tt_metals_message(oomless, tmp_path):
    out = tmp_path / "r"
    sweep(oomless, out, "--op", "add")
    first = next(c for c in load(out)["cases"] if c["id"] == "add/0")
    assert first["status"] == "FAIL_L1_OUT_OF_MEM"
    assert first["message"] == FIRST_ADD_MESSAGE
    assert first["failed_allocation"].startswith("input 0")
    assert first["bytes_requested"] >= 2 * 534773760  # both inputs (and the output), padded
    assert first["logical_bytes"] < first["bytes_requested"] / 5  # C=3 pads to 32


def test_each_case_counted_once_on_duplicate_shapes(oomless, tmp_path):
    out = tmp_path / "r"
    sweep(oomless, out, "--op", "add")
    cases = load(out)["cases"]
    # The add test lists [1,768,68,120] twice: two parametrized cases, two records.
    assert sum(c["shapes_as_given"][0] == [1, 768, 68, 120] for c in cases) == 2
    assert len({c["id"] for c in cases}) == len(cases) == 40


def test_shards_merge_to_the_unsharded_sweep(oomless, tmp_path):
    ops = ["--op", "add", "--op", "softmax", "--op", "mm"]
    sweep(oomless, tmp_path / "all", *ops)
    sweep(oomless, tmp_path / "s0", *ops, "--shard", "0/2")
    sweep(oomless, tmp_path / "s1", *ops, "--shard", "1/2")
    s0, s1 = load(tmp_path / "s0")["cases"], load(tmp_path / "s1")["cases"]
    assert s0 and s1 and not ({c["id"] for c in s0} & {c["id"] for c in s1})
    p = subprocess.run([oomless, "merge", str(tmp_path / "s0"), str(tmp_path / "s1"), "--out",
                        str(tmp_path / "merged")], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    for name in REPORTS:
        assert (tmp_path / "merged" / name).stat().st_size > 0
    merged, whole = load(tmp_path / "merged"), load(tmp_path / "all")
    assert [comparable(c) for c in merged["cases"]] == [comparable(c) for c in whole["cases"]]
    assert merged["meta"]["shards"] == ["0/2", "1/2"]
    tail = lambda t: t[t.index("TOTAL OOM CASES"):]  # noqa: E731
    assert tail((tmp_path / "merged" / "summary.txt").read_text()) == \
        tail((tmp_path / "all" / "summary.txt").read_text())


def test_max_bytes_filter(oomless, tmp_path):
    out = tmp_path / "r"
    sweep(oomless, out, "--op", "relu", "--max-bytes", "16M")
    cases = load(out)["cases"]
    assert cases and all(c["bytes_requested"] <= 16 << 20 for c in cases)
    assert len(cases) < 40
    assert load(out)["meta"]["filters"] == ["--op relu", f"--max-bytes {16 << 20}"]


def test_auto_policy_makes_every_case_fit(oomless, tmp_path):
    out = tmp_path / "both"
    sweep(oomless, out, "--op", "add", "--op", "softmax", "--policy", "both")
    cases = load(out)["cases"]
    strict = [c for c in cases if c["policy"] == "strict"]
    auto = [c for c in cases if c["policy"] == "auto"]
    assert len(strict) == len(auto) > 0
    assert any(c["status"] != "PASS" for c in strict)
    assert all(c["status"] == "PASS" for c in auto), [c["message"] for c in auto if c["status"] != "PASS"]
    assert {c["pass_kind"] for c in auto} >= {"direct", "re-placed"}


def test_bad_options_are_errors(oomless, tmp_path):
    for args in (["--op", "nosuchop"], ["--shard", "2/2"], ["--mode", "fast"],
                 ["--max-bytes", "lots"], ["--device", "nosuchdevice"]):
        p = sweep(oomless, tmp_path / "x", *args, check=False)
        assert p.returncode == 2, (args, p.stderr)
        assert "error:" in p.stderr


def test_run_mode_verifies_small_cases(oomless, tmp_path):
    out = tmp_path / "r"
    sweep(oomless, out, "--mode", "run", "--op", "sigmoid", "--op", "add", "--max-bytes", "1M")
    cases = load(out)["cases"]
    assert cases
    for c in cases:
        assert c["mode"] == "run"
        if c["status"] == "PASS":
            assert c["max_abs_error"] is not None and c["verify_checked"] > 0, c
            assert c["peak_l1_per_core"] > 0
    assert any(c["status"] == "PASS" for c in cases)


def test_run_max_bytes_runs_small_cases_and_plans_the_rest(oomless, tmp_path):
    out = tmp_path / "r"
    sweep(oomless, out, "--mode", "run", "--policy", "both", "--op", "relu",
          "--run-max-bytes", "64M")
    cases = load(out)["cases"]
    small = [c for c in cases if c["bytes_requested"] <= 64 << 20]
    large = [c for c in cases if c["bytes_requested"] > 64 << 20]
    assert small and large
    for c in small:
        assert c["mode"] == "run"
        if c["status"] == "PASS":
            assert c["verify_checked"] > 0 and c["verify_failed"] == 0, c
    for c in large:
        assert c["mode"] == "query" and c["verify_checked"] == 0, c
    auto_pass = sum(c["policy"] == "auto" and c["status"] == "PASS" for c in cases)
    verified = sum(c["policy"] == "auto" and c["verify_checked"] > 0 for c in cases)
    assert auto_pass == len(cases) // 2
    summary = (out / "summary.txt").read_text()
    assert (f"Verified (auto): {verified} of {auto_pass} passing cases ran with data and "
            "matched the reference; the rest were planned only") in summary
    assert "larger cases planned, not run" in summary
    p = sweep(oomless, tmp_path / "x", "--run-max-bytes", "huge", check=False)
    assert p.returncode == 2 and "--run-max-bytes" in p.stderr
