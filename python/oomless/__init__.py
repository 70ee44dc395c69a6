"""oomless: Tenstorrent device-memory model and out-of-memory-free op runtime.

Every operator of the op table is a function here with an aten-like signature,
e.g. ``oomless.softmax(x, -1)``, ``oomless.add(a, b, alpha=2)``,
``oomless.max_pool2d(x, 2)``. Inputs are torch tensors or numpy arrays (float32
or bfloat16); they are shared with the C++ kernels without a copy (DLPack, or
the buffer protocol), and results come back the same way as the same kind of
object as the first input. ``oomless.query(op, shapes, ...)`` returns the
device-memory pre-check as a dict.

Policies and budgets
--------------------
By default an op runs straight on the host tensors. To run it the way
``oomless run`` does, with its data placed on an emulated device, use a policy:

* ``oomless.run(op, *args, policy="auto", **options, **op_args)`` runs one
  call (``args`` as for ``oomless.<op>``) and returns a :class:`RunResult`:
  ``.value`` (what ``oomless.<op>`` returns), ``.outputs`` (a tuple) and the
  report (``.strategy``, ``.chunks``, ``.peak_l1_per_bank``,
  ``.peak_dram_per_bank``, ``.host_bytes``, ``.seconds``, ``.plan``, ...;
  ``.report.as_dict()`` has everything).
* ``with oomless.policy("strict", memory="l1", l1_budget="1MB") as p:`` runs
  every ``oomless.<op>`` call inside the block that way; ``p.last`` and
  ``p.reports`` are the reports of the calls made.

Options: ``device`` (a profile name from ``devices()`` or a JSON file;
default wormhole_b0), ``memory`` ("l1" | "dram", where inputs are placed),
``out_memory`` (default: as the inputs), ``dtype`` (device dtype "bf16" |
"f32" | "bfp8", or torch.bfloat16 / torch.float32 / numpy.float32; default:
the first input's), ``layout`` ("tile" | "row_major"), ``l1_budget``,
``dram_budget``, ``host_budget`` (bytes as an int, or "64MB", "1MiB", "512KB";
binary units; L1 and DRAM budgets are over all banks).

``policy="auto"`` never runs out of memory: it keeps the requested placement
when it fits, else re-places tensors in DRAM, streams tiles through small
CBs, chunks from host memory, or falls back to the host; the report's peaks
are the allocator's and never exceed the budgets. ``policy="strict"`` honours
the placement and raises :class:`OutOfMemory` (a MemoryError) with
tt-metal's message, the one ``query`` reports. A bad option raises ValueError
(:class:`InvalidArgument`) naming the value. The device keeps f32 and bf16
pages exactly and chunks cut only independent axes, so the values are the
plain call's (dtype="bfp8" rounds, as the device does). The GIL is released
while a call is planned and run.
"""
import collections
import contextvars

from . import _oomless
from ._oomless import Error, InvalidArgument, OutOfMemory, Tensor, devices, query
# Whole models (docs/graph-format.md). These modules import torch only when used;
# the function `trace` shadows the submodule of the same name on purpose.
from .graph import Graph, GraphError
from .trace import TraceError, trace
from .model_run import ModelResult, run_model

__all__ = ["Error", "Graph", "GraphError", "InvalidArgument", "OutOfMemory", "Policy", "Report",
           "ModelResult", "RunResult", "Tensor", "TraceError", "call", "current_policy", "devices", "ops",
           "policy", "query", "run", "run_model", "trace"]


def __getattr__(name):
    if name == "models":  # imports torch: only on first use (oomless.models.yolov12(...))
        import importlib

        return importlib.import_module(".models", __name__)
    raise AttributeError(f"module 'oomless' has no attribute '{name}'")

_INDEX_OUTPUTS = {"maxpool2d": (1,), "topk": (1,)}
# Ops whose result is their input itself in PyTorch (x.silu_() is x; nn.Identity()(x) is x).
_RETURNS_INPUT = ("silu_inplace", "identity")
_TORCH_DTYPES = ("torch.float32", "torch.bfloat16")


def _is_torch(x):
    return type(x).__module__.startswith("torch")


def _is_numpy(x):
    return type(x).__module__ == "numpy"


def _check_input(op, i, x):
    """Rejects dtypes the kernels do not take with the op's own error (DLPack would
    fail on some of them with a message that does not name the op)."""
    if _is_torch(x) and hasattr(x, "dtype"):
        if str(x.dtype) not in _TORCH_DTYPES:
            raise InvalidArgument(f"[{op}] input {i} has dtype {x.dtype}; expected torch.float32 "
                                  "or torch.bfloat16")
        if getattr(x, "requires_grad", False):
            return x.detach()  # DLPack refuses tensors that require grad; same memory
    elif _is_numpy(x) and hasattr(x, "dtype"):
        if str(x.dtype) != "float32":
            raise InvalidArgument(f"[{op}] input {i} has dtype numpy.{x.dtype}; expected float32 "
                                  "(numpy has no bfloat16; use a torch tensor for bf16)")
    return x


def _bf16_to_numpy_f32(t):
    import numpy as np

    bits = np.asarray(t)  # the buffer protocol exports bf16 as uint16 bits
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _convert_out(t, like, index=False):
    if like == "torch":
        import torch
        import torch.utils.dlpack

        out = torch.utils.dlpack.from_dlpack(t)
        return out.long() if index else out  # aten returns int64 indices
    if like == "numpy":
        import numpy as np

        if t.dtype == "bfloat16":  # numpy has no bfloat16 (e.g. ones); widen exactly
            return _bf16_to_numpy_f32(t)
        out = np.from_dlpack(t)
        return out.astype(np.int64) if index else out
    return t


def _dtype_kind(dtype):
    """'torch' or 'numpy' for a dtype= argument (ones)."""
    if type(dtype).__module__.startswith("torch"):
        return "torch"
    return "numpy"


def _to_dtype(r, dtype, like, op):
    if like == "torch":
        return r.to(dtype)
    import numpy as np

    want = np.dtype(dtype)
    if want != np.float32:
        raise InvalidArgument(f"[{op}] dtype {dtype} is not supported; use float32 (numpy) or "
                              "torch.float32 / torch.bfloat16")
    return r.astype(want, copy=False)


def call(op, inputs, **kwargs):
    """Run op (a name from ``ops()``) on a list of tensors with keyword arguments."""
    entry = _TABLE[_canonical(op)]
    name = entry["name"]
    inputs = [_check_input(name, i, x) for i, x in enumerate(inputs)]
    like = None
    for x in inputs:
        if _is_torch(x):
            like = "torch"
            break
        if _is_numpy(x):
            like = "numpy"
            break
    dtype = kwargs.pop("dtype", None)
    active = _active()
    if like is None and dtype is None and active is not None and active._dtype_object is not None:
        dtype = active._dtype_object  # e.g. ones under a policy with dtype=torch.float32
    if like is None and dtype is not None:
        like = _dtype_kind(dtype)
    if active is None:
        outs = _oomless.call(op, list(inputs), kwargs)
    else:
        opts = dict(active._options)
        if opts["dtype"] is None and dtype is not None:
            opts["dtype"] = _device_dtype(dtype, name)  # ones(size, dtype=...)
        outs, report = _oomless.run(op, list(inputs), kwargs, **opts)
        active._record(Report(report))
    idx = _INDEX_OUTPUTS.get(name, ())
    res = [_convert_out(t, like, i in idx) for i, t in enumerate(outs)]
    if dtype is not None and like is not None:
        res = [_to_dtype(r, dtype, like, name) for r in res]
    if active is not None and name == "silu_inplace" and like is not None:
        _copy_into(inputs[0], res[0], like)  # the device wrote x's pages; so does x.silu_()
        return inputs[0]
    if name in _RETURNS_INPUT and like is not None and _same_memory(res[0], inputs[0], like):
        return inputs[0]
    if name in ("split", "split_with_sizes", "splitwithsizes"):
        return tuple(res)
    return res[0] if len(res) == 1 else tuple(res)


def _copy_into(x, value, like):
    if like == "torch":
        x.copy_(value)
    else:
        import numpy as np

        np.copyto(x, value, casting="unsafe")


def _device_dtype(dtype, op="policy"):
    """A dtype= option as the C++ name: strings pass, torch/numpy dtypes map."""
    if dtype is None or isinstance(dtype, str):
        return dtype
    text = str(dtype)
    if text in ("torch.float32", "torch.float"):
        return "f32"
    if text == "torch.bfloat16":
        return "bf16"
    if _dtype_kind(dtype) == "numpy":
        try:
            import numpy as np

            if np.dtype(dtype) == np.float32:
                return "f32"
        except TypeError:
            pass
    raise InvalidArgument(f"[{op}] dtype {dtype!r} is not supported (expected bf16, f32, bfp8, "
                          "torch.bfloat16, torch.float32 or numpy.float32)")


# ---- policies -----------------------------------------------------------------

# The stack of entered policies of this thread or task (a tuple, innermost last).
_STACK = contextvars.ContextVar("oomless_policies", default=())


def _active():
    stack = _STACK.get()
    return stack[-1] if stack else None


class Report:
    """What one call under a policy did: the plan and the allocator's measured
    peaks. Attributes (also ``report["key"]``; ``as_dict()`` has them all):

    op, policy, device, dtype, layout
    strategy        "direct" | "re-placed" | "streamed" | "chunked" | "host fallback"
    why             the requested placement's out-of-memory message when it was changed
    chunks, chunk, chunk_dim    number of chunks, output extent per chunk, the dim cut
    peak_l1_per_bank, peak_dram_per_bank    measured peaks in bytes (per core / per bank)
    peak_l1, peak_dram          the same over all banks
    l1_bank_size, dram_bank_size, l1_banks, dram_banks    the budgeted capacities
    l1_budget, dram_budget, host_budget    the budgets in bytes (None: unlimited)
    host_bytes      host memory of the inputs and outputs
    bytes_host_to_device, bytes_device_to_host    traffic
    seconds, compute_seconds    wall time of the run and of the kernels alone
    plan            the plan as ``oomless plan --json`` prints it
    """

    def __init__(self, data):
        self._data = dict(data)

    def __getattr__(self, key):
        try:
            return self.__dict__["_data"][key]
        except KeyError:
            raise AttributeError(f"'Report' has no attribute '{key}'") from None

    def __getitem__(self, key):
        return self._data[key]

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._data))

    def as_dict(self):
        return dict(self._data)

    def __repr__(self):
        d = self._data
        chunks = f", {d['chunks']} chunks of {d['chunk']} along dim {d['chunk_dim']}" if (
            d["strategy"] == "chunked") else ""
        return (f"<oomless.Report {d['op']} on {d['device']} ({d['policy']}): {d['strategy']}"
                f"{chunks}, peak L1 {d['peak_l1_per_bank']} B/bank, peak DRAM "
                f"{d['peak_dram_per_bank']} B/bank, {d['seconds']:.3g} s>")


class RunResult:
    """The result of :func:`run`: ``value`` (what ``oomless.<op>`` returns),
    ``outputs`` (a tuple of every output) and ``report`` (a :class:`Report`,
    whose attributes are also this object's: ``result.strategy``, ...)."""

    def __init__(self, value, report):
        self.value = value
        self.outputs = value if isinstance(value, tuple) else (value,)
        self.report = report

    def __getattr__(self, key):
        if key == "report":
            raise AttributeError(key)
        return getattr(self.report, key)

    def __repr__(self):
        return f"<oomless.RunResult {len(self.outputs)} output(s), {self.report!r}>"


class Policy:
    """Run ``oomless.<op>`` calls under a policy on a budgeted device profile.

    Use as a context manager (``with oomless.policy("auto", l1_budget="1MB") as p:``);
    every op called inside the block, in this thread or task, runs that way and
    its :class:`Report` is kept: ``p.last``, ``p.reports`` (the latest 1024).
    Options are validated here: a bad one raises ValueError naming it."""

    def __init__(self, policy="auto", *, device=None, memory="l1", out_memory=None, dtype=None,
                 layout="tile", l1_budget=None, dram_budget=None, host_budget=None):
        self._dtype_object = None if dtype is None or isinstance(dtype, str) else dtype
        if not isinstance(policy, str):
            raise InvalidArgument(f"[policy] unknown policy {policy!r} (expected auto or strict)")
        for key, v in (("device", device), ("memory", memory), ("out_memory", out_memory),
                       ("layout", layout)):
            if v is not None and not isinstance(v, str):
                raise InvalidArgument(f"[policy] {key} must be a string, got {v!r}")
        self._options = dict(policy=policy, device=device or "wormhole_b0", memory=memory,
                             out_memory=out_memory, dtype=_device_dtype(dtype),
                             layout=layout, l1_budget=l1_budget, dram_budget=dram_budget,
                             host_budget=host_budget)
        # Validates every option; budgets become bytes.
        checked = _oomless.check_options(**self._options)
        for key in ("l1_budget", "dram_budget", "host_budget"):
            self._options[key] = checked[key]
        self.options = checked
        self.reports = collections.deque(maxlen=1024)

    @property
    def last(self):
        """The report of the latest call under this policy (None before any)."""
        return self.reports[-1] if self.reports else None

    def _record(self, report):
        self.reports.append(report)

    def __enter__(self):
        _STACK.set(_STACK.get() + (self,))
        return self

    def __exit__(self, *exc):
        stack = list(_STACK.get())
        for i in range(len(stack) - 1, -1, -1):  # the innermost entry of this policy
            if stack[i] is self:
                del stack[i]
                break
        _STACK.set(tuple(stack))
        return False

    def __repr__(self):
        o = self.options
        extra = "".join(f", {k}={o[k]!r}" for k in ("out_memory", "dtype", "l1_budget",
                                                      "dram_budget", "host_budget") if o[k])
        return (f"oomless.policy({o['policy']!r}, device={o['device']!r}, "
                f"memory={o['memory'].lower()!r}, layout={o['layout'].lower()!r}{extra})")


def policy(policy="auto", **options):
    """A :class:`Policy` to use with ``with``: ``policy("auto" | "strict", device=,
    memory=, out_memory=, dtype=, layout=, l1_budget=, dram_budget=, host_budget=)``."""
    return Policy(policy, **options)


def current_policy():
    """The policy of the innermost ``with oomless.policy(...)`` block, or None."""
    return _active()


def run(op, *args, policy="auto", device=None, memory="l1", out_memory=None, dtype=None,
        layout="tile", l1_budget=None, dram_budget=None, host_budget=None, **op_args):
    """Run ``oomless.<op>(*args, **op_args)`` under a policy and return a
    :class:`RunResult` (value, outputs and the report of the plan and peaks).

    >>> r = oomless.run("softmax", x, -1, memory="l1", l1_budget="1MB", dram_budget="8MB")
    >>> r.value, r.strategy, r.chunks, r.peak_l1_per_bank
    """
    p = Policy(policy, device=device, memory=memory, out_memory=out_memory, dtype=dtype,
               layout=layout, l1_budget=l1_budget, dram_budget=dram_budget,
               host_budget=host_budget)
    fn = globals()[op] if op in _OWN_SIGNATURES else globals()[_canonical(op)]
    with p:
        value = fn(*args, **op_args)
    return RunResult(value, p.last)


def _same_memory(out, x, like):
    """out is a view of all of x with x's layout (then x itself can be returned)."""
    if tuple(out.shape) != tuple(x.shape):
        return False
    if like == "torch":
        if out.numel() == 0:
            return out.dtype == x.dtype
        same = all(a == b for a, b, n in zip(out.stride(), x.stride(), x.shape) if n > 1)
        return out.data_ptr() == x.data_ptr() and same and out.dtype == x.dtype
    ai, xi = out.__array_interface__, x.__array_interface__
    return ai["data"][0] == xi["data"][0] and out.dtype == x.dtype and (
        out.size == 0 or all(a == b for a, b, n in zip(out.strides, x.strides, x.shape) if n > 1))


def ops():
    """The op table: one dict per operator."""
    return _oomless.ops()


_TABLE = {}
for _e in _oomless.ops():
    _TABLE[_e["name"]] = _e


def _strip(name):
    # As the C++ find_op: "aten.x.default", "torch.x", "x.Tensor" all mean x.
    for prefix in ("aten.", "torch."):
        if name.startswith(prefix):
            name = name[len(prefix):]
    for suffix in (".default", ".Tensor", ".int", ".vec", ".dim"):
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
    return name


def _canonical(name):
    if name in _TABLE:
        return name
    for e in _TABLE.values():
        if name in e["aliases"] or name == e["aten"]:
            return e["name"]
    short = _strip(name)
    for e in _TABLE.values():
        if short == _strip(e["aten"]) or short in e["aliases"]:
            return e["name"]
    raise InvalidArgument(f"[oomless] unknown op '{name}'; known ops: {', '.join(_TABLE)}")


# The aten names of each op's tensor inputs, in order (for tensors given by keyword).
_TENSOR_NAMES = {
    "native_batch_norm": ("input", "weight", "bias", "running_mean", "running_var"),
    "addmm": ("input", "mat1", "mat2"),
    "linear": ("input", "weight", "bias"),
    "mm": ("input", "mat2"),
    "bmm": ("input", "mat2"),
    "copy": ("input", "src"),
    "convolution": ("input", "weight", "bias"),
}
_BINARY_NAMES = ("input", "other")


def _tensor_names(entry):
    return _TENSOR_NAMES.get(entry["name"], _BINARY_NAMES if entry["max_inputs"] == 2 else ("input",))


def _make(entry):
    name = entry["name"]
    arg_names = [a[0] for a in entry["args"]]
    lo, hi = entry["min_inputs"], entry["max_inputs"]
    tensor_names = _tensor_names(entry)

    def fn(*args, **kwargs):
        args = list(args)
        if name == "ones" and len(args) == 2 and "dtype" not in kwargs:
            kwargs["dtype"] = args.pop()  # ones(size, dtype)
        if hi < 0:  # cat/stack: a sequence of tensors first
            tensors = list(args.pop(0)) if args else list(kwargs.pop("tensors"))
        else:
            tensors = []
            while args and len(tensors) < hi and (args[0] is None or not _is_scalar(args[0])):
                tensors.append(args.pop(0))
            if "self" in kwargs:  # aten's name of the first input
                if "input" in kwargs:
                    raise InvalidArgument(f"[{name}] 'self' and 'input' name the same tensor")
                kwargs["input"] = kwargs.pop("self")
            for slot, key in enumerate(tensor_names):
                if key not in kwargs:
                    continue
                if slot < len(tensors):
                    raise InvalidArgument(f"[{name}] tensor '{key}' given twice (positionally "
                                          "and by keyword)")
                tensors += [None] * (slot + 1 - len(tensors))
                tensors[slot] = kwargs.pop(key)
        if name == "native_batch_norm":
            cl = kwargs.get("channels_last", args[3] if len(args) > 3 else False)
            tensors = _fill_batch_norm(tensors, bool(cl))
        while tensors and tensors[-1] is None:
            tensors.pop()
        if any(t is None for t in tensors):
            raise InvalidArgument(f"[{name}] a tensor input in the middle may not be None")
        if len(args) > len(arg_names):
            raise InvalidArgument(f"[{name}] takes {len(arg_names)} arguments after its tensors, got {len(args)}")
        for n, v in zip(arg_names, args):
            if n in kwargs:
                raise InvalidArgument(f"[{name}] argument '{n}' given twice")
            kwargs[n] = v
        return call(name, tensors, **kwargs)

    fn.__name__ = name
    fn.__doc__ = f"{entry['aten']}: {entry['summary']}\nArguments: {', '.join(arg_names) or 'none'}"
    return fn


def _is_scalar(x):
    return isinstance(x, (int, float, bool, str, list, tuple))


def _fill_batch_norm(t, channels_last=False):
    # aten allows weight/bias None with later inputs given (bias, running stats); the C++
    # op takes trailing inputs only, and weight=1 / bias=0 mean the same.
    t = list(t)
    last = max((i for i, v in enumerate(t) if v is not None), default=0)
    if last < 2 or all(v is not None for v in t[1:last]) or t[0] is None:
        return t
    x = t[0]
    shape = tuple(x.shape)
    c = (shape[-1] if channels_last else shape[1]) if len(shape) > 1 else shape[0]
    for i, fill in ((1, 1.0), (2, 0.0)):
        if i < last and t[i] is None:
            t[i] = _full_like_channel(x, c, fill)
    return t


def _full_like_channel(x, c, value):
    if _is_torch(x):
        import torch

        return torch.full((c,), value, dtype=x.dtype)
    import numpy as np

    return np.full((c,), value, dtype=x.dtype)


for _e in _TABLE.values():
    globals()[_e["name"]] = _make(_e)
    __all__.append(_e["name"])
    for _a in _e["aliases"]:
        if _a.isidentifier() and _a not in globals():
            globals()[_a] = globals()[_e["name"]]
            __all__.append(_a)


# ---- convolution: aten's and torch.nn.functional's signatures ------------------

# Python names whose signature is not the op table's (conv2d is torch's F.conv2d).
_OWN_SIGNATURES = ("conv2d",)


def _channels_last_view(x):
    """The NHWC view of a 4-D torch tensor stored channels-last (and not also
    NCHW-contiguous): the kernels read it in place, as torch's own conv does."""
    if not _is_torch(x) or x.dim() != 4:
        return None
    import torch

    if x.is_contiguous() or not x.is_contiguous(memory_format=torch.channels_last):
        return None
    return x.permute(0, 2, 3, 1)


def convolution(input, weight, bias=None, stride=1, padding=0, dilation=1, transposed=False,
                output_padding=0, groups=1, **kwargs):
    """aten.convolution: 2-D convolution of input [N,C,H,W] (or [C,H,W]) with
    weight [K, C/groups, kH, kW] and an optional bias [K]; f32 accumulation, one
    rounding. A channels-last torch tensor is read in place and the result is
    channels-last too (as torch returns it). Extra keywords: channels_last=True
    for an input shaped [N,H,W,C] (output [N,OH,OW,K]); rows_of, out_row0,
    out_rows compute a slice of output rows from the input rows it reads."""
    args = dict(stride=stride, padding=padding, dilation=dilation, transposed=transposed,
                output_padding=output_padding, groups=groups, **kwargs)
    tensors = [input, weight] + ([] if bias is None else [bias])
    if "channels_last" not in kwargs:
        nhwc = _channels_last_view(input)
        if nhwc is not None:
            out = call("convolution", [nhwc] + tensors[1:], channels_last=True, **args)
            return out.permute(0, 3, 1, 2)
    return call("convolution", tensors, **args)


def _pair(v):
    return [int(v), int(v)] if isinstance(v, int) else [int(x) for x in v]


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """torch.nn.functional.conv2d. padding is an int, a pair, "valid" (none) or
    "same" (stride 1; an odd total padding puts the extra row and column at the
    bottom and right, as torch does)."""
    crop = None
    if isinstance(padding, str):
        if padding == "valid":
            padding = 0
        elif padding == "same":
            if any(s != 1 for s in _pair(stride)):
                raise InvalidArgument("[convolution] padding='same' is not supported for strided "
                                      f"convolutions, got stride={stride}")
            d = _pair(dilation)
            total = [d[i] * (int(weight.shape[-2 + i]) - 1) for i in range(2)]
            lo = [t // 2 for t in total]
            padding = [t - low for t, low in zip(total, lo)]  # the larger side, on both
            if padding != lo:
                crop = [p - low for p, low in zip(padding, lo)]  # rows/cols of extra top/left
        else:
            raise InvalidArgument(f"[convolution] invalid padding string {padding!r} (expected "
                                  "'same' or 'valid')")
    out = convolution(input, weight, bias, stride, padding, dilation, False, 0, groups)
    if crop is None:
        return out
    out = out[..., crop[0]:, crop[1]:]
    if _is_torch(out):
        import torch

        cl = _channels_last_view(input) is not None
        return out.contiguous(memory_format=torch.channels_last if cl else torch.contiguous_format)
    import numpy as np

    return np.ascontiguousarray(out)
