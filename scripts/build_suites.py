#!/usr/bin/env python3
"""Generates suites/seed.json from ../shared/data/seed_suite.json.

One record per parametrized case of the seed's 46 test files, counted once, with
the inputs as the tests placed them on the device (bf16, TILE, L1 interleaved,
4-D inputs permuted to NHWC unless the test did not permute) and the op
arguments as the op needs them. Where a test passed missing or broken
arguments, `args_note` says what it passed and what we pass instead; harness
bugs that are not about arguments are in `seed_issue`.

    python3 scripts/build_suites.py [SEED_SUITE_JSON] [--out FILE] [--check]

--check compares with the existing file and exits 1 when it is out of date.
Standard library only; the output is deterministic (it is checked in).
"""
import argparse
import json
import re
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SRC = os.path.join(REPO, "..", "shared", "data", "seed_suite.json")
DEFAULT_OUT = os.path.join(REPO, "suites", "seed.json")
DEFAULT_SUMMARY = os.path.join(REPO, "..", "shared", "seed", "OOM_OPERATORS_FINAL_SUMMARY.txt")

SETUP = ("torch.rand(shape, dtype=bfloat16); 4-D inputs permuted (0, 2, 3, 1) to NHWC; "
         "ttnn.from_torch(..., layout=TILE_LAYOUT, memory_config=L1_MEMORY_CONFIG)")


def nhwc(s):
    """The seed's permute(0, 2, 3, 1) for 4-D shapes; other ranks as given."""
    return [s[0], s[2], s[3], s[1]] if len(s) == 4 else list(s)


def ints(v):
    return ",".join(str(int(x)) for x in v)


def fnum(x):
    return repr(float(x))


# ttnn.matmul / ttnn.linear / ttnn.addmm write their output to DRAM when no
# memory_config is passed ("Defaults to None, which will result in using
# ttnn.DRAM_MEMORY_CONFIG"); the seed's tests passed none. Inputs stay in L1.
MATMUL_DRAM_OUTPUT = {"mm", "bmm", "addmm", "linear"}

# Ops whose tests uploaded two identical-shape random inputs (binary template).
TWO_INPUTS = {"add", "sub", "mul", "div", "cat", "concat", "stack", "copy"}


def build_case(op, params):
    """-> (shapes_as_given, shapes, args, args_note) for one parametrized entry."""
    name = op["name"]
    if name in ("mm", "bmm"):
        a, b = params
        return [a, b], [a, b], [], None
    if name == "addmm":
        bias, m1, m2 = params
        return [bias, m1, m2], [bias, m1, m2], [], None
    if name == "linear":
        x = list(params)
        h = x[-1]
        note = None
        if len(x) == 2:
            placed = [x[0], 1, x[1]]
        elif len(x) == 4:
            placed = [x[0], x[1] * x[2], x[3]]
        elif len(x) == 3:
            placed = x
            note = ("the test reads input_shape[3] for non-2-D shapes (IndexError on this 3-D "
                    f"shape); we pass the 3-D input as given with a [{h},{h}] weight")
        else:
            placed = x
            note = ("the test unpacks a 2-D shape (ValueError on [0]); we pass the empty 1-D "
                    "input [0] with a [0,0] weight")
        return [x, [h, h]], [placed, [h, h]], [], note
    if name == "split":
        shape, split_size, dim = params
        return [shape], [nhwc(shape)], [f"split_size={split_size}", f"dim={dim}"], (
            f"as the test: split_size={split_size}, dim={dim} applied AFTER the NHWC permute, so "
            f"a 4-D input is split along H, not along C as the test's comment intends")
    if name == "split_with_sizes":
        shape, sizes = params
        placed = nhwc(shape)
        test_dim = 1 if len(shape) > 1 else 0
        if len(shape) == 4:
            dim, axis = 3, "C (dim 3 of NHWC)"
        else:
            dim, axis = 1 if len(shape) > 1 else 0, f"dim {test_dim}"
        note = None
        if dim != test_dim or sum(sizes) != placed[test_dim]:
            note = (f"the test used dim={test_dim} after the NHWC permute (size "
                    f"{placed[test_dim]}), which split_sizes {list(sizes)} (sum {sum(sizes)}) do "
                    f"not match; we split the channel axis {axis} that the sizes were written for")
        return [shape], [placed], [f"split_sizes={ints(sizes)}", f"dim={dim}"], note
    if name == "upsample_nearest2d":
        shape, scale = params
        return [shape], [nhwc(shape)], [f"scale_factor={fnum(scale)}", "channels_last=true"], (
            "as the test: ttnn.upsample(x, scale_factor) on the NHWC input; channels_last=true "
            "tells the op the input is NHWC")

    shape = list(params)
    placed = nhwc(shape)
    four = len(shape) == 4
    if name == "ones":
        return [shape], [], [f"size={ints(placed)}"], None
    if name == "native_batch_norm":
        c = shape[1]
        return [shape, [c], [c]], [placed, [c], [c]], ["training=true", "channels_last=true"], (
            "the test called ttnn.batch_norm(input, weight, bias) positionally (TypeError: "
            "running_mean etc. are keyword-only); we pass what its torch reference computed: "
            "training=true with weight=ones(C) and bias=zeros(C) uploaded to L1 like the test "
            "did, no running statistics; channels_last=true as the input is NHWC")
    if name in TWO_INPUTS:
        ins_given, ins = [shape, shape], [placed, placed]
        if name in ("cat", "concat"):
            return ins_given, ins, ["dim=0"], None
        if name == "stack":
            return ins_given, ins, ["dim=0"], (
                "the test called ttnn.stack([a, b]) without dim (ttnn requires it: TypeError); we "
                "pass dim=0, torch.stack's default that its reference used")
        return ins_given, ins, [], None

    args, note = [], None
    if name == "softmax":
        args = ["dim=-1"]
        note = ("the test passed no dim (torch.softmax(x) raises TypeError); we pass dim=-1, "
                "ttnn.softmax's default: the last dim of the tensor as placed" +
                (" (C of the NHWC input)" if four else ""))
    elif name == "clampmin":
        args = ["min=0.0"]
        note = ("the test passed no min (ttnn.clip(x) / torch.clamp_min(x)); we pass min=0.0 "
                "(ReLU-like lower bound)")
    elif name == "clamp":
        args = ["min=0.25", "max=0.75"]
        note = ("the test passed neither min nor max (ttnn.clip(x) -> TT_FATAL, torch.clamp(x) "
                "-> RuntimeError); we pass min=0.25, max=0.75 so both bounds act on torch.rand's "
                "[0, 1) inputs")
    elif name == "leakyrelu":
        args = ["negative_slope=0.01"]
        note = ("the test did not pass negative_slope (required by ttnn.leaky_relu: TypeError); "
                "we pass 0.01, torch's default that its reference used")
    elif name == "topk":
        k = min(300, placed[-1])
        args = [f"k={k}"]
        note = ("the test passed no k (torch.topk(x) raises TypeError); we pass k=min(300, last "
                f"dim) = {k} along dim=-1 (300 = ultralytics' max_det)")
    elif name == "maxpool2d":
        args = ["kernel_size=2", "stride=2"] + (["channels_last=true"] if four else [])
        note = ("the test passed no kernel_size/stride (ttnn.max_pool2d and torch max_pool2d "
                "both raise TypeError); we pass kernel_size=2, stride=2 (YOLO's downsampling "
                "pool)" + ("; channels_last=true as the input is NHWC" if four else
                           "; a 3-D input is pooled as (C, H, W) like torch"))
    elif name == "expand":
        target = [2] + placed[1:]
        args = [f"size={ints(target)}"]
        note = ("the test passed no size (ttnn.expand requires output_shape: TypeError; "
                f"torch.expand(x) raises too); we broadcast the leading size-1 dim to 2: size="
                f"{target}")
    elif name in ("view", "unsafeview"):
        args = [f"size={ints(shape)}"]
        if four:
            note = ("as the test: ttnn.reshape(x, input_shape) reshapes the NHWC tensor to the "
                    "original NCHW shape (same element count; torch's reference .view on the "
                    "permuted tensor raises, ttnn's reshape is valid)")
    elif name == "permute":
        if four:
            args = ["dims=0,3,1,2"]
        else:
            args = ["dims=" + ints(range(len(shape)))]
            note = ("the test made no op call for non-4-D inputs (returned the input); we pass "
                    "the identity permutation dims=" + ints(range(len(shape))))
    elif name == "transpose":
        args = ["dim0=-2", "dim1=-1"]
    elif name == "unsqueeze":
        args = ["dim=0"]
    elif name == "splitwithsizes":
        c = placed[-1]
        sizes = [c // 2, c - c // 2]
        args = [f"split_sizes={ints(sizes)}", "dim=-1"]
        note = ("the test called ttnn.split(x) / torch.split(x) without split sizes (TypeError); "
                f"we split the channel axis (last dim{', C of NHWC' if four else ''}) into two "
                f"halves {sizes}, as YOLO's C2f/C3k2 blocks do")
    elif name == "dropout":
        args = ["p=0.5", "train=true"]
        note = ("as the test's torch reference: F.dropout defaults p=0.5, training=True "
                "(ttnn.dropout does not exist in that build: AttributeError)")
    return [shape], [placed], args, note


def seed_issue(op):
    """Harness problems of the seed's test that are not about arguments."""
    issues = {
        "identity": "torch reference is torch.nn.Identity(x), a Module, not a tensor "
                    "(AttributeError in the PCC check)",
        "silu_inplace": "torch reference calls x.silu_() on a copy that has no such method "
                        "(AttributeError); ttnn side used ttnn.silu",
        "copy": "torch reference calls torch.copy_, which does not exist (AttributeError)",
        "linalgvectornorm": "ttnn.norm does not exist (AttributeError); defaults (ord=2 over all "
                            "dims) as torch.linalg.vector_norm(x)",
        "mm": "the seed's run used an older single-shape test (same shape for both operands: "
              "matmul width/height assert); we use this file's (input1, input2) tuples",
        "addmm": "the seed's run used an older single-shape test (same shape for all operands: "
                 "matmul assert); we use this file's (bias, mat1, mat2) tuples",
        "bmm": "collection error in the seed's run (a missing comma in the shape list: "
               "TypeError), 0 cases ran",
    }
    return issues.get(op["name"])


def seed_reported(summary_text):
    """OOM COUNT per operator from the seed summary's table (each OOM was counted twice)."""
    counts = {}
    if not summary_text:
        return counts
    for line in summary_text.splitlines():
        m = re.match(r"^([a-z_0-9]+)\s*\|\s*(\d+)\s*\|", line)
        if m:
            counts[m.group(1)] = int(m.group(2))
    return counts


def build(src, summary_text=None):
    reported = seed_reported(summary_text)
    ops = src["ops"]
    cases = []
    op_info = {}
    for op in ops:
        name = op["name"]
        op_info[name] = {
            "aten": op["aten"],
            "test_file": op["test_file"],
            "template": op["template"],
            "torch_call": op["torch_call"],
            "ttnn_call": op["ttnn_call"],
            "seed_note": op.get("note"),
            "runtime_note": op.get("runtime_note"),
            "seed_issue": seed_issue(op),
            "seed_reported_oom": reported.get(name, 0) if reported else None,
            "cases": len(op["cases"]),
            "ran_in_seed_run": sum(1 for c in op["cases"] if c["ran_in_seed_run"]),
        }
        for i, c in enumerate(op["cases"]):
            given, placed, args, note = build_case(op, c["params"])
            record = {
                "id": f"{name}/{i}",
                "op": name,
                "aten": op["aten"].split(" ")[0],
                "case": i,
                "shapes_as_given": given,
                "shapes": placed,
                "args": args,
                "args_note": note,
                "dtype": "bf16",
                "layout": "tile",
                "memory": "l1",
                "ran_in_seed_run": bool(c["ran_in_seed_run"]),
                "comment": c.get("comment"),
            }
            if name in MATMUL_DRAM_OUTPUT:
                # Inserted after "memory" for readability.
                items = list(record.items())
                at = [k for k, _ in items].index("memory") + 1
                record = dict(items[:at] + [("out_memory", "dram")] + items[at:])
            cases.append(record)
    return {
        "suite": "seed",
        "about": (
            "The seed report's 46 operators with every parametrized case of their public tests "
            "(tenstorrent/tt-metal ssinghal/tests), one record per case. 'shapes_as_given' are "
            "the input shapes the test file lists (NCHW; for ones, the output size); 'shapes' are "
            "the tensors as placed on the device: " + SETUP + ", except where the test did not "
            "permute (mm/bmm/addmm tuples, linear's reshaped input and [h,h] weight). 'args' are "
            "name=value pairs as `oomless query --arg` takes them; 'out_memory' (matmul family "
            "only) is where TT-NN puts the output when the test passes no memory_config "
            "(DRAM for ttnn.matmul/linear/addmm; every other op's output follows its input); "
            "'args_note' says where the "
            "seed's test passed missing or broken arguments and what we pass instead; "
            "'ran_in_seed_run' marks the cases the seed's logged run executed; "
            "ops.*.seed_reported_oom is the OOM COUNT the seed's summary printed (each failure "
            "counted twice)."),
        "generated_by": "scripts/build_suites.py from ../shared/data/seed_suite.json",
        "source": src.get("about", ""),
        "defaults": {"dtype": "bf16", "layout": "tile", "memory": "l1"},
        "counts": {"cases": len(cases),
                   "ran_in_seed_run": sum(1 for c in cases if c["ran_in_seed_run"]),
                   "ops": len(ops)},
        "ops": op_info,
        "cases": cases,
    }


def dump(suite):
    """Stable text: header fields indented, one case per line."""
    head = {k: v for k, v in suite.items() if k != "cases"}
    text = json.dumps(head, indent=1, ensure_ascii=False)
    assert text.endswith("}")
    lines = [json.dumps(c, ensure_ascii=False) for c in suite["cases"]]
    return text[:-1] + ',\n "cases": [\n  ' + ",\n  ".join(lines) + "\n ]\n}\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", nargs="?", default=DEFAULT_SRC, help="seed_suite.json")
    ap.add_argument("--seed-summary", default=DEFAULT_SUMMARY,
                    help="the seed's OOM_OPERATORS_FINAL_SUMMARY.txt (its per-operator OOM "
                         "counts are recorded as seed_reported_oom; skipped when missing)")
    ap.add_argument("--out", default=DEFAULT_OUT, help="output file (default suites/seed.json)")
    ap.add_argument("--check", action="store_true", help="exit 1 if --out is not up to date")
    a = ap.parse_args()
    summary = None
    if a.seed_summary and os.path.exists(a.seed_summary):
        with open(a.seed_summary, encoding="utf-8", errors="replace") as f:
            summary = f.read()
    with open(a.src, encoding="utf-8") as f:
        text = dump(build(json.load(f), summary))
    if a.check:
        try:
            with open(a.out, encoding="utf-8") as f:
                same = f.read() == text
        except FileNotFoundError:
            same = False
        if not same:
            print(f"{a.out} is out of date; run scripts/build_suites.py", file=sys.stderr)
            return 1
        return 0
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w", encoding="utf-8") as f:
        f.write(text)
    n = text.count('"id": ')
    print(f"wrote {a.out}: {n} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
