"""oomless.Graph: a traced model as docs/graph-format.md describes it.

A Graph holds the file's JSON object (``.nodes``, ``.inputs``, ``.params``,
``.constants``, ``.outputs`` are its lists of dicts) and, for traces of real
models, the parameter values. ``save`` writes the JSON (one list entry per
line) and the values as safetensors beside it; ``Graph.load`` reads and
validates a file. torch is imported only to write or read weight values.
"""
import collections
import json
import math
import os
import struct

FORMAT, VERSION = "oomless-graph", 1

_DTYPE_NAMES = {"bfloat16": "bf16", "float32": "f32", "float16": "f16", "float64": "f64",
                "int64": "i64", "int32": "i32", "int16": "i16", "int8": "i8", "uint8": "u8",
                "bool": "bool"}
# graph dtype name -> (safetensors dtype, numpy dtype of the raw little-endian data)
_SAFETENSORS = {"bf16": ("BF16", "<i2"), "f32": ("F32", "<f4"), "f16": ("F16", "<f2"),
                "f64": ("F64", "<f8"), "i64": ("I64", "<i8"), "i32": ("I32", "<i4"),
                "i16": ("I16", "<i2"), "i8": ("I8", "i1"), "u8": ("U8", "u1"),
                "bool": ("BOOL", "?")}


class GraphError(ValueError):
    """A graph file (or graph) that breaks docs/graph-format.md."""


def dtype_name(dtype):
    """torch.bfloat16 -> "bf16" (the file's dtype names; others by torch's name)."""
    text = str(dtype).replace("torch.", "")
    return _DTYPE_NAMES.get(text, text)


def plain(value):
    """A JSON-safe value; non-finite floats become the strings "inf", "-inf", "nan"
    (strict JSON has no literal for them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


class Graph:
    """A traced model. ``len(g)`` is the number of nodes; ``g.op_counts()``
    maps each op name to its number of nodes."""

    def __init__(self, data, weight_values=None, path=None):
        self.data = data
        self.weight_values = weight_values  # {param name: torch.Tensor} or None
        self.path = path  # the file it was loaded from / saved to

    model = property(lambda self: self.data["model"])
    dtype = property(lambda self: self.data.get("dtype"))
    inputs = property(lambda self: self.data["inputs"])
    params = property(lambda self: self.data["params"])
    constants = property(lambda self: self.data.get("constants", []))
    nodes = property(lambda self: self.data["nodes"])
    outputs = property(lambda self: self.data["outputs"])
    weights = property(lambda self: self.data.get("weights"))

    def __len__(self):
        return len(self.nodes)

    def __repr__(self):
        return (f"<oomless.Graph {self.model}: {len(self)} nodes, {len(self.inputs)} input(s), "
                f"{len(self.params)} params, {len(self.outputs)} output(s)>")

    def op_counts(self):
        """{op name ("aten.convolution.default"): number of nodes}, most frequent first."""
        return dict(collections.Counter(n["op"] for n in self.nodes).most_common())

    def node(self, name):
        for n in self.nodes:
            if n["name"] == name:
                return n
        raise KeyError(f"[graph] no node named '{name}'")

    def tensor(self, name):
        """The declaration (name, shape, dtype, stride, ...) of any tensor by name."""
        for t in self.inputs + self.params + self.constants:
            if t["name"] == name:
                return t
        for n in self.nodes:
            for t in n["outputs"]:
                if t["name"] == name:
                    return t
        raise KeyError(f"[graph] no tensor named '{name}'")

    def validate(self, where="graph"):
        _validate(self.data, where)
        return self

    # ---- files ----------------------------------------------------------------

    def save(self, path):
        """Write the graph to `path` (``*.graph.json``) and, when it holds weight
        values, ``<stem>.safetensors`` beside it (``weights`` names that file)."""
        path = os.fspath(path)
        data = dict(self.data)
        _validate(data, path)
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.weight_values:  # a model without params gets no weights file
            stem = path[: -len(".graph.json")] if path.endswith(".graph.json") else (
                os.path.splitext(path)[0])
            wpath = stem + ".safetensors"
            write_safetensors(wpath, {p["name"]: self.weight_values[p["name"]]
                                      for p in data["params"]})
            data["weights"] = os.path.basename(wpath)
        with open(path, "w") as f:
            f.write(_dumps(data))
        self.data, self.path = data, path
        return path

    @classmethod
    def load(cls, path):
        """Read and validate a graph file; weight values load with load_weights()."""
        path = os.fspath(path)
        try:
            with open(path) as f:
                data = json.load(f)
        except json.JSONDecodeError as e:
            raise GraphError(f"[graph] {path}: not a graph file: not JSON ({e})") from None
        _validate(data, path)
        return cls(data, path=path)

    def load_weights(self):
        """{param name: torch.Tensor} from the weights file (or the values held)."""
        if self.weight_values is not None:
            return self.weight_values
        if not self.weights:
            raise GraphError(f"[graph] {self.path or self.model}: no weights (a meta-device trace)")
        base = os.path.dirname(self.path) if self.path else ""
        return read_safetensors(os.path.join(base, self.weights))


def _dumps(data):
    """JSON with one entry of each top-level list per line: readable, diffable,
    and a fraction of an indented dump's size."""
    def one(v):
        return json.dumps(v, separators=(", ", ": "), allow_nan=False)

    lines = []
    for key, value in data.items():
        if isinstance(value, list) and value:
            body = ",\n".join("  " + one(v) for v in value)
            lines.append(f"{one(key)}: [\n{body}\n]")
        else:
            lines.append(f"{one(key)}: {one(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


# ---- validation -------------------------------------------------------------------

def _fail(where, message):
    raise GraphError(f"[graph] {where}: {message}")


def _check_decl(where, what, t):
    if not isinstance(t, dict) or not isinstance(t.get("name"), str):
        _fail(where, f"{what} {t!r} has no name")
    if not isinstance(t.get("shape"), list) or not all(isinstance(d, int) for d in t["shape"]):
        _fail(where, f"{what} '{t['name']}' has no shape (a list of ints)")


def _validate(data, where):
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        _fail(where, f"not an oomless graph (format {got!r}, expected {FORMAT!r})")
    if data.get("version") != VERSION:
        _fail(where, f"graph format version {data.get('version')!r} is not supported "
                     f"(this reader knows version {VERSION})")
    for key in ("model", "inputs", "params", "nodes", "outputs"):
        if key not in data:
            _fail(where, f"missing '{key}'")
    defined = {}  # tensor name -> what defined it
    for what, key in (("input", "inputs"), ("param", "params"), ("constant", "constants")):
        for t in data.get(key, []):
            _check_decl(where, what, t)
            if t["name"] in defined:
                _fail(where, f"{what} '{t['name']}' is already defined (by {defined[t['name']]})")
            defined[t["name"]] = f"{what} '{t['name']}'"
    for n in data["nodes"]:
        name = n.get("name") if isinstance(n, dict) else None
        if not isinstance(name, str) or not isinstance(n.get("op"), str):
            _fail(where, f"node {n!r} needs a name and an op")
        for used in n.get("inputs", []):
            if used not in defined:
                _fail(where, f"node '{name}' uses '{used}', which is not defined before it")
        for t in n.get("outputs", []):
            _check_decl(where, f"node '{name}': output", t)
            if t["name"] in defined:
                _fail(where, f"node '{name}': output '{t['name']}' is already defined "
                             f"(by {defined[t['name']]})")
            alias = t.get("alias_of")
            if alias is not None and alias not in n.get("inputs", []):
                _fail(where, f"node '{name}': output '{t['name']}' is an alias of '{alias}', "
                             "which is not one of its inputs")
            defined[t["name"]] = f"node '{name}'"
    for out in data["outputs"]:
        if out not in defined:
            _fail(where, f"graph output '{out}' is not defined")


# ---- safetensors (written by hand: there is no safetensors package here) ---------

def write_safetensors(path, tensors):
    """{name: torch.Tensor} -> safetensors: u64 LE header length, JSON header
    (padded with spaces to 8 bytes), raw little-endian row-major data."""
    import torch

    header, arrays, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().to("cpu").contiguous()
        dt = dtype_name(t.dtype)
        if dt not in _SAFETENSORS:
            raise GraphError(f"[graph] {path}: tensor '{name}' has dtype {t.dtype}, which "
                             "safetensors cannot hold")
        # numpy has no bfloat16: its bits go out as uint16, unchanged.
        a = (t.view(torch.int16) if dt == "bf16" else t).numpy()
        header[name] = {"dtype": _SAFETENSORS[dt][0], "shape": list(t.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        arrays.append(a)
        offset += a.nbytes
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for a in arrays:
            f.write(memoryview(a.reshape(-1)).cast("B"))
    return path


def read_safetensors(path):
    """safetensors -> {name: torch.Tensor} (bf16 bit-exact)."""
    import numpy as np
    import torch

    by_st = {st: (name, np_dtype) for name, (st, np_dtype) in _SAFETENSORS.items()}
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        base = 8 + length
        out = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            if info["dtype"] not in by_st:
                raise GraphError(f"[graph] {path}: tensor '{name}' has unknown dtype {info['dtype']}")
            dt, np_dtype = by_st[info["dtype"]]
            begin, end = info["data_offsets"]
            f.seek(base + begin)
            a = np.frombuffer(f.read(end - begin), dtype=np_dtype).reshape(info["shape"])
            t = torch.from_numpy(a.astype(a.dtype.newbyteorder("="), copy=True))
            out[name] = t.view(torch.bfloat16) if dt == "bf16" else t
    return out
