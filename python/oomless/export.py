"""python3 -m oomless.export MODEL [options] -o FILE.graph.json

Builds a model of the project's zoo (oomless.models), traces it with
oomless.trace and writes the graph file (docs/graph-format.md); without
--meta the random weights go beside it as <stem>.safetensors.

  python3 -m oomless.export yolov12 --scale x --imgsz 2176,3840 --dtype bf16 --meta \\
      -o results/yolov12x-2176x3840.graph.json
"""
import argparse
import os
import sys
import time

DTYPES = {"bf16": "bfloat16", "f32": "float32"}


def _imgsz(text):
    try:
        parts = [int(p) for p in text.replace("x", ",").split(",")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) <= 0:
        raise argparse.ArgumentTypeError(f"--imgsz wants H,W or one size, got {text!r}")
    return parts


def parser():
    from .models import MODELS, SCALES

    p = argparse.ArgumentParser(
        prog="python3 -m oomless.export",
        description="Trace a model of oomless.models into an oomless graph file "
                    "(docs/graph-format.md).")
    p.add_argument("model", choices=sorted(MODELS), help="the model to build")
    p.add_argument("--scale", default="x", choices=list(SCALES), help="yolov12 scale (default x)")
    p.add_argument("--nc", type=int, default=None, help="number of classes (default: the model's)")
    p.add_argument("--imgsz", type=_imgsz, default=[640, 640], metavar="H,W",
                   help="input height,width (or one size for a square; default 640)")
    p.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    p.add_argument("--dtype", choices=list(DTYPES), default="bf16", help="model and input dtype")
    p.add_argument("--meta", action="store_true",
                   help="trace on the meta device: no weights are written and no activation "
                        "memory is needed (use this at 4K)")
    p.add_argument("--no-decode", dest="decode", action="store_false",
                   help="yolov12: end at the 3 raw Detect levels (no DFL/box decode)")
    p.add_argument("--channels-last", action="store_true",
                   help="model and input in torch.channels_last, so 4-D strides say NHWC")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    p.add_argument("-o", "--output", help="graph file (default results/<model>-<H>x<W>.graph.json)")
    return p


def build(args):
    import torch
    from .models import CLASSIFIERS, MODELS

    torch.manual_seed(args.seed)
    kwargs = {}
    if args.model == "yolov12":
        kwargs = dict(scale=args.scale, decode=args.decode)
        if args.nc is not None:
            kwargs["nc"] = args.nc
    elif args.nc is not None:
        kwargs["num_classes"] = args.nc
    if args.meta and args.model in CLASSIFIERS:
        kwargs["device"] = "meta"  # no random initialisation of weights nobody keeps
    model = MODELS[args.model](**kwargs)
    dtype = getattr(torch, DTYPES[args.dtype])
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(device="meta" if args.meta else "cpu", dtype=dtype, memory_format=fmt)
    x = torch.empty(args.batch, 3, *args.imgsz, dtype=dtype, device="meta" if args.meta else "cpu")
    if not args.meta:
        x.normal_()
    return model, x.contiguous(memory_format=fmt)


def main(argv=None):
    args = parser().parse_args(argv)
    h, w = args.imgsz
    label = args.model + (args.scale if args.model == "yolov12" else "")
    out = args.output or os.path.join("results", f"{label}-{h}x{w}.graph.json")
    from .trace import trace

    t0 = time.perf_counter()
    model, x = build(args)
    t1 = time.perf_counter()
    print(f"[export] built {label} ({sum(p.numel() for p in model.parameters()):,} parameters, "
          f"{args.dtype}{', meta' if args.meta else ''}) in {t1 - t0:.2f} s", flush=True)
    graph = trace(model, x, name=f"YOLOv12{args.scale}" if args.model == "yolov12" else None)
    t2 = time.perf_counter()
    print(f"[export] traced input {list(x.shape)}: {len(graph)} nodes in {t2 - t1:.2f} s",
          flush=True)
    graph.save(out)
    t3 = time.perf_counter()
    size = os.path.getsize(out)
    extra = ""
    if graph.weights:
        wsize = os.path.getsize(os.path.join(os.path.dirname(out), graph.weights))
        extra = f" + {graph.weights} ({wsize / 2**20:.1f} MiB)"
    print(f"[export] wrote {out} ({size / 2**20:.2f} MiB){extra} in {t3 - t2:.2f} s; "
          f"total {t3 - t0:.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
