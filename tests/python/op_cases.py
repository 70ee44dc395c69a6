"""The case table of the torch harness: every one of the 46 seed ops of the op table,
each with shapes (incl. non-multiples of 32, broadcasting, negative dims,
size-1 and empty dims, 1-D..5-D, non-contiguous inputs) and every documented
argument. A case names the oomless function, how to make its inputs, the
arguments, the torch reference and the tolerance (see op_numerics.py for the
rules). test_ops_torch.py runs each case in float32 and bfloat16.
"""
import math
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F

import op_numerics as N

F32, BF16 = torch.float32, torch.bfloat16
INF = math.inf

# The 46 names of the seed report (op_table.cpp seed names).
SEED_OPS = """add addmm bmm cat clamp clampmin clone concat copy div dropout expand gelu
geluactivation hardtanh identity leakyrelu linalgvectornorm linear log maxpool2d mean mish mm
mul native_batch_norm ones permute relu sigmoid silu silu_inplace softmax softplus split
split_with_sizes splitwithsizes stack sub tanh topk transpose unsafeview unsqueeze
upsample_nearest2d view""".split()
assert len(SEED_OPS) == 46
# Ops of the table beyond the seed's: a traced graph's views and convolution.
EXTRA_OPS = ["convolution", "slice", "select"]

SPECIAL = [-INF, -100.0, -20.5, -3.0, -1.0, -0.5, -0.0, 0.0, 1e-30, 0.5, 1.0, 3.0, 20.5, 100.0,
           INF, math.nan]


# ---- inputs -----------------------------------------------------------------

@dataclass
class In:
    """One tensor input: shape and how to fill it (then cast to the test dtype)."""
    shape: tuple
    kind: str = "normal"  # normal | pos | uniform | special | perm | ties | ones | zeros
    scale: float = 1.0
    nc: bool = False  # non-contiguous (a permuted view of reversed storage)
    values: Optional[list] = None  # explicit values (kind "values")
    dtype: Optional[torch.dtype] = None  # force a dtype (mixed-dtype cases)

    def make(self, dtype, gen):
        shape = tuple(self.shape)
        dtype = self.dtype or dtype
        storage_shape = shape[::-1] if self.nc else shape
        n = math.prod(storage_shape)
        if self.kind == "normal":
            t = torch.randn(storage_shape, generator=gen) * self.scale
        elif self.kind == "pos":  # log's domain, away from 0
            t = torch.rand(storage_shape, generator=gen) * self.scale + 0.01
        elif self.kind == "uniform":
            t = (torch.rand(storage_shape, generator=gen) * 2 - 1) * self.scale
        elif self.kind == "perm":  # distinct values, exact in bf16 while n <= 256
            t = ((torch.randperm(n, generator=gen).float() - n // 2) / 8).reshape(storage_shape)
        elif self.kind == "ties":  # few distinct values: ties everywhere
            t = torch.randint(-2, 3, storage_shape, generator=gen).float()
        elif self.kind == "ones":
            t = torch.ones(storage_shape)
        elif self.kind == "values":
            t = torch.tensor(self.values, dtype=torch.float32).reshape(storage_shape)
        elif self.kind == "special":
            t = torch.tensor(SPECIAL, dtype=torch.float32).reshape(storage_shape)
        else:
            raise ValueError(self.kind)
        t = t.to(dtype)
        if self.nc:
            t = t.permute(*reversed(range(t.dim())))
        return t

    def label(self):
        s = "x".join(str(d) for d in self.shape) if self.shape else "scalar"
        return s + ("T" if self.nc else "") + ("" if self.kind == "normal" else f"~{self.kind}")


@dataclass
class Seq:
    """A list of tensors as one argument (cat, stack)."""
    items: list

    def make(self, dtype, gen):
        return [i.make(dtype, gen) for i in self.items]

    def label(self):
        if len(self.items) > 4:
            return f"{len(self.items)}x[{self.items[0].label()}..]"
        return "[" + ",".join(i.label() for i in self.items) + "]"


@dataclass
class Case:
    op: str  # the oomless function to call (seed name or alias)
    seed: str  # which of the 46 seed ops this covers
    inputs: list  # In / Seq / None
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    ref: Optional[Callable] = None  # torch reference on the upcast inputs
    ref64: Optional[Callable] = None  # float64 reference if not ref (where torch's formula is inaccurate)
    tol: Optional[Callable] = None  # f32 tolerance: (inputs64, outs64) -> list (None: exact)
    ulps: int = 1  # bf16 ulps (0 for exact ops)
    kind: str = "values"  # values | view | copy | inplace | maxpool | topk | dropout | bn | ones
    positional: bool = False  # pass the longest schema prefix of kwargs positionally
    label: str = ""
    dtypes: tuple = (F32, BF16)
    extra: dict = field(default_factory=dict)

    @property
    def id(self):
        parts = [self.op, "-".join(i.label() if i is not None else "None" for i in self.inputs)]
        if self.args:
            parts.append(",".join(_short(a) for a in self.args))
        if self.kwargs:
            parts.append(",".join(("" if self.positional else f"{k}=") + _short(v)
                                  for k, v in self.kwargs.items()))
        if self.label:
            parts.append(self.label)
        return "|".join(p for p in parts if p)

    def make_inputs(self, dtype):
        gen = torch.Generator().manual_seed(zlib.crc32(self.id.encode()))
        return [i.make(dtype, gen) if i is not None else None for i in self.inputs]


def _short(v):
    if isinstance(v, float):
        return {INF: "inf", -INF: "-inf"}.get(v, f"{v:g}")
    if isinstance(v, (list, tuple)):
        return "(" + ",".join(_short(x) for x in v) + ")"
    return str(v)


def as_tuple(o):
    return tuple(o) if isinstance(o, (tuple, list)) else (o,)


CASES = []


def add(case):
    CASES.append(case)
    return case


# ---- elementwise unary ------------------------------------------------------

UNARY_SHAPES = [In((37,), scale=3), In((3, 5), scale=3), In((2, 3, 33), scale=3),
                In((2, 1, 4, 5, 3), scale=3), In((0, 7)), In((6, 35), scale=3, nc=True),
                In((16,), kind="special"), In((), scale=3)]
LOG_SHAPES = [In((37,), kind="pos", scale=10), In((3, 5), kind="pos", scale=2),
              In((2, 3, 33), kind="pos", scale=100), In((2, 1, 4, 5, 3), kind="pos"), In((0, 7)),
              In((6, 35), kind="pos", scale=3, nc=True), In((16,), kind="special"),
              In((), kind="pos")]


def unary(op, torch_fn, k, argsets=({},), shapes=UNARY_SHAPES, exact=False, alias=None,
          accurate=None):
    """One case per (shape, argument set); argsets are keyword dicts, passed to
    oomless positionally in schema order for the odd cases to cover both.
    accurate: a float64 formulation to use instead of torch_fn where torch's
    own formula cancels (gelu tails)."""
    for ai, kw in enumerate(argsets):
        for si, x in enumerate(shapes):
            def ref(t, kw=kw):
                return torch_fn(t, **kw)

            f64 = accurate or torch_fn

            def ref64(t, kw=kw, f64=f64):
                return f64(t, **kw)

            def tol(ins, outs, kw=kw, f64=f64):
                return [N.tol_eltwise(lambda t: f64(t, **kw), ins[0], k)]

            positional = (ai + si) % 2 == 1 and kw
            add(Case(alias if alias and si == 1 else op, op, [x],
                     kwargs=dict(kw), positional=bool(positional),
                     ref=ref, ref64=ref64 if accurate else None, tol=None if exact else tol,
                     ulps=0 if exact else 1))


def _gelu(t, approximate="none"):
    return F.gelu(t, approximate=approximate)


def _gelu_accurate(t, approximate="none"):
    """gelu without torch's cancellation in 1 + erf(x / sqrt 2) for x << 0:
    x Phi(x) = x erfc(-x / sqrt 2) / 2; tanh form: x sigmoid(2 y)."""
    if approximate == "tanh":
        y = math.sqrt(2 / math.pi) * (t + 0.044715 * t ** 3)
        return t * torch.sigmoid(2 * y)
    return 0.5 * t * torch.special.erfc(-t / math.sqrt(2))


unary("relu", torch.relu, 0, exact=True)
unary("sigmoid", torch.sigmoid, 4)
unary("silu", F.silu, 8)
unary("tanh", torch.tanh, 4)
unary("mish", F.mish, 8)
unary("softplus", lambda t, beta=1.0, threshold=20.0: F.softplus(t, beta, threshold), 8,
      argsets=({}, {"beta": 2.0, "threshold": 20.0}, {"beta": 0.5, "threshold": 5.0},
               {"beta": 1.0, "threshold": 1.0}, {"beta": -1.0, "threshold": 20.0}))
unary("hardtanh", lambda t, min_val=-1.0, max_val=1.0: F.hardtanh(t, min_val, max_val), 0,
      argsets=({}, {"min_val": -0.5, "max_val": 2.0}, {"min_val": 0.0, "max_val": 6.0}),
      exact=True)
unary("leakyrelu", lambda t, negative_slope=0.01: F.leaky_relu(t, negative_slope), 2,
      argsets=({}, {"negative_slope": 0.2}, {"negative_slope": -0.1}), alias="leaky_relu")
unary("gelu", _gelu, 8, argsets=({}, {"approximate": "tanh"}, {"approximate": "none"}),
      accurate=_gelu_accurate)
unary("geluactivation", _gelu, 8, argsets=({}, {"approximate": "tanh"}), accurate=_gelu_accurate)
unary("log", torch.log, 4, shapes=LOG_SHAPES)
unary("clamp", lambda t, min=None, max=None: torch.clamp(t, min, max), 0,
      argsets=({"min": -0.5}, {"max": 0.25}, {"min": -1.0, "max": 2.0}, {"min": 0.1, "max": 0.1},
               {"min": 2, "max": 1}), exact=True)
unary("clampmin", lambda t, min: torch.clamp_min(t, min), 0,
      argsets=({"min": 0.0}, {"min": -0.75}, {"min": 1}), exact=True, alias="clamp_min")
# Medium shape for the unary family (vectorised main loop + tail).
unary("gelu", _gelu, 8, shapes=[In((64, 1000), scale=4)], accurate=_gelu_accurate)
unary("silu_inplace", F.silu, 8, shapes=[In((64, 1000), scale=4)])
unary("sigmoid", torch.sigmoid, 4, shapes=[In((1000, 64), scale=6, nc=True)])  # strided, medium
unary("mish", F.mish, 8, shapes=[In((4, 4097), scale=5)])
for x in UNARY_SHAPES:
    add(Case("silu_inplace", "silu_inplace", [x], ref=F.silu, kind="inplace",
             tol=lambda ins, outs: [N.tol_eltwise(F.silu, ins[0], 8)]))
add(Case("silu_", "silu_inplace", [In((4, 9), nc=True)], ref=F.silu, kind="inplace",
         tol=lambda ins, outs: [N.tol_eltwise(F.silu, ins[0], 8)]))


# ---- elementwise binary -----------------------------------------------------

BINARY_SHAPES = [
    (In((37,)), In((37,))),
    (In((3, 1, 5)), In((4, 1))),  # -> 3x4x5
    (In((2, 3, 33)), In((33,))),
    (In((2, 1, 4, 1, 3)), In((3, 1, 5, 1))),  # 5-D broadcast both ways -> 2x3x4x5x3
    (In((0, 3)), In((1, 3))),  # empty
    (In((6, 35), nc=True), In((6, 1))),  # non-contiguous
    (In((1,)), In((3, 4))),  # size-1 broadcast
    (In(()), In((2, 3))),  # 0-d tensor operand
    (In((8,), kind="values", values=[INF, -INF, math.nan, 0.0, 1.0, -1.0, 0.0, 3.0]),
     In((8,), kind="values", values=[INF, INF, 1.0, 0.0, 0.0, -0.0, 1e-30, math.nan])),
]


def binary(op, torch_fn, tolfn, argsets=({},)):
    for ai, kw in enumerate(argsets):
        for si, (a, b) in enumerate(BINARY_SHAPES):
            positional = (ai + si) % 2 == 1 and kw
            add(Case(op, op, [a, b], kwargs=dict(kw), positional=bool(positional),
                     ref=lambda x, y, kw=kw: torch_fn(x, y, **kw),
                     tol=lambda ins, outs, kw=kw: [tolfn(ins, outs, **kw)]))


def _tol_addsub(ins, outs, alpha=1.0):
    a, b = ins
    return 4 * N.EPS * (a.abs() + abs(alpha) * b.abs())


binary("add", torch.add, _tol_addsub, argsets=({}, {"alpha": 2.5}, {"alpha": -1}, {"alpha": 0.0}))
binary("sub", torch.sub, _tol_addsub, argsets=({}, {"alpha": 0.5}, {"alpha": -3.0}))
binary("mul", torch.mul, lambda ins, outs: N.tol_relative(outs[0], 2))
binary("div", torch.div, lambda ins, outs: N.tol_relative(outs[0], 4))
# Medium shapes for the binary family: a row broadcast, both operands broadcast, strided.
add(Case("mul", "mul", [In((32, 1, 500)), In((1, 40, 500))], ref=torch.mul,
         tol=lambda ins, outs: [N.tol_relative(outs[0], 2)]))
add(Case("div", "div", [In((700, 90), nc=True), In((700, 1), kind="pos")], ref=torch.div,
         tol=lambda ins, outs: [N.tol_relative(outs[0], 4)]))
add(Case("add", "add", [In((64, 1000)), In((1000,))], kwargs={"alpha": 0.75},
         ref=lambda a, b: torch.add(a, b, alpha=0.75),
         tol=lambda ins, outs: [_tol_addsub(ins, outs, 0.75)]))


# ---- softmax ----------------------------------------------------------------

def _softmax_tol(ins, outs, dim):
    return [N.tol_softmax(ins[0], outs[0], dim)]


for x, dim in [(In((37,), scale=3), 0), (In((3, 5)), -1), (In((2, 3, 33), scale=4), 1),
               (In((2, 3, 4, 5, 6)), -3), (In((2, 3, 4, 5, 6)), 4), (In((0, 5)), 1),
               (In((4, 0)), -1), (In((2, 1, 7)), 1), (In((5, 33), nc=True), 0),
               (In((3, 40), scale=60), -1),  # large logits: needs the max subtraction
               (In((5, 5), kind="values", values=[0.0] * 5 + [-INF, 0.0, 1.0, 2.0, 3.0]
                   + [INF, 0.0, 1.0, 2.0, 3.0] + [math.nan, 0.0, 1.0, 2.0, 3.0] + [-INF] * 5), -1),
               (In(()), 0), (In((8, 1000), scale=5), -1), (In((1000, 64)), 0),
               (In((4, 300, 50), nc=True), 1), (In((2, 8160), scale=4), -1)]:  # seed row length
    for positional in (False, True) if dim in (-1, 1) else (False,):
        add(Case("softmax", "softmax", [x], args=(dim,) if positional else (),
                 kwargs={} if positional else {"dim": dim},
                 ref=lambda t, dim=dim: torch.softmax(t, dim),
                 tol=lambda ins, outs, dim=dim: _softmax_tol(ins, outs, dim)))
# half_to_float: a bf16 input, a float32 output (the kind comparison is f32's).
for x, dim in [(In((3, 37)), -1), (In((2, 5, 7)), 1)]:
    add(Case("softmax", "softmax", [x], kwargs={"dim": dim, "half_to_float": True},
             ref=lambda t, dim=dim: torch.softmax(t.double(), dim), kind="half_to_float",
             tol=lambda ins, outs, dim=dim: _softmax_tol(ins, outs, dim), dtypes=(BF16,)))


# ---- reductions -------------------------------------------------------------

def _mean_ref(t, dim=None, keepdim=False):
    dims = list(range(t.dim())) if dim is None or dim == [] else dim
    if t.dim() == 0:
        return t.clone()
    return torch.mean(t, dim=dims, keepdim=keepdim)


MEAN_CASES = [
    (In((37,)), {}),
    (In((3, 5)), {"dim": -1, "keepdim": True}),
    (In((2, 3, 33)), {"dim": [0, 2]}),
    (In((2, 3, 4, 5, 6)), {"dim": [1, -1], "keepdim": True}),
    (In((2, 3, 4, 5, 6)), {"dim": (-5, 2, 3)}),
    (In((2, 3, 4)), {"dim": None, "keepdim": True}),
    (In((2, 3, 4)), {"dim": []}),
    (In((0, 5)), {"dim": 0}),  # NaN: mean of nothing
    (In((4, 0)), {"dim": 0}),  # empty result
    (In((2, 1, 7)), {"dim": 1}),
    (In((6, 35), nc=True), {"dim": 1}),
    (In((3, 50), scale=100), {"dim": 1}),
    (In(()), {}),
    (In((2, 8), kind="special"), {"dim": 1}),  # inf and nan
    (In((16, 4096)), {"dim": -1}),  # medium
    (In((4096, 3)), {"dim": 0}),  # medium, reduced dim not innermost
    (In((2, 100003)), {"dim": 1, "keepdim": True}),  # long rows: many reduction blocks
]
for i, (x, kw) in enumerate(MEAN_CASES):
    positional = i % 3 == 1
    add(Case("mean", "mean", [x],
             kwargs=dict(kw), positional=bool(positional),
             ref=lambda t, kw=kw: _mean_ref(t, **kw),
             tol=lambda ins, outs, kw=kw: [N.tol_mean(ins[0], outs[0], kw.get("dim"),
                                                      kw.get("keepdim", False))]))


def _norm_ref(t, ord=2.0, dim=None, keepdim=False):
    if isinstance(dim, list) and not dim:
        dim = None
    return torch.linalg.vector_norm(t, ord, dim, keepdim)


NORM_SHAPES = [
    (In((37,)), {}),
    (In((3, 5)), {"dim": -1, "keepdim": True}),
    (In((2, 3, 33)), {"dim": [0, 2]}),
    (In((2, 3, 4, 5, 6)), {"dim": [1, -1], "keepdim": True}),
    (In((2, 3, 4, 5, 6), kind="ties"), {"dim": 2}),  # zeros for ord 0, ties for inf
    (In((2, 3, 4)), {"dim": None, "keepdim": True}),
    (In((0, 5)), {"dim": 1}),  # empty result
    (In((6, 35), nc=True), {"dim": 0}),
    (In((16,), kind="special"), {}),  # inf and nan
    (In((2, 4), kind="values", values=[INF, 1.0, 2.0, -3.0, 0.0, 0.0, 0.0, 0.0]), {"dim": 1}),
]
for ord in (2.0, 1.0, INF, -INF, 0.0, 3.0, 1.5):
    for i, (x, kw) in enumerate(NORM_SHAPES):
        kw = {"ord": ord, **kw}
        positional = i % 2 == 1
        add(Case("linalgvectornorm", "linalgvectornorm", [x],
                 kwargs=dict(kw), positional=bool(positional),
                 ref=lambda t, kw=kw: _norm_ref(t, **kw),
                 tol=lambda ins, outs, kw=kw: [N.tol_norm(ins[0], outs[0], kw["ord"],
                                                          kw.get("dim"))],
                 ulps=0 if ord in (INF, -INF, 0.0) else 1))
for ord in (2.0, 1.0, 0.0):  # empty reduced dim: 0 where the norm has an identity
    add(Case("linalgvectornorm", "linalgvectornorm", [In((4, 0))], kwargs={"ord": ord, "dim": -1},
             ref=lambda t, ord=ord: _norm_ref(t, ord, -1), ulps=0))
add(Case("linalg_vector_norm", "linalgvectornorm", [In((3, 50), scale=1e20)],
         kwargs={"dim": 1}, ref=lambda t: _norm_ref(t, 2.0, 1), label="no-overflow",
         tol=lambda ins, outs: [N.tol_norm(ins[0], outs[0], 2.0, 1)]))
for ord in (2.0, 1.0, INF, 0.0):  # one long row: many reduction blocks
    add(Case("linalgvectornorm", "linalgvectornorm", [In((100003,))], kwargs={"ord": ord},
             ref=lambda t, ord=ord: _norm_ref(t, ord),
             tol=lambda ins, outs, ord=ord: [N.tol_norm(ins[0], outs[0], ord, None)],
             ulps=0 if ord in (INF, 0.0) else 1))
add(Case("linalgvectornorm", "linalgvectornorm", [In((16, 4096))], kwargs={"dim": -1},
         ref=lambda t: _norm_ref(t, 2.0, -1),
         tol=lambda ins, outs: [N.tol_norm(ins[0], outs[0], 2.0, -1)]))


# ---- native_batch_norm ------------------------------------------------------

def _bn_case(shape, training, w=True, b=True, stats=True, momentum=0.1, eps=1e-5, nc=False,
             channels_last=False, positional=False, scale=1.0, label=""):
    c = shape[-1] if channels_last else shape[1]
    ins = [In(shape, scale=scale, nc=nc), In((c,), kind="uniform", scale=2) if w else None,
           In((c,)) if b else None,
           In((c,), scale=0.5) if stats else None, In((c,), kind="pos", scale=2) if stats else None]
    while ins and ins[-1] is None:
        ins.pop()
    kw = {"training": training, "momentum": momentum, "eps": eps}
    if channels_last:
        kw["channels_last"] = True
    add(Case("native_batch_norm", "native_batch_norm", ins,
             kwargs=dict(kw), positional=bool(positional),
             kind="bn", extra={"channels_last": channels_last}, label=label))


for training in (True, False):
    _bn_case((4, 3), training)
    _bn_case((2, 3, 5), training, positional=True)
    _bn_case((2, 3, 4, 5), training, w=False, b=False)
    _bn_case((2, 3, 2, 3, 4), training, momentum=0.3, eps=1e-3)
    _bn_case((1, 5, 7, 9), training, w=True, b=False, positional=True)
    _bn_case((3, 1, 6), training, nc=True)
    _bn_case((2, 4, 3, 5), training, channels_last=True)
    _bn_case((2, 3, 4, 5), training, scale=50.0, label="scale50")
    _bn_case((0, 3, 4) if not training else (2, 0, 4), training)  # empty
_bn_case((2, 3, 4, 5), True, stats=False)
_bn_case((4, 6), True, stats=False, w=False, b=False)
_bn_case((2, 3, 4, 5), True, w=False, b=True)  # weight None, bias given (aten allows)
_bn_case((1, 3, 1, 1), True, label="n=1")  # one value per channel: unbiased var is inf/nan
_bn_case((8, 16, 16, 16), True, label="medium")


# ---- max_pool2d ---------------------------------------------------------------

POOL = [
    (In((1, 1, 5, 5), kind="perm"), {"kernel_size": 2}),
    (In((2, 3, 17, 19)), {"kernel_size": 3, "stride": 2, "padding": 1}),
    (In((2, 3, 13, 15), kind="perm"), {"kernel_size": [3, 2], "stride": [2, 1],
                                       "padding": [1, 0], "dilation": [2, 1]}),
    (In((3, 9, 9)), {"kernel_size": 3, "stride": 3, "ceil_mode": True}),  # CHW
    (In((1, 2, 10, 11), kind="perm"), {"kernel_size": 3, "stride": 2, "padding": 1,
                                       "dilation": 2, "ceil_mode": True}),
    (In((1, 2, 8, 7)), {"kernel_size": 2, "stride": 2, "ceil_mode": True}),
    (In((0, 3, 8, 8)), {"kernel_size": 2}),  # empty batch
    (In((1, 1, 1, 1)), {"kernel_size": 1}),
    (In((2, 2, 6, 6), kind="ties"), {"kernel_size": 3, "stride": 1, "padding": 1}),
    (In((1, 3, 7, 7), kind="values", values=[-5.0] * 147), {"kernel_size": 3, "padding": 1}),
    (In((2, 3, 8, 9), nc=True), {"kernel_size": 2, "stride": None}),
    (In((1, 1, 4, 4), kind="values", values=[1.0, math.nan, 0.0, 2.0] + [0.5] * 12),
     {"kernel_size": 2}),
    (In((2, 64, 56, 56)), {"kernel_size": 3, "stride": 2, "padding": 1}),  # medium (resnet stem)
]
for i, (x, kw) in enumerate(POOL):
    positional = i % 3 == 2
    add(Case("maxpool2d" if i % 2 == 0 else "max_pool2d", "maxpool2d", [x],
             kwargs=dict(kw), positional=bool(positional),
             kind="maxpool", ulps=0))
add(Case("maxpool2d", "maxpool2d", [In((2, 5, 7, 3))], kwargs={"kernel_size": 2, "stride": 1,
                                                                "channels_last": True},
         kind="maxpool", ulps=0, extra={"channels_last": True}))


# ---- upsample_nearest2d -----------------------------------------------------

UPS = [
    (In((1, 1, 3, 4)), {"output_size": [6, 8]}),  # exactly 2x
    (In((2, 3, 5, 7)), {"output_size": [11, 3]}),  # up in H, down in W
    (In((1, 2, 5, 5)), {"scale_factor": 1.5}),  # scale used as given, not out/in
    (In((2, 3, 4, 6)), {"scale_factor": 2.0}),
    (In((1, 1, 7, 9)), {"scale_factor": 0.5}),
    (In((1, 3, 1, 1)), {"output_size": (4, 5)}),
    (In((0, 3, 4, 4)), {"scale_factor": 2.0}),  # empty batch
    (In((2, 3, 5, 6), nc=True), {"scale_factor": 3.0}),
    (In((1, 2, 33, 35)), {"output_size": [64, 70]}),
    (In((1, 2, 9, 10)), {"scale_factor": 1.3}),
    (In((2, 32, 40, 40)), {"scale_factor": 2.0}),  # medium
]
for i, (x, kw) in enumerate(UPS):
    positional = i % 4 == 1
    add(Case("upsample_nearest2d", "upsample_nearest2d", [x],
             kwargs=dict(kw), positional=bool(positional),
             ulps=0, ref=lambda t, kw=kw: F.interpolate(t, mode="nearest", size=kw.get("output_size"),
                                                        scale_factor=kw.get("scale_factor"))))
add(Case("upsample_nearest2d", "upsample_nearest2d", [In((2, 5, 6, 3))],
         kwargs={"scale_factor": 2.0, "channels_last": True}, ulps=0,
         ref=lambda t: F.interpolate(t.permute(0, 3, 1, 2), scale_factor=2.0,
                                     mode="nearest").permute(0, 2, 3, 1)))


# ---- topk ---------------------------------------------------------------------

TOPK = [
    (In((37,), kind="perm"), {"k": 5}),
    (In((3, 33)), {"k": 1, "dim": -1}),
    (In((2, 7, 5), kind="perm"), {"k": 3, "dim": 1, "largest": False}),
    (In((2, 3, 4, 5, 6)), {"k": 6, "dim": -1, "sorted": False}),
    (In((2, 3, 4, 5, 6)), {"k": 2, "dim": 0, "largest": False, "sorted": True}),
    (In((4, 0)), {"k": 0}),
    (In((3, 5)), {"k": 5}),  # k == size
    (In((1, 40)), {"k": 0}),
    (In((4, 50), kind="ties"), {"k": 7}),
    (In((4, 50), kind="ties"), {"k": 9, "largest": False}),
    (In((6, 35), nc=True), {"k": 4, "dim": 1}),
    (In((2, 5), kind="values", values=[1.0, math.nan, 3.0, -INF, INF, 0, 2, 1, 2, math.nan]),
     {"k": 3}),
    (In(()), {"k": 1}),
    (In((16, 4096)), {"k": 64}),  # medium
    (In((2, 8160)), {"k": 500, "dim": 1}),
    (In((3000, 3), nc=True), {"k": 100, "dim": 0, "largest": False}),
]
for i, (x, kw) in enumerate(TOPK):
    positional = i % 3 == 1
    add(Case("topk", "topk", [x], kwargs=dict(kw), positional=bool(positional), kind="topk", ulps=0))


# ---- dropout ------------------------------------------------------------------

for x, kw in [(In((1000,)), {"p": 0.5}), (In((3, 257)), {"p": 0.2, "seed": 7}),
              (In((2, 3, 4, 5, 6)), {"p": 0.9, "seed": 123}), (In((0, 5)), {"p": 0.5}),
              (In((40, 50), nc=True), {"p": 0.3}), (In((500,)), {"p": 0.0}),
              (In((500,)), {"p": 1.0}), (In((3, 7)), {"p": 0.5, "train": False}),
              (In((2, 3, 4)), {"p": 0.0, "train": False}), (In((20000,)), {}),
              (In((64, 1000)), {"p": 0.1, "seed": 99})]:
    add(Case("dropout", "dropout", [x], kwargs=kw, kind="dropout"))
add(Case("dropout", "dropout", [In((300,))], args=(0.25, True), kind="dropout"))


# ---- data movement and views --------------------------------------------------

def view_case(op, x, args=(), kwargs=None, ref=None, kind="view", seed=None):
    add(Case(op, seed or op, [x], args=args, kwargs=kwargs or {}, ref=ref, kind=kind, ulps=0))


for x, dims in [(In((2, 3, 4)), [2, 0, 1]), (In((2, 3, 4, 5, 6)), [-1, 0, 2, 1, 3]),
                (In((37,)), [0]), (In((0, 3, 1)), [1, 2, 0]), (In((5, 1)), (1, 0)),
                (In((4, 33), nc=True), [1, 0]), (In((2, 3, 4)), [0, 1, 2]), (In(()), [])]:
    view_case("permute", x, kwargs={"dims": dims}, ref=lambda t, d=dims: t.permute(list(d)))
view_case("permute", In((2, 3, 4)), args=([-1, -3, -2],), ref=lambda t: t.permute(-1, -3, -2))

for x, d0, d1 in [(In((3, 5)), 0, 1), (In((2, 3, 4)), -1, 0), (In((2, 3, 4, 5, 6)), 1, 3),
                  (In((37,)), 0, 0), (In((0, 4)), 0, 1), (In((4, 33), nc=True), 0, 1),
                  (In((2, 1, 3)), -2, -1), (In(()), 0, -1)]:
    view_case("transpose", x, args=(d0, d1), ref=lambda t, a=d0, b=d1: t.transpose(a, b))
view_case("transpose", In((2, 3, 4)), kwargs={"dim0": 2, "dim1": -3},
          ref=lambda t: t.transpose(2, -3))

# slice and select: aten's clamping and negative indices, steps, empty results.
for x, kw, ref in [
        (In((4, 10)), {"dim": 1, "start": 2, "end": 9, "step": 3}, lambda t: t[:, 2:9:3]),
        (In((4, 10)), {"dim": -1, "start": -3}, lambda t: t[:, -3:]),
        (In((5, 3, 4)), {"start": 1, "end": 100}, lambda t: t[1:]),
        (In((4, 10)), {"dim": 1, "start": 8, "end": 2}, lambda t: t[:, 8:2]),
        (In((6, 33), nc=True), {"dim": 0, "start": 1, "end": 5, "step": 2}, lambda t: t[1:5:2])]:
    view_case("slice", x, kwargs=kw, ref=ref)
for x, dim, index in [(In((4, 10, 3)), 1, -1), (In((4, 10)), 0, 3), (In((37,)), 0, 5),
                      (In((6, 33), nc=True), 1, 7)]:
    view_case("select", x, kwargs={"dim": dim, "index": index},
              ref=lambda t, d=dim, i=index: t.select(d, i))

VIEWS = [(In((2, 3, 4)), [6, 4]), (In((2, 3, 4)), [-1]), (In((2, 3, 4, 5, 6)), [6, -1, 6]),
         (In((0, 5)), [-1, 5]), (In((37,)), [1, 37, 1]), (In((2, 3, 4, 5, 6)), [2, 3, 4, 5, 6]),
         (In((3, 4)), (2, 1, 6)), (In((1,)), []), (In((4, 6)), [2, 2, 2, 3])]
for op in ("view", "unsafeview"):
    for i, (x, size) in enumerate(VIEWS):
        view_case(op, x, args=(size,) if i % 2 else (), kwargs={} if i % 2 else {"size": size},
                  ref=lambda t, s=size: t.view(*s) if s else t.view(()))
    # a view of a non-contiguous tensor that keeps the dims mergeable
    view_case(op, In((4, 6, 5), nc=True), args=([4, 6, 5],), ref=lambda t: t.view(4, 6, 5))
view_case("_unsafe_view", In((3, 8)), args=([4, 6],), ref=lambda t: t.view(4, 6),
          seed="unsafeview")

for x, d in [(In((37,)), 0), (In((3, 5)), -1), (In((2, 3, 4)), 1), (In((2, 3, 4, 5)), -5),
             (In((0, 3)), 2), (In(()), 0), (In((4, 33), nc=True), 1), (In((2, 3, 4, 5)), 4)]:
    view_case("unsqueeze", x, args=(d,) if d % 2 else (), kwargs={} if d % 2 else {"dim": d},
              ref=lambda t, d=d: t.unsqueeze(d))

for x, size in [(In((3, 1)), [3, 4]), (In((1,)), [2, 3, 5]), (In((2, 1, 4)), [-1, 6, -1]),
                (In((1, 1, 1, 1, 3)), [2, 2, 2, 2, 3]), (In((0, 1)), [0, 4]),
                (In((3, 4)), [2, 3, 4]), (In(()), [3, 2]), (In((1, 5), nc=True), [7, 5]),
                (In((2, 3)), [-1, -1])]:
    view_case("expand", x, args=(size,), ref=lambda t, s=size: t.expand(*s))
view_case("expand", In((3, 1)), kwargs={"size": [3, 33]}, ref=lambda t: t.expand(3, 33))

for x in [In((37,)), In((3, 5)), In((2, 3, 33)), In((2, 1, 4, 5, 3)), In((0, 7)),
          In((6, 35), nc=True), In(()), In((16,), kind="special")]:
    view_case("identity", x, ref=lambda t: t)
    view_case("clone", x, ref=lambda t: t.clone(), kind="copy")
view_case("clone", In((300, 257), nc=True), ref=lambda t: t.clone(), kind="copy")  # medium transpose
view_case("clone", In((8, 33, 65, 3), nc=True), ref=lambda t: t.clone(), kind="copy")

for s, src in [(In((3, 5)), In((3, 5))), (In((3, 5)), In((1, 5))), (In((2, 3, 33)), In((33,))),
               (In((2, 1, 4, 5, 3)), In((2, 1, 4, 5, 3), nc=True)), (In((0, 4)), In((4,))),
               (In((4, 6), nc=True), In(())), (In((2, 3)), In((2, 3), dtype=F32))]:
    add(Case("copy", "copy", [s, src], ref=lambda a, b: a.clone().copy_(b), kind="copy", ulps=0))
add(Case("copy", "copy", [In((64, 1000)), In((64, 1000), nc=True)],
         ref=lambda a, b: a.clone().copy_(b), kind="copy", ulps=0))  # medium, strided source
add(Case("copy", "copy", [In((2, 3)), In((2, 3))], kwargs={"non_blocking": True},
         ref=lambda a, b: a.clone().copy_(b), kind="copy", ulps=0))


# ---- cat / concat / stack -----------------------------------------------------

CATS = [
    (Seq([In((3, 4)), In((5, 4))]), 0),
    (Seq([In((2, 3, 1)), In((2, 3, 33)), In((2, 3, 0))]), -1),
    (Seq([In((n,)) for n in (1, 5, 0, 31, 33, 2, 7, 64, 3, 1, 9, 11, 13, 0, 4, 6, 8, 10, 12, 2)]), 0),
    (Seq([In((2, 3, 4, 5, 6)), In((2, 3, 1, 5, 6)), In((2, 3, 2, 5, 6), nc=True)]), 2),
    (Seq([In((2, 3)), In((0,)), In((4, 3))]), 0),  # legacy: 1-D empty tensors are skipped
    (Seq([In((4, 3)), In((4, 5))]), -1),
    (Seq([In((3, 5), nc=True)]), 1),  # single input
    (Seq([In((0, 3)), In((0, 3))]), 0),
    (Seq([In((2, 3, 4)), In((2, 3, 4))]), -3),
    (Seq([In((64, 500)), In((64, 300))]), 1),  # medium
    (Seq([In((300, 64), nc=True), In((300, 30))]), 1),  # medium, strided
]
for op in ("cat", "concat"):
    for i, (seq, dim) in enumerate(CATS):
        if op == "concat" and i % 2:
            continue
        add(Case(op, op, [seq], args=(dim,) if i % 2 else (), kwargs={} if i % 2 else {"dim": dim},
                 ref=lambda ts, dim=dim: torch.cat(ts, dim), ulps=0, kind="copy"))

STACKS = [
    (Seq([In((3, 4)), In((3, 4))]), 0),
    (Seq([In((3, 4)), In((3, 4)), In((3, 4), nc=True)]), -1),
    (Seq([In((2, 3, 4, 5)), In((2, 3, 4, 5))]), 4),
    (Seq([In((2, 3, 4, 5)), In((2, 3, 4, 5))]), -5),
    (Seq([In((0, 3)), In((0, 3))]), 1),
    (Seq([In((5,)) for _ in range(12)]), 0),
    (Seq([In(()), In(()), In(())]), 0),
    (Seq([In((2, 33))]), 1),
]
for i, (seq, dim) in enumerate(STACKS):
    add(Case("stack", "stack", [seq], args=(dim,) if i % 2 else (),
             kwargs={} if i % 2 else {"dim": dim}, ref=lambda ts, dim=dim: torch.stack(ts, dim),
             ulps=0, kind="copy"))


# ---- split --------------------------------------------------------------------

for i, (x, size, dim) in enumerate([(In((10,)), 3, 0), (In((4, 7)), 2, -1), (In((2, 33, 3)), 32, 1),
                                    (In((2, 3, 4, 5, 6)), 2, 3), (In((0, 4)), 2, 0),
                                    (In((3, 5)), 8, 1), (In((6, 9), nc=True), 4, 0),
                                    (In((5, 2)), 1, 0), (In((0,)), 0, 0)]):
    view_case("split", x, args=(size, dim) if i % 2 else (),
              kwargs={} if i % 2 else {"split_size": size, "dim": dim},
              ref=lambda t, s=size, d=dim: torch.split(t, s, d) if s else (t.clone(),))
view_case("split", In((7, 3)), args=(3,), ref=lambda t: torch.split(t, 3))

for op in ("split_with_sizes", "splitwithsizes"):
    for i, (x, sizes, dim) in enumerate([(In((10,)), [2, 3, 5], 0), (In((4, 7)), [0, 4, 0, 3], -1),
                                         (In((2, 3, 4, 5, 6)), [1, 4], -2),
                                         (In((2, 33, 3)), [32, 1], 1),
                                         (In((6, 9), nc=True), [6], 0), (In((0, 4)), [0], 0),
                                         (In((4, 2)), [1, 1, 1, 1], 0)]):
        view_case(op, x, args=(sizes, dim) if i % 2 else (),
                  kwargs={} if i % 2 else {"split_sizes": sizes, "dim": dim},
                  ref=lambda t, s=sizes, d=dim: torch.split(t, s, d))
view_case("split_with_sizes", In((5, 3)), args=([2, 3],), ref=lambda t: torch.split(t, [2, 3]))


# ---- ones -----------------------------------------------------------------------

for size in ([3, 5], [37], [2, 3, 4, 5, 6], [0, 3], [], (1, 33)):
    add(Case("ones", "ones", [], kwargs={"size": size}, kind="ones"))


# ---- matmul family ----------------------------------------------------------------

def _mm_tol(a, b, alpha=1.0, c=None, beta=1.0):
    k = a.shape[-1]
    absprod = a.abs() @ b.abs()
    return N.tol_matmul(k, absprod, None if c is None else c.abs().expand_as(absprod), alpha, beta)


for a, b in [((3, 5), (5, 4)), ((33, 65), (65, 17)), ((1, 1), (1, 1)), ((0, 5), (5, 3)),
             ((4, 0), (0, 3)), ((7, 3), (3, 0)), ((128, 256), (256, 96)),
             ((8, 4096), (4096, 8))]:  # long k
    add(Case("mm", "mm", [In(a), In(b)], ref=torch.mm,
             tol=lambda ins, outs: [_mm_tol(*ins)]))
add(Case("mm", "mm", [In((5, 9), nc=True), In((9, 6))], ref=torch.mm,
         tol=lambda ins, outs: [_mm_tol(*ins)]))
add(Case("mm", "mm", [In((4, 6)), In((6, 5), nc=True)], ref=torch.mm,
         tol=lambda ins, outs: [_mm_tol(*ins)]))
add(Case("mm", "mm", [In((4, 3), kind="values", values=[INF, 1, 0, math.nan, 1, 2, 1, 2, 3,
                                                          -INF, 0, 1]), In((3, 2))],
         ref=torch.mm, tol=lambda ins, outs: [_mm_tol(*ins)], label="nonfinite"))

for a, b in [((2, 3, 5), (2, 5, 4)), ((3, 33, 17), (3, 17, 35)), ((0, 2, 3), (0, 3, 4)),
             ((1, 1, 1), (1, 1, 1)), ((2, 4, 0), (2, 0, 3)), ((4, 64, 64), (4, 64, 48))]:
    add(Case("bmm", "bmm", [In(a), In(b)], ref=torch.bmm, tol=lambda ins, outs: [_mm_tol(*ins)]))
add(Case("bmm", "bmm", [In((2, 4, 5), nc=True), In((2, 5, 3))], ref=torch.bmm,
         tol=lambda ins, outs: [_mm_tol(*ins)]))

for i, (c, a, b, beta, alpha) in enumerate([
        ((3, 4), (3, 5), (5, 4), 1.0, 1.0),
        ((4,), (3, 5), (5, 4), 0.5, 2.0),
        ((1, 1), (33, 65), (65, 17), -1.0, 0.5),
        ((6, 1), (6, 7), (7, 9), 1.0, 1.0),
        ((2, 3), (2, 0), (0, 3), 2.0, 1.0),  # k = 0: beta * input
        ((0, 3), (0, 5), (5, 3), 1.0, 1.0),
        ((5, 4), (5, 3), (3, 4), 1.0, 0.0),  # alpha = 0
        ((), (4, 3), (3, 5), 1.0, 1.0)]):
    kw = {"beta": beta, "alpha": alpha}
    add(Case("addmm", "addmm", [In(c), In(a), In(b)], args=(beta, alpha) if i % 2 else (),
             kwargs={} if i % 2 else kw,
             ref=lambda c, a, b, kw=kw: torch.addmm(c, a, b, **kw),
             tol=lambda ins, outs, kw=kw: [_mm_tol(ins[1], ins[2], kw["alpha"], ins[0], kw["beta"])]))
# beta = 0: the input is ignored, NaN/inf in it must not propagate (aten semantics).
add(Case("addmm", "addmm", [In((2, 3), kind="values", values=[math.nan, INF, 1, 2, 3, -INF]),
                            In((2, 4)), In((4, 3))], kwargs={"beta": 0.0},
         ref=lambda c, a, b: torch.addmm(c, a, b, beta=0.0),
         tol=lambda ins, outs: [_mm_tol(ins[1], ins[2])], label="beta0-nan"))
add(Case("addmm", "addmm", [In((96,)), In((128, 256)), In((256, 96), nc=True)],
         ref=lambda c, a, b: torch.addmm(c, a, b),
         tol=lambda ins, outs: [_mm_tol(ins[1], ins[2], 1.0, ins[0], 1.0)]))


def _linear_tol(ins, outs):
    x, w = ins[0], ins[1]
    bias = ins[2] if len(ins) > 2 and ins[2] is not None else None
    absprod = F.linear(x.abs(), w.abs())
    return [N.tol_matmul(x.shape[-1], absprod, None if bias is None else bias.abs().expand_as(absprod))]


for ins in [[In((3, 5)), In((4, 5)), In((4,))], [In((3, 5)), In((4, 5))],
            [In((2, 3, 5)), In((4, 5)), In((4,))], [In((2, 2, 3, 7)), In((6, 7)), In((6,))],
            [In((5,)), In((4, 5)), In((4,))], [In((3, 5)), In((5,))],
            [In((0, 5)), In((4, 5)), In((4,))], [In((6, 33), nc=True), In((17, 33), nc=True)],
            [In((2, 1, 2, 3, 7)), In((6, 7))], [In((3, 5)), In((4, 5)), In((1,))],
            [In((64, 256)), In((128, 256)), In((128,))]]:
    add(Case("linear", "linear", ins, ref=lambda *t: F.linear(*t), tol=_linear_tol))
add(Case("linear", "linear", [In((3, 5)), In((4, 5)), None], ref=lambda x, w, b: F.linear(x, w),
         tol=_linear_tol, label="bias=None"))


def by_seed():
    out = {}
    for c in CASES:
        out.setdefault(c.seed, []).append(c)
    return out


_missing = set(SEED_OPS) - set(by_seed())
assert not _missing, f"ops without cases: {sorted(_missing)}"
