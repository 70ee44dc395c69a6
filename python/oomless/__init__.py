"""oomless: Tenstorrent device-memory model and out-of-memory-free op runtime.

Every operator of the op table is a function here with an aten-like signature,
e.g. ``oomless.softmax(x, -1)``, ``oomless.add(a, b, alpha=2)``,
``oomless.max_pool2d(x, 2)``. Inputs are torch tensors or numpy arrays (float32
or bfloat16); they are shared with the C++ kernels without a copy (DLPack, or
the buffer protocol), and results come back the same way as the same kind of
object as the first input. ``oomless.query(op, shapes, ...)`` returns the
device-memory pre-check as a dict.
"""
from . import _oomless
from ._oomless import Error, InvalidArgument, OutOfMemory, Tensor, devices, query

__all__ = ["Error", "InvalidArgument", "OutOfMemory", "Tensor", "call", "devices", "ops", "query"]

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
    if like is None and dtype is not None:
        like = _dtype_kind(dtype)
    outs = _oomless.call(op, list(inputs), kwargs)
    idx = _INDEX_OUTPUTS.get(name, ())
    res = [_convert_out(t, like, i in idx) for i, t in enumerate(outs)]
    if dtype is not None and like is not None:
        res = [_to_dtype(r, dtype, like, name) for r in res]
    if name in _RETURNS_INPUT and like is not None and _same_memory(res[0], inputs[0], like):
        return inputs[0]
    if name in ("split", "split_with_sizes", "splitwithsizes"):
        return tuple(res)
    return res[0] if len(res) == 1 else tuple(res)


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
