"""oomless.run_model: a whole model run with data under its auto plan.

The graph (traced from a module, or a Graph) is planned and replayed on the
emulated device by the C++ core: every tensor in its planned place, chains
chunk by chunk, each program checked against the slow exact reference on a
sample of its outputs (``verify="full"``: all of them). Nodes without an
oomless kernel (``arange``, ``full``, ...) run here through torch's aten op
and are reported as host fallback.
"""
import collections

ModelResult = collections.namedtuple("ModelResult", "outputs report graph")

_DTYPES = {"bf16": "bfloat16", "f32": "float32", "f16": "float16", "f64": "float64",
           "i64": "int64", "i32": "int32", "i16": "int16", "i8": "int8", "u8": "uint8",
           "bool": "bool"}


def _value(v, torch):
    if isinstance(v, str):
        if v in _DTYPES:
            return getattr(torch, _DTYPES[v])
        if v in ("inf", "-inf", "nan"):
            return float(v)
        if v.startswith("torch."):
            return getattr(torch, v[len("torch."):])
        if v == "meta":
            return "cpu"
    if isinstance(v, list):
        return [_value(x, torch) for x in v]
    return v


def _host_call(node, xs, torch):
    """Calls the node's aten op: tensor operands in schema order, the rest from args."""
    _, name, overload = node["op"].split(".")
    op = getattr(getattr(torch.ops.aten, name), overload)
    it = iter(xs)
    args, kwargs = [], {}
    for a in op._schema.arguments:
        t = str(a.type)
        given = node["args"].get(a.name, "__absent__")
        if t.startswith("Tensor") and "[]" in t:
            value = [next(it) if x is not None else None for x in given] if isinstance(
                given, list) and any(isinstance(x, str) for x in given) else [
                next(it) for _ in range(len(xs))]
        elif t.startswith("Tensor") or t.startswith("Optional[Tensor]"):
            if given is None or (given != "__absent__" and not isinstance(given, str)):
                value = given  # None, or a number given where the schema takes a Tensor
            else:
                value = next(it)
        elif given == "__absent__":
            continue
        else:
            value = _value(given, torch)
        if a.kwarg_only:
            kwargs[a.name] = value
        else:
            args.append(value)
    out = op(*args, **kwargs)
    return list(out) if isinstance(out, (tuple, list)) else [out]


def run_model(graph_or_module, *inputs, device="wormhole_b0", policy="auto", memory=None,
              l1_budget=None, dram_budget=None, host_budget=None, verify="sample", samples=16,
              seed=0, weights=None):
    """Runs a model (an nn.Module traced with ``inputs``, or an oomless.Graph) on
    the emulated device under its auto plan. Returns ``ModelResult(outputs,
    report, graph)``: outputs as torch tensors (the graph's outputs in order),
    report a dict (planned and measured peaks, ``peaks_match``, programs
    verified, elements checked and failed, kernel seconds per op, host
    fallback nodes)."""
    import torch
    from torch.utils import dlpack

    from . import _oomless
    from .graph import Graph, _dumps
    from .trace import trace

    if policy != "auto":
        raise ValueError(f"[run_model] policy {policy!r}: a model runs under its auto plan "
                         f"(policy='auto')")
    if memory not in (None, "l1", "dram"):
        raise ValueError(f"[run_model] memory {memory!r}: expected 'l1' or 'dram'")
    if isinstance(graph_or_module, torch.nn.Module):
        module = graph_or_module
        with torch.no_grad():
            g = trace(module, *inputs)
        w = {k: v.detach() for k, v in module.state_dict(keep_vars=True).items()}
    elif isinstance(graph_or_module, Graph):
        g = graph_or_module
        w = weights if weights is not None else (
            g.load_weights() if (g.weight_values or g.weights) else {})
    else:
        raise TypeError(f"[run_model] expected an nn.Module or an oomless.Graph, got "
                        f"{type(graph_or_module).__name__}")
    if weights is not None:
        w = weights
    names = [t["name"] for t in g.inputs]
    if len(inputs) != len(names):
        raise ValueError(f"[run_model] {len(inputs)} input(s) given, the graph takes "
                         f"{len(names)} ({', '.join(names)})")
    ins = {n: x.detach() for n, x in zip(names, inputs)}
    params = {p["name"] for p in g.params}
    w = {k: v for k, v in w.items() if k in params and v.is_floating_point()}
    store = {}  # host-only values (int64 and friends) by tensor name

    def host_op(index, xs):
        node = g.nodes[index]
        args = []
        for name, x in zip(node["inputs"], xs):
            args.append(store[name] if x is None else dlpack.from_dlpack(x))
        outs = _host_call(node, args, torch)
        result = []
        for decl, t in zip(node["outputs"], outs):
            store[decl["name"]] = t
            floating = torch.is_tensor(t) and t.is_floating_point()
            result.append(t.float().contiguous() if floating else None)
        return result

    outs, report = _oomless.run_model(
        _dumps(g.data), w, ins, host_op, device=device, l1_budget=l1_budget,
        dram_budget=dram_budget, host_budget=host_budget, verify=verify, samples=samples,
        seed=seed)
    outputs = [dlpack.from_dlpack(t) for t in outs]
    return ModelResult(outputs, report, g)
