"""oomless model query|plan end to end: exit codes, the JSON contract, bad graph
files, the report files, and a graph traced here with make_fx (torch) read back."""
import json
import os
import subprocess

import pytest

BIN = os.environ.get("OOMLESS_BIN")
pytestmark = pytest.mark.skipif(not BIN or not os.path.exists(BIN), reason="OOMLESS_BIN not set")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GRAPHS = os.path.join(REPO, "tests", "data", "graphs")


def cli(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=600)


def graph(name):
    return os.path.join(GRAPHS, name)


def test_query_first_oom_exit_3_with_tt_metals_message():
    r = cli("model", "query", graph("l1_oom.graph.json"), "--json")
    assert r.returncode == 3, r.stderr
    j = json.loads(r.stdout)
    assert j["fits"] is False
    # [1,1,8192,4096] bf16: 32768 tiles, 512 per bank of 64.
    assert j["first_oom"] == {
        "node": "relu", "index": 0, "op": "aten.relu.default", "tensor": "relu",
        "status": "FAIL_L1_OUT_OF_MEM",
        "message": "Out of Memory: Not enough space to allocate 67108864 B L1 buffer across 64 "
                   "banks, where each bank needs to store 1048576 B",
        "detail": "Out of Memory: Not enough space to allocate 67108864 B L1 buffer across 64 "
                  "banks, where each bank needs to store 1048576 B, but bank size is 1400032 B "
                  "(allocated: 1048576 B, free: 351456 B, largest free block: 351456 B)"}
    assert j["unsupported"] == {"aten.empty.memory_format": 1}
    assert [n["name"] for n in j["nodes"]] == ["relu", "softmax", "empty", "add"]
    # In DRAM everything fits.
    r = cli("model", "query", graph("l1_oom.graph.json"), "--memory", "dram", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["first_oom"] is None


def test_query_all_lists_every_failing_node():
    r = cli("model", "query", graph("l1_oom.graph.json"), "--all", "--json")
    assert r.returncode == 3
    fails = json.loads(r.stdout)["strict"]["failures"]
    assert [f["node"] for f in fails] == ["relu", "softmax", "add"]
    assert "first OOM at relu" in cli("model", "query", graph("l1_oom.graph.json")).stdout


def test_plan_json_contract_and_traffic_ordering():
    r = cli("model", "plan", graph("mini_yolo.graph.json"), "--l1-budget", "4MB", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["fits"] is True
    for key in ("first_oom", "peak_l1_per_bank", "peak_dram_per_bank", "traffic", "nodes",
                "unsupported", "chains", "policies"):
        assert key in j, key
    assert j["peak_l1_per_bank"] <= (4 << 20) // 64
    t = {k: v["total"] for k, v in j["traffic"].items()}
    assert t["auto"] < t["greedy_l1"] <= t["all_dram"], t
    assert len(j["nodes"]) == 188
    for n in j["nodes"]:
        assert {"name", "op", "strategy", "placement"} <= n.keys()
    strategies = {n["strategy"] for n in j["nodes"]}
    assert "chain" in strategies and "host op" in strategies
    assert j["unsupported"] == {"aten.empty.memory_format": 27}


def test_plan_chains_attention_under_a_small_l1():
    r = cli("model", "plan", graph("attention.graph.json"), "--l1-budget", "8MB", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    chain = next(c for c in j["chains"] if "bmm" in c["nodes"])
    assert {"bmm", "mul", "_softmax", "bmm_1"} <= set(chain["nodes"])
    assert chain["chunks"] > 1 and chain["largest_whole_bytes"] == 2 * 1024 * 1024 * 2
    best = j["policies"][2]
    assert best["policy"] == "auto" and best["largest_buffer_bytes"] < chain["largest_whole_bytes"]


@pytest.mark.parametrize("mutate,expected", [
    (lambda d: d.update(format="onnx"), 'format is "onnx"'),
    (lambda d: d.update(version=7), "format version 7 is not supported"),
    (lambda d: d["nodes"][0].update(inputs=["nope"]), "node 'relu' (aten.relu.default): input 'nope' is not a known tensor"),
    (lambda d: d["nodes"][0]["outputs"][0].update(shape=[1, 1, 64, 65]), "output 'relu' has shape [1,1,64,65]"),
])
def test_bad_graph_exits_2_naming_node_and_value(tmp_path, mutate, expected):
    d = json.load(open(graph("small_chain.graph.json")))
    mutate(d)
    p = tmp_path / "bad.graph.json"
    p.write_text(json.dumps(d))
    for sub in ("query", "plan"):
        r = cli("model", sub, str(p))
        assert r.returncode == 2, r.stdout + r.stderr
        assert expected in r.stderr, r.stderr
    p.write_text("{not json")
    r = cli("model", "query", str(p))
    assert r.returncode == 2 and "not valid JSON" in r.stderr


def test_out_writes_the_four_reports(tmp_path):
    out = tmp_path / "rep"
    r = cli("model", "plan", graph("attention.graph.json"), "--l1-budget", "8MB", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(out)) == ["plan.json", "report.html", "report.md", "summary.txt"]
    assert json.loads((out / "plan.json").read_text())["fits"] is True
    summary = (out / "summary.txt").read_text()
    assert "auto plan" in summary and "traffic" in summary and "chains chunked together" in summary
    md = (out / "report.md").read_text()
    assert md.startswith("# oomless model plan: attention on wormhole_b0")
    assert "| bmm |" in md or "`bmm`" in md


def test_make_fx_trace_round_trips(tmp_path):
    """A graph written here from a make_fx trace loads, and its shapes are the op
    table's: the C++ infer agrees with torch on every lowered node."""
    torch = pytest.importorskip("torch")
    from torch.fx.experimental.proxy_tensor import make_fx

    def f(x, w):
        y = torch.nn.functional.conv2d(x, w, padding=1)
        y = torch.nn.functional.silu(y)
        return torch.softmax(y.flatten(2), -1).transpose(1, 2)

    x = torch.randn(1, 4, 16, 16, dtype=torch.bfloat16)
    w = torch.randn(8, 4, 3, 3, dtype=torch.bfloat16)
    g = make_fx(f)(x, w)
    names, nodes = {}, []
    ph = [n for n in g.graph.nodes if n.op == "placeholder"]
    names[ph[0]], names[ph[1]] = "x", "w"
    dt = {torch.bfloat16: "bf16", torch.float32: "f32"}
    for n in g.graph.nodes:
        if n.op != "call_function":
            continue
        schema = n.target._schema
        ins, args = [], {}
        for i, a in enumerate(schema.arguments):
            v = n.args[i] if i < len(n.args) else n.kwargs.get(a.name, a.default_value if a.has_default_value() else None)
            if isinstance(v, torch.fx.Node):
                ins.append(names[v])
            elif "Tensor" in str(a.type) and v is None:
                args[a.name] = None
            elif not isinstance(v, (torch.memory_format, torch.dtype, torch.device)):
                args[a.name] = list(v) if isinstance(v, (list, tuple)) else v
        t = n.meta["tensor_meta"]
        names[n] = n.name
        alias = names[n.args[0]] if schema.returns[0].alias_info is not None else None
        nodes.append({"name": n.name, "op": str(n.target), "inputs": ins, "args": args,
                      "outputs": [{"name": n.name, "shape": list(t.shape), "dtype": dt[t.dtype],
                                   "stride": list(t.stride), "alias_of": alias}]})
    doc = {"format": "oomless-graph", "version": 1, "model": "f",
           "inputs": [{"name": "x", "shape": [1, 4, 16, 16], "dtype": "bf16", "stride": [1024, 256, 16, 1]}],
           "params": [{"name": "w", "shape": [8, 4, 3, 3], "dtype": "bf16", "stride": [36, 9, 3, 1],
                       "kind": "parameter"}],
           "nodes": nodes, "outputs": [nodes[-1]["name"]]}
    p = tmp_path / "f.graph.json"
    p.write_text(json.dumps(doc))
    r = cli("model", "plan", str(p), "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert [n["lowered_to"] for n in j["nodes"]] == ["convolution", "silu", "view", "softmax", "transpose"]
    assert j["unsupported"] == {}
