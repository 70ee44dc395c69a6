"""The oomless CLI end to end: query's tt-metal messages and exit codes, run's
verification and strict failures, plan and run under the auto policy."""
import json
import os
import subprocess

import pytest

BIN = os.environ.get("OOMLESS_BIN")
pytestmark = pytest.mark.skipif(not BIN or not os.path.exists(BIN), reason="OOMLESS_BIN not set")


def cli(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=600)


def test_query_prints_tt_metals_message_and_exits_3():
    r = cli("query", "add", "--shape", "1,256,3,25281", "--shape", "1,256,3,25281",
            "--dtype", "bf16", "--layout", "tile", "--memory", "l1")
    assert r.returncode == 3, r.stdout + r.stderr
    assert ("Not enough space to allocate 414711808 B L1 buffer across 64 banks, "
            "where each bank needs to store 6479872 B") in r.stdout


def test_query_json_fields():
    r = cli("query", "softmax", "--shape", "1,12,256,8160", "--arg", "dim=-1", "--memory", "dram", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["fits"] is True and j["error"] is None
    assert [a["what"] for a in j["allocations"]] == ["input 0", "output 0"]
    a = j["allocations"][0]
    # 12*256/32 * 8160/32 = 24480 tiles of 2048 B over 12 DRAM banks.
    assert (a["buffer_type"], a["bytes"], a["banks"], a["bytes_per_bank"]) == ("DRAM", 24480 * 2048, 12, 2040 * 2048)
    assert j["cb_bytes_per_core"] > 0
    assert j["outputs"][0]["shape"] == [1, 12, 256, 8160]


def test_query_bad_arguments_exit_2_naming_op_and_value():
    r = cli("query", "softmax", "--shape", "2,3", "--arg", "dim=7")
    assert r.returncode == 2
    assert "[softmax]" in r.stderr and "7" in r.stderr
    r = cli("query", "no_such_op", "--shape", "2,3")
    assert r.returncode == 2 and "no_such_op" in r.stderr
    r = cli("query", "relu", "--shape", "2,x")
    assert r.returncode == 2 and "x" in r.stderr
    r = cli("query", "add", "--shape", "2,3", "--shape", "4,3")
    assert r.returncode == 2 and "[add]" in r.stderr
    r = cli("query", "relu", "--shape", "2,3", "--device", "nope")
    assert r.returncode == 2 and "nope" in r.stderr


def test_run_softmax_in_dram_verifies():
    r = cli("run", "softmax", "--shape", "1,12,256,8160", "--arg", "dim=-1", "--dtype", "bf16",
            "--memory", "dram", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    j = json.loads(r.stdout)
    assert j["verify"]["ok"] and j["verify"]["checked"] >= 2000
    assert j["plan"]["strategy"] == "direct"


def test_run_strict_fails_with_the_message_query_gives():
    args = ["softmax", "--shape", "1,12,8160,8160", "--arg", "dim=-1", "--dtype", "bf16", "--memory", "l1"]
    q = cli("query", *args, "--json")
    r = cli("run", *args, "--policy", "strict", "--json")
    assert q.returncode == 3 and r.returncode == 3
    assert json.loads(r.stdout)["error"] == json.loads(q.stdout)["error"]
    assert json.loads(q.stdout)["error"].startswith("Out of Memory: Not enough space to allocate")


def test_run_auto_chunks_under_budgets_and_matches_unbudgeted_bits(tmp_path):
    args = ["softmax", "--shape", "3,40,1000", "--arg", "dim=-1", "--dtype", "bf16", "--memory", "l1"]
    free = cli("run", *args, "--output", str(tmp_path / "a.npy"), "--json")
    tight = cli("run", *args, "--l1-budget", "1MB", "--dram-budget", "640KB",
                "--output", str(tmp_path / "b.npy"), "--json")
    assert free.returncode == 0 and tight.returncode == 0, tight.stdout + tight.stderr
    jt = json.loads(tight.stdout)
    assert jt["plan"]["strategy"] == "chunked" and jt["plan"]["num_chunks"] > 1
    assert jt["peak_dram_per_bank"] <= jt["plan"]["dram_capacity_per_bank"]
    assert jt["verify"]["ok"]
    assert (tmp_path / "a.npy").read_bytes() == (tmp_path / "b.npy").read_bytes()


def test_plan_json():
    r = cli("plan", "add", "--shape", "1,2176,3840,3", "--shape", "1,2176,3840,3", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["strategy"] == "re-placed" and j["in_memory"] == "DRAM"
    assert "534773760 B L1 buffer" in j["why"]
    # Fragmentation with the plan's three DRAM buffers placed.
    dram = j["fragmentation"]["dram"]
    assert dram["allocations"] == 3
    bank = 1073741792
    assert dram["free_per_bank"] == bank - j["planned_peak_dram_per_bank"]
    assert 0 < dram["largest_free_block_per_bank"] <= dram["free_per_bank"]
    assert j["fragmentation"]["l1"]["largest_free_block_per_bank"] == 1400032
    line = cli("plan", "add", "--shape", "1,2176,3840,3", "--shape", "1,2176,3840,3").stdout
    assert f"largest free block L1 1400032 B/bank, DRAM {dram['largest_free_block_per_bank']} B/bank" in line
