"""Whole models run with data (oomless.run_model, oomless model run): every
program verified against the slow exact reference on a sample, the measured
peaks equal to the plan's, the output equal to the torch module's forward;
bad weights and inputs exit 2 naming the tensor, nothing left in --output."""
import json
import os
import subprocess

import numpy as np
import pytest

torch = pytest.importorskip("torch")
oomless = pytest.importorskip("oomless")
from oomless.graph import write_safetensors  # noqa: E402
from oomless.models import MODELS  # noqa: E402

BIN = os.environ.get("OOMLESS_BIN")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MINI = os.path.join(REPO, "tests", "data", "graphs", "mini_yolo.graph.json")


def yolo(scale, dtype, size=640, decode=True):
    """YOLOv12 with seeded random weights and nontrivial batch norm statistics."""
    torch.manual_seed(0)
    m = MODELS["yolov12"](scale=scale, decode=decode).eval()
    g = torch.Generator().manual_seed(1)
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            c = mod.num_features
            mod.running_mean.copy_(torch.rand(c, generator=g) * 0.2 - 0.1)
            mod.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            mod.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
            mod.bias.data.copy_(torch.rand(c, generator=g) * 0.2 - 0.1)
    m = m.to(dtype=dtype, memory_format=torch.channels_last)
    x = torch.rand(1, 3, size, size, generator=g).to(dtype)
    return m, x.contiguous(memory_format=torch.channels_last)


def tolerance(dtype, depth, scale):
    """Error bound of a forward `depth` convolutions deep, at the output's scale:
    per layer one bf16 ulp (2^-8) for bf16, 2^-20 for f32 (a few f32 roundings;
    torch's own f32 forward is within 1e-7 of float64)."""
    unit = 2.0 ** -8 if dtype == torch.bfloat16 else 2.0 ** -20
    return unit * depth * scale


F32_GAP = pytest.mark.xfail(
    strict=True, raises=AssertionError,
    reason="open (issue 13): f32 end to end is ~1e-3 of the scale off torch although every "
    "program passes its check and single ops are within 1e-6 of float64")


@pytest.mark.parametrize("scale,dtype", [pytest.param("n", torch.float32, marks=F32_GAP),
                                         ("n", torch.bfloat16)])
def test_yolov12_640_every_program_verified_and_equal_to_torch(scale, dtype):
    m, x = yolo(scale, dtype)
    with torch.no_grad():
        want = m(x)
    r = oomless.run_model(m, x, verify="sample", samples=8)
    rep = r.report
    assert rep["failed"] == 0, rep["first_failure"]
    assert rep["verified_programs"] == rep["programs"] > 400
    assert rep["peaks_match"], (rep["planned"], rep["measured"])
    assert rep["measured"]["l1_per_bank"] == rep["planned"]["l1_per_bank"]
    # The decode's anchors (arange, full) have no oomless kernel: torch runs them.
    assert any(n.startswith("arange") for n in rep["host_fallback"])
    got = r.outputs[0]
    assert got.shape == want.shape
    depth = sum(1 for n in r.graph.nodes if n["op"] == "aten.convolution.default")
    err = (got.float() - want.float()).abs().max().item()
    tol = tolerance(dtype, depth, want.float().abs().max().item())
    assert err <= tol, (err, tol)


@pytest.mark.skipif(not BIN or not os.path.exists(BIN), reason="OOMLESS_BIN not set")
class TestCli:
    def run(self, *args):
        return subprocess.run([BIN, "model", "run", *args], capture_output=True, text=True,
                              timeout=300)

    def test_mini_run_writes_outputs_and_peaks_equal_plan(self, tmp_path):
        out = tmp_path / "out"
        r = self.run(MINI, "--l1-budget", "4MB", "--output", str(out), "--json")
        assert r.returncode == 0, r.stderr
        j = json.loads(r.stdout)
        assert j["peaks_match"] and j["verify"]["failed"] == 0
        assert j["planned"] == {k: j["measured"][k] for k in j["planned"]}
        assert sorted(os.listdir(out)) == sorted(["run.json"] + [
            n + ".npy" for n in json.load(open(MINI))["outputs"]])
        y = np.load(out / (json.load(open(MINI))["outputs"][0] + ".npy"))
        assert y.size > 0 and np.isfinite(y).all()

    def test_bad_weights_name_shape_and_missing_file_exit_2(self, tmp_path):
        g = json.load(open(MINI))
        p = g["params"][0]
        out = tmp_path / "out"
        bad = tmp_path / "bad.safetensors"
        write_safetensors(str(bad), {"no.such.weight": torch.zeros(2)})
        r = self.run(MINI, "--weights", str(bad), "--output", str(out))
        assert r.returncode == 2 and "'no.such.weight' is not a param" in r.stderr
        write_safetensors(str(bad), {p["name"]: torch.zeros(3, 5)})
        r = self.run(MINI, "--weights", str(bad), "--output", str(out))
        assert r.returncode == 2 and p["name"] in r.stderr and "[3,5]" in r.stderr
        r = self.run(MINI, "--weights", str(tmp_path / "missing.safetensors"))
        assert r.returncode == 2 and "missing.safetensors" in r.stderr
        assert not out.exists()

    def test_bad_input_shape_exit_2(self, tmp_path):
        g = json.load(open(MINI))
        name = g["inputs"][0]["name"]
        x = tmp_path / "x.npy"
        np.save(x, np.zeros((1, 3, 7, 7), np.float32))
        out = tmp_path / "out"
        r = self.run(MINI, "--input", str(x), "--output", str(out))
        assert r.returncode == 2 and name in r.stderr and "[1,3,7,7]" in r.stderr
        np.save(x, np.zeros(g["inputs"][0]["shape"], np.int32))
        r = self.run(MINI, "--input", str(x), "--output", str(out))
        assert r.returncode == 2 and "dtype int32" in r.stderr
        assert not out.exists()

    def test_host_ops_need_python(self, tmp_path):
        m, x = yolo("n", torch.float32, size=64)
        with torch.no_grad():
            g = oomless.trace(m, x)
        path = str(tmp_path / "n.graph.json")
        g.save(path)
        r = self.run(path)
        assert r.returncode == 2
        assert "needs Python" in r.stderr and "arange (aten.arange.default)" in r.stderr
