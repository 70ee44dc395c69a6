"""Comparison rules of the torch harness (tests/python/test_ops_torch.py).

bfloat16
    Every bf16 result must be within ``ulps`` (1 unless the op is pure data
    movement or selection, then 0) bf16 ulps of PyTorch computed in float32 on
    the bf16 inputs upcast to float32 and rounded once to bf16 (DESIGN: bf16
    ops compute in f32 and round once). The distance is taken on the bf16 bit
    patterns mapped to a monotonic integer line (+0 and -0 are the same
    point). NaN must match NaN, an infinity must match the same infinity.
    One widening, for the places where torch's float32 arithmetic is itself
    the inaccurate side (gelu's 1 + erf(x) cancellation in the tail gives 0 or
    a 50% error where the true value is 1e-7; a different summation order in
    a reduction or matmul moves an f32 result across a bf16 rounding
    boundary): a result within 1 ulp of the float64 reference (the same one the
    f32 check uses) rounded once to bf16 is accepted as well.

float32
    The reference is PyTorch computed in float64 on the float32 inputs, so the
    tolerance only has to cover the error of our float32 kernel. Each op family
    derives its bound from its error analysis (eps = 2^-23, one f32 ulp at 1):

    * exact ops (data movement, relu, clamp, hardtanh, max_pool, topk,
      upsample, ones, the inf/-inf/0 norms): 0, bit for bit (bf16 too).
    * dropout: bit-exact against what torch computes from the same mask,
      (x * mask) * float(1 / (1 - p)) in f32 (bf16: rounded once).
    * one rounded arithmetic operation (mul; leaky_relu as 2 eps (|f| + |x f'|)):
      2 eps |ref|.
    * add/sub with alpha: 4 eps (|a| + |alpha b|) (the condition of a sum).
    * div: 4 eps |ref|.
    * elementwise transcendental f: K eps (|f(x)| + |x f'(x)|), K = 4 for
      one libm-class function (sigmoid, tanh, log), K = 8 for compositions
      (silu, mish, softplus, gelu); |x f'(x)| is the condition of f at x, the
      error a backward-stable kernel may show (e.g. log near 1).
    * softmax: relative eps (8 + 2 |x - max| + n) per element: exp of a
      rounded argument, the n-term sum and the final division.
    * mean: (n + 2) eps mean|x| + 2 eps |ref| (sum of n terms, then / n).
    * p-norms: relative (n + 4 |p| + 4) eps (|x|^p terms, their sum, the
      1/p root); inf, -inf and 0 norms are exact (max / min / count).
    * matmul family: (k + 3) eps (|alpha| |a| @ |b| + |beta| |c|) per output.
    * convolution: (n + 3) eps (|x| conv |w| + |bias|) per output, n the
      reduction length R = C / groups * kH * kW, or for R > 4096 the
      blocked length 4096 + ceil(R / 4096) (the kernels sum at most 4096
      products per block, then the block partials: the reference's bound).
    * batch norm: (n + 8) eps ((|x - mean| c + mean|x|) invstd |w| + |b|) for
      the output, c = 1 + mean^2 / var (the variance's cancellation); the
      mean bound for save_mean, (n + 8) eps c invstd for save_invstd, and
      momentum times those plus 4 eps for the updated running stats.

    For gelu the float64 reference is gelu written without torch's
    cancellation (x erfc(-x / sqrt 2) / 2; tanh form x sigmoid(2 y)): torch's
    own float64 gelu returns -0 or a 2% error for x below about -8.
    Measured on the current kernels the worst error is 0.3 of these bounds
    (mean 0.01, norms 0.03): the bounds are worst cases, not padding.

    A floor of 2^-126 (the smallest normal f32) is added to every non-zero
    tolerance so that flushing a denormal result to zero is accepted.

Index outputs (max_pool2d, topk) are checked by what they point at: the value
at our index must equal the value torch reports (and lie in the pooling window
/ be distinct along the topk dim). Where the maximum is unique this is the
same as requiring torch's index; where values tie, any tied position is right.
"""
import math

import torch

EPS = 2.0 ** -23
TINY = 2.0 ** -126
# (what, count, numel) of bf16 results accepted only by the float64 reference;
# conftest.py prints them at the end of the run.
RESCUED = []


def ref_dtype(dtype):
    """The dtype the torch reference is computed in for a result dtype."""
    return torch.float64 if dtype == torch.float32 else torch.float32


def upcast(x, dtype):
    if isinstance(x, torch.Tensor) and x.is_floating_point():
        return x.detach().to(ref_dtype(dtype))
    if isinstance(x, (list, tuple)):
        return type(x)(upcast(t, dtype) for t in x)
    return x


def _ordinal(t):
    b = t.contiguous().view(torch.int16).to(torch.int32)
    return torch.where(b < 0, -(b & 0x7FFF), b)


def bf16_ulps(a, b):
    """ulp distance between two bf16 tensors of one shape (NaN/inf not handled)."""
    return (_ordinal(a) - _ordinal(b)).abs()


def _fmt_examples(mask, ours, ref, extra, limit=6):
    idx = mask.nonzero()
    lines = []
    for row in idx[:limit].tolist():
        i = tuple(row)
        o = ours[i].item()
        r = ref[i].item()
        e = f", {extra[i].item():.3g}" if extra is not None else ""
        lines.append(f"  at {list(i)}: ours {o!r} ref {r!r}{e}")
    more = f"\n  ... {len(idx) - limit} more" if len(idx) > limit else ""
    return "\n".join(lines) + more


def _special_mismatch(ours, ref):
    """Elements where NaN/inf disagree (ours/ref as float tensors)."""
    on, rn = torch.isnan(ours), torch.isnan(ref)
    oi, ri = torch.isinf(ours), torch.isinf(ref)
    bad = on != rn
    bad |= (oi | ri) & ~(on | rn) & (ours != ref)
    finite = ~(on | rn | oi | ri)
    return bad, finite


def check_shape_dtype(ours, ref_shape, dtype, what):
    assert isinstance(ours, torch.Tensor), f"{what}: expected a torch.Tensor, got {type(ours)}"
    assert tuple(ours.shape) == tuple(ref_shape), f"{what}: shape {tuple(ours.shape)} != torch {tuple(ref_shape)}"
    assert ours.dtype == dtype, f"{what}: dtype {ours.dtype} != {dtype}"


def _bf16_bad(ours, ref, ulps):
    r = ref.to(torch.float32).to(torch.bfloat16) if ref.dtype == torch.float32 else _round64(ref)
    of, rf = ours.float(), r.float()
    bad, finite = _special_mismatch(of, rf)
    d = torch.zeros(ours.shape, dtype=torch.int32)
    d[finite] = bf16_ulps(ours[finite], r[finite])
    bad |= finite & (d > ulps)
    return bad, rf, d


def _round64(ref):
    """float64 -> bf16 with one rounding (via f32 would round twice)."""
    r = ref.to(torch.float32)
    back = r.double()
    # Nudge an f32 value that sits exactly on a bf16 tie but came from a value off the tie.
    bits = r.view(torch.int32)
    tie = (bits & 0xFFFF) == 0x8000
    off = tie & (back != ref) & torch.isfinite(ref)
    if off.any():
        step = torch.where((back < ref) == (ref > 0), 1, -1).to(torch.int32)
        bits = torch.where(off, bits + step, bits)
        r = bits.view(torch.float32)
    return r.to(torch.bfloat16)


def _bf16_ulp(v):
    """One bf16 ulp at |v| (float64; the subnormal spacing below the smallest normal)."""
    _, e = torch.frexp(v.abs())
    return torch.ldexp(torch.ones_like(v), (e - 8).clamp(min=-133))


def assert_bf16(ours, ref, what, ulps=1, exact_ref=None, abs_tol=None):
    """ours: bf16; ref: the torch float32 reference (on the bf16 inputs upcast),
    rounded here once. exact_ref (float64), if given, is a second reference: a
    result within `ulps` of the correctly rounded exact value is accepted too,
    for the few places where torch's own float32 arithmetic is the inaccurate
    side (e.g. gelu's erf tail, summation order in reductions and matmul).
    abs_tol (float64, with exact_ref): also accept |ours - exact| <= 1 ulp +
    abs_tol, the f32 arithmetic's a-priori bound, for long sums that cancel to
    near 0 (their f32 error may exceed a bf16 ulp of the result: convolution)."""
    check_shape_dtype(ours, ref.shape, torch.bfloat16, what)
    if ours.numel() == 0:
        return
    bad, rf, d = _bf16_bad(ours, ref, ulps)
    if exact_ref is not None and abs_tol is not None and bad.any():
        o = ours.double()
        near = (o - exact_ref).abs() <= _bf16_ulp(exact_ref) + abs_tol
        rescued = int((bad & near).sum())
        if rescued:
            RESCUED.append((what + " (within the f32 bound)", rescued, ours.numel()))
        bad &= ~near
    if exact_ref is not None and bad.any():
        bad2, _, _ = _bf16_bad(ours, exact_ref, ulps)
        rescued = int((bad & ~bad2).sum())
        if rescued:
            RESCUED.append((what, rescued, ours.numel()))
        bad &= bad2
    if bad.any():
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {ours.numel()} bf16 results differ from torch "
            f"(f32 rounded to bf16) by more than {ulps} ulp (ours, ref, ulps):\n"
            + _fmt_examples(bad, ours.float(), rf, d.float()))


def assert_f32(ours, ref, tol, what):
    """ours: float32; ref: float64 reference; tol: float64 tensor (broadcast) or number."""
    check_shape_dtype(ours, ref.shape, torch.float32, what)
    if ours.numel() == 0:
        return
    o = ours.double()
    rr = ref.double()
    # Where the exact value overflows float32 the right answer is the infinity.
    r32 = rr.float().double()
    rr = torch.where(torch.isinf(r32) & ~torch.isinf(rr), r32, rr)
    bad, finite = _special_mismatch(o, rr)
    tol = torch.as_tensor(tol, dtype=torch.float64).expand(o.shape)
    tol = torch.where(tol > 0, tol + TINY, tol)
    err = (o - rr).abs()
    bad |= finite & ~(err <= tol)
    if bad.any():
        ratio = torch.where(tol > 0, err / tol, err)
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {ours.numel()} f32 results outside the tolerance "
            f"(ours, ref, err/tol):\n" + _fmt_examples(bad, o, rr, ratio))


def assert_exact(ours, ref, dtype, what):
    """Bit-exact (NaN == NaN); ref is converted to dtype first (exactly representable)."""
    check_shape_dtype(ours, ref.shape, dtype, what)
    if ours.numel() == 0:
        return
    r = ref.to(dtype)
    of, rf = ours.double(), r.double()
    bad = ~((of == rf) | (torch.isnan(of) & torch.isnan(rf)))
    if bad.any():
        raise AssertionError(f"{what}: {int(bad.sum())} of {ours.numel()} results not exactly "
                             f"torch's (ours, ref):\n" + _fmt_examples(bad, of, rf, None))


def assert_values(ours, ref, dtype, tol, what, ulps=1, exact_ref=None):
    """The dtype rule: bf16 -> ulps against ref rounded; f32 -> tol (0 = exact)."""
    if dtype == torch.bfloat16:
        if ulps == 0:
            assert_exact(ours, ref.float(), torch.bfloat16, what)
        else:
            assert_bf16(ours, ref, what, ulps, exact_ref)
    else:
        if isinstance(tol, (int, float)) and tol == 0:
            assert_exact(ours, ref, torch.float32, what)
        else:
            assert_f32(ours, ref, tol, what)


# ---- tolerance builders (float32, against a float64 reference) -------------

def tol_eltwise(fn, x64, k):
    """K eps (|f(x)| + |x f'(x)|) with f' from autograd in float64."""
    x = x64.detach().clone().requires_grad_(True)
    y = fn(x)
    (g,) = torch.autograd.grad(y.sum(), x, allow_unused=True)
    if g is None:
        g = torch.zeros_like(x)
    cond = torch.nan_to_num((x.detach() * g).abs(), nan=0.0, posinf=0.0)
    return k * EPS * (torch.nan_to_num(y.detach().abs(), nan=0.0, posinf=0.0) + cond)


def tol_relative(ref64, k):
    return k * EPS * ref64.abs()


def tol_softmax(x64, ref64, dim):
    if x64.numel() == 0:
        return 0.0
    n = x64.shape[dim] if x64.dim() else 1
    m = x64.amax(dim=dim, keepdim=True) if x64.dim() else x64
    spread = torch.nan_to_num((x64 - m).abs(), nan=0.0, posinf=0.0)
    return EPS * (8 + 2 * spread + n) * ref64.abs()


def reduced_count(shape, dim):
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return max(1, math.prod(shape))
    dims = [dim] if isinstance(dim, int) else list(dim)
    return max(1, math.prod(shape[d] for d in dims))


def tol_mean(x64, ref64, dims, keepdim):
    n = reduced_count(tuple(x64.shape), dims)
    if dims is None or (isinstance(dims, (list, tuple)) and len(dims) == 0):
        dims = list(range(x64.dim()))
    if x64.numel() == 0:
        return 0.0
    mabs = x64.abs().mean(dim=dims, keepdim=keepdim) if x64.dim() else x64.abs()
    return (n + 2) * EPS * mabs + 2 * EPS * ref64.abs()


def tol_norm(x64, ref64, ord, dims):
    if ord in (0, math.inf, -math.inf):
        return 0.0
    n = reduced_count(tuple(x64.shape), dims)
    return (n + 4 * abs(ord) + 4) * EPS * ref64.abs()


def tol_matmul(k, absprod, absbias=None, alpha=1.0, beta=1.0):
    t = abs(alpha) * absprod
    if absbias is not None and beta != 0:
        t = t + abs(beta) * absbias
    return (k + 3) * EPS * t


def tol_conv(x64, w64, b64, **conv_args):
    """Convolution bound: (n + 3) eps (|x| conv |w| + |b|), n the (blocked)
    reduction length (see the module docstring)."""
    import torch.nn.functional as F

    r = w64.shape[1] * w64.shape[2] * w64.shape[3]
    n = min(r, 4096 + math.ceil(r / 4096))
    absprod = F.conv2d(x64.abs(), w64.abs(), None, **conv_args)
    if b64 is not None:
        shape = [1] * absprod.dim()
        shape[-3] = -1
        absprod = absprod + b64.abs().reshape(shape)
    return (n + 3) * EPS * absprod
