"""The host is a budget too (issue 15): `oomless run add --shape 4000000000
--shape 4000000000 --memory dram` (24 GB of host tensors) must complete with its
output on disk within the host budget or stop with exit 5, never be killed.
These run it scaled down (a few MB) under a small --host-budget and under
`prlimit --as`, and check the streamed output against torch."""
import json
import os
import shutil
import signal
import subprocess

import numpy as np
import pytest
import torch

BIN = os.path.abspath(os.environ["OOMLESS_BIN"]) if os.environ.get("OOMLESS_BIN") else None
pytestmark = pytest.mark.skipif(not BIN or not os.path.exists(BIN), reason="OOMLESS_BIN not set")
ENV = dict(os.environ, OMP_NUM_THREADS="1", OMP_WAIT_POLICY="passive")


def run(*args, prefix=(), cwd=None):
    return subprocess.run([*prefix, BIN, *args], capture_output=True, text=True, timeout=300,
                          env=ENV, cwd=cwd)


def bf16(a):
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(torch.bfloat16)


def test_scaled_24gb_add_streams_under_a_small_host_budget(tmp_path):
    # Inputs from .npy files (mapped chunk by chunk), output to an mmap'd .npy.
    n = 1_000_000
    rng = np.random.default_rng(7)
    a, b = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    r = run("run", "add", "--input", "a.npy", "--input", "b.npy", "--memory", "dram",
            "--host-budget", "4MB", "--output", "y.npy", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    j = json.loads(r.stdout)
    # 12 MB of bf16 tensors (plus f32 files) do not fit 4 MB: streamed, and its peak within it.
    assert j["host_streamed"] is True and j["host_budget"] == 4 << 20
    assert 0 < j["host_peak_bytes"] <= 4 << 20
    assert j["plan"]["strategy"] == "chunked" and j["plan"]["num_chunks"] > 1
    assert j["verify"]["ok"]
    y = np.load(tmp_path / "y.npy")
    assert y.shape == (n,)
    want = (bf16(a) + bf16(b)).float().numpy()
    np.testing.assert_array_equal(y, want)
    # Nothing but the inputs and the committed output is left.
    assert sorted(os.listdir(tmp_path)) == ["a.npy", "b.npy", "y.npy"]


def test_scaled_24gb_add_seeded_equals_unstreamed(tmp_path):
    # Seeded inputs made chunk by chunk: bit-identical to the same call run whole.
    args = ("run", "add", "--shape", "300000", "--shape", "300000", "--memory", "dram", "--json")
    r1 = run(*args, "--host-budget", "1MB", "--output", "s.npy", cwd=tmp_path)
    r2 = run(*args, "--output", "w.npy", cwd=tmp_path)
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr
    assert json.loads(r1.stdout)["host_streamed"] and not json.loads(r2.stdout)["host_streamed"]
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), np.load(tmp_path / "w.npy"))


def test_host_budget_too_small_exits_5_before_allocating(tmp_path):
    r = run("run", "add", "--shape", "1000000", "--shape", "1000000", "--memory", "dram",
            "--host-budget", "64KB", "--output", "y.npy", cwd=tmp_path)
    assert r.returncode == 5, r.stdout + r.stderr
    assert "[add] needs" in r.stderr and "B of host memory, 65536 B available" in r.stderr
    assert os.listdir(tmp_path) == []  # no output, no temporary
    # The strict policy holds tensors whole: it stops too, naming the policy.
    r = run("run", "add", "--shape", "1000000", "--shape", "1000000", "--memory", "dram",
            "--policy", "strict", "--host-budget", "1MB", cwd=tmp_path)
    assert r.returncode == 5 and "strict policy holds its tensors whole" in r.stderr


@pytest.mark.skipif(not shutil.which("prlimit"), reason="prlimit missing")
@pytest.mark.parametrize("limit_mb", [200, 260, 320])
def test_scaled_24gb_add_under_prlimit_as_streams_or_exits_5(tmp_path, limit_mb):
    # No --host-budget: the budget is what RLIMIT_AS leaves. 48 MB of bf16
    # tensors and the device arenas' reservations (which count there) under a
    # few hundred MB of address space: it runs within the budget (whole on a
    # device whose DRAM is capped, or streamed), or stops with the planner's
    # exit 5; it is never killed and no allocation fails.
    n = 8_000_000
    r = run("run", "add", "--shape", str(n), "--shape", str(n), "--memory", "dram",
            "--verify", "none", "--output", "y.npy", "--json", cwd=tmp_path,
            prefix=("prlimit", f"--as={limit_mb << 20}"))
    assert r.returncode in (0, 5), (r.returncode, r.stdout, r.stderr)
    assert r.returncode != -signal.SIGKILL
    if r.returncode == 5:
        assert "[add] needs" in r.stderr and "RLIMIT_AS" in r.stderr, r.stderr
        assert os.listdir(tmp_path) == []
        return
    j = json.loads(r.stdout)
    assert 0 < j["host_peak_bytes"] <= j["host_budget"] < limit_mb << 20
    y = np.load(tmp_path / "y.npy", mmap_mode="r")
    assert y.shape == (n,) and np.isfinite(y[:: n // 1000]).all()
    assert os.listdir(tmp_path) == ["y.npy"]
