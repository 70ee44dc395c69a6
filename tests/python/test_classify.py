"""torchvision's classifiers (Debian's python3-torchvision) through oomless:
parameter counts as torchvision documents them, traces whose every node lowers
to the device (f32 and bf16, channels-last or not), `oomless model plan` fitting
wormhole_b0 at 224x224 and 1024x1024, strict naming the first OOM, the lowered
ops against torch's aten ops on the nodes' own inputs, and, once
oomless.run_model exists (issue 13, branch modelrun), whole forwards against torch."""
import json
import os
import subprocess

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision", reason="python3-torchvision is not installed "
                    "(scripts/install-deps.sh installs it)")
oomless = pytest.importorskip("oomless")
from oomless.models import classifier  # noqa: E402

import graph_torch  # noqa: E402

BIN = os.environ.get("OOMLESS_BIN")
needs_bin = pytest.mark.skipif(not BIN or not os.path.exists(BIN), reason="OOMLESS_BIN not set")

# torchvision's model cards (num_params), 0.14
PARAMS = {"resnet18": 11_689_512, "resnet50": 25_557_032, "mobilenet_v2": 3_504_872,
          "vgg11_bn": 132_868_840, "efficientnet_b0": 5_288_548, "squeezenet1_0": 1_248_424}
DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}


def _nparams(m):
    return sum(p.numel() for p in m.parameters())


def _meta_graph(name, size, dtype="bf16", channels_last=True, num_classes=1000):
    dt = DTYPES[dtype]
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    m = classifier(name, num_classes, device="meta").to(dtype=dt, memory_format=fmt)
    x = torch.empty(1, 3, size, size, dtype=dt, device="meta").contiguous(memory_format=fmt)
    return oomless.trace(m, x)


def _cli(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=300)


def _model(cmd, graph, tmp_path, *extra):
    path = graph.save(tmp_path / "m.graph.json")
    r = _cli("model", cmd, str(path), "--json", *extra)
    assert r.returncode in (0, 3), r.stderr
    return r.returncode, json.loads(r.stdout)


def test_parameter_counts_are_torchvisions():
    for name, n in PARAMS.items():
        assert _nparams(classifier(name, device="meta")) == n, name
    m = classifier("mobilenet_mini", 10)
    assert not m.training and _nparams(m) == 28_826
    assert sum(isinstance(x, torch.nn.Conv2d) and x.groups > 1 for x in m.modules()) == 3
    with pytest.raises(ValueError, match=r"\[classifier\] unknown model 'resnet19'; one of resnet18"):
        classifier("resnet19")
    with pytest.raises(ValueError, match=r"device must be 'cpu' or 'meta', got 'cuda'"):
        classifier("resnet18", device="cuda")


def test_export_a_classifier_on_meta(tmp_path, capsys):
    from oomless import Graph, export

    out = tmp_path / "r.graph.json"
    assert export.main(["resnet18", "--imgsz", "96", "--meta", "--nc", "10", "-o", str(out)]) == 0
    # 11,689,512 less the 1000-class fc (512 x 1000 + 1000) plus a 10-class one
    assert "built resnet18 (11,181,642 parameters, bf16, meta)" in capsys.readouterr().out
    assert 11_689_512 - 513 * 1000 + 513 * 10 == 11_181_642
    g = Graph.load(out)
    assert g.model == "ResNet" and g.weights is None
    assert g.tensor(g.outputs[0])["shape"] == [1, 10]
    assert g.node("convolution")["outputs"][0]["shape"] == [1, 64, 48, 48]


# Every combination for the two main models, one each for the others.
TRACES = [(n, d, cl) for n in ("resnet18", "mobilenet_v2") for d in DTYPES for cl in (False, True)]
TRACES += [(n, "bf16", True) for n in ("resnet50", "vgg11_bn", "efficientnet_b0", "squeezenet1_0")]


@needs_bin
@pytest.mark.parametrize("name,dtype,channels_last", TRACES)
def test_every_node_lowers_and_the_plan_fits_at_224(name, dtype, channels_last, tmp_path):
    g = _meta_graph(name, 224, dtype, channels_last)
    ops = g.op_counts()
    assert "aten.empty.memory_format" not in ops  # batch norm's unused reserve is dropped
    if "mini" not in name and name != "squeezenet1_0":
        assert ops["aten.addmm.default"] >= 1 and ops["aten.native_batch_norm.default"] >= 1
    rc, j = _model("plan", g, tmp_path)
    assert rc == 0 and j["fits"] is True
    assert j["unsupported"] == {}, j["unsupported"]
    assert {n["strategy"] for n in j["nodes"]}.isdisjoint({"host", "host op"})
    assert len(j["nodes"]) == len(g)


@needs_bin
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "resnet50"])
def test_plan_fits_at_1024_where_strict_l1_does_not(name, tmp_path):
    g = _meta_graph(name, 1024)
    rc, j = _model("plan", g, tmp_path)
    assert rc == 0 and j["fits"] and j["unsupported"] == {}
    assert j["peak_l1_per_bank"] <= 1_400_032 and j["peak_dram_per_bank"] <= 1_073_741_792
    t = {k: v["total"] for k, v in j["traffic"].items()}
    assert t["greedy_l1"] <= t["all_dram"], t
    # Strict with every activation in L1 (device opened with L1_SMALL): the stem conv's
    # 1024x1024 input does not fit; in DRAM the whole model does.
    rc, j = _model("query", g, tmp_path, "--device", "wormhole_b0_l1small", "--memory", "l1")
    assert rc == 3 and j["fits"] is False
    oom = j["first_oom"]
    assert oom["node"] == "convolution" and oom["index"] == 0
    assert oom["status"] == "FAIL_L1_OUT_OF_MEM"
    assert oom["message"].startswith("Out of Memory: Not enough space to allocate ")
    rc, j = _model("query", g, tmp_path, "--device", "wormhole_b0_l1small", "--memory", "dram")
    assert rc == 0 and j["fits"] is True and j["first_oom"] is None


@needs_bin
def test_resnet18_strict_first_oom_message(tmp_path):
    # [1,3,1024,1024] bf16 channels-last is [1,1,1048576,3] on the device: 32768 tile rows
    # of one tile (C pads to 32), 2048 B each. Interleaved in L1 it takes 512 pages per
    # bank (1 MiB); the stem conv's height-sharded copy needs another MiB per bank, and
    # only 1375456 - 1048576 = 326880 B are free.
    rc, j = _model("query", _meta_graph("resnet18", 1024), tmp_path, "--device",
                   "wormhole_b0_l1small", "--memory", "l1")
    assert rc == 3
    oom = j["first_oom"]
    assert oom["tensor"] == "conv input (height sharded)"
    assert oom["message"] == (
        "Out of Memory: Not enough space to allocate 67108864 B L1 buffer across 64 banks, "
        "where each bank needs to store 1048576 B")
    assert oom["detail"].endswith("but bank size is 1375456 B (allocated: 1048576 B, free: "
                                  "326880 B, largest free block: 326880 B)")
    assert 32768 * 2048 == 67108864 and 67108864 // 64 == 1048576


@needs_bin
def test_vgg_adaptive_pool_to_7x7_is_a_copy_at_224_and_a_host_op_above(tmp_path):
    rc, j = _model("plan", _meta_graph("vgg11_bn", 224), tmp_path)
    pool = next(n for n in j["nodes"] if n["op"] == "aten._adaptive_avg_pool2d.default")
    assert j["unsupported"] == {} and pool["strategy"] not in ("host", "host op")
    rc, j = _model("plan", _meta_graph("vgg11_bn", 448), tmp_path)
    assert rc == 0 and j["fits"]
    assert j["unsupported"] == {"aten._adaptive_avg_pool2d.default": 1}


def _randomize_bn(m):
    for bn in m.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            bn.running_mean.normal_(0, 0.2)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.normal_(0, 0.2)


def test_channels_last_mobilenet_graph_reproduces_the_model():
    """The file (restride, in-place ReLU6, no dropped node that mattered) run
    with torch's aten ops gives the model's output bit for bit."""
    torch.manual_seed(0)
    m = classifier("mobilenet_mini", 10)
    _randomize_bn(m)
    m = m.to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        want = m(x)
    g = oomless.trace(m, x)
    assert g.op_counts()["aten.as_strided_.default"] == 1
    assert g.op_counts()["aten.hardtanh_.default"] == 7
    got = graph_torch.run(g, [x], g.weight_values)
    assert torch.equal(got[0], want)


def _ulp_close(got, ref64, dtype):
    """Within one unit in the last place of `dtype` of the float64 result."""
    eps = torch.finfo(dtype).eps
    tol = ref64.abs().clamp_min(torch.finfo(dtype).tiny) * eps + 1e-30
    return bool(((got.double() - ref64).abs() <= tol).all())


@pytest.mark.parametrize("dtype", ["f32", "bf16"])
def test_lowered_ops_equal_torchs_on_the_nodes_inputs(dtype):
    """What the lowering calls for each classifier op, against torch's aten op."""
    dt = DTYPES[dtype]
    torch.manual_seed(1)
    x = torch.randn(2, 24, 7, 9).to(dt).contiguous(memory_format=torch.channels_last)
    # adaptive_avg_pool2d(1) -> mean over (H, W), keepdim
    want = torch.ops.aten._adaptive_avg_pool2d.default(x, [1, 1])
    got = oomless.mean(x, [-2, -1], True)
    assert got.shape == want.shape == (2, 24, 1, 1) and got.dtype == dt
    assert _ulp_close(got, x.double().mean((2, 3), keepdim=True), dt)
    torch.testing.assert_close(got, want, rtol=torch.finfo(dt).eps * 32, atol=0)  # torch sums in f32 too
    # adaptive_avg_pool2d to its own size -> a copy
    same = torch.ops.aten._adaptive_avg_pool2d.default(x, [7, 9])
    assert torch.equal(oomless.clone(x), same)
    # hardtanh_(0, 6) (ReLU6) -> hardtanh in place; values at and beyond both bounds
    y = (x * 4).clone()
    y[0, 0, 0, :3] = torch.tensor([0.0, 6.0, -0.0], dtype=dt)
    want = torch.nn.functional.relu6(y)
    assert torch.equal(oomless.hardtanh(y, 0.0, 6.0), want)
    # addmm(bias, x, w.t()) (Linear)
    a, w, b = torch.randn(3, 40).to(dt), torch.randn(10, 40).to(dt), torch.randn(10).to(dt)
    ref = (b.double() + a.double() @ w.double().t())
    got = oomless.addmm(b, a, w.t())
    err = (got.double() - ref).abs().max() / ref.abs().max()
    assert err <= (1e-6 if dtype == "f32" else 8e-3), err


# ---- end to end, once oomless.run_model exists (branch modelrun) ---------------------

def _first_output(r):
    for key in ("value", "outputs", "output"):
        if hasattr(r, key):
            r = getattr(r, key)
            break
    if isinstance(r, (list, tuple)):
        r = r[0]
    return torch.as_tensor(r)


RUNS = [("resnet_mini", "f32", False), ("resnet_mini", "bf16", True),
        ("mobilenet_mini", "f32", True), ("mobilenet_mini", "bf16", False),
        ("efficientnet_b0", "f32", True)]


@pytest.mark.skipif(not hasattr(oomless, "run_model"),
                    reason="oomless.run_model is not built yet (issue 13, branch modelrun); "
                           "these end-to-end runs turn on when it is")
@pytest.mark.parametrize("name,dtype,channels_last", RUNS)
def test_run_model_equals_torch(name, dtype, channels_last):
    """oomless's forward is as close to float64 as torch's own forward in the same
    dtype (twice its error at most, or 16 ulp of the output scale)."""
    dt = DTYPES[dtype]
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    torch.manual_seed(0)
    m = classifier(name, 10)
    _randomize_bn(m)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        m = m.to(dt)
        ref = m.double()(x.to(dt).double())
        m = m.to(dt, memory_format=fmt)
        xt = x.to(dt).contiguous(memory_format=fmt)
        mine = m(xt)
        got = _first_output(oomless.run_model(m, xt))
    assert got.shape == mine.shape and got.dtype == dt
    scale = ref.abs().max()
    err_torch = (mine.double() - ref).abs().max() / scale
    err = (got.double() - ref).abs().max() / scale
    assert err <= max(2 * err_torch, 16 * torch.finfo(dt).eps), (float(err), float(err_torch))
