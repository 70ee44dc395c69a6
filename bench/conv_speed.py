"""Convolution speed against torch.nn.functional.conv2d (not part of `make bench`).

YOLOv12x's convolutions at a quarter or half of the 2176x3840 input (the stem
with Cin=3, a 1x1 384->384, a 3x3 96->96, AAttn's 7x7 depthwise pe on 384
channels, Detect's 3x3 depthwise on 384 channels), bf16 and f32, NCHW and
channels-last, same process, same inputs, the same thread count for both
(torch.set_num_threads and OMP_NUM_THREADS). After one warm-up call each, torch
and ours are timed alternately --reps times (the machine is shared: pairs see
the same load); the table has the median times and the median of the pairs'
ratios torch / ours (above 1: we are faster).

    PYTHONPATH=build/python /usr/bin/python3 bench/conv_speed.py [--reps 7] [--json out.json]
"""
import argparse
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F

# (name, input NCHW, weight, stride, padding, groups)
SHAPES = [
    ("stem 3x3 s2 3->96 @544x960", (1, 3, 544, 960), (96, 3, 3, 3), 2, 1, 1),
    ("1x1 384->384 @136x240", (1, 384, 136, 240), (384, 384, 1, 1), 1, 0, 1),
    ("3x3 96->96 @272x480", (1, 96, 272, 480), (96, 96, 3, 3), 1, 1, 1),
    ("7x7 dw 384 @136x240", (1, 384, 136, 240), (384, 1, 7, 7), 1, 3, 384),
    ("3x3 dw 384 @272x480", (1, 384, 272, 480), (384, 1, 3, 3), 1, 1, 384),
]


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def paired(f_torch, f_ours, reps):
    """Median times of torch and ours, and the median ratio over alternating pairs."""
    f_torch()
    f_ours()
    pairs = [(timed(f_torch), timed(f_ours)) for _ in range(reps)]
    return (statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs),
            statistics.median(p[0] / p[1] for p in pairs))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", choices=["bf16", "f32", "both"], default="both")
    ap.add_argument("--only", default="", help="substring of the shape names to run")
    ap.add_argument("--json", help="also write the rows here")
    a = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))
    import oomless  # after OMP_NUM_THREADS

    torch.set_num_threads(a.threads)
    dtypes = {"bf16": [torch.bfloat16], "f32": [torch.float32],
              "both": [torch.bfloat16, torch.float32]}[a.dtype]
    rows = []
    print("| shape | dtype | layout | torch ms | ours ms | torch/ours | ours GFLOP/s |")
    print("|---|---|---|---:|---:|---:|---:|")
    for name, xs, ws, s, p, g in SHAPES:
        if a.only and a.only not in name:
            continue
        for dt in dtypes:
            x = torch.randn(xs).to(dt)
            w = (torch.randn(ws) / (ws[1] * ws[2] * ws[3]) ** 0.5).to(dt)
            for layout in ("nchw", "channels_last"):
                xt = x.contiguous(memory_format=torch.channels_last) if layout != "nchw" else x
                t_torch, t_ours, ratio = paired(lambda: F.conv2d(xt, w, None, s, p, 1, g),
                                                lambda: oomless.conv2d(xt, w, None, s, p, 1, g),
                                                a.reps)
                oh, ow = ((xs[d] + 2 * p - ws[d]) // s + 1 for d in (2, 3))
                flops = 2 * ws[0] * oh * ow * ws[1] * ws[2] * ws[3]
                row = dict(shape=name, dtype=str(dt)[6:], layout=layout, torch_ms=t_torch * 1e3,
                           ours_ms=t_ours * 1e3, ratio=ratio,
                           ours_gflops=flops / t_ours / 1e9)
                rows.append(row)
                print(f"| {name} | {row['dtype']} | {layout} | {row['torch_ms']:.1f} | "
                      f"{row['ours_ms']:.1f} | {row['ratio']:.2f} | {row['ours_gflops']:.0f} |",
                      flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
