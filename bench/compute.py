"""The compute-bound rows of `make bench` (issue 11): every distinct convolution call
of YOLOv12x at 2176x3840 and the GEMMs (the op table's mm, bmm, addmm and linear at
their largest seed shapes, and the model's two attention bmm), each against torch
(torch.nn.functional.conv2d, torch.mm / bmm / addmm / nn.functional.linear) in the
same process, bf16 and f32, convolutions in NCHW and channels-last.

Per row: torch and oomless alternate (torch, ours, torch, ours, ...) after one
warm-up call each (ours packs its weights then; later calls find them in the weight
cache, as a model run does), the times are medians and the ratio is the median of the
pairs' ratios torch / ours (above 1: we are faster), so both sides see the same load
on this shared machine. GFLOP/s and the share of the machine's peak (a register-only
FMA / vdpbf16ps loop, `oomless_bench peak`, best of 3 in the same run) are ours.

Calls are cut (output rows of a convolution, rows M or the batch of a GEMM) where
one would exceed --conv-gflop / --gemm-gflop (time) or --out-mb of output: glibc
serves larger allocations with fresh pages, so torch, which allocates every output,
would pay first-touch page faults our warm pool does not (DESIGN.md 5); the worker
process keeps glibc's heap warm below that size (MALLOC_MMAP_THRESHOLD_ /
MALLOC_TRIM_THRESHOLD_). Each cut is stated in the row's notes.
"""
import math
import statistics
import time

# Every distinct convolution call of YOLOv12x at 2176x3840 (python/oomless/models/
# yolov12.py traced on the meta device: `python3 -m oomless.export yolov12 --scale x
# --imgsz 2176,3840 --meta`): (calls in the model, input NCHW, weight, stride, padding,
# groups, bias, module of the first call).
YOLO_CONVS = [
    (1, (1, 3, 2176, 3840), (96, 3, 3, 3), 2, 1, 1, False, "model.0 stem"),
    (1, (1, 96, 1088, 1920), (192, 96, 3, 3), 2, 1, 1, False, "model.1"),
    (1, (1, 384, 544, 960), (384, 384, 3, 3), 2, 1, 1, False, "model.3"),
    (1, (1, 768, 272, 480), (768, 768, 3, 3), 2, 1, 1, False, "model.5"),
    (1, (1, 384, 272, 480), (384, 384, 3, 3), 2, 1, 1, False, "model.15"),
    (2, (1, 768, 136, 240), (768, 768, 3, 3), 2, 1, 1, False, "model.18"),
    (8, (1, 48, 544, 960), (48, 48, 3, 3), 1, 1, 1, False, "model.2 bottleneck"),
    (17, (1, 96, 272, 480), (96, 96, 3, 3), 1, 1, 1, False, "model.4 bottleneck, Detect box"),
    (16, (1, 192, 136, 240), (192, 192, 3, 3), 1, 1, 1, False, "model.11/17 bottleneck"),
    (8, (1, 192, 68, 120), (192, 192, 3, 3), 1, 1, 1, False, "model.20 bottleneck"),
    (1, (1, 384, 272, 480), (96, 384, 3, 3), 1, 1, 1, False, "Detect box P3"),
    (1, (1, 768, 136, 240), (96, 768, 3, 3), 1, 1, 1, False, "Detect box P4"),
    (1, (1, 768, 68, 120), (96, 768, 3, 3), 1, 1, 1, False, "Detect box P5"),
    (1, (1, 96, 136, 240), (96, 96, 3, 3), 1, 1, 1, False, "Detect box P4"),
    (1, (1, 96, 68, 120), (96, 96, 3, 3), 1, 1, 1, False, "Detect box P5"),
    (1, (1, 192, 544, 960), (192, 192, 1, 1), 1, 0, 1, False, "model.2 cv1"),
    (4, (1, 96, 544, 960), (48, 96, 1, 1), 1, 0, 1, False, "model.2 C3k"),
    (2, (1, 96, 544, 960), (96, 96, 1, 1), 1, 0, 1, False, "model.2 C3k cv3"),
    (1, (1, 384, 544, 960), (384, 384, 1, 1), 1, 0, 1, False, "model.2 cv2"),
    (3, (1, 384, 272, 480), (384, 384, 1, 1), 1, 0, 1, False, "model.4, Detect cls"),
    (8, (1, 192, 272, 480), (96, 192, 1, 1), 1, 0, 1, False, "model.4/14 C3k"),
    (4, (1, 192, 272, 480), (192, 192, 1, 1), 1, 0, 1, False, "model.4/14 C3k cv3"),
    (1, (1, 768, 272, 480), (768, 768, 1, 1), 1, 0, 1, False, "model.4 cv2"),
    (1, (1, 1536, 272, 480), (192, 1536, 1, 1), 1, 0, 1, False, "model.14 cv1"),
    (1, (1, 576, 272, 480), (384, 576, 1, 1), 1, 0, 1, False, "model.14 cv2"),
    (8, (1, 384, 136, 240), (1152, 384, 1, 1), 1, 0, 1, False, "model.6 attn qkv"),
    (13, (1, 384, 136, 240), (384, 384, 1, 1), 1, 0, 1, False, "model.6 attn proj, Detect cls"),
    (8, (1, 384, 136, 240), (460, 384, 1, 1), 1, 0, 1, False, "model.6 mlp"),
    (8, (1, 460, 136, 240), (384, 460, 1, 1), 1, 0, 1, False, "model.6 mlp"),
    (1, (1, 1920, 136, 240), (768, 1920, 1, 1), 1, 0, 1, False, "model.6 cv2"),
    (2, (1, 768, 136, 240), (384, 768, 1, 1), 1, 0, 1, False, "Detect cls P4"),
    (1, (1, 1536, 136, 240), (384, 1536, 1, 1), 1, 0, 1, False, "model.11 cv1"),
    (8, (1, 384, 136, 240), (192, 384, 1, 1), 1, 0, 1, False, "model.11/17 C3k"),
    (2, (1, 1152, 136, 240), (768, 1152, 1, 1), 1, 0, 1, False, "model.17 cv2"),
    (1, (1, 1152, 136, 240), (384, 1152, 1, 1), 1, 0, 1, False, "model.17 cv1"),
    (8, (1, 384, 68, 120), (1152, 384, 1, 1), 1, 0, 1, False, "model.8 attn qkv"),
    (11, (1, 384, 68, 120), (384, 384, 1, 1), 1, 0, 1, False, "model.8 attn proj, Detect cls"),
    (8, (1, 384, 68, 120), (460, 384, 1, 1), 1, 0, 1, False, "model.8 mlp"),
    (8, (1, 460, 68, 120), (384, 460, 1, 1), 1, 0, 1, False, "model.8 mlp"),
    (1, (1, 1920, 68, 120), (768, 1920, 1, 1), 1, 0, 1, False, "model.8 cv2"),
    (2, (1, 768, 68, 120), (384, 768, 1, 1), 1, 0, 1, False, "Detect cls P5"),
    (2, (1, 1536, 68, 120), (768, 1536, 1, 1), 1, 0, 1, False, "model.20 cv2"),
    (4, (1, 384, 68, 120), (192, 384, 1, 1), 1, 0, 1, False, "model.20 C3k"),
    (1, (1, 96, 272, 480), (64, 96, 1, 1), 1, 0, 1, True, "Detect box out P3"),
    (1, (1, 384, 272, 480), (80, 384, 1, 1), 1, 0, 1, True, "Detect cls out P3"),
    (1, (1, 96, 136, 240), (64, 96, 1, 1), 1, 0, 1, True, "Detect box out P4"),
    (1, (1, 384, 136, 240), (80, 384, 1, 1), 1, 0, 1, True, "Detect cls out P4"),
    (1, (1, 96, 68, 120), (64, 96, 1, 1), 1, 0, 1, True, "Detect box out P5"),
    (1, (1, 384, 68, 120), (80, 384, 1, 1), 1, 0, 1, True, "Detect cls out P5"),
    (1, (1, 16, 4, 171360), (1, 16, 1, 1), 1, 0, 1, False, "Detect DFL"),
    (8, (1, 384, 136, 240), (384, 1, 7, 7), 1, 3, 384, False, "model.6 attn pe (7x7 dw)"),
    (8, (1, 384, 68, 120), (384, 1, 7, 7), 1, 3, 384, False, "model.8 attn pe (7x7 dw)"),
    (2, (1, 384, 272, 480), (384, 1, 3, 3), 1, 1, 384, False, "Detect cls dw P3"),
    (1, (1, 768, 136, 240), (768, 1, 3, 3), 1, 1, 768, False, "Detect cls dw P4"),
    (1, (1, 384, 136, 240), (384, 1, 3, 3), 1, 1, 384, False, "Detect cls dw P4"),
    (1, (1, 768, 68, 120), (768, 1, 3, 3), 1, 1, 768, False, "Detect cls dw P5"),
    (1, (1, 384, 68, 120), (384, 1, 3, 3), 1, 1, 384, False, "Detect cls dw P5"),
]

# The model's attention bmm (AAttn at 2176x3840, layer 6: 48 heads of 8160 tokens):
# q^T k on contiguous operands, and v @ attn^T with attn^T a transposed view.
ATTENTION = [
    ("attention q^T k", (48, 8160, 32), (48, 32, 8160), False),
    ("attention v attn^T", (48, 32, 8160), (48, 8160, 8160), True),
]


def conv_kind(w, groups):
    if groups > 1 and w[1] == 1:
        return f"{w[2]}x{w[3]} depthwise"
    return f"{w[2]}x{w[3]}"


def conv_rows(opts):
    """(row template, torch/ours argument tuple) per conv shape, cut as the module
    docstring says."""
    out = []
    for count, xs, ws, s, p, g, bias, where in YOLO_CONVS:
        if opts.shapes and not any(k in f"{where} {xs} {ws}" for k in opts.shapes.split(",")):
            continue
        n, c, h, w = xs
        oh, ow = (h + 2 * p - ws[2]) // s + 1, (w + 2 * p - ws[3]) // s + 1
        per_row = 2 * ws[0] * ow * ws[1] * ws[2] * ws[3]
        notes = []
        rows = oh
        # The f32 output bounds both dtypes' cut (the same call in both tables).
        cap_rows = min(int(opts.conv_gflop * 1e9 // per_row),
                       int(opts.out_mb * 2**20 // (ws[0] * ow * 4)))
        if cap_rows < oh:
            rows = max(1, cap_rows)
            notes.append(f"output rows cut to {rows} of {oh}")
        hin = h if rows == oh else min(h, (rows - 1) * s + ws[2] - 2 * p)
        out.append(dict(kind="conv", name=where, count=count, x=[n, c, hin, w], w=list(ws),
                        stride=s, padding=p, groups=g, bias=bias, flops=per_row * rows,
                        full_flops=per_row * oh, notes=notes,
                        label=f"{conv_kind(ws, g)}{' s2' if s == 2 else ''} {c}->{ws[0]} @{oh}x{ow}"))
    return out


def gemm_rows(opts, seed_cases):
    """The op table's GEMM seed cases and the attention bmm, cut to --gemm-gflop."""
    out = []
    cap = opts.gemm_gflop * 1e9
    out_cap = opts.out_mb * 2**20 / 4
    for op, shapes in seed_cases:
        s = [list(x) for x in shapes]
        notes = []
        if op == "mm":
            m, k, n, b = s[0][0], s[0][1], s[1][1], 1
        elif op == "bmm":
            b, m, k, n = s[0][0], s[0][1], s[0][2], s[1][2]
        elif op == "addmm":
            m, k, n, b = s[1][0], s[1][1], s[2][1], 1
        else:  # linear [..., k] @ [n, k]^T
            m, k, n, b = math.prod(s[0][:-1]), s[0][-1], s[1][0], 1
        full = 2 * b * m * n * k
        if op == "bmm" and 2 * b * m * n * k > cap:
            b2 = max(1, int(cap // (2 * m * n * k)))
            notes.append(f"batch cut to {b2} of {b}")
            s[0][0] = s[1][0] = b = b2
        if 2 * b * m * n * k > cap or b * m * n > out_cap:
            m2 = max(32, min(int(cap // (2 * b * n * k)), int(out_cap // (b * n))) // 32 * 32)
            if m2 < m:
                notes.append(f"rows cut to {m2} of {m}")
                if op == "mm":
                    s[0][0] = m2
                elif op == "addmm":
                    s[0][0] = s[1][0] = m2
                elif op == "linear":
                    s[0] = [m2, k] if len(s[0]) == 2 else [1, m2, k]
                m = m2
        out.append(dict(kind="gemm", op=op, name=f"{op} (op table seed)", shapes=s,
                        flops=2 * b * m * n * k, full_flops=full, transposed_b=False,
                        notes=notes, label=f"{op} " + " ".join(
                            "[" + ",".join(map(str, x)) + "]" for x in s)))
    for name, a, bsh, bt in ATTENTION:
        b, m, k, n = a[0], a[1], a[2], bsh[2]
        a, bsh = list(a), list(bsh)
        full = 2 * b * m * n * k
        notes = []
        b2 = max(1, min(b, int(cap // (2 * m * n * k)), int(out_cap // (m * n)) or 1))
        if b2 < b:
            notes.append(f"batch cut to {b2} of {b}")
        a[0] = bsh[0] = b2
        if b2 * m * n > out_cap:
            m2 = max(32, int(out_cap // (b2 * n)) // 32 * 32)
            notes.append(f"rows cut to {m2} of {m}")
            a[1] = m = m2
        out.append(dict(kind="gemm", op="bmm", name=name, shapes=[a, bsh],
                        flops=2 * b2 * m * n * k, full_flops=full, transposed_b=bt, notes=notes,
                        label=f"bmm [{','.join(map(str, a))}] @ [{','.join(map(str, bsh))}]"
                              + ("ᵀ-view" if bt else "")))
    return out


def paired(torch_fn, ours_fn, reps, budget):
    """Median times of torch and ours over alternating pairs (after one warm-up call
    each) and the median of the pairs' ratios torch / ours."""
    t0 = time.perf_counter()
    torch_fn()
    ours_fn()
    first = time.perf_counter() - t0
    n = max(2, min(reps, int(budget / max(first, 1e-9))))
    pairs = []
    for _ in range(n):
        t0 = time.perf_counter()
        torch_fn()
        t1 = time.perf_counter()
        ours_fn()
        t2 = time.perf_counter()
        pairs.append((t1 - t0, t2 - t1))
    return (statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs),
            statistics.median(p[0] / p[1] for p in pairs), n)


def measure(row, dtype, layout, torch, oomless, opts):
    import torch.nn.functional as F

    dt = {"bf16": torch.bfloat16, "f32": torch.float32}[dtype]
    gen = torch.Generator().manual_seed(0)
    if row["kind"] == "conv":
        x = torch.randn(row["x"], generator=gen).to(dt)
        if layout == "channels_last":
            x = x.contiguous(memory_format=torch.channels_last)
        ws = row["w"]
        w = (torch.randn(ws, generator=gen) / math.sqrt(ws[1] * ws[2] * ws[3])).to(dt)
        b = torch.randn(ws[0], generator=gen).to(dt) if row["bias"] else None
        args = (b, row["stride"], row["padding"], 1, row["groups"])
        tf = lambda: F.conv2d(x, w, *args)  # noqa: E731
        of = lambda: oomless.conv2d(x, w, *args)  # noqa: E731
    else:
        s = row["shapes"]
        ins = []
        for i, sh in enumerate(s):
            if row["transposed_b"] and i == 1:  # a transposed view of a contiguous tensor
                t = torch.randn(*sh[:-2], sh[-1], sh[-2], generator=gen).to(dt).transpose(-1, -2)
            else:
                t = torch.randn(*sh, generator=gen).to(dt)
            ins.append(t)
        op = row["op"]
        tfn = {"mm": torch.mm, "bmm": torch.bmm, "addmm": torch.addmm,
               "linear": F.linear}[op]
        ofn = getattr(oomless, op)
        tf = lambda: tfn(*ins)  # noqa: E731
        of = lambda: ofn(*ins)  # noqa: E731
    t_torch, t_ours, ratio, n = paired(tf, of, opts.reps, opts.budget)
    return {"torch_s": t_torch, "ours_s": t_ours, "ratio": ratio, "pairs": n,
            "gflops": row["flops"] / t_ours * 1e-9, "torch_gflops": row["flops"] / t_torch * 1e-9}


def peak_for(peak, dtype):
    """The cores' peak for dtype: over the loop threads' own CPU time when measured
    (other processes' turns on the shared cores excluded), else over wall time."""
    key = "bf16_dpbf16_gflops" if dtype == "bf16" else "f32_fma_gflops"
    return peak.get(key + "_cpu") or peak[key]


def run(opts, torch, oomless, peak, seed_cases, log=print):
    """All compute rows for the selected dtypes (and ops: convolution and the GEMM
    op names of --ops, or all)."""
    wanted = set(opts.ops.split(",")) if opts.ops else None
    rows = []
    templates = []
    if wanted is None or "convolution" in wanted:
        templates += conv_rows(opts)
    gemm_cases = [(op, sh) for op, sh in seed_cases if wanted is None or op in wanted]
    if wanted is None or "bmm" in wanted:
        templates += gemm_rows(opts, gemm_cases)
    else:
        templates += [t for t in gemm_rows(opts, gemm_cases) if t["name"].endswith("seed)")]
    for dtype in opts.dtype.split(","):
        pk = peak_for(peak, dtype)
        for t in templates:
            layouts = ["nchw", "channels_last"] if t["kind"] == "conv" else ["-"]
            for layout in layouts:
                r = dict(t, dtype=dtype, layout=layout, peak_gflops=pk)
                try:
                    r.update(measure(t, dtype, layout, torch, oomless, opts))
                except (RuntimeError, MemoryError) as e:  # noqa: PERF203
                    r["error"] = str(e).splitlines()[0][:120]
                rows.append(r)
                if "ratio" in r:
                    log(f"{t['label']:>40} {dtype} {layout:>13}: ours {r['gflops']:6.0f} GFLOP/s "
                        f"({100 * r['gflops'] / pk:3.0f}% of peak), torch {r['torch_gflops']:6.0f}, "
                        f"{r['ratio']:.2f}x")
                else:
                    log(f"{t['label']:>40} {dtype} {layout}: {r['error']}")
    return rows


def markdown(rows, peak, info):
    """The section of BENCHMARKS.md with these rows and their target checks."""
    L = ["## Convolution and GEMM against torch (issue 11)", "",
         f"Measured by `make bench` on {info['date']} (git {info['git']}), "
         f"{info['threads']} threads for both sides. Peak of this machine in the same run "
         f"(`oomless_bench peak`, register-only loop on {info['threads']} threads, best of 3): "
         f"f32 FMA {peak_for(peak, 'f32'):.0f} GFLOP/s, bf16 vdpbf16ps "
         f"{peak_for(peak, 'bf16'):.0f} GFLOP/s"
         + (f" over the loop threads' CPU time ({peak['f32_fma_gflops']:.0f} and "
            f"{peak['bf16_dpbf16_gflops']:.0f} over wall time: the share of the cores this "
            "process got)" if peak.get("f32_fma_gflops_cpu") else "")
         + "; *% peak* is our wall-clock GFLOP/s over it. Torch and ours alternate after one warm-up call "
         "each; *vs torch* is the median of the pairs' ratios torch time / our time (the target "
         "is >= 1.0x). Calls are cut where noted (output rows; a cut conv computes whole "
         "output rows of the same width and channels): at most the `--conv-gflop` / "
         "`--gemm-gflop` time budget and 32 MB of output, so that neither side pays "
         "first-touch page faults for its output (glibc's heap is kept warm for torch below "
         "32 MB, ours comes from the host pool). *calls* is how often the model makes the "
         "call per forward."]
    if info.get("load"):
        L[-1] += (f" Load average (1 min) of this shared 2-core machine: {info['load'][0]:.1f} "
                  f"at the start, {info['load'][-1]:.1f} at the end: other processes take most "
                  "of the cores, so the absolute GFLOP/s and the share of the peak move "
                  "from row to row; the same-run ratios are the "
                  "measurement.")
    L.append("")
    met = [r for r in rows if r.get("ratio", 0) >= 1.0]
    missed = [r for r in rows if "ratio" in r and r["ratio"] < 1.0]
    for dtype in ("bf16", "f32"):
        sub = [r for r in rows if r["dtype"] == dtype]
        if not sub:
            continue
        L += [f"### {dtype}", "",
              "| call | calls | where | layout | ours | torch | vs torch | ours GFLOP/s | % peak "
              "| notes |",
              "|---|---:|---|---|---:|---:|---:|---:|---:|---|"]
        for r in sub:
            if "ratio" not in r:
                L.append(f"| {r['label']} | {r.get('count', '')} | {r['name']} | {r['layout']} "
                         f"| - | - | - | - | - | {r.get('error', '')} |")
                continue
            ok = "" if r["ratio"] >= 1.0 else " **(below 1.0x)**"
            L.append(f"| {r['label']} | {r.get('count', '')} | {r['name']} | {r['layout']} | "
                     f"{r['ours_s'] * 1e3:.1f} ms | {r['torch_s'] * 1e3:.1f} ms | "
                     f"{r['ratio']:.2f}x{ok} | {r['gflops']:.0f} | "
                     f"{100 * r['gflops'] / r['peak_gflops']:.0f}% | {'; '.join(r['notes'])} |")
        L.append("")
    L += [f"Target >= 1.0x torch: {len(met)} rows met, {len(missed)} missed.", ""]
    return "\n".join(L) + "\n"
