"""The 46 seed ops of the op table against PyTorch: ops x dtypes (float32, bfloat16)
x shapes, every documented argument, error paths, zero-copy views and in-place.
(convolution, op 47, has its own file: test_conv_torch.py.)

The cases live in op_cases.py, the comparison rules (bf16: 1 ulp of torch
computed in f32 and rounded; f32: per-family tolerances from the op's error
analysis) in op_numerics.py. Run:
    PYTHONPATH=build/python /usr/bin/python3 -m pytest -q tests/python/test_ops_torch.py
"""
import math

import pytest

torch = pytest.importorskip("torch", reason="the torch comparison needs PyTorch (/usr/bin/python3)")
np = pytest.importorskip("numpy", reason="the torch comparison needs numpy")
oomless = pytest.importorskip(
    "oomless", reason="the oomless module is not importable: build it (cmake -DOOMLESS_PYTHON=ON) "
    "and put build/python on PYTHONPATH")

import op_cases as C  # noqa: E402
import op_numerics as N  # noqa: E402

F32, BF16 = torch.float32, torch.bfloat16
DTYPES = [pytest.param(F32, id="f32"), pytest.param(BF16, id="bf16")]


def _params(kinds):
    out = []
    for case in C.CASES:
        if case.kind not in kinds:
            continue
        for dt in case.dtypes:
            out.append(pytest.param(case, dt, id=f"{case.id}|{'f32' if dt == F32 else 'bf16'}"))
    return out


_SCHEMA = {e["name"]: e for e in oomless.ops()}
_ALIAS = {a: e["name"] for e in oomless.ops() for a in e["aliases"]}


def _arg_names(op):
    e = _SCHEMA.get(op) or _SCHEMA[_ALIAS[op]]
    return [a[0] for a in e["args"]]


def named_args(case):
    """The case's arguments as a dict (positional ones named by the schema)."""
    kw = dict(zip(_arg_names(case.op), case.args))
    kw.update(case.kwargs)
    return kw


def call_args(case):
    """(positional, keyword) arguments of the call. A positional case passes the
    longest prefix of the schema it sets positionally, the rest by keyword."""
    args, kwargs = list(case.args), dict(case.kwargs)
    if case.positional:
        for name in _arg_names(case.op)[len(args):]:
            if name not in kwargs:
                break
            args.append(kwargs.pop(name))
    return args, kwargs


def run(case, inputs):
    fn = getattr(oomless, case.op)
    args, kwargs = call_args(case)
    return fn(*inputs, *args, **kwargs)


def _storage_range(t):
    s = t.storage()
    return s.data_ptr(), s.data_ptr() + s.nbytes()


def shares_memory(out, x):
    if out.numel() == 0 or x.numel() == 0:
        return True
    lo, hi = _storage_range(x)
    return lo <= out.data_ptr() < hi


def _strides_match(ours, ref):
    return all(so == sr for so, sr, n in zip(ours.stride(), ref.stride(), ref.shape) if n > 1)


# ---- values: the elementwise, reduction, softmax, matmul and layout cases -----

@pytest.mark.parametrize("case,dtype", _params({"values"}))
def test_values(case, dtype):
    inputs = case.make_inputs(dtype)
    ins64 = N.upcast(inputs, F32)  # float64 (copies: made before an in-place op runs)
    ins32 = N.upcast(inputs, BF16)
    ours = C.as_tuple(run(case, inputs))
    refs64 = C.as_tuple((case.ref64 or case.ref)(*ins64))
    if dtype == F32:
        refs = refs64
        tols = case.tol(ins64, refs64) if case.tol else [0] * len(refs)
    else:  # torch in float32 on the bf16 inputs upcast; float64 as the second reference
        refs = C.as_tuple(case.ref(*ins32))
        tols = [0] * len(refs)
    assert len(ours) == len(refs), f"{len(ours)} outputs, torch has {len(refs)}"
    for i, (o, r, t, r64) in enumerate(zip(ours, refs, tols, refs64)):
        N.assert_values(o, r, dtype, t, f"{case.id} output {i}", ulps=case.ulps, exact_ref=r64)


@pytest.mark.parametrize("case,dtype", _params({"half_to_float"}))
def test_softmax_half_to_float(case, dtype):
    inputs = case.make_inputs(dtype)
    ours = run(case, inputs)
    x64 = inputs[0].double()
    ref = case.ref(x64)
    N.assert_f32(ours, ref, case.tol([x64], [ref])[0], case.id)


# ---- views: values, strides and shared memory --------------------------------

@pytest.mark.parametrize("case,dtype", _params({"view"}))
def test_views(case, dtype):
    inputs = case.make_inputs(dtype)
    x = inputs[0]
    ours = C.as_tuple(run(case, inputs))
    refs = C.as_tuple(case.ref(x))
    assert len(ours) == len(refs), f"{len(ours)} outputs, torch has {len(refs)}"
    for i, (o, r) in enumerate(zip(ours, refs)):
        N.assert_exact(o, r, dtype, f"{case.id} output {i}")
        assert shares_memory(o, x), f"{case.id} output {i}: not a view of the input (copied)"
        if o.numel() > 0:
            assert _strides_match(o, r), f"{case.id} output {i}: strides {o.stride()} != torch {r.stride()}"
            assert o.data_ptr() == r.data_ptr(), f"{case.id} output {i}: storage offset differs from torch"
    # Writes through the input show in the views (they alias, as torch's do).
    x.neg_()
    for i, (o, r) in enumerate(zip(ours, C.as_tuple(case.ref(x)))):
        N.assert_exact(o, r, dtype, f"{case.id} output {i} after writing the input")


@pytest.mark.parametrize("case,dtype", _params({"copy"}))
def test_copies(case, dtype):
    """clone, copy, cat, stack: exact values in new memory; inputs untouched."""
    inputs = case.make_inputs(dtype)
    flat = [t for i in inputs for t in (i if isinstance(i, list) else [i])]
    before = [t.clone() for t in flat]
    ours = run(case, inputs)
    ref = case.ref(*inputs)
    N.assert_exact(ours, ref, ref.dtype, case.id)
    for t, b in zip(flat, before):
        N.assert_exact(t, b, b.dtype, f"{case.id}: an input was modified")
        if ours.numel() and t.numel():
            assert not shares_memory(ours, t), f"{case.id}: the result aliases an input"


@pytest.mark.parametrize("case,dtype", _params({"inplace"}))
def test_silu_inplace(case, dtype):
    inputs = case.make_inputs(dtype)
    x = inputs[0]
    orig = x.clone()
    ptr = x.data_ptr()
    out = run(case, [x])
    assert out.shape == x.shape and (x.numel() == 0 or out.data_ptr() == ptr), \
        f"{case.id}: silu_ must return its input (same memory)"
    assert x.numel() == 0 or _strides_match(out, x), f"{case.id}: strides {out.stride()} != {x.stride()}"
    ref = torch.nn.functional.silu(N.upcast(orig, dtype))
    tol = case.tol([N.upcast(orig, dtype)], [ref])[0] if dtype == F32 else 0
    N.assert_values(x, ref, dtype, tol, f"{case.id} (the input after silu_)")
    N.assert_exact(out, x, dtype, f"{case.id} (returned tensor vs input)")


# ---- max_pool2d: values and what the indices point at ------------------------

def _pool_params(kw):
    def pair(v):
        v = [v] if isinstance(v, int) else list(v)
        return (v[0], v[0]) if len(v) == 1 else (v[0], v[1])
    k = pair(kw["kernel_size"])
    s = kw.get("stride")
    s = k if s is None or (isinstance(s, (list, tuple)) and not s) else pair(s)
    return k, s, pair(kw.get("padding", 0)), pair(kw.get("dilation", 1)), bool(kw.get("ceil_mode", False))


@pytest.mark.parametrize("case,dtype", _params({"maxpool"}))
def test_max_pool2d(case, dtype):
    inputs = case.make_inputs(dtype)
    kw = named_args(case)
    k, s, p, d, ceil = _pool_params(kw)
    vals, idx = run(case, inputs)
    x = inputs[0].float()
    cl = kw.get("channels_last", False)
    if cl:
        x = x.permute(0, 3, 1, 2)
        vals, idx = vals.permute(0, 3, 1, 2), idx.permute(0, 3, 1, 2)
    rv, ri = torch.nn.functional.max_pool2d(x, k, s, p, d, ceil_mode=ceil, return_indices=True)
    N.assert_exact(vals, rv, dtype, f"{case.id} values")
    assert idx.dtype == torch.int64, f"{case.id}: indices dtype {idx.dtype}, torch returns int64"
    assert idx.shape == ri.shape, f"{case.id}: indices shape {tuple(idx.shape)} != {tuple(ri.shape)}"
    if idx.numel() == 0:
        return
    x4 = x if x.dim() == 4 else x.unsqueeze(0)
    i4 = idx if idx.dim() == 4 else idx.unsqueeze(0)
    r4 = rv if rv.dim() == 4 else rv.unsqueeze(0)
    n, c, h, w = x4.shape
    oh, ow = i4.shape[2:]
    assert ((i4 >= 0) & (i4 < h * w)).all(), f"{case.id}: index out of the input plane"
    got = x4.reshape(n, c, h * w).gather(2, i4.reshape(n, c, -1)).reshape(i4.shape)
    same = (got == r4) | (torch.isnan(got) & torch.isnan(r4))
    assert same.all(), (f"{case.id}: {int((~same).sum())} indices point at a value that is not the "
                        f"window max (first at {(~same).nonzero()[0].tolist()})")
    ih, iw = i4 // w, i4 % w
    dh = ih - (torch.arange(oh).view(1, 1, oh, 1) * s[0] - p[0])
    dw = iw - (torch.arange(ow).view(1, 1, 1, ow) * s[1] - p[1])
    inside = (dh >= 0) & (dh % d[0] == 0) & (dh // d[0] < k[0])
    inside &= (dw >= 0) & (dw % d[1] == 0) & (dw // d[1] < k[1])
    assert inside.all(), (f"{case.id}: {int((~inside).sum())} indices lie outside their pooling "
                          f"window (first at {(~inside).nonzero()[0].tolist()})")


# ---- topk ---------------------------------------------------------------------

@pytest.mark.parametrize("case,dtype", _params({"topk"}))
def test_topk(case, dtype):
    inputs = case.make_inputs(dtype)
    kw = named_args(case)
    k, dim = kw["k"], kw.get("dim", -1)
    largest, is_sorted = kw.get("largest", True), kw.get("sorted", True)
    vals, idx = run(case, inputs)
    x = inputs[0].float()
    rv, ri = torch.topk(x, k, dim, largest, True)
    assert idx.dtype == torch.int64, f"{case.id}: indices dtype {idx.dtype}, torch returns int64"
    assert idx.shape == ri.shape, f"{case.id}: indices shape {tuple(idx.shape)} != {tuple(ri.shape)}"
    if is_sorted:
        N.assert_exact(vals, rv, dtype, f"{case.id} values")
    else:  # order unspecified: compare as sets along dim
        sv = torch.sort(vals.float(), dim=dim, descending=largest).values if vals.dim() else vals.float()
        N.assert_exact(sv, rv, F32, f"{case.id} values (as a set)")
        assert vals.dtype == dtype
    if idx.numel() == 0:
        return
    d = dim % max(x.dim(), 1)
    if x.dim() == 0:
        assert idx.item() == 0
        return
    n = x.shape[d]
    assert ((idx >= 0) & (idx < n)).all(), f"{case.id}: index out of range"
    got = x.gather(d, idx)
    v = vals.float()
    same = (got == v) | (torch.isnan(got) & torch.isnan(v))
    assert same.all(), (f"{case.id}: {int((~same).sum())} indices do not point at their value "
                        f"(first at {(~same).nonzero()[0].tolist()})")
    si = torch.sort(idx, dim=d).values
    assert (si.diff(dim=d) != 0).all(), f"{case.id}: repeated index along dim {d}"


# ---- dropout ------------------------------------------------------------------

@pytest.mark.parametrize("case,dtype", _params({"dropout"}))
def test_dropout(case, dtype):
    inputs = case.make_inputs(dtype)
    x = inputs[0]
    kw = named_args(case)
    p, train, seed = kw.get("p", 0.5), kw.get("train", True), kw.get("seed", 0)
    out, mask = run(case, inputs)
    assert out.shape == x.shape and out.dtype == dtype, f"{case.id}: output {out.shape} {out.dtype}"
    assert mask.shape == x.shape, f"{case.id}: mask shape {tuple(mask.shape)}"
    m = mask.float()
    assert ((m == 0) | (m == 1)).all(), f"{case.id}: mask values other than 0/1"
    if not train:
        N.assert_exact(out, x, dtype, f"{case.id}: train=False must be the identity")
        assert (m == 1).all(), f"{case.id}: train=False keeps everything"
        return
    # What torch's native_dropout computes from this mask: (x * mask) * (1 / (1 - p)),
    # the scale a float scalar, in f32 (bf16: then rounded once).
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    expect = (x.float() * m).mul_(scale)
    N.assert_exact(out, expect, dtype, f"{case.id}: output vs x * mask / (1 - p)")
    n = x.numel()
    if n >= 100:
        dropped = float((m == 0).sum()) / n
        sd = math.sqrt(p * (1 - p) / n)
        assert abs(dropped - p) <= 5 * sd + 1.0 / n, f"{case.id}: dropped {dropped:.4f}, p = {p}"
        # Same seed, same mask; another seed, another mask.
        out2, mask2 = run(case, inputs)
        N.assert_exact(mask2, mask, mask.dtype, f"{case.id}: mask not reproducible")
        if 0 < p < 1:
            kw2 = dict(kw, seed=seed + 1)
            _, mask3 = oomless.dropout(x, **kw2)
            assert not torch.equal(mask3, mask), f"{case.id}: seed does not change the mask"
        # Keyed by the global element index: a prefix of the input gets the prefix of the mask.
        if x.is_contiguous():
            h = n // 2 + 3
            _, mh = oomless.dropout(x.reshape(-1)[:h], **kw)
            N.assert_exact(mh, mask.reshape(-1)[:h], mask.dtype, f"{case.id}: prefix mask")


# ---- native_batch_norm --------------------------------------------------------

def _bn_reference(x, w, b, rm, rv, training, momentum, eps, cl):
    """torch.native_batch_norm (in place on rm/rv); torch crashes on empty inputs
    (SIGFPE in torch 1.13), so those are built by hand."""
    if cl:
        x = x.permute(0, 3, 1, 2)
    c = x.shape[1]
    if x.numel() == 0:
        stat = torch.empty(c if training else 0, dtype=x.dtype)
        out = x.clone()
        return (out.permute(0, 2, 3, 1) if cl else out), stat, stat.clone()
    out, sm, si = torch.native_batch_norm(x, w, b, rm, rv, training, momentum, eps)
    return (out.permute(0, 2, 3, 1) if cl else out), sm, si


def _bn_tols(x, w, b, rm0, rv0, outs, rm1, rv1, training, momentum, eps, cl):
    E = N.EPS
    if cl:
        x = x.permute(0, 3, 1, 2)
    c = x.shape[1]
    n = x.numel() // max(c, 1)
    shape = [1, c] + [1] * (x.dim() - 2)
    red = [d for d in range(x.dim()) if d != 1]
    mean_abs = x.abs().mean(dim=red)
    if training:
        mean = outs[1]
        var_b = x.var(dim=red, unbiased=False)
        invstd = outs[2]
    else:
        mean, var_b = rm0, rv0
        invstd = 1 / torch.sqrt(rv0 + eps)
    cond = 1 + mean ** 2 / (var_b + eps)
    wabs = w.abs() if w is not None else torch.ones(c, dtype=x.dtype)
    babs = b.abs() if b is not None else torch.zeros(c, dtype=x.dtype)
    ne = (n if training else 1) + 8
    t_out = ne * E * (((x - mean.view(shape)).abs() * cond.view(shape) + mean_abs.view(shape))
                      * (invstd * wabs).view(shape) + babs.view(shape))
    if cl:
        t_out = t_out.permute(0, 2, 3, 1)
    if not training:
        return [t_out, 0, 0], 0, 0
    t_mean = (n + 2) * E * mean_abs + 2 * E * mean.abs()
    t_inv = (n + 8) * E * invstd * cond
    t_rm = t_rv = 0
    if rm0 is not None:
        var_u = var_b * n / max(n - 1, 1)
        t_rm = 4 * E * ((1 - momentum) * rm0.abs() + momentum * mean.abs()) + momentum * t_mean
        t_rv = 4 * E * ((1 - momentum) * rv0.abs() + momentum * var_u) + momentum * var_u * (n + 8) * E * cond
    return [t_out, t_mean, t_inv], t_rm, t_rv


@pytest.mark.parametrize("case,dtype", _params({"bn"}))
def test_native_batch_norm(case, dtype):
    inputs = case.make_inputs(dtype)
    kw = named_args(case)
    training, momentum, eps = kw.get("training", True), kw.get("momentum", 0.1), kw.get("eps", 1e-5)
    cl = kw.get("channels_last", False)
    full = inputs + [None] * (5 - len(inputs))
    x, w, b, rm, rv = full
    rm_o = rm.clone() if rm is not None else None
    rv_o = rv.clone() if rv is not None else None
    ours = run(case, [x, w, b, rm_o, rv_o][:len(inputs)])
    assert isinstance(ours, tuple) and len(ours) == 3, f"{case.id}: expected (out, save_mean, save_invstd)"
    up = [N.upcast(t, dtype) if t is not None else None for t in full]
    rm_r = up[3].clone() if rm is not None else None
    rv_r = up[4].clone() if rv is not None else None
    refs = _bn_reference(up[0], up[1], up[2], rm_r, rv_r, training, momentum, eps, cl)
    if dtype == F32 and x.numel():
        tols, t_rm, t_rv = _bn_tols(up[0], up[1], up[2], up[3], up[4], refs, rm_r, rv_r, training,
                                    momentum, eps, cl)
    else:
        tols, t_rm, t_rv = [0, 0, 0], 0, 0
    for name, o, r, t in zip(("output", "save_mean", "save_invstd"), ours, refs, tols):
        N.assert_values(o, r, dtype, t, f"{case.id} {name}")
    if rm is not None:
        if training:
            N.assert_values(rm_o, rm_r, dtype, t_rm, f"{case.id} running_mean (updated in place)")
            N.assert_values(rv_o, rv_r, dtype, t_rv, f"{case.id} running_var (updated in place)")
        else:
            N.assert_exact(rm_o, rm, dtype, f"{case.id} running_mean must not change in eval")
            N.assert_exact(rv_o, rv, dtype, f"{case.id} running_var must not change in eval")


# ---- ones ---------------------------------------------------------------------

@pytest.mark.parametrize("case,dtype", _params({"ones"}))
def test_ones(case, dtype):
    size = case.kwargs["size"]
    ref = torch.ones(size, dtype=dtype)
    for out in (oomless.ones(size, dtype=dtype), oomless.ones(size=size, dtype=dtype),
                oomless.ones(size, dtype)):
        N.assert_exact(out, ref, dtype, case.id)
        assert out.is_contiguous()


def test_ones_numpy_dtype():
    out = oomless.ones([2, 3], dtype=np.float32)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (2, 3)
    assert (out == 1).all()


# ---- coverage of the op table -------------------------------------------------

def test_every_op_has_cases():
    names = {e["name"] for e in oomless.ops()}
    known = set(C.SEED_OPS) | set(C.EXTRA_OPS)
    assert names == known, f"op table vs case lists: {sorted(names ^ known)}"
    counts = {op: len(cs) for op, cs in C.by_seed().items()}
    few = {op: n for op, n in counts.items() if n < 4}
    assert not few, f"ops with fewer than 4 cases: {few}"
    for name in names:
        assert callable(getattr(oomless, name)), name
    for alias in ("leaky_relu", "max_pool2d", "clamp_min", "split_with_sizes", "silu_", "batch_norm",
                  "linalg_vector_norm", "native_dropout", "max_pool2d_with_indices", "conv2d"):
        assert callable(getattr(oomless, alias)), alias


# ---- mixed dtypes (float32 with bfloat16) ----------------------------------------

def test_mixed_dtype_binary_promotes():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(3, 5, generator=g)
    b = torch.randn(5, generator=g).to(BF16)
    out = oomless.add(a, b, alpha=2.0)
    ref = torch.add(a.double(), b.double(), alpha=2.0)
    N.assert_f32(out, ref, 4 * N.EPS * (a.double().abs() + 2 * b.double().abs()), "add f32+bf16")
    out = oomless.mul(b, a)
    assert out.dtype == F32
    N.assert_f32(out, b.double() * a.double(), N.tol_relative(b.double() * a.double(), 2), "mul bf16*f32")


def test_mixed_dtype_cat_and_copy():
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(2, 3, generator=g), torch.randn(4, 3, generator=g).to(BF16)
    N.assert_exact(oomless.cat([a, b]), torch.cat([a, b]), F32, "cat f32+bf16")
    N.assert_exact(oomless.stack([b, b.float()], 1), torch.stack([b, b.float()], 1), F32, "stack")
    s = torch.zeros(4, 3, dtype=BF16)
    src = torch.randn(4, 3, generator=g)
    N.assert_exact(oomless.copy(s, src), s.clone().copy_(src), BF16, "copy f32 -> bf16 (rounds)")


# ---- numpy inputs -------------------------------------------------------------------

def test_numpy_inputs():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 37)).astype(np.float32)
    y = rng.standard_normal((37,)).astype(np.float32)
    out = oomless.relu(x)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_array_equal(out, np.maximum(x, 0))
    out = oomless.add(x, y, alpha=2)
    assert isinstance(out, np.ndarray) and out.shape == (3, 37)
    np.testing.assert_allclose(out, x + 2 * y, rtol=1e-6, atol=1e-6)
    v, i = oomless.topk(x, 4)
    tv, ti = torch.topk(torch.from_numpy(x), 4)
    assert isinstance(i, np.ndarray) and i.dtype == np.int64
    np.testing.assert_array_equal(v, tv.numpy())
    np.testing.assert_array_equal(i, ti.numpy())
    parts = oomless.split(x, 16, 1)
    assert isinstance(parts, tuple) and len(parts) == 3
    for part, ref in zip(parts, np.split(x, [16, 32], axis=1)):
        np.testing.assert_array_equal(part, ref)
        assert np.shares_memory(part, x), "split of a numpy array must be a view"
    t = oomless.transpose(x, 0, 1)
    assert np.shares_memory(t, x) and t.shape == (37, 3)
    np.testing.assert_array_equal(t, x.T)
    a = rng.standard_normal((5, 7)).astype(np.float32)
    b = rng.standard_normal((7, 3)).astype(np.float32)
    np.testing.assert_allclose(oomless.mm(a, b), a @ b, rtol=1e-5, atol=1e-5)
    mp, mi = oomless.max_pool2d(rng.standard_normal((1, 2, 6, 6)).astype(np.float32), 2)
    assert mi.dtype == np.int64 and mp.shape == (1, 2, 3, 3)
    ident = oomless.identity(x)
    assert ident is x


def test_numpy_batch_norm_fills_weight():
    """weight None with bias/running stats given: the wrapper fills ones/zeros, for numpy too."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 5)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    out, sm, si = oomless.native_batch_norm(x, None, b, rm, rv, True, 0.1, 1e-5)
    assert isinstance(out, np.ndarray) and out.shape == (4, 3, 5) and sm.shape == (3,)
    tx = torch.from_numpy(x)
    ref = torch.native_batch_norm(tx, None, torch.from_numpy(b), torch.zeros(3), torch.ones(3), True, 0.1, 1e-5)
    np.testing.assert_allclose(out, ref[0].numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(rm, ref[1].numpy() * 0.1, rtol=1e-5, atol=1e-6)


# ---- zero copy, in place, wrapper conventions --------------------------------------

def test_views_do_not_copy_the_input():
    x = torch.randn(4, 6, 8)
    for out in (oomless.view(x, [24, 8]), oomless.unsafeview(x, [8, 24]), oomless.permute(x, [2, 0, 1]),
                oomless.transpose(x, 0, 2), oomless.unsqueeze(x, 1), oomless.identity(x),
                oomless.expand(x[:, :1], [4, 5, 8]), *oomless.split(x, 3, 1),
                *oomless.split_with_sizes(x, [2, 6], -1)):
        assert shares_memory(out, x)
    x[0, 0, 0] = 1234.0
    assert oomless.view(x, [-1])[0].item() == 1234.0
    assert oomless.identity(x).data_ptr() == x.data_ptr()


def test_silu_inplace_returns_the_input_object():
    x = torch.randn(3, 7)
    ref = torch.nn.functional.silu(x)
    out = oomless.silu_inplace(x)
    assert out is x, "silu_ returns its input tensor itself, as torch's silu_ does"
    torch.testing.assert_close(x, ref, rtol=1e-5, atol=1e-6)
    y = torch.randn(3, 7, dtype=BF16)
    assert oomless.silu_(y) is y


def test_inputs_that_require_grad():
    """nn.Parameter weights and graph tensors: used detached (DLPack refuses them)."""
    x = torch.randn(3, 5, requires_grad=True)
    w = torch.nn.Parameter(torch.randn(4, 5))
    out = oomless.linear(x, w)
    torch.testing.assert_close(out, torch.nn.functional.linear(x, w).detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(oomless.relu(x), torch.relu(x).detach())


def test_generic_call_and_aliases():
    x = torch.randn(2, 3, 5)
    torch.testing.assert_close(oomless.call("softmax", [x], dim=-1), torch.softmax(x, -1))
    torch.testing.assert_close(oomless.call("aten._softmax.default", [x], dim=1), torch.softmax(x, 1))
    torch.testing.assert_close(oomless.leaky_relu(x, 0.3), torch.nn.functional.leaky_relu(x, 0.3))
    torch.testing.assert_close(oomless.clamp_min(x, 0.5), torch.clamp_min(x, 0.5))
    parts = oomless.call("split", [x], split_size=2, dim=-1)
    assert isinstance(parts, tuple) and [p.shape[-1] for p in parts] == [2, 2, 1]
    one = oomless.split(x, 5, -1)
    assert isinstance(one, tuple) and len(one) == 1
    torch.testing.assert_close(oomless.mean(x, [0, 2], True), x.mean([0, 2], True), rtol=1e-5, atol=1e-6)


def test_query_returns_a_dict():
    q = oomless.query("softmax", [[1, 12, 256, 8160]], args={"dim": -1}, dtype="bf16", memory="dram")
    assert isinstance(q, dict) and q["op"] == "softmax" and q["fits"] is True
    assert q["outputs"][0]["shape"] == [1, 12, 256, 8160]


def test_query_bad_argument_is_a_value_error():
    with pytest.raises(ValueError, match="softmax"):
        oomless.query("softmax", [[2, 3]], args={"dim": 5})


# ---- the harness itself rejects wrong results -----------------------------------------

def test_harness_rejects_wrong_results():
    x = torch.tensor([1.0, -2.5, 3e-3, 100.0, 0.0])
    b = x.to(BF16)
    N.assert_bf16(b, x, "same")
    one_ulp = (b.view(torch.int16) + 1).view(BF16)
    N.assert_bf16(one_ulp[:4], x[:4], "1 ulp")
    two_ulp = (b.view(torch.int16) + 2).view(BF16)
    for bad, what in ((two_ulp[:4], "2 ulp"), (torch.tensor([math.nan]).to(BF16), "nan"),
                      (torch.tensor([math.inf]).to(BF16), "inf")):
        with pytest.raises(AssertionError):
            N.assert_bf16(bad, x[: bad.numel()], what)
    with pytest.raises(AssertionError):  # a 2-ulp error is not rescued by the f64 reference
        N.assert_bf16(two_ulp[:4], x[:4], "2 ulp", exact_ref=x[:4].double())
    with pytest.raises(AssertionError):  # max finite is not inf
        N.assert_bf16(torch.tensor([3.3895e38]).to(BF16), torch.tensor([math.inf]), "inf")
    with pytest.raises(AssertionError):
        N.assert_bf16(b.float(), x, "dtype")
    with pytest.raises(AssertionError):
        N.assert_bf16(b[:4], x[:4].view(2, 2), "shape")
    r = torch.tensor([1.0, 2.0], dtype=torch.float64)
    N.assert_f32(torch.tensor([1.0, 2.0]), r, 4 * N.EPS * r, "ok")
    with pytest.raises(AssertionError):
        N.assert_f32(torch.tensor([1.0 + 8 * N.EPS, 2.0]), r, 4 * N.EPS * r, "8 ulp")
    with pytest.raises(AssertionError):
        N.assert_exact(torch.tensor([1.0, math.nan]), torch.tensor([1.0, 0.0]), F32, "nan")
    N.assert_exact(torch.tensor([1.0, math.nan]), torch.tensor([1.0, math.nan]), F32, "nan==nan")


# ---- error paths: a clear message naming the op and the bad value, never a crash -----

def _x(*shape, dtype=F32):
    return torch.randn(*shape).to(dtype)


ERRORS = [
    # (label, op name in the message, callable, text that must be in the message)
    ("float64", "relu", lambda: oomless.relu(torch.randn(3, dtype=torch.float64)), "relu"),
    ("float64 second input", "add", lambda: oomless.add(_x(3), torch.randn(3, dtype=torch.float64)), "add"),
    ("int64", "softmax", lambda: oomless.softmax(torch.arange(6).view(2, 3), -1), "softmax"),
    ("int32", "mm", lambda: oomless.mm(torch.ones(2, 2, dtype=torch.int32), _x(2, 2)), "int32"),
    ("float16", "tanh", lambda: oomless.tanh(torch.randn(3).half()), "tanh"),
    ("numpy float64", "sigmoid", lambda: oomless.sigmoid(np.zeros(3)), "sigmoid"),
    ("bool", "gelu", lambda: oomless.gelu(torch.ones(3, dtype=torch.bool)), "gelu"),
    ("not a tensor", "log", lambda: oomless.log([1.0, 2.0]), "log"),
    ("softmax dim", "softmax", lambda: oomless.softmax(_x(2, 3), 5), "5"),
    ("softmax dim neg", "softmax", lambda: oomless.softmax(_x(2, 3), dim=-3), "-3"),
    ("half_to_float f32", "softmax", lambda: oomless.softmax(_x(2, 3), -1, True), "float32"),
    ("transpose dim", "transpose", lambda: oomless.transpose(_x(2, 3), 0, 2), "2"),
    ("unsqueeze dim", "unsqueeze", lambda: oomless.unsqueeze(_x(2, 3), 4), "4"),
    ("permute dims", "permute", lambda: oomless.permute(_x(2, 3, 4), [0, 1]), "[0,1]"),
    ("permute dup", "permute", lambda: oomless.permute(_x(2, 3, 4), [0, 1, 1]), "duplicate"),
    ("mean dim", "mean", lambda: oomless.mean(_x(2, 3), 7), "7"),
    ("mean dup dim", "mean", lambda: oomless.mean(_x(2, 3), [1, -1]), "multiple"),
    ("norm dim", "linalgvectornorm", lambda: oomless.linalgvectornorm(_x(2, 3), 2, [0, 4]), "4"),
    ("norm inf empty", "linalgvectornorm", lambda: oomless.linalgvectornorm(_x(4, 0), math.inf, 1), "inf"),
    ("topk dim", "topk", lambda: oomless.topk(_x(3, 4), 2, 2), "2"),
    ("topk k big", "topk", lambda: oomless.topk(_x(3, 4), 5), "5"),
    ("topk k neg", "topk", lambda: oomless.topk(_x(3, 4), -1), "-1"),
    ("cat dim", "cat", lambda: oomless.cat([_x(2, 3), _x(2, 3)], 2), "2"),
    ("cat shapes", "cat", lambda: oomless.cat([_x(2, 3), _x(2, 4)], 0), "4"),
    ("cat ranks", "cat", lambda: oomless.cat([_x(2, 3), _x(2, 3, 1)]), "dimensions"),
    ("cat empty list", "cat", lambda: oomless.cat([]), "cat"),
    ("stack shapes", "stack", lambda: oomless.stack([_x(2, 3), _x(3, 2)]), "[3,2]"),
    ("stack dim", "stack", lambda: oomless.stack([_x(2, 3), _x(2, 3)], 4), "4"),
    ("add shapes", "add", lambda: oomless.add(_x(3, 4), _x(5, 4)), "5"),
    ("mul shapes", "mul", lambda: oomless.mul(_x(2, 3), _x(2)), "mul"),
    ("mm shapes", "mm", lambda: oomless.mm(_x(3, 4), _x(5, 6)), "3x4 and 5x6"),
    ("mm rank", "mm", lambda: oomless.mm(_x(3, 4, 1), _x(4, 2)), "mm"),
    ("bmm batch", "bmm", lambda: oomless.bmm(_x(2, 3, 4), _x(3, 4, 5)), "[2, 4]"),
    ("addmm bias", "addmm", lambda: oomless.addmm(_x(5), _x(3, 4), _x(4, 2)), "5"),
    ("linear shapes", "linear", lambda: oomless.linear(_x(3, 4), _x(2, 5)), "3x4 and 5x2"),
    ("linear bias", "linear", lambda: oomless.linear(_x(3, 4), _x(2, 4), _x(3)), "linear"),
    ("view size", "view", lambda: oomless.view(_x(2, 3), [4, 2]), "[4,2]"),
    ("view two -1", "view", lambda: oomless.view(_x(2, 3), [-1, -1]), "-1"),
    ("view non-contiguous", "view", lambda: oomless.view(_x(3, 4).t(), [12]), "view"),
    ("unsafeview size", "unsafeview", lambda: oomless.unsafeview(_x(2, 3), [7]), "7"),
    ("expand", "expand", lambda: oomless.expand(_x(2, 3), [4, 3]), "4"),
    ("expand fewer dims", "expand", lambda: oomless.expand(_x(2, 3), [3]), "expand"),
    ("copy broadcast", "copy", lambda: oomless.copy(_x(2, 3), _x(4, 3)), "copy"),
    ("split size", "split", lambda: oomless.split(_x(4, 3), -1), "-1"),
    ("split dim", "split", lambda: oomless.split(_x(4, 3), 2, 2), "2"),
    ("split_with_sizes sum", "split_with_sizes", lambda: oomless.split_with_sizes(_x(4, 3), [1, 2]), "[1,2]"),
    ("splitwithsizes neg", "splitwithsizes", lambda: oomless.splitwithsizes(_x(4, 3), [5, -1]), "-1"),
    ("maxpool kernel 0", "maxpool2d", lambda: oomless.maxpool2d(_x(1, 1, 4, 4), 0), "0"),
    ("maxpool kernel 3 ints", "maxpool2d", lambda: oomless.maxpool2d(_x(1, 1, 4, 4), [2, 2, 2]), "kernel_size"),
    ("maxpool stride 0", "maxpool2d", lambda: oomless.maxpool2d(_x(1, 1, 4, 4), 2, 0), "stride"),
    ("maxpool padding", "maxpool2d", lambda: oomless.maxpool2d(_x(1, 1, 4, 4), 2, 1, 2), "pad"),
    ("maxpool too small", "maxpool2d", lambda: oomless.maxpool2d(_x(1, 1, 2, 2), 3), "too small"),
    ("maxpool rank", "maxpool2d", lambda: oomless.maxpool2d(_x(4, 4), 2), "[4,4]"),
    ("maxpool dilation", "maxpool2d", lambda: oomless.maxpool2d(_x(1, 1, 4, 4), 2, dilation=0), "dilation"),
    ("upsample none", "upsample_nearest2d", lambda: oomless.upsample_nearest2d(_x(1, 1, 2, 2)), "output_size"),
    ("upsample both", "upsample_nearest2d",
     lambda: oomless.upsample_nearest2d(_x(1, 1, 2, 2), [4, 4], 2.0), "scale_factor"),
    ("upsample rank", "upsample_nearest2d", lambda: oomless.upsample_nearest2d(_x(1, 2, 2), [4, 4]), "[1,2,2]"),
    ("upsample scales", "upsample_nearest2d",
     lambda: oomless.upsample_nearest2d(_x(1, 1, 2, 2), None, 2.0, [2, 2]), "scales"),
    ("upsample size len", "upsample_nearest2d",
     lambda: oomless.upsample_nearest2d(_x(1, 1, 2, 2), [4, 4, 4]), "output_size"),
    ("dropout p", "dropout", lambda: oomless.dropout(_x(3), 1.5), "1.5"),
    ("dropout p neg", "dropout", lambda: oomless.dropout(_x(3), -0.1), "-0.1"),
    ("gelu approximate", "gelu", lambda: oomless.gelu(_x(3), approximate="fast"), "fast"),
    ("clamp no bounds", "clamp", lambda: oomless.clamp(_x(3)), "min"),
    ("clampmin missing", "clampmin", lambda: oomless.clampmin(_x(3)), "min"),
    ("softmax missing dim", "softmax", lambda: oomless.softmax(_x(3)), "dim"),
    ("topk missing k", "topk", lambda: oomless.topk(_x(3)), "k"),
    ("permute missing dims", "permute", lambda: oomless.permute(_x(3)), "dims"),
    ("view missing size", "view", lambda: oomless.view(_x(3)), "size"),
    ("ones missing size", "ones", lambda: oomless.ones(), "size"),
    ("ones negative", "ones", lambda: oomless.ones([2, -3]), "-3"),
    ("unknown argument", "relu", lambda: oomless.relu(_x(3), foo=1), "foo"),
    ("unknown argument 2", "softmax", lambda: oomless.softmax(_x(3), dim=0, bogus=True), "bogus"),
    ("too many positional", "tanh", lambda: oomless.tanh(_x(3), 1.0), "tanh"),
    ("arg given twice", "softmax", lambda: oomless.softmax(_x(3), 0, dim=0), "dim"),
    ("arg wrong type", "softmax", lambda: oomless.softmax(_x(3), "last"), "last"),
    ("arg wrong type list", "permute", lambda: oomless.permute(_x(2, 3), [0, 1.5]), "1.5"),
    ("missing tensor", "add", lambda: oomless.add(_x(3)), "add"),
    ("too many tensors", "relu", lambda: oomless.call("relu", [_x(3), _x(3)]), "relu"),
    ("unknown op", "oomless", lambda: oomless.call("frobnicate", [_x(3)]), "frobnicate"),
    ("bn eval no stats", "native_batch_norm",
     lambda: oomless.native_batch_norm(_x(2, 3), None, None, training=False), "running_mean"),
    ("bn weight size", "native_batch_norm",
     lambda: oomless.native_batch_norm(_x(2, 3), _x(4)), "weight"),
    ("bn 1-D input", "native_batch_norm", lambda: oomless.native_batch_norm(_x(3)), "[3]"),
    ("bn empty batch training", "native_batch_norm",
     lambda: oomless.native_batch_norm(_x(0, 3, 4), None, None, _x(3), _x(3).abs(), True), "0"),
]


@pytest.mark.parametrize("label,op,fn,needle", [pytest.param(*e, id=e[0]) for e in ERRORS])
def test_error_paths(label, op, fn, needle):
    with pytest.raises(ValueError) as info:
        fn()
    msg = str(info.value)
    assert op in msg, f"message does not name the op '{op}': {msg!r}"
    assert needle.lower() in msg.lower(), f"message does not name the bad value {needle!r}: {msg!r}"
    if isinstance(info.value, oomless.InvalidArgument):
        assert msg.startswith("["), f"oomless errors read '[op] message': {msg!r}"


def test_tensors_by_keyword():
    g = torch.Generator().manual_seed(3)
    x, rm, rv = torch.randn(4, 3, 5, generator=g), torch.randn(3, generator=g), torch.rand(3, generator=g) + 0.5
    ours = oomless.native_batch_norm(x, running_mean=rm, running_var=rv, training=False)
    ref = torch.native_batch_norm(x, None, None, rm, rv, False, 0.1, 1e-5)
    torch.testing.assert_close(ours[0], ref[0], rtol=1e-5, atol=1e-5)
    c, a, b = torch.randn(4, generator=g), torch.randn(3, 5, generator=g), torch.randn(5, 4, generator=g)
    torch.testing.assert_close(oomless.addmm(input=c, mat1=a, mat2=b, beta=0.5),
                               torch.addmm(c, a, b, beta=0.5), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(oomless.addmm(c, mat2=b, mat1=a), torch.addmm(c, a, b), rtol=1e-5, atol=1e-5)
    w, bias = torch.randn(4, 5, generator=g), torch.randn(4, generator=g)
    torch.testing.assert_close(oomless.linear(a, weight=w, bias=bias),
                               torch.nn.functional.linear(a, w, bias), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(oomless.sub(self=a, other=a[0], alpha=2), torch.sub(a, a[0], alpha=2))
    torch.testing.assert_close(oomless.copy(a, src=a[1]), a.clone().copy_(a[1]))
    with pytest.raises(ValueError, match="twice"):
        oomless.add(a, a, other=a)
