"""oomless.trace / oomless.Graph / python3 -m oomless.export: graph files as
docs/graph-format.md specifies them. The strongest check runs a saved file's
nodes with torch's aten ops (graph_torch.py, reading only the file) and
compares with the model's own output, bit for bit."""
import json
import os
import struct
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
oomless = pytest.importorskip("oomless")
from oomless import Graph, GraphError, TraceError  # noqa: E402
from oomless.models import tiny_classifier, yolov12  # noqa: E402

import graph_torch  # noqa: E402

# aten ops of YOLOv12x with decode, as the facts sheet lists them (make_fx, torch 1.13),
# less the 205 unused aten.empty.memory_format (batch norm's reserve) the tracer drops
YOLOV12X_OPS = {
    "aten.convolution.default": 212, "aten.native_batch_norm.default": 205,
    "aten.silu_.default": 141, "aten.add.Tensor": 82,
    "aten.mul.Tensor": 19, "aten.sub.Tensor": 2, "aten.div.Tensor": 1, "aten.cat.default": 32,
    "aten.split.Tensor": 4, "aten.split_with_sizes.default": 17, "aten.transpose.int": 51,
    "aten.permute.default": 80, "aten.view.default": 32, "aten._reshape_alias.default": 88,
    "aten._unsafe_view.default": 80, "aten.expand.default": 70, "aten.clone.default": 72,
    "aten.bmm.default": 32, "aten._softmax.default": 17, "aten.upsample_nearest2d.vec": 2,
    "aten.sigmoid.default": 1, "aten.unsqueeze.default": 1, "aten.stack.default": 3,
    "aten.arange.default": 6, "aten.full.default": 3,
}
# Without decode (measured): the anchors, DFL and box ops go; the sheet says 211 convolutions
# and no sub/div/sigmoid/stack/arange/full.
YOLOV12X_RAW_OPS = {
    **{k: v for k, v in YOLOV12X_OPS.items() if k not in (
        "aten.sub.Tensor", "aten.div.Tensor", "aten.sigmoid.default", "aten.stack.default",
        "aten.arange.default", "aten.full.default", "aten.unsqueeze.default")},
    "aten.convolution.default": 211, "aten.add.Tensor": 74, "aten.mul.Tensor": 18,
    "aten.cat.default": 27, "aten.split.Tensor": 3, "aten.split_with_sizes.default": 16,
    "aten.transpose.int": 48, "aten.view.default": 18, "aten.expand.default": 64,
    "aten._softmax.default": 16,
}


def _strict_json(text):
    def no_constant(c):
        raise AssertionError(f"non-standard JSON constant {c}")

    return json.loads(text, parse_constant=no_constant)


def _ops(graph):
    return [n["op"].split(".")[1] for n in graph.nodes]


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    m = tiny_classifier()
    x = torch.randn(2, 3, 32, 32)
    return m, x, oomless.trace(m, x)


def test_tiny_graph_nodes_args_aliases(tiny):
    _, _, g = tiny
    assert g.model == "TinyClassifier" and g.dtype == "f32" and len(g) == 15
    assert _ops(g) == ["convolution", "native_batch_norm", "relu_", "max_pool2d_with_indices",
                       "convolution", "native_batch_norm", "relu_", "convolution",
                       "native_batch_norm", "add", "relu_", "mean", "_reshape_alias", "t", "addmm"]
    assert g.op_counts()["aten.convolution.default"] == 3 and g.op_counts()["aten.addmm.default"] == 1
    assert g.inputs == [{"name": "x", "shape": [2, 3, 32, 32], "dtype": "f32",
                         "stride": [3072, 1024, 32, 1]}]
    assert g.outputs == ["addmm"] and g.tensor("addmm")["shape"] == [2, 10]
    assert [p["name"] for p in g.params[:3]] == ["conv1.weight", "bn1.weight", "bn1.bias"]
    kinds = {p["name"]: p["kind"] for p in g.params}
    assert kinds["bn1.running_var"] == "buffer" and kinds["fc.bias"] == "parameter"
    assert g.tensor("bn1.num_batches_tracked")["dtype"] == "i64"

    conv = g.node("convolution")
    assert conv["inputs"] == ["x", "conv1.weight"]
    assert conv["args"] == {"bias": None, "stride": [2, 2], "padding": [1, 1], "dilation": [1, 1],
                            "transposed": False, "output_padding": [0, 0], "groups": 1}
    assert conv["outputs"][0]["shape"] == [2, 8, 16, 16] and conv["module"] == "conv1"
    bn = g.node("native_batch_norm")
    assert bn["inputs"] == ["convolution", "bn1.weight", "bn1.bias", "bn1.running_mean",
                            "bn1.running_var"]
    assert bn["args"] == {"training": False, "momentum": 0.1, "eps": 1e-5}
    assert [o["name"] for o in bn["outputs"]] == [f"native_batch_norm.{i}" for i in range(3)]
    pool = g.node("max_pool2d_with_indices")
    assert pool["args"] == {"kernel_size": [3, 3], "stride": [2, 2], "padding": [1, 1],
                            "dilation": [1, 1], "ceil_mode": False}
    # the unused indices output is still listed
    assert pool["outputs"][1] == {"name": "max_pool2d_with_indices.1", "shape": [2, 8, 8, 8],
                                  "dtype": "i64", "stride": [512, 64, 8, 1], "alias_of": None}
    assert g.node("mean")["args"] == {"dim": [-1, -2], "keepdim": True, "dtype": None}
    assert g.node("addmm")["inputs"] == ["fc.bias", "_reshape_alias", "t"]
    assert g.node("addmm")["args"] == {"beta": 1, "alpha": 1}
    alias = {n["name"]: n["outputs"][0]["alias_of"] for n in g.nodes}
    assert alias["relu_"] == "native_batch_norm.0" and alias["relu__2"] == "add"
    assert alias["t"] == "fc.weight" and alias["_reshape_alias"] == "mean"
    assert alias["convolution"] is None and alias["add"] is None
    modules = {n["name"]: n["module"] for n in g.nodes}
    assert modules["relu_"] == "relu" and modules["t"] == "fc" and modules["native_batch_norm"] == "bn1"
    assert modules["add"] == ""  # the residual add is in the model's own forward


class _Views(torch.nn.Module):
    def forward(self, x):
        a, b = x.split(2, 1)
        y = torch.cat([b, a], 1) * 0.5
        y = y.transpose(1, 2).relu_()
        return y.add_(1.0), None, x.unsqueeze(0)


def test_scalars_lists_views_and_inplace():
    x = torch.randn(2, 4, 3)
    g = oomless.trace(_Views(), x)
    assert _ops(g) == ["split", "cat", "mul", "transpose", "relu_", "add_", "unsqueeze"]
    split = g.node("split")
    assert split["args"] == {"split_size": 2, "dim": 1}
    assert [(o["name"], o["alias_of"]) for o in split["outputs"]] == [("split.0", "x"), ("split.1", "x")]
    assert g.node("cat")["inputs"] == ["split.1", "split.0"] and g.node("cat")["args"] == {"dim": 1}
    assert g.node("mul")["inputs"] == ["cat"] and g.node("mul")["args"] == {"other": 0.5}
    add_ = g.node("add_")
    assert add_["args"] == {"other": 1.0, "alpha": 1} and add_["outputs"][0]["alias_of"] == "relu_"
    assert g.node("transpose")["outputs"][0]["stride"] == [12, 1, 3]
    assert g.outputs == ["add_", "unsqueeze"]  # the None is not a tensor
    want = _Views()(x.clone())
    got = graph_torch.run(g, [x.clone()], {})
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[2])


class _Dead(torch.nn.Module):
    def forward(self, x):
        y = x * 2
        z = y[0]
        x.sigmoid()  # read by nothing: dropped
        torch.empty(0, dtype=torch.uint8, device=x.device)  # dropped
        y.add_(1.0)  # read by nothing, but it writes y, which z views: kept
        return z


def test_unused_nodes_are_dropped_unless_they_write():
    x = torch.randn(2, 3)
    g = oomless.trace(_Dead(), x)
    assert _ops(g) == ["mul", "select", "add_"]
    assert g.outputs == ["select"]
    got = graph_torch.run(g, [x.clone()], {})
    assert torch.equal(got[0], x[0] * 2 + 1)


class _Index(torch.nn.Module):
    def forward(self, x, idx):
        return x[:, idx] + torch.tensor([1.0, float("inf")])


def test_optional_tensor_lists_and_constants(tmp_path):
    x, idx = torch.randn(3, 5), torch.tensor([4, 0])
    g = oomless.trace(_Index(), x, idx)  # torch.tensor in forward: not on meta, traced for real
    assert [i["name"] for i in g.inputs] == ["x", "idx"]
    index = g.node("index")
    assert index["inputs"] == ["slice_1", "idx"] and index["args"] == {"indices": [None, "idx"]}
    assert g.constants == [{"name": "_tensor_constant0", "shape": [2], "dtype": "f32",
                            "stride": [1], "value": [1.0, "inf"]}]
    path = g.save(tmp_path / "index.graph.json")
    _strict_json(open(path).read())
    g2 = Graph.load(path)
    assert g2.data == g.data and g2.weights is None
    assert torch.equal(graph_torch.run(g2, [x, idx], {})[0], _Index()(x, idx))
    with pytest.raises(TraceError, match=r"^_Index: make_fx could not trace the model \(on meta "
                       r"tensors: RuntimeError: Expected all tensors to be on the same device"):
        oomless.trace(_Index(), x.to("meta"), idx.to("meta"))


def _randomize_bn(m):
    for bn in m.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            bn.running_mean.normal_(0, 0.2)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.normal_(0, 0.2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_saved_yolov12n_reproduces_the_model(tmp_path, dtype):
    """Save, load, run the file's nodes on the saved weights: the model's output exactly."""
    torch.manual_seed(1)
    m = yolov12("n")
    _randomize_bn(m)
    m = m.to(dtype)
    x = torch.randn(1, 3, 64, 96, dtype=dtype)
    with torch.no_grad():
        want = m(x)
    g = oomless.trace(m, x)
    path = g.save(tmp_path / "y.graph.json")
    assert g.weights == "y.safetensors" and os.path.exists(tmp_path / "y.safetensors")
    g2 = Graph.load(path)
    assert g2.data == _strict_json(open(path).read()) == g.data
    weights = g2.load_weights()
    state = {**dict(m.named_parameters()), **dict(m.named_buffers())}
    assert list(weights) == list(state) == [p["name"] for p in g2.params]
    for k, v in state.items():
        assert weights[k].dtype == v.dtype and torch.equal(weights[k], v.detach()), k
    with torch.no_grad():
        (got,) = graph_torch.run(g2, [x], weights)
    assert got.shape == (1, 84, 96 + 24 + 6) and torch.equal(got, want)
    assert sum(p.numel() for p in m.parameters()) == sum(
        torch.Size(p["shape"]).numel() for p in g2.params if p["kind"] == "parameter")


def test_tiny_saved_graph_reproduces_the_model(tiny, tmp_path):
    m, x, g = tiny
    g.save(tmp_path / "tiny.graph.json")
    g2 = Graph.load(tmp_path / "tiny.graph.json")
    with torch.no_grad():
        assert torch.equal(graph_torch.run(g2, [x], g2.load_weights())[0], m(x))


class _Bits(torch.nn.Module):
    def __init__(self, bf16, f32):
        super().__init__()
        self.a = torch.nn.Parameter(bf16, requires_grad=False)
        self.register_buffer("b", f32)

    def forward(self, x):
        return x + self.a.sum() + self.b.sum()


def test_weights_round_trip_bit_exact(tmp_path):
    """Every bf16 bit pattern (NaN payloads, infinities, -0, subnormals) and random f32
    bits survive the safetensors file; its layout is checked by hand too."""
    bf16 = torch.arange(-32768, 32768, dtype=torch.int32).to(torch.int16).view(torch.bfloat16)
    f32 = torch.randint(-2**31, 2**31 - 1, (4, 1000), generator=torch.Generator().manual_seed(0),
                        dtype=torch.int32).view(torch.float32)
    g = oomless.trace(_Bits(bf16.view(256, 256), f32), torch.zeros(1))
    g.save(tmp_path / "bits.graph.json")
    w = Graph.load(tmp_path / "bits.graph.json").load_weights()
    assert torch.equal(w["a"].view(torch.int16), bf16.view(torch.int16).view(256, 256))
    assert torch.equal(w["b"].view(torch.int32), f32.view(torch.int32))
    raw = open(tmp_path / "bits.safetensors", "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    assert n % 8 == 0 and header["__metadata__"] == {"format": "pt"}
    assert header["a"] == {"dtype": "BF16", "shape": [256, 256], "data_offsets": [0, 131072]}
    assert header["b"] == {"dtype": "F32", "shape": [4, 1000], "data_offsets": [131072, 147072]}
    assert len(raw) == 8 + n + 147072
    assert raw[8 + n:8 + n + 4] == struct.pack("<hh", -32768, -32767)  # little-endian bits


@pytest.fixture(scope="module")
def yolov12x_meta():
    return yolov12("x").to(device="meta", dtype=torch.bfloat16)


def test_yolov12x_640_op_counts(yolov12x_meta):
    m = yolov12x_meta
    x = torch.empty(1, 3, 640, 640, device="meta", dtype=torch.bfloat16)
    g = oomless.trace(m, x)
    assert g.op_counts() == YOLOV12X_OPS and len(g) == 1253
    assert g.weights is None and g.weight_values is None
    assert g.outputs == ["cat_31"] and g.tensor("cat_31")["shape"] == [1, 84, 8400]
    assert sum(torch.Size(p["shape"]).numel() for p in g.params if p["kind"] == "parameter") == (
        59_210_784)
    assert g.node("convolution")["module"] == "model.0.conv"
    assert g.node("silu_")["module"] == "model.0.act"
    assert g.node("bmm")["module"] == "model.6.m.0.0.attn"
    assert g.node("_softmax_16")["module"] == "model.21.dfl"
    assert g.node("mul")["args"] == {"other": 32 ** -0.5}
    m.model[21].decode = False
    try:
        raw = oomless.trace(m, x)
    finally:
        m.model[21].decode = True
    assert raw.op_counts() == YOLOV12X_RAW_OPS
    assert [raw.tensor(o)["shape"] for o in raw.outputs] == [
        [1, 144, 80, 80], [1, 144, 40, 40], [1, 144, 20, 20]]


def test_export_yolov12x_4k_meta(tmp_path, capsys):
    from oomless import export

    out = tmp_path / "yolov12x-2176x3840.graph.json"
    assert export.main(["yolov12", "--scale", "x", "--imgsz", "2176,3840", "--dtype", "bf16",
                        "--meta", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "built yolov12x (59,210,784 parameters, bf16, meta)" in text
    assert "traced input [1, 3, 2176, 3840]: 1253 nodes" in text
    assert os.listdir(tmp_path) == [out.name]  # meta: no weights file
    g = Graph.load(out)
    assert g.model == "YOLOv12x" and g.op_counts() == YOLOV12X_OPS
    assert g.node("convolution")["outputs"][0]["shape"] == [1, 96, 1088, 1920]
    scores = [n["outputs"][0]["shape"] for n in g.nodes if n["op"] == "aten.bmm.default"][::2]
    assert scores == [[48, 8160, 8160]] * 8 + [[12, 8160, 8160]] * 8  # layers 6 and 8
    assert g.tensor(g.outputs[0])["shape"] == [1, 84, 171360]


def test_export_channels_last_and_batch(tmp_path, capsys):
    from oomless import export

    out = tmp_path / "n.graph.json"
    export.main(["yolov12", "--scale", "n", "--imgsz", "64", "--batch", "2", "--channels-last",
                 "--no-decode", "--dtype", "f32", "-o", str(out)])
    assert "n.safetensors" in capsys.readouterr().out
    g = Graph.load(out)
    assert g.inputs[0]["shape"] == [2, 3, 64, 64] and g.inputs[0]["stride"] == [12288, 1, 192, 3]
    assert g.tensor("model.1.conv.weight")["stride"] == [144, 1, 48, 16]  # [32, 16, 3, 3] NHWC

    def nhwc(t):
        n, c, h, w = t["shape"]
        return t["stride"] == [h * w * c, 1, w * c, c]

    convs = [n["outputs"][0] for n in g.nodes if n["op"] == "aten.convolution.default"]
    assert len(convs) == 119 and all(nhwc(t) for t in convs)  # meta convolution keeps NHWC
    assert len(g.outputs) == 3 and sorted(g.load_weights()) == sorted(p["name"] for p in g.params)


def test_export_cli_help_and_bad_size():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    r = subprocess.run([sys.executable, "-m", "oomless.export", "--help"], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0 and "--channels-last" in r.stdout and "--imgsz H,W" in r.stdout
    r = subprocess.run([sys.executable, "-m", "oomless.export", "yolov12", "--imgsz", "64,x"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "--imgsz wants H,W or one size, got '64,x'" in r.stderr


class _Branchy(torch.nn.Module):
    def forward(self, x):
        return x * 2 if x.sum() > 0 else x - 1


def test_trace_errors():
    with pytest.raises(TraceError, match=r"^_Branchy: make_fx could not trace the model \(on meta "
                       r"tensors: RuntimeError: It appears that you're trying to get value out of a "
                       r"tracing tensor.*; on real tensors: RuntimeError: It appears"):
        oomless.trace(_Branchy(), torch.ones(3))
    conv = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3))
    with pytest.raises(TraceError, match=r"^Sequential: .*on real tensors: RuntimeError: Given "
                       r"groups=1, weight of size \[4, 3, 3, 3\], expected input\[1, 5, 8, 8\]"):
        oomless.trace(conv, torch.randn(1, 5, 8, 8))
    with pytest.raises(TypeError, match=r"\[trace\] Sequential: example input 1 is a float, not a "
                       r"torch.Tensor"):
        oomless.trace(conv, torch.randn(1, 3, 8, 8), 2.0)
    with pytest.raises(TypeError, match=r"\[trace\] Sequential: give at least one example input"):
        oomless.trace(conv)
    with pytest.raises(TypeError, match=r"\[trace\] the model must be a torch.nn.Module, got function"):
        oomless.trace(lambda x: x, torch.ones(1))
    with pytest.raises(ValueError, match=r"\[trace\] Sequential: example inputs mix the meta device"):
        oomless.trace(conv, torch.ones(1), torch.ones(1, device="meta"))


def _write(tmp_path, data):
    p = tmp_path / "bad.graph.json"
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(p)


def test_load_errors(tiny, tmp_path):
    good = tiny[2].data

    def broken(edit):
        d = json.loads(json.dumps(good))
        edit(d)
        return _write(tmp_path, d)

    def load(path):
        return Graph.load(path)

    p = _write(tmp_path, "{not json")
    with pytest.raises(GraphError, match=r"bad.graph.json: not a graph file: not JSON \(Expecting"):
        load(p)
    with pytest.raises(GraphError, match=r"not an oomless graph \(format 'onnx', expected 'oomless-graph'\)"):
        load(broken(lambda d: d.update(format="onnx")))
    with pytest.raises(GraphError, match=r"graph format version 2 is not supported \(this reader "
                       r"knows version 1\)"):
        load(broken(lambda d: d.update(version=2)))
    with pytest.raises(GraphError, match=r"missing 'nodes'"):
        load(broken(lambda d: d.pop("nodes")))
    with pytest.raises(GraphError, match=r"node 'convolution' uses 'conv9.weight', which is not "
                       r"defined before it"):
        load(broken(lambda d: d["nodes"][0]["inputs"].__setitem__(1, "conv9.weight")))
    with pytest.raises(GraphError, match=r"node 'convolution' uses 'relu_', which is not defined "
                       r"before it"):  # defined, but later
        load(broken(lambda d: d["nodes"][0]["inputs"].__setitem__(0, "relu_")))
    with pytest.raises(GraphError, match=r"node 'relu_': output 'convolution' is already defined "
                       r"\(by node 'convolution'\)"):
        load(broken(lambda d: d["nodes"][2]["outputs"][0].update(name="convolution")))
    with pytest.raises(GraphError, match=r"param 'x' is already defined \(by input 'x'\)"):
        load(broken(lambda d: d["params"][0].update(name="x")))
    with pytest.raises(GraphError, match=r"node 'relu_': output 'relu_' is an alias of 'x', which "
                       r"is not one of its inputs"):
        load(broken(lambda d: d["nodes"][2]["outputs"][0].update(alias_of="x")))
    with pytest.raises(GraphError, match=r"graph output 'logits' is not defined"):
        load(broken(lambda d: d.update(outputs=["logits"])))
    with pytest.raises(GraphError, match=r"node 'mean': output 'mean' has no shape"):
        load(broken(lambda d: d["nodes"][11]["outputs"][0].pop("shape")))
    with pytest.raises(GraphError, match=r"\[graph\] .*no weights \(a meta-device trace\)"):
        load(broken(lambda d: d.pop("weights", None))).load_weights()
