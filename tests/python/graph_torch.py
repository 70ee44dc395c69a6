"""Runs a graph file's nodes with torch's aten ops, reading only what the file
says (inputs in schema order, args by name): if its output equals the model's,
the file holds everything a reader needs. A test helper, not a runtime."""
import torch

_DTYPES = {"bf16": torch.bfloat16, "f32": torch.float32, "f16": torch.float16,
           "f64": torch.float64, "i64": torch.int64, "i32": torch.int32, "u8": torch.uint8,
           "bool": torch.bool}


def _value(v):
    if isinstance(v, str):
        if v in _DTYPES:
            return _DTYPES[v]
        if v.startswith("torch."):
            return getattr(torch, v[len("torch."):])
        if v in ("cpu", "meta"):
            return torch.device("cpu")
        if v in ("inf", "-inf", "nan"):
            return float(v)
    if isinstance(v, list):
        return [_value(e) for e in v]
    return v


def _overload(name):
    _, op, overload = name.split(".")
    return getattr(getattr(torch.ops.aten, op), overload)


def run(graph, inputs, weights):
    """The graph's outputs for `inputs` (a list of tensors) and `weights` ({name: tensor})."""
    env = dict(weights)
    env.update({d["name"]: x for d, x in zip(graph.inputs, inputs)})
    for c in graph.constants:
        env[c["name"]] = torch.tensor(_value(c["value"]), dtype=_DTYPES[c["dtype"]])
    for node in graph.nodes:
        op = _overload(node["op"])
        pending = [env[n] for n in node["inputs"]]
        args, kwargs = [], {}
        schema = op._schema.arguments
        for i, a in enumerate(schema):
            kind = str(a.type)
            if kind in ("Tensor", "Optional[Tensor]") and a.name not in node["args"]:
                v = pending.pop(0)
            elif kind == "List[Tensor]":  # the list takes what later tensor slots leave
                later = sum(1 for b in schema[i + 1:] if str(b.type) in ("Tensor", "Optional[Tensor]")
                            and b.name not in node["args"])
                v, pending = pending[:len(pending) - later], pending[len(pending) - later:]
            elif kind == "List[Optional[Tensor]]":  # args name where the tensors sit
                v = [pending.pop(0) if n is not None else None for n in node["args"][a.name]]
            else:
                v = _value(node["args"][a.name])
            if a.kwarg_only:
                kwargs[a.name] = v
            else:
                args.append(v)
        assert not pending, f"{node['name']}: inputs left over"
        out = op(*args, **kwargs)
        outs = node["outputs"]
        if len(outs) == 1 and outs[0]["name"] == node["name"]:
            env[node["name"]] = out
        else:
            for d, t in zip(outs, out):
                env[d["name"]] = t
    return [env[n] for n in graph.outputs]
