"""convolution (op 47 of the op table, not one of the 46 seed ops) against
torch.nn.functional.conv2d and aten.convolution, float32 and bfloat16, NCHW,
channels-last and non-contiguous inputs, with the rules of op_numerics.py:
float32 within (n + 3) eps (|x| conv |w| + |b|) of the float64 result (n the
blocked reduction length), bfloat16 within 1 ulp of torch's float32 result on
the same inputs rounded once (or of float64 rounded once, or within 1 ulp plus
that float32 bound of float64 where a long sum cancels to near 0). Then the aten
signature, planned runs (chunked under budgets, bit for bit the plain call) and
the error cases: where torch raises, we raise InvalidArgument naming the op.
"""
import math
import zlib

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

import oomless  # noqa: E402
import op_numerics as N  # noqa: E402

F32, BF16 = torch.float32, torch.bfloat16
A = torch.ops.aten

# (label, input shape, weight shape, bias, F.conv2d keywords)
CASES = [
    ("1x1", (2, 8, 5, 7), (12, 8, 1, 1), True, {}),
    ("3x3", (1, 5, 9, 11), (7, 5, 3, 3), False, dict(padding=1)),
    ("3x3 s2", (2, 3, 17, 15), (16, 3, 3, 3), True, dict(stride=2, padding=1)),
    ("dilation", (1, 4, 12, 14), (6, 4, 3, 3), True, dict(padding=2, dilation=2)),
    ("pairs", (1, 3, 13, 17), (5, 3, 3, 2), False,
     dict(stride=(1, 2), padding=(1, 3), dilation=(2, 1))),
    ("odd", (3, 3, 7, 5), (5, 3, 2, 3), True, dict(stride=3)),
    ("pad beyond half", (1, 2, 4, 5), (3, 2, 3, 3), True, dict(padding=4)),
    ("groups 2", (2, 8, 9, 9), (12, 4, 3, 3), True, dict(padding=1, groups=2)),
    ("groups 4", (1, 12, 6, 7), (8, 3, 3, 3), False, dict(padding=1, groups=4)),
    ("depthwise x2", (1, 6, 8, 8), (12, 1, 3, 3), True, dict(padding=1, groups=6)),
    ("7x7 depthwise", (1, 20, 13, 18), (20, 1, 7, 7), True, dict(padding=3, groups=20)),
    ("3x3 depthwise s2", (1, 35, 9, 21), (35, 1, 3, 3), False,
     dict(stride=2, padding=1, groups=35)),
    ("batch 0", (0, 3, 5, 5), (4, 3, 3, 3), True, dict(padding=1)),
    ("batch 3", (3, 4, 6, 5), (2, 4, 3, 3), True, dict(padding=1)),
    ("unbatched", (3, 10, 9), (4, 3, 3, 3), True, dict(padding=1)),
    ("same", (2, 4, 9, 10), (6, 4, 3, 3), True, dict(padding="same")),
    ("same even", (2, 4, 9, 10), (6, 4, 4, 3), True, dict(padding="same", dilation=(2, 1))),
    ("valid", (1, 3, 8, 8), (4, 3, 3, 3), False, dict(padding="valid")),
    # YOLOv12x's convolutions at 1/16 (the stem at 1/4) of 2176x3840: the stem,
    # a 1x1 and a 3x3 of its blocks, AAttn's 7x7 depthwise pe, Detect's 3x3
    # depthwise and its box branch on P5 (768 x 9 = 6912 products: two blocks).
    ("yolo stem", (1, 3, 136, 240), (96, 3, 3, 3), False, dict(stride=2, padding=1)),
    ("yolo 1x1 384", (1, 384, 17, 30), (384, 384, 1, 1), True, {}),
    ("yolo 3x3 96", (1, 96, 34, 60), (96, 96, 3, 3), False, dict(padding=1)),
    ("yolo pe 7x7 dw", (1, 384, 17, 30), (384, 1, 7, 7), True, dict(padding=3, groups=384)),
    ("yolo 3x3 dw", (1, 384, 34, 60), (384, 1, 3, 3), False, dict(padding=1, groups=384)),
    ("yolo 3x3 768->96", (1, 768, 9, 15), (96, 768, 3, 3), False, dict(padding=1)),
]
LAYOUTS = ("nchw", "channels_last", "strided")


def _inputs(label, xs, ws, bias, dtype, layout):
    g = torch.Generator().manual_seed(zlib.crc32(label.encode()))
    if layout == "strided":  # channels and rows narrowed out of a larger tensor
        big = list(xs)
        big[-3] += 2
        big[-2] += 3
        x = torch.randn(big, generator=g)[..., 1:xs[-3] + 1, 2:xs[-2] + 2, :]
    else:
        x = torch.randn(xs, generator=g)
    w = torch.randn(ws, generator=g) / math.sqrt(ws[1] * ws[2] * ws[3])
    b = torch.randn(ws[0], generator=g) if bias else None
    x, w = x.to(dtype), w.to(dtype)
    b = b.to(dtype) if b is not None else None
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    return x, w, b


def _params():
    out = []
    for c in CASES:
        for dtype in (F32, BF16):
            for layout in LAYOUTS:
                if layout != "nchw" and len(c[1]) != 4:
                    continue
                out.append(pytest.param(c, dtype, layout,
                                        id=f"{c[0]}-{str(dtype)[6:]}-{layout}"))
    return out


def check(ours, x, w, b, dtype, what, **kw):
    x64, w64 = x.double(), w.double()
    b64 = b.double() if b is not None else None
    ref64 = F.conv2d(x64, w64, b64, **kw)
    if dtype == F32:
        N.assert_f32(ours, ref64, N.tol_conv(x64, w64, b64, **kw), what)
    else:
        ref32 = F.conv2d(x.float(), w.float(), b.float() if b is not None else None, **kw)
        N.assert_bf16(ours, ref32, what, exact_ref=ref64, abs_tol=N.tol_conv(x64, w64, b64, **kw))


@pytest.mark.parametrize("case,dtype,layout", _params())
def test_conv2d_matches_torch(case, dtype, layout):
    label, xs, ws, bias, kw = case
    x, w, b = _inputs(label, xs, ws, bias, dtype, layout)
    ours = oomless.conv2d(x, w, b, **kw)
    check(ours, x, w, b, dtype, f"{label} {dtype} {layout}", **kw)
    if layout == "channels_last" and ours.numel() > 0:  # torch keeps the memory format
        ref = F.conv2d(x, w, b, **kw)
        assert ours.is_contiguous(memory_format=torch.channels_last) == ref.is_contiguous(
            memory_format=torch.channels_last)


def _pair(v):
    return [v, v] if isinstance(v, int) else list(v)


@pytest.mark.parametrize("dtype", (F32, BF16))
def test_aten_convolution_signature(dtype):
    for label, xs, ws, bias, kw in CASES:
        if isinstance(kw.get("padding"), str):
            continue
        x, w, b = _inputs(label, xs, ws, bias, dtype, "nchw")
        stride, padding = _pair(kw.get("stride", 1)), _pair(kw.get("padding", 0))
        dilation, groups = _pair(kw.get("dilation", 1)), kw.get("groups", 1)
        ours = oomless.convolution(x, w, b, stride, padding, dilation, False, [0, 0], groups)
        aten = A.convolution if x.dim() == 4 else lambda x, *a: A.convolution(x[None], *a)[0]
        ref_shape = aten(x.float(), w.float(), None if b is None else b.float(), stride, padding,
                         dilation, False, [0, 0], groups).shape
        assert ours.shape == ref_shape, label
        check(ours, x, w, b, dtype, f"aten {label}", **kw)
        # By keyword, and bit for bit the same as positionally.
        again = oomless.convolution(input=x, weight=w, bias=b, stride=stride, padding=padding,
                                    dilation=dilation, groups=groups)
        assert torch.equal(again.view(torch.int16) if dtype == BF16 else again,
                           ours.view(torch.int16) if dtype == BF16 else ours), label


def test_explicit_channels_last_input_and_numpy():
    x, w, b = _inputs("nhwc", (2, 5, 9, 8), (6, 5, 3, 3), True, F32, "nchw")
    nhwc = x.permute(0, 2, 3, 1).contiguous()
    ours = oomless.convolution(nhwc, w, b, 1, 1, channels_last=True)
    assert ours.shape == (2, 9, 8, 6)
    check(ours.permute(0, 3, 1, 2), x, w, b, F32, "channels_last=True", padding=1)
    # NCHW and channels-last compute every element the same way: equal bits.
    assert torch.equal(ours.permute(0, 3, 1, 2), oomless.conv2d(x, w, b, padding=1))
    out = oomless.conv2d(x.numpy(), w.numpy(), b.numpy(), padding=1)
    assert isinstance(out, type(x.numpy()))
    assert torch.equal(torch.tensor(out), oomless.conv2d(x, w, b, padding=1))


@pytest.mark.parametrize("dtype", (F32, BF16))
def test_planned_runs_chunk_rows_and_match_the_plain_call(dtype):
    x, w, b = _inputs("planned", (1, 8, 256, 64), (16, 8, 3, 3), True, dtype, "nchw")
    plain = oomless.conv2d(x, w, b, padding=1)
    # Budgets: L1 for a streaming program's CBs (2 tiles per operand, 4 of
    # partials: < 64 KiB per core; TT-NN's own conv2d needs L1_SMALL, which the
    # default device has none of), DRAM for 60% of the input and output as tiles
    # (NCHW: whole tiles here), so rows are cut in chunks.
    q = oomless.query("convolution", [list(x.shape), list(w.shape), list(b.shape)],
                      args={"padding": 1}, memory="dram", dtype="f32" if dtype == F32 else "bf16")
    l1 = 65536 * q["l1_banks"]
    dram = int(0.6 * (x.numel() + plain.numel()) * x.element_size())
    r = oomless.run("conv2d", x, w, b, padding=1, policy="auto", memory="l1", l1_budget=l1,
                    dram_budget=dram)
    assert r.strategy == "chunked" and r.chunks > 1, r
    assert r.peak_l1_per_bank <= r.l1_bank_size and r.peak_dram_per_bank <= r.dram_bank_size
    assert torch.equal(r.value.view(torch.int16) if dtype == BF16 else r.value,
                       plain.view(torch.int16) if dtype == BF16 else plain)
    with pytest.raises(oomless.OutOfMemory):
        oomless.run("convolution", x, w, b, 1, 1, policy="strict", memory="l1", l1_budget=l1)


# (x shape, w shape, bias shape, F.conv2d keywords, what our message contains)
ERRORS = [
    ((1, 4, 5, 5), (2, 3, 3, 3), None, {}, "got 4 channels"),
    ((1, 6, 5, 5), (6, 2, 3, 3), None, dict(groups=4), "divisible by 4"),
    ((1, 6, 5, 5), (8, 2, 3, 3), None, dict(groups=4), "8 channels"),
    ((1, 3, 5, 5), (4, 3, 3, 3), None, dict(stride=0), "stride=[0, 0]"),
    ((1, 3, 5, 5), (4, 3, 3, 3), None, dict(padding=-1), "padding=[-1, -1]"),
    ((1, 3, 5, 5), (4, 3, 3, 3), None, dict(dilation=(1, 0)), "dilation=[1, 0]"),
    ((1, 3, 2, 2), (4, 3, 3, 3), None, {}, "(2 x 2)"),
    ((1, 3, 5, 5), (4, 3, 3, 3), (5,), {}, "bias of size [5]"),
    ((1, 3, 5, 5), (4, 3, 3), None, {}, "[4,3,3]"),
    ((5, 5), (4, 3, 3, 3), None, {}, "[5,5]"),
    ((1, 3, 5, 5), (4, 3, 3, 3), None, dict(padding="same", stride=2), "strided"),
    ((1, 3, 5, 5), (4, 3, 3, 3), None, dict(padding="full"), "'full'"),
]


@pytest.mark.parametrize("xs,ws,bs,kw,needle", ERRORS, ids=[e[-1] for e in ERRORS])
def test_errors_where_torch_raises(xs, ws, bs, kw, needle):
    x, w = torch.randn(xs), torch.randn(ws)
    b = torch.randn(bs) if bs else None
    with pytest.raises((RuntimeError, ValueError)):
        F.conv2d(x, w, b, **kw)
    with pytest.raises(oomless.InvalidArgument) as e:
        oomless.conv2d(x, w, b, **kw)
    assert "[convolution]" in str(e.value) and needle in str(e.value), str(e.value)


def test_dtype_errors_and_transposed():
    x, w = torch.randn(1, 3, 5, 5), torch.randn(4, 3, 3, 3)
    with pytest.raises(RuntimeError):
        F.conv2d(x, w.to(BF16))
    with pytest.raises(oomless.InvalidArgument, match=r"\[convolution\].*one dtype"):
        oomless.conv2d(x, w.to(BF16))
    # Integer convolution exists in torch; the kernels take float32 and bfloat16.
    with pytest.raises(oomless.InvalidArgument, match=r"\[convolution\].*int64"):
        oomless.conv2d(x.long(), w.long())
    # So does transposed convolution; we do not have it yet, and say so.
    with pytest.raises(oomless.InvalidArgument, match=r"\[convolution\] transposed"):
        oomless.convolution(x, w, None, 1, 0, 1, True, 0, 1)
