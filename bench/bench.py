#!/usr/bin/python3
"""oomless benchmark: every op of the op table at its largest seed shape
(suites/seed.json), bf16 and f32, against PyTorch and the machine's memory
bandwidth, all measured in the same run, written to BENCHMARKS.md.

Per op and dtype: oomless kernel time and PyTorch time (same inputs, same thread
count, median of reps after a warm-up), logical bytes moved (inputs read +
outputs written), GB/s, percent of a STREAM-like copy measured in this run, the
rate on a cache-resident slice (says whether the kernel or memory bounds it),
and the ratio of a planned device run under a 64 MB DRAM budget (chunked) to
the same run without a budget. GEMMs are compared with OpenBLAS sgemm on the
same shape and thread count. This machine is noisy: read the ratios, which are
measured side by side, not the absolute times.

Run with /usr/bin/python3 (torch, numpy):  bench/bench.py --build build
"""
import argparse
import datetime
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GEMM_ATEN = ("mm", "bmm", "addmm", "linear")  # compute-bound: compared with sgemm, not bandwidth
TARGETS = {"bw": 0.50, "speedup": 10.0, "reduce_speedup": 1.5, "chunk": 1.10, "gemm": 0.80,
           "softmax_ms": 150.0}
SLOW_FIRST_S = 60.0  # a warm-up this slow is the measurement
# oomless keeps up to this many freed bytes warm for reuse (core/host_pool.cpp default).
POOL_KEEP = int(os.environ.get("OOMLESS_HOST_POOL", min(
    os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 6, 4 << 30)))
SOFTMAX_TARGET_SHAPE = [1, 12, 8160, 8160]  # issue 6: softmax bf16 over the last dim of this shape


def parse_cli(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default=os.path.join(ROOT, "build"), help="build directory")
    p.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"), help="markdown output")
    p.add_argument("--json", help="also write the raw measurements here")
    p.add_argument("--suite", default=os.path.join(ROOT, "suites", "seed.json"))
    p.add_argument("--ops", help="comma-separated op names (default: every op of the table)")
    p.add_argument("--dtype", default="bf16,f32", help="bf16, f32 or both (comma-separated)")
    p.add_argument("--threads", type=int, default=2, help="threads for oomless, torch, peers")
    p.add_argument("--reps", type=int, default=5, help="timed reps per measurement (max)")
    p.add_argument("--budget", type=float, default=6.0,
                   help="seconds per measurement: fewer reps when one rep is slow")
    p.add_argument("--run-reps", type=int, default=1, help="reps of each planned device run")
    p.add_argument("--no-chunked", action="store_true", help="skip the chunked/unbounded runs")
    p.add_argument("--chunked-dtypes", default="bf16,f32",
                   help="dtypes that get the chunked/unbounded runs (they take the longest)")
    p.add_argument("--dram-budget", default="64MB", help="DRAM budget of the chunked run")
    p.add_argument("--max-gemm-gflop", type=float, default=150.0,
                   help="cut a GEMM's rows (M) so one call is at most this many GFLOP")
    p.add_argument("--scale", type=float, default=1.0,
                   help="scale the leading non-1 dim of each shape (quick runs, tests)")
    p.add_argument("--copy-mb", type=int, default=800, help="array size of the copy peer")
    p.add_argument("--from-json", help="write the markdown from a --json file of an earlier run")
    p.add_argument("--device-run", help=argparse.SUPPRESS)  # internal: the chunked-run worker
    p.add_argument("--mem-wait", type=float, default=60,
                   help="seconds to wait for that free memory before skipping")
    p.add_argument("--update", metavar="JSON",
                   help="start from the rows of an earlier --json file, re-measure the selected "
                        "ops and dtypes, and write both files (e.g. rows skipped for memory)")
    p.add_argument("--only-chunked", action="store_true",
                   help="with --update: only the chunked/unbounded runs of the rows there (this "
                        "process then holds no oomless memory of its own)")
    p.add_argument("--mem-margin-gb", type=float, default=3.0,
                   help="skip a measurement that would leave less free memory than this")
    g = p.add_argument_group("compute rows (issue 11: convolution and GEMM against torch, "
                             "bench/compute.py)")
    g.add_argument("--compute-only", action="store_true",
                   help="only the compute rows (with --ops convolution,mm,bmm,addmm,linear to "
                        "choose); replaces their section of --out, keeps the rest")
    g.add_argument("--no-compute", action="store_true", help="skip the compute rows")
    g.add_argument("--shapes", default="",
                   help="compute rows: only conv calls whose module or shapes contain one of "
                        "these comma-separated strings")
    g.add_argument("--conv-gflop", type=float, default=8.0,
                   help="cut a convolution's output rows to at most this many GFLOP per call")
    g.add_argument("--gemm-gflop", type=float, default=40.0,
                   help="cut a GEMM's batch or rows to at most this many GFLOP per call")
    g.add_argument("--out-mb", type=float, default=32.0,
                   help="cut calls to at most this many MB of f32 output (see compute.py)")
    p.add_argument("--compute-worker", help=argparse.SUPPRESS)  # internal: the compute rows
    return p.parse_args(argv)


# ---- setup ------------------------------------------------------------------

def setup(opts):
    os.environ["OMP_NUM_THREADS"] = str(opts.threads)  # before the OpenMP runtime starts
    sys.path.insert(0, os.path.join(os.path.abspath(opts.build), "python"))
    import torch
    from oomless import _oomless

    torch.set_num_threads(opts.threads)
    return torch, _oomless


def parse_value(s):
    low = s.lower()
    if low in ("true", "false"):
        return low == "true"
    if s == "None":  # no value; lowercase "none" is a string (gelu's approximate)
        return None
    try:
        return [int(v) for v in s.split(",")] if "," in s else int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        return s


def table_defaults(build):
    """op name -> {arg: default} from `oomless ops` (the op table's defaults)."""
    out = subprocess.run([os.path.join(build, "oomless"), "ops"], capture_output=True, text=True,
                         check=True).stdout
    defaults = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            defaults[parts[0]] = {k: parse_value(v) for k, v in (p.split("=", 1) for p in parts[2:]
                                                                 if "=" in p) if v != "required"}
    return defaults


def seed_args(case):
    return {k: parse_value(v) for k, v in (a.split("=", 1) for a in case["args"])}


def case_elems(case):
    if case["shapes"]:
        return sum(math.prod(s) for s in case["shapes"])
    return math.prod(seed_args(case).get("size", [0]))


def largest_cases(suite, table):
    """op name -> its seed case with the most input elements (ones: output elements)."""
    best = {}
    for c in suite["cases"]:
        if c["op"] not in best or case_elems(c) > case_elems(best[c["op"]]):
            best[c["op"]] = c
    return {op["name"]: best.get(op["name"]) for op in table}


def scaled(shapes, scale):
    """Dim 1 (H of NHWC) of the 4-D inputs that share the first input's H, times scale."""
    if scale == 1.0 or not shapes or len(shapes[0]) != 4:
        return [list(s) for s in shapes]
    h = shapes[0][1]
    return [[s[0], max(1, int(h * scale)), *s[2:]] if len(s) == 4 and s[1] == h else list(s)
            for s in shapes]


def mem_available():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def memory_for(need, opts):
    """True once `need` bytes fit above the margin; waits up to --mem-wait seconds
    (other processes on a shared machine free memory too)."""
    deadline = time.monotonic() + opts.mem_wait
    while need > mem_available() - opts.mem_margin_gb * 2**30:
        if time.monotonic() > deadline:
            return False
        time.sleep(5)
    return True


def machine():
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        flags = open("/proc/cpuinfo").read()
        isa = [f for f in ("avx2", "avx512f", "avx512_bf16") if f" {f}" in flags]
    except OSError:
        isa = []
    total = 0
    with open("/proc/meminfo") as f:
        total = int(f.readline().split()[1]) * 1024
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        rev = rev + (" (with uncommitted changes)" if dirty else "")
    except OSError:
        rev = "unknown"
    return {"cpu": cpu, "cores": os.cpu_count(), "isa": " ".join(isa),
            "memory_gib": total / 2**30, "kernel": platform.release(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "git": rev or "unknown"}


# ---- timing -----------------------------------------------------------------

def timed(fn, reps, budget, check=None):
    """Median seconds of up to `reps` calls after one warm-up call; fewer reps when
    a call is slow, so one measurement takes about `budget` seconds, but always one
    timed call after the warm-up (the warm-up pays first-touch page faults: 13 s of
    a 2.2 s f32 softmax here) unless the warm-up alone took over a minute.
    check(out) sees the first result."""
    t0 = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t0
    if check:
        check(out)
    del out
    if first > SLOW_FIRST_S:
        return first
    n = max(1, min(reps, int(budget / max(first, 1e-9))))
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        del out
    return statistics.median(times)


def peer(opts, *args):
    exe = os.path.join(opts.build, "oomless_bench")
    out = subprocess.run([exe, *map(str, args), "--threads", str(opts.threads)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


# ---- one op -----------------------------------------------------------------

class Bench:
    def __init__(self, opts, torch, lib):
        self.opts, self.torch, self.lib = opts, torch, lib
        self.defaults = table_defaults(opts.build)
        self.dtypes = {"bf16": torch.bfloat16, "f32": torch.float32}

    def inputs(self, shapes, dt):
        """The seed's rand [0, 1): a 1M-element random block repeated (drawing 800M
        values takes longer than the benchmark), written (so touched) in parallel."""
        torch = self.torch
        gen = torch.Generator().manual_seed(0)
        out = []
        for s in shapes:
            n = math.prod(s)
            b = max(1, min(n, 1 << 20))
            block = torch.rand(b, generator=gen, dtype=dt)
            t = torch.empty(n, dtype=dt)
            full = n // b * b
            t[:full].view(-1, b).copy_(block.expand(n // b, b))
            t[full:] = block[:n - full]
            out.append(t.view(s))
        return out

    def torch_fn(self, op, ins, args, dt):
        """The aten op of the table entry, called with the seed's arguments by schema
        name; None if torch has no such op."""
        torch = self.torch
        aten = op["aten"]
        if aten == "nn.Identity":
            mod = torch.nn.Identity()
            return lambda: mod(ins[0])
        _, name, overload = aten.split(".")
        fn = getattr(getattr(torch.ops.aten, name, None), overload, None)
        if fn is None:
            return None
        args = {**self.defaults.get(op["name"], {}), **args}
        tin = list(ins)
        if args.pop("channels_last", False):  # NHWC data seen by torch as channels-last NCHW
            tin[0] = tin[0].permute(0, 3, 1, 2)
        if "scale_factor" in args:
            args["scale_factors"] = [float(args.pop("scale_factor"))] * 2
        schema = fn._schema.arguments
        pos, kw = [], {}
        tensors = iter([tin] if op["max_inputs"] == -1 else tin)
        for a in schema:
            t = str(a.type)
            if "Tensor" in t:
                v = next(tensors, None)
            elif a.name in args:
                v = args[a.name]
                if t.startswith("List[int]") and isinstance(v, int):
                    v = [v, v]
                if a.name == "stride" and v is None:
                    v = []
            elif a.name == "dtype" and name == "ones":
                v = dt
            elif a.has_default_value():
                continue
            elif t == "bool":  # aten flags without a default (half_to_float): the table's false
                v = False
            else:
                v = None
            if a.kwarg_only:
                kw[a.name] = v
            else:
                pos.append(v)
        return lambda: fn(*pos, **kw)

    def measure(self, op, case, dtype):
        opts, torch, lib = self.opts, self.torch, self.lib
        dt = self.dtypes[dtype]
        args = seed_args(case)
        shapes = scaled(case["shapes"], opts.scale)
        if "size" in args and not shapes:  # ones
            args["size"] = scaled([args["size"]], opts.scale)[0]
        row = {"op": op["name"], "aten": op["aten"], "dtype": dtype, "shapes": shapes,
               "args": case["args"], "case": case["id"], "notes": []}
        gemm = op["aten"].split(".")[1] in GEMM_ATEN
        if gemm:
            shapes = self.cut_gemm(op, shapes, row)
        elt = torch.tensor([], dtype=dt).element_size()
        in_bytes = sum(math.prod(s) for s in shapes) * elt
        out_guess = max(in_bytes, math.prod(args.get("size", [0])) * elt)
        need = in_bytes + out_guess + max(0, out_guess - POOL_KEEP)  # oomless reuses its pool
        if not memory_for(need, opts):
            row["skipped"] = f"needs ~{need / 2**30:.1f} GiB, {mem_available() / 2**30:.1f} free"
            return row
        ins = self.inputs(shapes, dt)
        lib_args = {k: v for k, v in args.items()}
        call = lambda: lib.call(op["name"], ins, lib_args)  # noqa: E731
        try:
            outs = call()
        except (lib.Error, lib.InvalidArgument) as e:  # e.g. a view size --scale broke
            row["skipped"] = f"oomless: {str(e).splitlines()[0][:120]}"
            return row
        read = in_bytes
        written, views = 0, 0
        inplace = op["aten"].split(".")[1].endswith("_")
        for o in outs:
            t = torch.from_dlpack(o)
            nb = t.numel() * t.element_size()
            if self.aliases(t, ins) and not inplace:
                views += 1
            else:
                written += nb
        del outs, t
        row.update(read_bytes=read, written_bytes=written, view=views > 0 and written == 0)
        row["oomless_s"] = timed(call, opts.reps, opts.budget)
        try:
            tf = self.torch_fn(op, ins, args, dt)
            if tf is None:
                row["torch_na"] = f"torch has no {op['aten']}"
            else:
                def check(out):
                    touts = out if isinstance(out, (tuple, list)) else [out]
                    if not row["view"] and all(self.aliases(t, ins) for t in touts):
                        row["torch_view"] = True
                        row["notes"].append(f"torch's {op['aten']} returns an input: "
                                            "no bytes move")

                row["torch_s"] = timed(tf, opts.reps, opts.budget, check)
        except (RuntimeError, TypeError) as e:
            row["torch_na"] = str(e).split("\n")[0][:120]
        if gemm:
            row.update(self.gemm_peer(op, shapes))
        elif not row["view"]:
            row["cache_gbps"] = self.in_cache(op, shapes, args, dt)
        ins.clear()  # frees the inputs before the device runs' worker starts
        gc.collect()
        if not opts.no_chunked and not row["view"] and dtype in opts.chunked_dtypes.split(","):
            self.chunked(op, shapes, args, row)
        return row

    @staticmethod
    def aliases(t, ins):
        p = t.data_ptr()
        for x in ins:
            if x.data_ptr() <= p < x.data_ptr() + x.numel() * x.element_size():
                return True
        return False

    def cut_gemm(self, op, shapes, row):
        m, n, k, b = self.gemm_dims(op, shapes)
        flops = 2 * b * m * n * k
        cap = self.opts.max_gemm_gflop * 1e9
        if flops <= cap:
            return shapes
        m2 = max(32, int(cap / (2 * b * n * k)) // 32 * 32)
        a = 1 if op["aten"].startswith("aten.addmm") else 0
        s = [list(x) for x in shapes]
        s[a][-2] = m2 if len(s[a]) >= 2 else s[a][-2]
        if op["aten"].startswith("aten.addmm") and len(s[0]) == 2:
            s[0][0] = m2
        row["notes"].append(f"M cut to {m2} of {m} rows (--max-gemm-gflop {self.opts.max_gemm_gflop:g})")
        row["shapes"] = s
        return s

    @staticmethod
    def gemm_dims(op, shapes):
        name = op["aten"].split(".")[1]
        if name == "linear":
            x, w = shapes[0], shapes[1]
            return math.prod(x[:-1]), w[0], x[-1], 1
        if name == "addmm":
            a, bm = shapes[1], shapes[2]
            return a[0], bm[1], a[1], 1
        if name == "bmm":
            a, bm = shapes
            return a[1], bm[2], a[2], a[0]
        a, bm = shapes
        return a[0], bm[1], a[1], 1

    def gemm_peer(self, op, shapes):
        m, n, k, b = self.gemm_dims(op, shapes)
        r = peer(self.opts, "sgemm", "--m", m, "--n", n, "--k", k, "--batch", b, "--reps", 2)
        return {"flops": 2 * b * m * n * k, "sgemm_gflops": r["gflops"]}

    def in_cache(self, op, shapes, args, dt):
        """Logical GB/s of one thread on a cache-resident slice (H and W of the 4-D
        inputs cut to ~256 KB), times the thread count: the rate the kernel's
        arithmetic allows. If it is not above the copy bandwidth, the arithmetic
        bounds the op, not memory. One thread, so a preempted partner thread (this
        machine is shared) does not stall a parallel region; torch and the kernels
        share one OpenMP runtime, so torch.set_num_threads sets both."""
        torch = self.torch
        if not shapes or len(shapes[0]) != 4:
            return None
        h, w, c = shapes[0][1:]
        elt = torch.tensor([], dtype=dt).element_size()
        w2 = max(2, min(w, (256 << 10) // (2 * c * elt) // 2 * 2))
        small = [[s[0], min(h, 2), w2, s[3]] if len(s) == 4 and s[1:3] == [h, w] else s
                 for s in shapes]
        try:
            ins = self.inputs(small, dt)
            call = lambda: self.lib.call(op["name"], ins, args)  # noqa: E731
            outs = call()
            nbytes = sum(x.numel() * x.element_size() for x in ins)
            for o in outs:
                t = torch.from_dlpack(o)
                nbytes += t.numel() * t.element_size()
            del outs
            torch.set_num_threads(1)
            best, t_end = math.inf, time.perf_counter() + 0.3
            while time.perf_counter() < t_end:  # the best call: others preempt us
                t0 = time.perf_counter()
                call()
                best = min(best, time.perf_counter() - t0)
            return nbytes / best * 1e-9 * self.opts.threads
        except (self.lib.Error, self.lib.InvalidArgument):  # a slice the op rejects
            return None
        finally:
            torch.set_num_threads(self.opts.threads)

    def chunked(self, op, shapes, args, row):
        """Planned device runs (data in DRAM) with and without the DRAM budget, in a
        worker process (the run path pools device arenas and staging memory; the
        worker gives it all back when it exits)."""
        opts = self.opts
        need = 3 * row["read_bytes"] + 3 * row["written_bytes"]  # inputs, device copies, staging
        if not memory_for(need, opts):
            row["chunk_skipped"] = (f"device runs need ~{need / 2**30:.1f} GiB, "
                                    f"{mem_available() / 2**30:.1f} free")
            return
        job = {"op": op["name"], "shapes": shapes, "args": args, "dtype": row["dtype"],
               "case_args": row["args"]}
        cmd = [sys.executable, os.path.abspath(__file__), "--build", opts.build, "--threads",
               str(opts.threads), "--run-reps", str(opts.run_reps), "--dram-budget",
               opts.dram_budget, "--device-run", json.dumps(job)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        try:
            row.update(json.loads(r.stdout.strip().splitlines()[-1]))
        except (ValueError, IndexError):
            row["chunk_skipped"] = f"worker failed: {(r.stderr or r.stdout).strip()[-200:]}"

    def device_runs(self, job):
        """The worker: one unbudgeted warm-up (the first run pays the page faults),
        then alternating chunked and unbounded runs; returns the row fields."""
        op = next(o for o in self.lib.ops() if o["name"] == job["op"])
        row = {"dtype": job["dtype"], "shapes": job["shapes"], "args": job["case_args"]}
        ins = self.inputs(job["shapes"], self.dtypes[job["dtype"]])
        times = {"chunked": [], "unbounded": []}
        reports = {}
        try:
            self.device_run(op, ins, job["args"], row, None)
            for _ in range(max(1, self.opts.run_reps)):
                for key, budget in (("chunked", self.opts.dram_budget), ("unbounded", None)):
                    reports[key] = self.device_run(op, ins, job["args"], row, budget)
                    times[key].append(reports[key]["seconds"])
        except Exception as e:  # noqa: BLE001 (reported in the table)
            return {"chunk_skipped": f"{type(e).__name__}: {str(e).splitlines()[0][:100]}"}
        ru, rc = reports["unbounded"], reports["chunked"]
        return {"unbounded_s": statistics.median(times["unbounded"]),
                "chunked_s": statistics.median(times["chunked"]), "chunks": rc["chunks"],
                "chunk_strategy": rc["strategy"], "unbounded_strategy": ru["strategy"],
                "unbounded_compute_s": ru["compute_seconds"],
                "chunked_compute_s": rc["compute_seconds"]}

    def device_run(self, op, ins, args, row, budget):
        """The report of one planned run: in process (_oomless.run) or, with a module
        that lacks it, through `oomless run` on the same shapes (seeded inputs)."""
        if hasattr(self.lib, "run"):
            outs, rep = self.lib.run(op["name"], ins, args, memory="dram", dram_budget=budget)
            del outs
            return rep
        cmd = [os.path.join(self.opts.build, "oomless"), "run", op["name"], "--dtype", row["dtype"],
               "--memory", "dram", "--verify", "none", "--json"]
        for s in row["shapes"]:
            cmd += ["--shape", ",".join(map(str, s))]
        for a in row["args"]:
            cmd += ["--arg", a]
        if budget:
            cmd += ["--dram-budget", budget]
        rep = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
        rep["chunks"] = rep["plan"].get("chunks", rep["plan"].get("num_chunks", 1))
        rep["strategy"] = rep["plan"].get("strategy", "?")
        return rep


# ---- report -----------------------------------------------------------------

def fmt_s(s):
    if s is None:
        return "-"
    return f"{s * 1e3:.1f} ms" if s < 10 else f"{s:.1f} s"


def fmt_shape(shapes):
    return " ".join("[" + ",".join(map(str, s)) + "]" for s in shapes) or "-"


def derive(row, copy_gbps):
    """Adds GB/s, % of copy, speedup and the target checks to a measured row (against
    the copy bandwidth of the session that measured it, when rows were updated)."""
    if "oomless_s" not in row:
        return row
    copy_gbps = row.get("session_copy_gbps", copy_gbps)
    moved = row["read_bytes"] + row["written_bytes"]
    row["moved"] = moved
    if row.get("flops"):
        row["gflops"] = row["flops"] / row["oomless_s"] * 1e-9
        row["of_sgemm"] = row["gflops"] / row["sgemm_gflops"]
    elif not row["view"]:
        row["gbps"] = moved / row["oomless_s"] * 1e-9
        row["of_copy"] = row["gbps"] / copy_gbps
        cache = row.get("cache_gbps")
        row["bound"] = "memory" if cache is None or cache >= copy_gbps else "compute"
    if "torch_s" in row:
        row["speedup"] = row["torch_s"] / row["oomless_s"]
    if "chunked_s" in row:
        row["chunk_ratio"] = row["chunked_s"] / row["unbounded_s"]
    return row


def targets(rows, copy_gbps, read_gbps, softmax_row):
    """(met, missed) lines, one per row and target, with the numbers and the bound."""
    met, missed = [], []

    def check(ok, line):
        (met if ok else missed).append(line)

    for r in rows:
        if "oomless_s" not in r:
            continue
        tag = f"{r['op']} {r['dtype']}"
        cg = r.get("session_copy_gbps", copy_gbps)
        if "of_copy" in r:
            ok = r["of_copy"] >= TARGETS["bw"]
            why = ""
            if not ok:
                c = r.get("cache_gbps")
                if r["bound"] == "compute":
                    why = (f"; bound by the kernel's arithmetic: {c:.1f} GB/s on a cache-resident "
                           f"slice is below the {cg:.1f} GB/s copy")
                else:
                    why = (f"; the kernel reaches {c:.1f} GB/s in cache, so the large shape is bound by "
                           "its memory traffic (pattern/page faults), not arithmetic") if c else ""
            check(ok, f"{tag}: {r['gbps']:.1f} GB/s = {100 * r['of_copy']:.0f}% of copy "
                      f"(target >= {100 * TARGETS['bw']:.0f}%){why}")
        if "speedup" in r and not r["view"] and not r.get("flops") and not r.get("torch_view"):
            reduction = r["written_bytes"] * 100 < r["read_bytes"]
            goal = TARGETS["reduce_speedup"] if reduction else TARGETS["speedup"]
            ok = r["speedup"] >= goal
            why = ""
            if not ok:
                # A reduction only reads; the read-only sum peer bounds it unless it
                # measured below the copy (which reads as much as it writes).
                bw, what = ((read_gbps, "read-only sum") if reduction and read_gbps
                            and read_gbps > cg else (cg, "copy"))
                limit = r["torch_s"] / (r["moved"] / (bw * 1e9))
                why = (f"; at the {what} bandwidth ({bw:.1f} GB/s) the bytes moved "
                       f"({r['moved'] / 1e9:.2f} GB) allow at most {limit:.1f}x over torch's "
                       f"{fmt_s(r['torch_s'])}")
            check(ok, f"{tag}: {r['speedup']:.1f}x torch ({fmt_s(r['oomless_s'])} vs "
                      f"{fmt_s(r['torch_s'])}; target >= {goal:g}x){why}")
        if "chunk_ratio" in r:
            ok = r["chunk_ratio"] <= TARGETS["chunk"]
            why = "" if ok else (
                f"; measured split, chunked vs unbounded: kernel {fmt_s(r['chunked_compute_s'])} vs "
                f"{fmt_s(r['unbounded_compute_s'])}, page I/O and staging (the rest) "
                f"{fmt_s(r['chunked_s'] - r['chunked_compute_s'])} vs "
                f"{fmt_s(r['unbounded_s'] - r['unbounded_compute_s'])}")
            how = (f"{r['chunks']} chunks" if r.get("chunk_strategy") == "chunked"
                   else f"budgeted plan: {r.get('chunk_strategy')}")
            check(ok, f"{tag}: chunked/unbounded {r['chunk_ratio']:.2f} ({how}, "
                      f"{fmt_s(r['chunked_s'])} vs {fmt_s(r['unbounded_s'])}; target <= "
                      f"{TARGETS['chunk']:.2f}){why}")
        if "of_sgemm" in r and r["aten"].split(".")[1] in ("addmm", "linear"):
            ok = r["of_sgemm"] >= TARGETS["gemm"]
            check(ok, f"{tag}: {r['gflops']:.0f} GFLOPS = {100 * r['of_sgemm']:.0f}% of OpenBLAS "
                      f"sgemm {r['sgemm_gflops']:.0f} GFLOPS on {fmt_shape(r['shapes'])} "
                      f"(target >= {100 * TARGETS['gemm']:.0f}%)")
    if softmax_row and "oomless_s" in softmax_row:
        ms = softmax_row["oomless_s"] * 1e3
        check(ms <= TARGETS["softmax_ms"],
              f"softmax bf16 {fmt_shape(softmax_row['shapes'])} dim=-1: {ms:.0f} ms "
              f"(target <= {TARGETS['softmax_ms']:.0f} ms; torch {fmt_s(softmax_row.get('torch_s'))})")
    return met, missed


def markdown(info, copies, reads, rows, softmax_row, opts):
    copy_gbps = max(c["gbps_median"] for c in copies)
    read_gbps = max((c["gbps_median"] for c in reads), default=None)
    L = ["# Benchmarks", "",
         f"Written by `make bench` (`bench/bench.py`) on {info['date']}, git {info['git']}.", "",
         f"- Machine: {info['cpu']}, {info['cores']} cores ({info['isa']}), "
         f"{info['memory_gib']:.0f} GiB RAM, Linux {info['kernel']}",
         f"- Threads: {opts.threads} for oomless (OpenMP), PyTorch (`torch.set_num_threads`) and "
         "the peers",
         "- STREAM-like copy, measured in this run ("
         + ", ".join(f"{c['gbps_median']:.1f} GB/s" for c in copies)
         + "; a row's percentages use the best copy of the session that measured it)"
         + ("; read-only sum (" + ", ".join(f"{c['gbps_median']:.1f} GB/s" for c in reads)
            + "), the bound of a reduction" if reads else ""),
         f"- oomless keeps up to {POOL_KEEP / 2**30:.1f} GiB of freed host memory warm for reuse "
         "(`OOMLESS_HOST_POOL`; default RAM/6, at most 4 GiB); larger outputs pay first-touch "
         "page faults on every call, as torch's do",
         f"- Times: median of up to {opts.reps} reps after a warm-up (fewer when a rep is slow); "
         "inputs are a 1M-element `torch.rand` block repeated, written (touched) before timing and shared by both sides.",
         "- This machine is shared and noisy: compare the ratios, measured side by side, not "
         "the absolute times."]
    if len(copies) > 2:
        L.append(f"- Rows come from {len(copies) // 2} sessions (`--update` re-measured rows "
                 "skipped for memory); each row's ratios were measured in one session.")
    L += ["",
         "Columns: *moved* = logical bytes read + written; *copy %* = GB/s over the copy "
         "bandwidth; *in-cache* = GB/s on a cache-resident slice of the same op (below the copy "
         "bandwidth means the arithmetic, not memory, bounds the op); *vs torch* = torch time / "
         "oomless time; *chunked/unb.* = planned device run (data in DRAM) under a "
         f"{opts.dram_budget} DRAM budget over the same run without a budget. GEMM rows give "
         "GFLOPS and the share of OpenBLAS sgemm on the same shape and threads.", "",
         "| op | dtype | shapes (as the device sees them) | oomless | torch | vs torch | moved "
         "| GB/s | copy % | in-cache GB/s | chunked/unb. | notes |",
         "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows + ([softmax_row] if softmax_row else []):
        if "oomless_s" not in r:
            L.append(f"| {r['op']} | {r['dtype']} | {fmt_shape(r['shapes'])} | - | - | - | - | - "
                     f"| - | - | - | skipped: {r.get('skipped', 'no seed case')} |")
            continue
        notes = list(r["notes"])
        if r.get("torch_na"):
            notes.append("torch: " + r["torch_na"])
        if r.get("chunk_skipped"):
            notes.append("chunked: " + r["chunk_skipped"])
        elif "chunks" in r:
            notes.append(f"{r['chunks']} chunks" if r.get("chunk_strategy") == "chunked" else
                         f"under the budget: {r.get('chunk_strategy')}, without: "
                         f"{r.get('unbounded_strategy')}")
        if r["view"]:
            notes.append("view: no bytes move")
        if r.get("flops"):
            gb = f"{r['gflops']:.0f} GFLOPS"
            pct = f"{100 * r['of_sgemm']:.0f}% of sgemm ({r['sgemm_gflops']:.0f})"
        else:
            gb = f"{r['gbps']:.1f}" if "gbps" in r else "-"
            pct = f"{100 * r['of_copy']:.0f}%" if "of_copy" in r else "-"
        cache = f"{r['cache_gbps']:.0f}" if r.get("cache_gbps") else "-"
        L.append(f"| {r['op']} | {r['dtype']} | {fmt_shape(r['shapes'])} | {fmt_s(r['oomless_s'])} "
                 f"| {fmt_s(r.get('torch_s'))} | "
                 + (f"{r['speedup']:.1f}x" if "speedup" in r else "-")
                 + f" | {r['moved'] / 1e9:.2f} GB | {gb} | {pct} | {cache} | "
                 + (f"{r['chunk_ratio']:.2f}" if "chunk_ratio" in r else "-")
                 + f" | {'; '.join(notes)} |")
    met, missed = targets(rows, copy_gbps, read_gbps, softmax_row)
    L += ["", "## Targets (issue 6)", "",
          f"{len(met)} checks met, {len(missed)} missed. Memory-bound: >= 50% of the copy "
          "bandwidth; ops writing a seed-sized output >= 10x torch, read-only reductions >= 1.5x; "
          "chunked/unbounded <= 1.10; softmax bf16 [1,12,8160,8160] <= 150 ms; addmm/linear >= 80% "
          "of sgemm. Each missed line says by how much and what the measurements show bounds it.",
          "", "### Missed", ""]
    L += [f"- {m}" for m in missed] or ["- none"]
    L += ["", "### Met", ""] + ([f"- {m}" for m in met] or ["- none"])
    return "\n".join(L) + "\n"


# ---- compute rows (bench/compute.py) ---------------------------------------------

COMPUTE_HEADING = "## Convolution and GEMM against torch (issue 11)"


def peak_of(opts):
    """The register-only FMA / vdpbf16ps peak of this machine, best of 3."""
    best = {"f32_fma_gflops": 0.0, "bf16_dpbf16_gflops": 0.0}
    for _ in range(3):
        r = peer(opts, "peak")
        for k in best:
            best[k] = max(best[k], r.get(k, 0.0))
    return best


def gemm_seed_cases(opts):
    with open(opts.suite) as f:
        suite = json.load(f)
    best = {}
    for c in suite["cases"]:
        if c["op"] in ("mm", "bmm", "addmm", "linear"):
            if c["op"] not in best or case_elems(c) > case_elems(best[c["op"]]):
                best[c["op"]] = c
    return [(op, best[op]["shapes"]) for op in ("mm", "bmm", "addmm", "linear") if op in best]


def compute_rows(opts):
    """The compute rows, measured in a worker process whose glibc heap stays warm for
    torch's outputs (compute.py says why)."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(32 << 20),
               MALLOC_TRIM_THRESHOLD_=str(1 << 40), OMP_NUM_THREADS=str(opts.threads))
    cmd = [sys.executable, os.path.abspath(__file__), "--build", opts.build, "--threads",
           str(opts.threads), "--reps", str(opts.reps), "--budget", str(opts.budget),
           "--dtype", opts.dtype, "--conv-gflop", str(opts.conv_gflop), "--gemm-gflop",
           str(opts.gemm_gflop), "--out-mb", str(opts.out_mb), "--suite", opts.suite,
           "--compute-worker", "1"]
    if opts.ops:
        cmd += ["--ops", opts.ops]
    if opts.shapes:
        cmd += ["--shapes", opts.shapes]
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"bench: the compute worker failed (exit {r.returncode})")
    return json.loads(r.stdout.strip().splitlines()[-1])


def compute_worker(opts):
    import compute  # bench/compute.py
    import torch

    sys.path.insert(0, os.path.join(os.path.abspath(opts.build), "python"))
    import oomless

    torch.set_num_threads(opts.threads)
    load = [os.getloadavg()[0]]  # the shared machine's load, stated with the rows
    peak = peak_of(opts)
    rows = compute.run(opts, torch, oomless, peak, gemm_seed_cases(opts),
                       log=lambda m: print(m, file=sys.stderr, flush=True))
    load.append(os.getloadavg()[0])
    print(json.dumps({"peak": peak, "rows": rows, "load": load}, default=str))


def compute_section(result, info, opts):
    import compute

    return compute.markdown(result["rows"], result["peak"],
                            dict(info, threads=opts.threads, load=result.get("load")))


def with_compute_section(text, section):
    """text with its compute section replaced by `section` (or inserted before the
    targets section, or appended)."""
    if COMPUTE_HEADING in text:
        head, rest = text.split(COMPUTE_HEADING, 1)
        i = rest.find("\n## ")
        tail = rest[i + 1:] if i >= 0 else ""
        return head + section + ("\n" + tail if tail else "")
    if "\n## Targets" in text:
        head, tail = text.split("\n## Targets", 1)
        return head + "\n" + section + "\n## Targets" + tail
    return text + "\n" + section


def wants_compute(opts):
    if opts.no_compute:
        return False
    return not opts.ops or bool(set(opts.ops.split(",")) & {"convolution", "mm", "bmm", "addmm",
                                                            "linear"})


def main(argv=None):
    opts = parse_cli(argv)
    if opts.compute_worker:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        compute_worker(opts)
        return
    if opts.compute_only:
        info = machine()
        result = compute_rows(opts)
        old = open(opts.out).read() if os.path.exists(opts.out) else "# Benchmarks\n"
        with open(opts.out, "w") as f:
            f.write(with_compute_section(old, compute_section(result, info, opts)))
        if opts.json:
            with open(opts.json, "w") as f:
                json.dump({"machine": info, "compute": result}, f, indent=1, default=str)
        print(f"wrote {opts.out}")
        return
    torch, lib = setup(opts)
    if opts.device_run:
        print(json.dumps(Bench(opts, torch, lib).device_runs(json.loads(opts.device_run))))
        return
    if opts.from_json:
        with open(opts.from_json) as f:
            saved = json.load(f)
        copies, reads, rows = saved["copy"], saved.get("read", []), saved["rows"]
        extra = [saved["softmax_target"]] if saved.get("softmax_target") else []
        for r in rows + extra:
            derive(r, max(c["gbps_median"] for c in copies))
        with open(opts.out, "w") as f:
            f.write(markdown(saved["machine"], copies, reads, rows, extra[0] if extra else None,
                             opts))
        print(f"wrote {opts.out}")
        return
    table = lib.ops()
    with open(opts.suite) as f:
        cases = largest_cases(json.load(f), table)
    wanted = opts.ops.split(",") if opts.ops else None
    if wanted:
        unknown = set(wanted) - {op["name"] for op in table}
        if unknown:
            sys.exit(f"bench: unknown ops {sorted(unknown)}")
    dtypes = opts.dtype.split(",")
    info = machine()
    bench = Bench(opts, torch, lib)
    copies = [peer(opts, "copy", "--mb", opts.copy_mb)]
    reads = [peer(opts, "read", "--mb", opts.copy_mb)]
    rows = []
    extra = []  # the softmax row at issue 6's target shape
    old = {"copy": [], "read": [], "rows": [], "softmax_target": None}
    if opts.update:
        with open(opts.update) as f:
            old = json.load(f)
        for r in old["rows"] + [old["softmax_target"] or {}]:
            r.setdefault("session_copy_gbps", max(c["gbps_median"] for c in old["copy"]))

    compute_result = None

    def write(final):
        session = max(c["gbps_median"] for c in copies)
        for r in rows + extra:
            r.setdefault("session_copy_gbps", session)
        new = {(r["op"], r["dtype"]): r for r in rows}
        merged = [new.pop((r["op"], r["dtype"]), r) for r in old["rows"]] + list(new.values())
        softmax_row = extra[0] if extra else old.get("softmax_target")
        all_copies, all_reads = old["copy"] + copies, old.get("read", []) + reads
        for r in merged + ([softmax_row] if softmax_row else []):
            derive(r, session)
        text = markdown(info, all_copies, all_reads, merged, softmax_row, opts)
        if compute_result:
            text = with_compute_section(text, compute_section(compute_result, info, opts))
        if not final:
            text = text.replace("# Benchmarks\n", "# Benchmarks\n\n**Partial: the run is still going.**\n", 1)
        with open(opts.out, "w") as f:
            f.write(text)
        if opts.json:
            with open(opts.json, "w") as f:
                json.dump({"machine": info, "copy": all_copies, "read": all_reads, "rows": merged,
                           "softmax_target": softmax_row}, f, indent=1, default=str)

    # bf16 (the seed's dtype) for every op first, so a partial file covers every op.
    for dtype in dtypes:
        for op in table:
            if wanted and op["name"] not in wanted:
                continue
            case = cases[op["name"]]
            if case is None:
                rows.append({"op": op["name"], "dtype": dtype, "shapes": [], "notes": []})
                continue
            t0 = time.perf_counter()
            if opts.only_chunked:
                prev = next((r for r in old["rows"] if (r["op"], r["dtype"]) == (op["name"], dtype)
                             and "oomless_s" in r and not r.get("view")), None)
                if prev is None:
                    continue
                row = {k: v for k, v in prev.items() if not k.startswith(("chunk", "unbounded"))}
                bench.chunked(op, row["shapes"], seed_args(case), row)
                rows.append(row)
                print(f"{op['name']:>20} {dtype}: chunked {fmt_s(row.get('chunked_s'))}, unbounded "
                      f"{fmt_s(row.get('unbounded_s'))} {row.get('chunk_skipped', '')}", flush=True)
                write(final=False)
                continue
            row = bench.measure(op, case, dtype)
            rows.append(row)
            print(f"{op['name']:>20} {dtype}: oomless {fmt_s(row.get('oomless_s'))}, torch "
                  f"{fmt_s(row.get('torch_s'))} ({time.perf_counter() - t0:.0f} s)", flush=True)
            if op["name"] == "softmax" and dtype == "bf16":
                case = dict(case, shapes=[SOFTMAX_TARGET_SHAPE], args=["dim=-1"],
                            id="issue 6 target")
                extra.append(bench.measure(op, case, "bf16"))
                extra[0]["notes"].append("issue 6 target shape (as given, before the NHWC permute)")
            write(final=False)
    if wants_compute(opts):
        compute_result = compute_rows(opts)
    copies.append(peer(opts, "copy", "--mb", opts.copy_mb))
    reads.append(peer(opts, "read", "--mb", opts.copy_mb))
    write(final=True)
    print(f"wrote {opts.out}")


if __name__ == "__main__":
    main()
