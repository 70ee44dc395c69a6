"""`oomless explain`, `--tt-metal-format` and the seed's composite cases, end to end.

OOMLESS_BIN is the path of the CLI (tests skip when it is unset).
"""
import json
import os
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUITE = os.path.join(REPO, "suites", "seed.json")
HARDTANH_LOG = os.path.join(REPO, "tests", "data", "seed_hardtanh_log.json")
CLAMPMIN_LOG = os.path.join(REPO, "tests", "data", "seed_clampmin_log.json")

KEYS = ["kind", "buffer_type", "total_bytes", "banks", "bytes_per_bank", "bank_size", "allocated",
        "free", "largest_free_block", "page_candidates", "devices", "l1_small_size",
        "fragmentation", "advice"]

TT_MLIR_8044 = ("Always | TT_FATAL: Out of Memory: Not enough space to allocate 26542080 B L1 buffer "
                "across 48 banks, where each bank needs to store 552960 B, but bank size is 1329888 "
                "B (allocated: 417792 B, free: 912096 B, largest free block: 522240 B) "
                "(assert.hpp:104)")


@pytest.fixture(scope="module")
def oomless():
    path = os.environ.get("OOMLESS_BIN")
    if not path:
        pytest.skip("OOMLESS_BIN is not set (path of the oomless CLI)")
    return os.path.abspath(path)


def run(oomless, *args, stdin=None):
    return subprocess.run([oomless, *args], input=stdin, capture_output=True, text=True,
                          timeout=300)


def test_seed_hardtanh_log_reproduces_byte_for_byte(oomless, tmp_path):
    """Every logged outcome and message of the seed's hardtanh run, composite cases included."""
    with open(HARDTANH_LOG, encoding="utf-8") as f:
        log = json.load(f)
    results = sweep_op(oomless, tmp_path, "hardtanh")
    for case in log["cases"]:
        r = results[case["case"]]
        assert r["shapes_as_given"][0] == case["shape"]
        assert r["message"] == case["message"], case
        assert (r["status"] == "PASS") == (case["message"] is None), case
    # The cases the composite's intermediates decide.
    assert results[10]["failed_allocation"].startswith("output 0 = maximum(a_max, -1)")
    assert results[4]["failed_allocation"].startswith("intermediate a_max = minimum(x, 1)")
    assert results[18]["failed_allocation"].startswith("intermediate a_max = minimum(x, 1)")
    assert sum(c["message"] is not None for c in log["cases"]) == 13


def test_seed_clampmin_log_reproduces_byte_for_byte(oomless, tmp_path):
    """The seed's clamp_min run: ten inputs that did not fit, byte for byte; the ten the
    device placed before the test's missing min failed the op must fit here too (oomless
    passes min=0.0, so its composite then runs and may fail inside)."""
    with open(CLAMPMIN_LOG, encoding="utf-8") as f:
        log = json.load(f)
    results = sweep_op(oomless, tmp_path, "clampmin")
    assert sum(c["message"] is not None for c in log["cases"]) == 10
    for case in log["cases"]:
        r = results[case["case"]]
        assert r["shapes_as_given"][0] == case["shape"]
        if case["message"] is not None:
            assert r["message"] == case["message"], case
            assert r["failed_allocation"].startswith("input 0"), r
        else:
            assert r["status"] == "PASS" or not r["failed_allocation"].startswith("input"), r
    # Where the composite would have failed had the test passed a min.
    assert results[4]["failed_allocation"].startswith("intermediate ge(x, 0)")
    assert results[10]["failed_allocation"].startswith("output 0 = where(cond, x, 0)")


def sweep_op(oomless, tmp_path, op):
    p = run(oomless, "sweep", "--suite", SUITE, "--op", op, "--out", str(tmp_path),
            "--no-progress")
    assert p.returncode == 0, p.stderr
    with open(tmp_path / "results.json", encoding="utf-8") as f:
        return {c["case"]: c for c in json.load(f)["cases"]}


def test_explain_json_has_the_documented_keys(oomless):
    p = run(oomless, "explain", TT_MLIR_8044, "--json")
    assert p.returncode == 0, p.stderr
    j = json.loads(p.stdout)
    for k in KEYS:
        assert k in j, k
    assert j["kind"] == "allocator" and j["format"] == "nov-2025"
    assert (j["total_bytes"], j["banks"], j["bytes_per_bank"]) == (26542080, 48, 552960)
    assert (j["bank_size"], j["allocated"], j["free"], j["largest_free_block"]) == \
        (1329888, 417792, 912096, 522240)
    assert j["fragmentation"] is True
    assert j["l1_small_size"] == 65536
    assert {"page_size": 2048, "pages": 12960, "layout": "TILE", "dtype": "bfloat16"}.items() <= \
        j["page_candidates"][0].items()
    assert j["prefix"] == "TT_FATAL"
    assert any(d["name"] == "wormhole_b0" and d["possible"] for d in j["devices"])


def test_explain_reads_a_log_on_stdin_with_several_messages(oomless):
    log = (
        "2025-08-18 19:12:51.596 | critical | Always | Out of Memory: Not enough space to allocate "
        "534773760 B L1 buffer across 64 banks, where each bank needs to store 8355840 B "
        "(assert.hpp:107)\nSKIPPED (OOM: [1, 3, 2176, 3840] - TT_THROW @ bank_manager.cpp:141: "
        "tt::exception\ninfo:\nOut of Memory: Not enough space to allocate 534773760 B L1 buffer "
        "across 64 banks, where each bank needs to store 8355840 B\nbacktrace:\n --- ...\n"
        "E   RuntimeError: TT_THROW @ program.cpp:921: tt::exception\nE   info:\nE   Statically "
        "allocated circular buffers in program 77 clash with L1 buffers on core range "
        "[(x=0,y=0) - (x=7,y=7)]. L1 buffer allocated at 974336 and static circular buffer region "
        "ends at 1089536\n")  # the CB clash: tt-metal#28835
    p = run(oomless, "explain", "--json", stdin=log)
    assert p.returncode == 0, p.stderr
    a = json.loads(p.stdout)
    assert [m["kind"] for m in a] == ["allocator", "cb_clash"]
    assert a[0]["occurrences"] == 2 and a[0]["line"] == 1
    assert a[1]["clash_bytes"] == 1089536 - 974336
    assert a[1]["cb_region_bytes"] == 1089536 - 99104
    t = run(oomless, "explain", "-", stdin=log)
    assert t.returncode == 0 and "message 2 (line 9): cb_clash" in t.stdout, t.stdout


@pytest.mark.parametrize("text", ["hello", "", "Out of Memory: Not enough space to allocate",
                                  "Statically allocated circular buffers on core range [0-0 - 7-7]"
                                  " grow to many B", "\x00\xff garbage " * 1000])
def test_explain_rejects_text_without_an_oom_message(oomless, text):
    p = run(oomless, "explain", "-", stdin=text)
    assert p.returncode == 2
    assert "not a tt-metal out-of-memory message" in p.stderr
    assert p.stdout == ""


def test_explain_with_the_op_plans_the_call(oomless):
    p = run(oomless, "explain", "Out of Memory: Not enough space to allocate 40108032 B L1 buffer "
            "across 64 banks, where each bank needs to store 626688 B", "--op", "hardtanh",
            "--shape", "1,136,120,1152", "--json")
    assert p.returncode == 0, p.stderr
    plan = json.loads(p.stdout)["plan"]
    assert plan["reproduces_message"] is True
    assert plan["plan"]["strategy"] == "re-placed"
    bad = run(oomless, "explain", "Out of Memory: Not enough space to allocate 40108032 B L1 buffer "
              "across 64 banks, where each bank needs to store 626688 B", "--op", "nosuchop")
    assert bad.returncode == 2 and "nosuchop" in bad.stderr


def test_explain_renders_in_another_format(oomless):
    p = run(oomless, "explain", TT_MLIR_8044, "--tt-metal-format", "sub-device", "--json")
    j = json.loads(p.stdout)
    assert j["rendered"] == (
        "Out of Memory: Not enough space after considering dependencies to allocate 26542080 B L1 "
        "across 48 banks (552960 B per bank), bank size is 1329888 B (allocated: 417792 B, free: "
        "912096 B, largest free block: 522240 B)")


@pytest.mark.parametrize("fmt,tail", [
    ("mid-2025", "where each bank needs to store 835584 B"),
    ("sep-2025", "where each bank needs to store 835584 B, but bank size is only 1400032 B"),
    ("nov-2025", "but bank size is 1400032 B (allocated: 835584 B, free: 564448 B, "
                 "largest free block: 564448 B)"),
])
def test_query_speaks_the_requested_version_and_explain_reads_it_back(oomless, fmt, tail):
    q = run(oomless, "query", "relu", "--shape", "1,136,240,768", "--tt-metal-format", fmt,
            "--json")
    assert q.returncode == 3
    err = json.loads(q.stdout)["error"]
    assert err.endswith(tail)
    e = json.loads(run(oomless, "explain", err, "--json", "--device", "wormhole_b0").stdout)
    assert e["format"] == fmt
    assert any(c["page_size"] == 2048 and c["pages"] == 26112 for c in e["page_candidates"])


def test_every_message_command_takes_the_format(oomless, tmp_path):
    bad = run(oomless, "query", "relu", "--shape", "4,4", "--tt-metal-format", "2024")
    assert bad.returncode == 2 and "unknown message format '2024'" in bad.stderr
    for sub in (["run", "relu", "--shape", "1,136,240,768", "--policy", "strict"],
                ["plan", "relu", "--shape", "1,136,240,768"]):
        p = run(oomless, *sub, "--tt-metal-format", "2026")
        assert p.returncode in (0, 3), p.stderr
        assert "bank size is 1400032 B (allocated:" in p.stdout, p.stdout
    s = run(oomless, "sweep", "--suite", SUITE, "--op", "relu", "--max-bytes", "128M",
            "--tt-metal-format", "sep-2025", "--out", str(tmp_path), "--no-progress")
    assert s.returncode == 0, s.stderr
    with open(tmp_path / "results.json", encoding="utf-8") as f:
        msgs = [c["message"] for c in json.load(f)["cases"] if c["message"]]
    assert msgs and all(", but bank size is only 1400032 B" in m for m in msgs)


def test_devices_carry_their_sources_and_format(oomless):
    names = {d["name"] for d in json.loads(run(oomless, "devices", "--json").stdout)}
    assert {"wormhole_b0", "wormhole_b0_56", "wormhole_n300", "blackhole_p150",
            "blackhole_p150_130"} <= names
    for name in names:
        with open(os.path.join(REPO, "devices", name + ".json"), encoding="utf-8") as f:
            prof = json.load(f)
        assert prof["message_format"] == ("nov-2025" if name == "wormhole_b0_tt_xla" else "mid-2025")
        assert prof["sources"].get("grid") and prof["sources"].get("l1_size"), name
    with open(os.path.join(REPO, "devices", "blackhole_p150.json"), encoding="utf-8") as f:
        bh = json.load(f)
    assert bh["dram_banks"] == 8 and bh["dram_alignment"] == 64
    assert bh["dram_bank_size"] - bh["dram_unreserved_base"] == 4278190016
