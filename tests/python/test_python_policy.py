"""oomless.run / oomless.policy: ops run under the CLI's policies and budgets
from Python. The reference is PyTorch (values) and the pre-check (strict's
messages); auto must also be bit-identical to the plain (unbudgeted) call."""
import json
import os
import re
import subprocess
import threading
import time

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
import oomless  # noqa: E402
from oomless import _oomless  # noqa: E402

import op_numerics as N  # noqa: E402

KB, MB = 1 << 10, 1 << 20
BIN = os.environ.get("OOMLESS_BIN")


def _gen(seed):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def _bits_equal(a, b):
    """Bit for bit, any dtype (torch or numpy)."""
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype == torch.bfloat16:
        return torch.equal(a.view(torch.int16), b.view(torch.int16))
    if a.dtype == torch.float32:
        return torch.equal(a.view(torch.int32), b.view(torch.int32))
    return torch.equal(a, b)


def _assert_within_budgets(r, l1=None, dram=None):
    assert r.peak_l1_per_bank <= r.l1_bank_size
    assert r.peak_dram_per_bank <= r.dram_bank_size
    assert r.peak_l1 == r.peak_l1_per_bank * r.l1_banks
    assert r.peak_dram == r.peak_dram_per_bank * r.dram_banks
    if l1 is not None:
        assert r.l1_budget == l1 and r.peak_l1 <= l1
        assert r.l1_bank_size == l1 // r.l1_banks
    if dram is not None:
        assert r.dram_budget == dram and r.peak_dram <= dram
        assert r.dram_bank_size == dram // r.dram_banks


# ---- auto under tight budgets: chunked, same values ----------------------------

def test_auto_chunked_softmax_bf16_matches_torch_and_plain_call():
    x = (torch.randn(4, 256, 1024, generator=_gen(1)) * 3).to(torch.bfloat16)
    r = oomless.run("softmax", x, -1, memory="l1", l1_budget="1MB", dram_budget="2MB")
    assert r.strategy == "chunked" and r.policy == "auto" and r.device == "wormhole_b0"
    assert r.chunks > 1 and r.chunks == r.plan["num_chunks"] and r.chunk_dim in (0, 1)
    assert r.chunks == -(-x.shape[r.chunk_dim] // r.chunk)
    assert r.plan["in_memory"] == "DRAM" and r.plan["buffer_sets"] == 2
    assert r.why.startswith("Out of Memory: Not enough space to allocate 2097152 B L1 buffer")
    _assert_within_budgets(r, l1=1 * MB, dram=2 * MB)
    assert r.peak_l1 > 0 and r.peak_dram > 0  # the data really went through the device
    nbytes = x.numel() * 2
    assert r.host_bytes == 2 * nbytes
    assert r.bytes_host_to_device == nbytes and r.bytes_device_to_host == nbytes
    assert r.seconds >= r.compute_seconds > 0
    assert isinstance(r.value, torch.Tensor) and r.outputs == (r.value,)
    N.assert_bf16(r.value, torch.softmax(x.float(), -1), "softmax chunked")
    assert _bits_equal(r.value, oomless.softmax(x, -1))


def test_auto_chunked_add_numpy_f32():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((1, 256, 1024)).astype(np.float32)
    b = rng.standard_normal((1, 256, 1024)).astype(np.float32)
    r = oomless.run("add", a, b, alpha=2, l1_budget=4 * MB, dram_budget="1MiB")
    assert r.strategy == "chunked" and r.chunks > 1
    _assert_within_budgets(r, l1=4 * MB, dram=MB)
    assert isinstance(r.value, np.ndarray) and r.value.dtype == np.float32
    ref = torch.add(torch.from_numpy(a).double(), torch.from_numpy(b).double(), alpha=2)
    tol = 4 * N.EPS * (torch.from_numpy(a).double().abs() + 2 * torch.from_numpy(b).double().abs())
    N.assert_f32(torch.from_numpy(r.value.copy()), ref, tol, "add chunked")
    assert _bits_equal(r.value, oomless.add(a, b, alpha=2))


def test_auto_chunked_mean_f32_torch():
    x = torch.randn(8, 256, 512, generator=_gen(3))
    r = oomless.run("mean", x, [-1], True, l1_budget="2MB", dram_budget="2MB")
    assert r.strategy == "chunked" and r.chunks > 1
    _assert_within_budgets(r, l1=2 * MB, dram=2 * MB)
    x64 = x.double()
    ref = x64.mean(-1, keepdim=True)
    N.assert_f32(r.value, ref, N.tol_mean(x64, ref, [-1], True), "mean chunked")
    assert _bits_equal(r.value, oomless.mean(x, [-1], True))


def test_auto_without_budgets_runs_direct_on_the_device():
    x = torch.randn(64, 96, generator=_gen(4)).to(torch.bfloat16)
    r = oomless.run("gelu", x, memory="dram")
    assert r.strategy == "direct" and r.why is None and r.chunks == 1
    assert r.plan["in_memory"] == "DRAM" and r.peak_dram > 0
    assert r.l1_budget is None and r.dram_budget is None and r.host_budget is None
    assert _bits_equal(r.value, oomless.gelu(x))


# ---- re-placed -----------------------------------------------------------------

def test_auto_replaces_the_output_in_dram():
    a = torch.randn(1, 256, 1024, generator=_gen(5))
    b = torch.randn(1, 256, 1024, generator=_gen(6))
    r = oomless.run("add", a, b, memory="l1", l1_budget="4MB")
    assert r.strategy == "re-placed"
    assert (r.plan["in_memory"], r.plan["out_memory"]) == ("L1", "DRAM")
    q = _oomless.query("add", [list(a.shape)] * 2, dtype="f32", memory="l1", l1_budget="4MB")
    assert not q["fits"] and r.why == q["error"]
    _assert_within_budgets(r, l1=4 * MB)
    assert r.peak_l1 > 0 and r.peak_dram > 0
    assert torch.equal(r.value, a + b)  # one rounding: exactly torch's


def test_auto_replaced_multi_output_maxpool_bf16():
    x = torch.randn(2, 16, 64, 64, generator=_gen(7)).to(torch.bfloat16)
    r = oomless.run("max_pool2d", x, 2, l1_budget="1MB", dram_budget="1MB")
    assert r.strategy == "re-placed"
    _assert_within_budgets(r, l1=MB, dram=MB)
    out, idx = r.value
    ref, ref_idx = torch.nn.functional.max_pool2d(x.float(), 2, return_indices=True)
    N.assert_exact(out, ref, torch.bfloat16, "max_pool2d values")
    assert idx.dtype == torch.int64
    # Where values tie any tied position is right: compare what the indices point at.
    flat = x.float().flatten(2)
    assert torch.equal(flat.gather(2, idx.flatten(2)), flat.gather(2, ref_idx.flatten(2)))
    plain = oomless.max_pool2d(x, 2)
    assert all(_bits_equal(u, v) for u, v in zip(r.outputs, plain))


# ---- strict: tt-metal's message, as the pre-check gives it -------------------------

STRICT_OOM = [
    # (op, shapes, op args, options, dtype, start of the message)
    ("softmax", [(4, 256, 1024)], {"dim": -1}, {"memory": "l1", "l1_budget": "1MB"}, "bf16",
     "Out of Memory: Not enough space to allocate 2097152 B L1 buffer"),
    ("softmax", [(1, 1, 32, 65536)], {"dim": -1}, {"memory": "dram"}, "bf16",
     "Statically allocated circular buffers on core range"),
    ("add", [(1, 256, 1024)] * 2, {}, {"memory": "dram", "dram_budget": 1 * MB}, "f32",
     "Out of Memory: Not enough space to allocate 1048576 B DRAM buffer"),
]


def _inputs(shapes, dtype):
    t = torch.bfloat16 if dtype == "bf16" else torch.float32
    return [torch.rand(s, generator=_gen(8)).to(t) for s in shapes]


@pytest.mark.parametrize("op,shapes,args,opts,dtype,start", STRICT_OOM,
                         ids=["l1-buffer", "cb", "dram-buffer"])
def test_strict_raises_the_query_message(op, shapes, args, opts, dtype, start):
    q = _oomless.query(op, [list(s) for s in shapes], args, dtype=dtype,
                       **{k: v for k, v in opts.items() if k != "host_budget"})
    assert not q["fits"] and q["error"].startswith(start)
    xs = _inputs(shapes, dtype)
    with pytest.raises(oomless.OutOfMemory) as e:
        oomless.run(op, *xs, policy="strict", **args, **opts)
    assert str(e.value) == q["error"]
    assert isinstance(e.value, MemoryError)
    # The same through a policy block and the aten-like function.
    with pytest.raises(MemoryError) as e2:
        with oomless.policy("strict", **opts):
            getattr(oomless, op)(*xs, **args)
    assert str(e2.value) == q["error"]
    assert oomless.current_policy() is None  # the block ended with the exception
    # auto runs the same call.
    r = oomless.run(op, *xs, **args, **opts)
    assert r.strategy != "direct" and r.why == q["error"]


@pytest.mark.skipif(not BIN or not os.path.exists(BIN), reason="OOMLESS_BIN not set")
def test_strict_message_is_the_cli_query_message():
    op, shapes, args, opts, dtype, _ = STRICT_OOM[0]
    cmd = [BIN, "query", op, "--dtype", dtype, "--memory", opts["memory"], "--l1-budget",
           opts["l1_budget"], "--json"]
    for s in shapes:
        cmd += ["--shape", ",".join(map(str, s))]
    for k, v in args.items():
        cmd += ["--arg", f"{k}={v}"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    cli = json.loads(p.stdout)
    with pytest.raises(oomless.OutOfMemory, match="^" + re.escape(cli["error"]) + "$"):
        oomless.run(op, *_inputs(shapes, dtype), policy="strict", **args, **opts)


def test_strict_runs_what_fits_as_placed():
    x = torch.randn(2, 64, 128, generator=_gen(9))
    r = oomless.run("softmax", x, dim=1, policy="strict", memory="l1", out_memory="dram")
    assert r.strategy == "direct" and r.policy == "strict" and r.why is None
    assert (r.plan["in_memory"], r.plan["out_memory"]) == ("L1", "DRAM")
    assert r.peak_l1 > 0 and r.peak_dram > 0
    assert r.host_bytes == 2 * x.numel() * 4
    x64 = x.double()
    ref = torch.softmax(x64, 1)
    N.assert_f32(r.value, ref, N.tol_softmax(x64, ref, 1), "softmax strict")
    assert _bits_equal(r.value, oomless.softmax(x, dim=1))


# ---- dtypes, layouts, devices ---------------------------------------------------

def test_device_dtype_from_the_option():
    x = torch.randn(32, 64, generator=_gen(10)).to(torch.bfloat16)
    r = oomless.run("softmax", x, -1, dtype=torch.float32, layout="row_major")
    assert r.dtype == "float32" and r.layout == "ROW_MAJOR" and r.value.dtype == torch.float32
    assert _bits_equal(r.value, oomless.softmax(x.float(), -1))
    # bfloat8_b: the device rounds the inputs; every value is a bfp8 value.
    a = np.linspace(-4, 4, 64 * 64, dtype=np.float32).reshape(64, 64)
    r8 = oomless.run("relu", a, dtype="bfp8", memory="dram")
    assert r8.dtype == "bfloat8_b" and r8.value.dtype == np.float32
    assert np.all(r8.value >= 0) and np.abs(r8.value - np.maximum(a, 0)).max() <= 4 / 64
    assert not np.array_equal(r8.value, np.maximum(a, 0))
    r2 = oomless.run("ones", [3, 40], dtype=torch.float32, device="blackhole_p150")
    assert r2.device == "blackhole_p150" and torch.equal(r2.value, torch.ones(3, 40))


def test_topk_and_inplace_silu_under_a_policy():
    x = torch.randn(4, 300, generator=_gen(11))
    with oomless.policy("auto", l1_budget="1MB") as p:
        v, i = oomless.topk(x, 7)
        y = x.clone()
        out = oomless.silu_(y)
    rv, ri = torch.topk(x, 7)
    assert torch.equal(v, rv) and i.dtype == torch.int64 and torch.equal(i, ri)
    assert out is y and _bits_equal(y, oomless.silu(x))
    x64 = x.double()
    fn = torch.nn.functional.silu
    N.assert_f32(y, fn(x64), N.tol_eltwise(fn, x64, 8), "silu_ under a policy")
    assert [r.op for r in p.reports] == ["topk", "silu_inplace"]


# ---- the policy block ---------------------------------------------------------------

def test_policy_blocks_nest_and_restore():
    x = torch.randn(8, 32, generator=_gen(12))
    assert oomless.current_policy() is None
    outer = oomless.policy("auto", memory="dram")
    inner = oomless.policy("strict", memory="l1", l1_budget=4 * MB)
    with outer:
        oomless.relu(x)
        with inner:
            assert oomless.current_policy() is inner
            oomless.relu(x)
            with pytest.raises(oomless.OutOfMemory):
                oomless.relu(torch.randn(1024, 1024))
        assert oomless.current_policy() is outer
        oomless.relu(x)
    assert oomless.current_policy() is None
    oomless.relu(x)  # plain: no report
    with outer:  # re-entered, also inside itself
        with outer:
            assert oomless.current_policy() is outer
        assert oomless.current_policy() is outer
    assert oomless.current_policy() is None
    assert [r.policy for r in outer.reports] == ["auto", "auto"]
    assert [r.plan["in_memory"] for r in outer.reports] == ["DRAM", "DRAM"]
    assert len(inner.reports) == 1 and inner.last.policy == "strict"
    assert inner.options["l1_budget"] == 4 * MB and inner.last.l1_budget == 4 * MB
    assert "strict" in repr(inner) and str(4 * MB) in repr(inner)


def test_policy_in_another_thread_is_not_seen():
    seen = []
    with oomless.policy("strict"):
        t = threading.Thread(target=lambda: seen.append(oomless.current_policy()))
        t.start()
        t.join()
    assert seen == [None]


def test_the_gil_is_released_while_running():
    x = torch.randn(32, 1024, 1024, generator=_gen(13))  # long enough to watch (~0.3 s)
    result = {}

    def work():
        result["r"] = oomless.run("gelu", x, memory="dram")

    t = threading.Thread(target=work)
    ticks = []
    t.start()
    while t.is_alive():
        ticks.append(time.perf_counter())
    t.join()
    r = result["r"]
    assert r.strategy == "direct" and r.seconds > 0.1
    gaps = np.diff(np.array(ticks)) if len(ticks) > 1 else np.array([r.seconds])
    # Holding the GIL would stop this thread for the whole run.
    assert gaps.max() < r.seconds / 2, (gaps.max(), r.seconds)


# ---- bad options --------------------------------------------------------------------

BAD = [
    ({"policy": "fast"}, "'fast'"),
    ({"policy": None}, "None"),
    ({"l1_budget": "12XB"}, "'12XB'"),
    ({"dram_budget": "lots"}, "'lots'"),
    ({"l1_budget": -1}, "-1"),
    ({"l1_budget": 0}, "bad size 0"),
    ({"host_budget": 1.5}, "1.5"),
    ({"dram_budget": True}, "True"),
    ({"l1_budget": 10}, "l1_budget=10"),
    ({"memory": "sram"}, "'sram'"),
    ({"out_memory": "hbm"}, "'hbm'"),
    ({"layout": "strided"}, "'strided'"),
    ({"dtype": "int8"}, "'int8'"),
    ({"dtype": torch.float64}, "torch.float64"),
    ({"device": "tpu_v9"}, "'tpu_v9'"),
    ({"dtype": "bfp8", "layout": "row_major"}, "bfloat8_b"),
]


@pytest.mark.parametrize("opts,named", BAD, ids=[str(o) for o, _ in BAD])
def test_bad_options_raise_value_error_naming_the_value(opts, named):
    x = torch.randn(4, 4)
    with pytest.raises(ValueError, match=re.escape(named)) as e:
        oomless.run("relu", x, **opts)
    assert isinstance(e.value, oomless.InvalidArgument)
    policy = opts.get("policy", "auto")
    rest = {k: v for k, v in opts.items() if k != "policy"}
    with pytest.raises(ValueError, match=re.escape(named)):
        oomless.policy(policy, **rest)  # validated when made, not when used


def test_bad_op_arguments_and_inputs():
    x = torch.randn(4, 4)
    with pytest.raises(ValueError, match="nosuchop"):
        oomless.run("nosuchop", x)
    with pytest.raises(ValueError, match="dim"):
        oomless.run("softmax", x, dim=5, l1_budget="1MB")
    with pytest.raises(ValueError, match="int64"):
        oomless.run("relu", torch.ones(4, dtype=torch.int64))


def test_host_budget():
    x = torch.randn(64, 64, generator=_gen(14))
    r = oomless.run("relu", x, host_budget=2 * x.numel() * 4)
    assert r.host_budget == 2 * x.numel() * 4 and r.host_bytes == r.host_budget
    for policy in ("auto", "strict"):
        with pytest.raises(oomless.Error, match="need 32768 B of host memory; the host "
                           "budget is 16384 B"):
            oomless.run("relu", x, policy=policy, host_budget="16KB")
