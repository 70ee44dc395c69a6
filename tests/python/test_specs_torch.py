"""Output specs of `oomless query` against PyTorch (torch 1.13 aten ops).

For every one of the 46 seed operators and convolution, several shape/argument
cases: torch computes the true output shapes on small tensors, and
`$OOMLESS_BIN query <op> ... --json` must report the same number of outputs
with the same shapes (and float32 for value outputs). Bad arguments must exit with status 2 and print a message that
names the op.

Run with /usr/bin/python3 (torch 1.13) and OOMLESS_BIN=build/oomless.
"""
import json
import math
import os
import subprocess

import pytest

torch = pytest.importorskip("torch")

BIN = os.environ.get("OOMLESS_BIN")
if not BIN:
    pytest.skip("OOMLESS_BIN is not set; point it at the oomless CLI (e.g. build/oomless)",
                allow_module_level=True)
if not (os.path.isfile(BIN) and os.access(BIN, os.X_OK)):
    pytest.skip(f"OOMLESS_BIN={BIN} is not an executable file; build the CLI first",
                allow_module_level=True)

A = torch.ops.aten


def fmt_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(str(int(x)) for x in v) + "]"
    if isinstance(v, float):
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    return str(v)


def fmt_shape(s):
    # "3,5,7"; a 0-d tensor is "()" (CLI11 reads "[...]" as its own list syntax).
    return ",".join(str(d) for d in s) if len(s) else "()"


def run_query(op, shapes, args):
    cmd = [BIN, "query", op]
    for s in shapes:
        cmd += ["--shape", fmt_shape(s)]
    for k, v in args.items():
        cmd += ["--arg", f"{k}={fmt_value(v)}"]
    cmd += ["--dtype", "f32", "--layout", "tile", "--memory", "dram", "--json"]
    return cmd, subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def rand(*shapes):
    return [torch.randn(*s) if len(s) else torch.randn(()) for s in shapes]


def torch_shapes(result):
    if isinstance(result, torch.Tensor):
        result = [result]
    return [list(t.shape) for t in result], [t.dtype for t in result]


# (op, input shapes, oomless args, torch function of the input tensors)
CASES = []


def case(op, shapes, args, fn):
    CASES.append(pytest.param(op, shapes, args, fn, id=f"{op}-{len(CASES)}"))


UNARY_SHAPES = [(3, 5, 7), (1, 33, 65), (), (0, 4), (2, 1, 3, 4, 5)]
UNARY = [
    ("relu", {}, lambda x: A.relu(x)),
    ("sigmoid", {}, lambda x: A.sigmoid(x)),
    ("silu", {}, lambda x: A.silu(x)),
    ("silu_inplace", {}, lambda x: A.silu_(x.clone())),
    ("tanh", {}, lambda x: A.tanh(x)),
    ("mish", {}, lambda x: A.mish(x)),
    ("softplus", {"beta": 2.0, "threshold": 10.0}, lambda x: A.softplus(x, 2.0, 10.0)),
    ("hardtanh", {"min_val": -0.5, "max_val": 2.0}, lambda x: A.hardtanh(x, -0.5, 2.0)),
    ("leakyrelu", {"negative_slope": 0.2}, lambda x: A.leaky_relu(x, 0.2)),
    ("gelu", {"approximate": "tanh"}, lambda x: A.gelu(x, approximate="tanh")),
    ("geluactivation", {}, lambda x: A.gelu(x)),
    ("log", {}, lambda x: A.log(x)),
    ("clamp", {"min": -1.0}, lambda x: A.clamp(x, -1.0)),
    ("clampmin", {"min": 0.5}, lambda x: A.clamp_min(x, 0.5)),
]
for name, args, fn in UNARY:
    for s in UNARY_SHAPES:
        case(name, [s], args, fn)
case("clamp", [(4, 5)], {"max": 1.0}, lambda x: A.clamp(x, None, 1.0))
case("clamp", [(4, 5)], {"min": -1.0, "max": 1.0}, lambda x: A.clamp(x, -1.0, 1.0))

BINARY_PAIRS = [((2, 1, 33), (5, 1)), ((), (4,)), ((0, 3), (1, 3)), ((3, 1, 4, 1, 6), (5, 1)),
                ((1, 96, 40, 33), (1, 96, 40, 33))]
for a, b in BINARY_PAIRS:
    case("add", [a, b], {}, lambda x, y: A.add.Tensor(x, y))
    case("sub", [a, b], {"alpha": 2.0}, lambda x, y: A.sub.Tensor(x, y, alpha=2.0))
    case("mul", [a, b], {}, lambda x, y: A.mul.Tensor(x, y))
    case("div", [a, b], {}, lambda x, y: A.div.Tensor(x, y))

for s, d in [((2, 33, 65), -1), ((2, 33, 65), 0), ((), 0), ((1, 12, 0, 40), 3), ((5,), -1),
             ((2, 3, 4, 5, 6), 2)]:
    case("softmax", [s], {"dim": d}, lambda x, d=d: A._softmax(x, d, False))

for s, dims, keep in [((2, 3, 4), [1], False), ((2, 3, 4), [1], True), ((2, 3, 4), [-1, 0], False),
                      ((0, 3), [0], False), ((), [0], True), ((1, 9, 33, 40), [2, 3], True)]:
    case("mean", [s], {"dim": dims, "keepdim": keep},
         lambda x, dims=dims, keep=keep: A.mean.dim(x, dims, keep))
case("mean", [(2, 3, 4)], {}, lambda x: A.mean(x))

for s, ord_, dims, keep in [((2, 3), 2.0, None, False), ((2, 3, 5), 1.0, [-2], False),
                            ((2, 3, 5), math.inf, [0, 2], True), ((0, 3), 0.0, [0], False),
                            ((4, 7), -math.inf, [1], False), ((3, 4), 3.5, None, True)]:
    args = {"ord": ord_, "keepdim": keep}
    if dims is not None:
        args["dim"] = dims
    case("linalgvectornorm", [s], args,
         lambda x, o=ord_, d=dims, k=keep: A.linalg_vector_norm(x, o, d, k))

BN_CASES = [
    ([(2, 3, 4, 5)], {}, True),
    ([(4, 3), (3,), (3,)], {}, True),
    ([(2, 3, 4, 5, 6), (3,), (3,), (3,), (3,)], {}, True),
    ([(2, 3, 4, 5), (3,), (3,), (3,), (3,)], {"training": False}, False),
    ([(1, 16, 9, 33), (16,), (16,), (16,), (16,)], {"training": False, "eps": 1e-3}, False),
]
for shapes, args, training in BN_CASES:
    def bn(*ts, training=training, eps=args.get("eps", 1e-5)):
        ts = list(ts) + [None] * (5 - len(ts))
        return A.native_batch_norm(ts[0], ts[1], ts[2], ts[3], ts[4], training, 0.1, eps)
    case("native_batch_norm", shapes, args, bn)

MP_CASES = [
    ((1, 3, 8, 9), {"kernel_size": [3], "padding": [1], "ceil_mode": True}),
    ((1, 3, 8, 9), {"kernel_size": [3, 2], "stride": [2], "padding": [1, 1], "ceil_mode": True}),
    ((0, 3, 8, 8), {"kernel_size": [2], "stride": [2]}),
    ((3, 8, 9), {"kernel_size": [2, 3], "stride": [2], "padding": [1], "dilation": [2]}),
    ((1, 1, 6, 6), {"kernel_size": [3], "stride": [3], "padding": [1], "ceil_mode": True}),
    ((2, 16, 65, 33), {"kernel_size": [5], "stride": [1], "padding": [2]}),
]
for s, args in MP_CASES:
    def mp(x, a=args):
        return A.max_pool2d_with_indices(x, a["kernel_size"], a.get("stride", []),
                                         a.get("padding", [0]), a.get("dilation", [1]),
                                         a.get("ceil_mode", False))
    case("maxpool2d", [s], args, mp)

UP_CASES = [
    ((1, 3, 8, 9), {"output_size": [16, 18]}, lambda x: A.upsample_nearest2d.vec(x, [16, 18], None)),
    ((1, 3, 8, 9), {"scale_factor": 2.0}, lambda x: A.upsample_nearest2d.vec(x, None, [2.0, 2.0])),
    ((1, 3, 8, 9), {"scale_factor": 1.5}, lambda x: A.upsample_nearest2d.vec(x, None, [1.5, 1.5])),
    ((2, 4, 10, 7), {"scale_factor": 0.3}, lambda x: A.upsample_nearest2d.vec(x, None, [0.3, 0.3])),
    ((0, 3, 8, 8), {"output_size": [5, 40]}, lambda x: A.upsample_nearest2d.vec(x, [5, 40], None)),
]
for s, args, fn in UP_CASES:
    case("upsample_nearest2d", [s], args, fn)

for s, k, d, largest in [((2, 3), 2, -1, True), ((4, 3, 5), 2, 0, False), ((4, 3, 5), 0, -2, True),
                         ((), 1, 0, True), ((1, 2, 33, 100), 40, -1, True)]:
    case("topk", [s], {"k": k, "dim": d, "largest": largest},
         lambda x, k=k, d=d, l=largest: A.topk(x, k, d, l, True))

for s, p, train in [((2, 33, 5), 0.2, True), ((0,), 1.0, False), ((3, 4), 0.0, True),
                    ((1, 2, 3, 4, 5), 0.5, True)]:
    case("dropout", [s], {"p": p, "train": train},
         lambda x, p=p, t=train: A.native_dropout(x, p, t))

for s, dims in [((2, 3, 5), [2, 0, 1]), ((1, 3, 40, 33), [0, 2, 3, 1]), ((2, 3, 5), [-1, 0, 1]),
                ((), [])]:
    case("permute", [s], {"dims": dims}, lambda x, d=dims: A.permute(x, d))
for s, d0, d1 in [((2, 3, 5), 0, -1), ((), 0, -1), ((4, 0), 1, 1), ((2, 3, 4, 5, 6), 1, 3)]:
    case("transpose", [s], {"dim0": d0, "dim1": d1},
         lambda x, a=d0, b=d1: A.transpose.int(x, a, b))
for s, size in [((2, 3), [-1]), ((2, 3), [3, -1]), ((0, 3), [-1, 3]), ((), [1, 1, -1]),
                ((1, 96, 40, 33), [96, -1])]:
    case("view", [s], {"size": size}, lambda x, z=size: A.view(x, z))
    case("unsafeview", [s], {"size": size}, lambda x, z=size: A._unsafe_view(x, z))
for s, d in [((2, 3), 2), ((2, 3), -1), ((2, 3), -3), ((), 0)]:
    case("unsqueeze", [s], {"dim": d}, lambda x, d=d: A.unsqueeze(x, d))
for s, size in [((2, 1), [3, 2, -1]), ((2, 1), [-1, 5]), ((2, 1), [2, 0]), ((), [4, 3])]:
    case("expand", [s], {"size": size}, lambda x, z=size: A.expand(x, z))
for s in [(2, 3), (), (0, 5), (1, 2, 3, 4, 5)]:
    case("clone", [s], {}, lambda x: A.clone(x))
    case("identity", [s], {}, lambda x: torch.nn.Identity()(x))
for a, b in [((2, 3), (3,)), ((2, 3), (2, 3)), ((4, 1, 3), (1, 3)), ((5,), ())]:
    case("copy", [a, b], {}, lambda x, y: A.copy(x, y))

CAT_CASES = [
    ([(2, 3), (2, 4)], 1), ([(2, 3), (2, 4), (2, 0)], -1), ([(2, 3), (5, 3)], 0),
    ([(2, 3), (0,)], 0), ([(0,), (0,)], 0), ([(1, 8, 40, 33), (1, 4, 40, 33)], 1),
]
for shapes, d in CAT_CASES:
    case("cat", shapes, {"dim": d}, lambda *ts, d=d: A.cat(list(ts), d))
    case("concat", shapes, {"dim": d}, lambda *ts, d=d: A.cat(list(ts), d))
for shapes, d in [([(2, 3), (2, 3)], 2), ([(2, 3)] * 3, -1), ([(), ()], 0), ([(0, 3)], 1)]:
    case("stack", shapes, {"dim": d}, lambda *ts, d=d: A.stack(list(ts), d))

for s, size, d in [((5, 2), 2, 0), ((5, 2), 7, 0), ((0, 2), 0, 0), ((3, 5), 2, -1),
                   ((1, 192, 8, 8), 96, 1)]:
    case("split", [s], {"split_size": size, "dim": d},
         lambda x, z=size, d=d: A.split.Tensor(x, z, d))
for s, sizes, d in [((5, 2), [2, 3], 0), ((5, 2), [5, 0], 0), ((2, 7, 3), [3, 4], -2),
                    ((0, 2), [], 0), ((1, 192, 8, 8), [96, 64, 32], 1)]:
    case("split_with_sizes", [s], {"split_sizes": sizes, "dim": d},
         lambda x, z=sizes, d=d: A.split_with_sizes(x, z, d))
    case("splitwithsizes", [s], {"sizes": sizes, "dim": d},
         lambda x, z=sizes, d=d: A.split_with_sizes(x, z, d))

for size in [[2, 3], [], [0, 5], [1, 2, 3, 4, 5]]:
    case("ones", [], {"size": size}, lambda z=size: A.ones(z))

for a, b in [((2, 3), (3, 5)), ((33, 0), (0, 65)), ((1, 100), (100, 47)), ((64, 96), (96, 48))]:
    case("mm", [a, b], {}, lambda x, y: A.mm(x, y))
for a, b in [((2, 3, 4), (2, 4, 5)), ((0, 3, 4), (0, 4, 5)), ((3, 33, 40), (3, 40, 1))]:
    case("bmm", [a, b], {}, lambda x, y: A.bmm(x, y))
for c, a, b, beta, alpha in [((5,), (2, 3), (3, 5), 0.5, 2.0), ((2, 1), (2, 3), (3, 5), 1.0, 1.0),
                             ((), (2, 3), (3, 5), 1.0, 1.0), ((40, 33), (40, 7), (7, 33), 0.0, 1.0)]:
    case("addmm", [c, a, b], {"beta": beta, "alpha": alpha},
         lambda z, x, y, be=beta, al=alpha: A.addmm(z, x, y, beta=be, alpha=al))
for shapes in [[(4, 5, 3), (6, 3)], [(4, 5, 3), (6, 3), (6,)], [(3,), (6, 3)], [(2, 3), (3,)],
               [(2, 3), (6, 3), (2, 6)], [(5, 4, 2, 3), (6, 3), (5, 4, 2, 6)], [(2, 0), (6, 0)]]:
    case("linear", shapes, {}, lambda *ts: A.linear(*ts))


# convolution (op 47, not a seed op): aten's output size, NCHW, channels-last,
# unbatched, groups, dilation, padding beyond the kernel's half.
for xs, ws, args in [((1, 3, 17, 15), (16, 3, 3, 3), {"stride": [2], "padding": [1]}),
                     ((2, 8, 9, 10), (12, 4, 3, 2), {"groups": 2, "dilation": [2, 1]}),
                     ((1, 6, 5, 7), (6, 1, 7, 7), {"groups": 6, "padding": [3]}),
                     ((1, 2, 4, 5), (3, 2, 3, 3), {"padding": [4], "stride": [3, 2]}),
                     ((0, 3, 5, 5), (4, 3, 1, 1), {}),
                     ((3, 10, 9), (4, 3, 3, 3), {"padding": [1]})]:
    def conv(x, w, a=args):
        p = lambda k, d: a.get(k, [d]) * (2 // len(a.get(k, [d])))  # noqa: E731
        unbatched = x.dim() == 3
        y = A.convolution(x[None] if unbatched else x, w, None, p("stride", 1), p("padding", 0),
                          p("dilation", 1), False, [0, 0], a.get("groups", 1))
        return y[0] if unbatched else y
    case("convolution", [xs, ws], args, conv)
    case("convolution", [xs, ws, (ws[0],)], args, lambda x, w, b, f=conv: f(x, w))
case("convolution", [(1, 11, 13, 3), (8, 3, 3, 3)], {"channels_last": True, "padding": [1]},
     lambda x, w: A.convolution(x.permute(0, 3, 1, 2), w, None, [1, 1], [1, 1], [1, 1], False,
                                [0, 0], 1).permute(0, 2, 3, 1))


def test_all_46_ops_are_covered():
    ops = {p.values[0] for p in CASES} - {"convolution"}  # op 47, not a seed op
    expected = {
        "relu", "sigmoid", "silu", "silu_inplace", "tanh", "mish", "softplus", "hardtanh",
        "leakyrelu", "gelu", "geluactivation", "log", "clamp", "clampmin", "add", "sub", "mul",
        "div", "softmax", "linalgvectornorm", "mean", "native_batch_norm", "maxpool2d",
        "upsample_nearest2d", "topk", "dropout", "permute", "transpose", "view", "unsafeview",
        "unsqueeze", "expand", "clone", "copy", "identity", "cat", "concat", "stack", "split",
        "split_with_sizes", "splitwithsizes", "ones", "mm", "bmm", "addmm", "linear",
    }
    assert len(expected) == 46
    assert ops == expected


@pytest.mark.parametrize("op,shapes,args,fn", CASES)
def test_output_shapes_match_torch(op, shapes, args, fn):
    inputs = rand(*shapes)
    want_shapes, want_dtypes = torch_shapes(fn(*inputs))
    cmd, p = run_query(op, shapes, args)
    assert p.returncode in (0, 3), f"{' '.join(cmd)}\nexit {p.returncode}\n{p.stderr}"
    got = json.loads(p.stdout)
    outs = got["outputs"]
    assert [o["shape"] for o in outs] == want_shapes, " ".join(cmd)
    for o, dt in zip(outs, want_dtypes):
        if dt == torch.float32:
            assert o["dtype"] == "float32", " ".join(cmd)
        elif dt == torch.int64:  # indices: int32 on the device
            assert o["dtype"] == "int32", " ".join(cmd)


ERROR_CASES = [
    ("add", [(2, 3), (4, 3)], {}, "[2,3]"),
    ("gelu", [(2, 3)], {"approximate": "fast"}, "fast"),
    ("clamp", [(2, 3)], {}, "min"),
    ("softmax", [(2, 3, 4)], {"dim": 3}, "dim 3"),
    ("mean", [(2, 3)], {"dim": [0, 0]}, "dim 0"),
    ("linalgvectornorm", [(0, 3)], {"ord": math.inf, "dim": [0]}, "inf"),
    ("native_batch_norm", [(2, 3, 4, 5), (4,)], {}, "[4]"),
    ("native_batch_norm", [(2, 3, 4, 5)], {"training": False}, "running_mean"),
    ("maxpool2d", [(1, 3, 8, 9)], {"kernel_size": [3], "padding": [2]}, "pad=2"),
    ("maxpool2d", [(1, 3, 8, 9)], {"kernel_size": [3, 2, 1]}, "[3,2,1]"),
    ("maxpool2d", [(1, 3, 8, 9)], {"kernel_size": [9], "stride": [1]}, "too small"),
    ("upsample_nearest2d", [(1, 3, 8, 9)], {"output_size": [16, 18], "scale_factor": 2.0},
     "exactly one"),
    ("upsample_nearest2d", [(3, 8, 8)], {"scale_factor": 2.0}, "[3,8,8]"),
    ("topk", [(2, 3)], {"k": 4}, "k = 4"),
    ("dropout", [(2, 3)], {"p": 1.5}, "1.5"),
    ("permute", [(2, 3)], {"dims": [0, 0]}, "[0,0]"),
    ("view", [(2, 3)], {"size": [4, -1]}, "[4,-1]"),
    ("expand", [(2, 3)], {"size": [2, 4]}, "(4)"),
    ("unsqueeze", [(2, 3)], {"dim": 3}, "dim 3"),
    ("cat", [(2, 3), (2, 4)], {"dim": 0}, "tensor number 1"),
    ("stack", [(2, 3), (2, 4)], {}, "[2,4]"),
    ("split", [(5, 2)], {"split_size": 0}, "split_size"),
    ("split_with_sizes", [(5, 2)], {"split_sizes": [2, 2]}, "[2,2]"),
    ("ones", [], {"size": [2, -1]}, "-1"),
    ("mm", [(2, 3), (4, 5)], {}, "2x3 and 4x5"),
    ("bmm", [(2, 3, 4), (3, 4, 5)], {}, "batch2"),
    ("addmm", [(3,), (2, 3), (3, 5)], {}, "(5)"),
    ("linear", [(4, 5, 3), (6, 4)], {}, "20x3 and 4x6"),
    ("convolution", [(1, 4, 5, 5), (2, 3, 3, 3)], {}, "got 4 channels"),
    ("convolution", [(1, 6, 5, 5), (6, 2, 3, 3)], {"groups": 4}, "divisible by 4"),
    ("convolution", [(1, 3, 5, 5), (4, 3, 3, 3)], {"stride": [0]}, "stride=[0, 0]"),
    ("convolution", [(1, 3, 2, 2), (4, 3, 3, 3)], {}, "(2 x 2)"),
    ("convolution", [(1, 3, 5, 5), (4, 3, 3, 3), (5,)], {}, "bias of size [5]"),
    ("convolution", [(1, 3, 5, 5), (4, 3, 3, 3)], {"transposed": True}, "transposed"),
    ("relu", [(2, 3)], {"bogus": 1}, "bogus"),
    ("no_such_op", [(2, 3)], {}, "no_such_op"),
]


@pytest.mark.parametrize("op,shapes,args,needle", ERROR_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(ERROR_CASES)])
def test_bad_arguments_exit_2_naming_the_op(op, shapes, args, needle):
    cmd, p = run_query(op, shapes, args)
    assert p.returncode == 2, f"{' '.join(cmd)}\nexit {p.returncode}\n{p.stdout}\n{p.stderr}"
    text = p.stderr + p.stdout
    name = "oomless" if op == "no_such_op" else op
    assert f"[{name}]" in text, text
    assert needle in text, text
