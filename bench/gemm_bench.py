#!/usr/bin/env python3
"""GEMM benchmark: oomless's packed GEMM against torch on YOLOv12x's shapes, one run.

For each shape and dtype (bf16, f32) the two are timed interleaved (ours, torch,
ours, torch, ...) with the same thread count, and the best time of each is kept, so
load from other processes on the shared cores hits both alike. Prints GFLOP/s, the
ratio (torch time / our time) and our share of the machine's measured peak (a
register-only FMA / vdpbf16ps loop, `oomless_bench peak`).

  PYTHONPATH=build/python python3 bench/gemm_bench.py [--threads 2] [--reps 5]
      [--dtype bf16,f32] [--only SUBSTRING] [--json out.json]

torch allocates each result fresh (first touch of new pages is slow on this
machine); oomless takes its outputs from a warm pool. For bmm the "torch out="
column times torch writing into a preallocated tensor, which isolates the kernels.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch

import oomless

HERE = os.path.dirname(os.path.abspath(__file__))


def shapes():
    """(name, op, a_shape, b_shape, a_transposed, b_transposed)."""
    s = [("mm 540x1536 @ 1536x7680", "mm", (540, 1536), (1536, 7680), False, False)]
    # Attention at 2176x3840: 48 heads of [8160, 32]; the batch is cut to 2 of 48.
    s += [("bmm QK^T [2,8160,32]@[2,32,8160]", "bmm", (2, 8160, 32), (2, 32, 8160), False, False),
          ("bmm q^T k (views) as in AAttn", "bmm", (2, 8160, 32), (2, 32, 8160), True, False),
          ("bmm PV [2,32,8160]@[2,8160,8160]", "bmm", (2, 32, 8160), (2, 8160, 8160), False, False),
          ("bmm v @ attn^T (view) as in AAttn", "bmm", (2, 32, 8160), (2, 8160, 8160), False, True)]
    # 1x1 convolutions as GEMMs: M = H*W rows, K = C_in, N = C_out.
    for m, k, n in ((130560, 96, 96), (522240, 96, 96), (130560, 192, 384), (130560, 384, 384),
                    (32640, 1536, 1536), (32640, 768, 1536)):
        s.append((f"1x1 conv M={m} K={k} N={n}", "mm", (m, k), (k, n), False, False))
    return s


def make(shape, dtype, transposed, gen):
    """A tensor of `shape`; transposed: a view of the last two dims of a contiguous one."""
    if transposed:
        t = torch.randn(*shape[:-2], shape[-1], shape[-2], generator=gen).to(dtype)
        return t.transpose(-1, -2)
    return torch.randn(*shape, generator=gen).to(dtype)


def best_of(fn, reps):
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def peak(threads):
    exe = os.environ.get("OOMLESS_BENCH", os.path.join(HERE, "..", "build", "oomless_bench"))
    best = {"f32_fma_gflops": 0.0, "bf16_dpbf16_gflops": 0.0}
    for _ in range(3):
        out = subprocess.run([exe, "peak", "--threads", str(threads)], capture_output=True,
                             text=True, check=True).stdout
        r = json.loads(out)
        for key in best:
            best[key] = max(best[key], r.get(key, 0.0))
    return best


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--dtype", default="bf16,f32")
    p.add_argument("--only", default="", help="run shapes whose name contains this")
    p.add_argument("--json", help="also write the rows here")
    opts = p.parse_args()
    torch.set_num_threads(opts.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(opts.threads))
    pk = peak(opts.threads)
    print(f"threads {opts.threads}; measured peak: f32 FMA {pk['f32_fma_gflops']:.0f} GFLOP/s, "
          f"bf16 vdpbf16ps {pk['bf16_dpbf16_gflops']:.0f} GFLOP/s")
    print(f"{'shape':44} {'dtype':5} {'ours':>8} {'torch':>8} {'torch out=':>10} {'vs torch':>8} "
          f"{'% peak':>7}")
    rows = []
    gen = torch.Generator().manual_seed(0)
    for dname in opts.dtype.split(","):
        dtype = {"bf16": torch.bfloat16, "f32": torch.float32}[dname]
        peak_g = pk["bf16_dpbf16_gflops" if dname == "bf16" else "f32_fma_gflops"]
        for name, op, ash, bsh, at, bt in shapes():
            if opts.only and opts.only not in name:
                continue
            a, b = make(ash, dtype, at, gen), make(bsh, dtype, bt, gen)
            batch = ash[0] if op == "bmm" else 1
            m, k, n = ash[-2], ash[-1], bsh[-1]
            flops = 2.0 * batch * m * n * k
            ours_fn = getattr(oomless, op)
            torch_fn = getattr(torch, op)
            out = torch_fn(a, b)  # warm-up, and the preallocated result for out=
            got = ours_fn(a, b)
            err = (got.float() - out.float()).abs().max().item() / max(out.float().abs().max().item(), 1e-30)
            reps = opts.reps if flops < 1e11 else max(2, opts.reps // 2)
            t_ours = t_torch = t_out = float("inf")
            for _ in range(reps):  # interleaved
                t_ours = min(t_ours, best_of(lambda: ours_fn(a, b), 1))
                t_torch = min(t_torch, best_of(lambda: torch_fn(a, b), 1))
                if op == "bmm":
                    t_out = min(t_out, best_of(lambda: torch_fn(a, b, out=out), 1))
            g_ours, g_torch = flops / t_ours * 1e-9, flops / t_torch * 1e-9
            g_out = flops / t_out * 1e-9 if op == "bmm" else None
            row = {"shape": name, "dtype": dname, "op": op, "flops": flops,
                   "ours_gflops": g_ours, "torch_gflops": g_torch, "torch_out_gflops": g_out,
                   "vs_torch": t_torch / t_ours, "share_of_peak": g_ours / peak_g,
                   "max_rel_diff_vs_torch": err}
            rows.append(row)
            out_s = f"{g_out:10.0f}" if g_out else f"{'-':>10}"
            print(f"{name:44} {dname:5} {g_ours:8.0f} {g_torch:8.0f} {out_s} "
                  f"{t_torch / t_ours:7.2f}x {100 * g_ours / peak_g:6.0f}%", flush=True)
            del a, b, out, got
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({"threads": opts.threads, "peak": pk, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
