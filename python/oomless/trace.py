"""oomless.trace(model, *example_inputs): a PyTorch model -> :class:`oomless.Graph`.

make_fx records the model's forward at the aten level. The parameters and
buffers are traced as explicit arguments (``functional_call``), so each
placeholder maps back to its ``named_parameters()`` / ``named_buffers()``
name. The trace runs on the meta device: meta inputs give a graph with no
weights (a 4K trace needs no activation memory); real inputs are traced on
meta copies too and the real weights are kept for ``Graph.save``. A model
meta tensors cannot trace (data-dependent Python control flow) is traced on
the real tensors instead. torch is imported on the first call only.
"""
import contextlib
import inspect
import operator

from .graph import Graph, GraphError, dtype_name, plain, FORMAT, VERSION


class TraceError(RuntimeError):
    """make_fx could not trace the model; the message starts with its class name."""


def trace(model, *example_inputs, name=None, meta=None):
    """Trace ``model(*example_inputs)`` into a Graph (docs/graph-format.md).

    meta: None (default) traces on the meta device and falls back to the real
    tensors if that fails; True: meta only; False: the real tensors only.
    Inputs on the meta device always trace on meta and give no weights."""
    import torch

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"[trace] the model must be a torch.nn.Module, got {type(model).__name__}")
    cls = type(model).__name__
    if not example_inputs:
        raise TypeError(f"[trace] {cls}: give at least one example input tensor")
    for i, x in enumerate(example_inputs):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"[trace] {cls}: example input {i} is a {type(x).__name__}, not a "
                            "torch.Tensor (e.g. torch.empty(1, 3, 640, 640, device='meta'))")
    on_meta = [x.is_meta for x in example_inputs]
    if any(on_meta) and not all(on_meta):
        raise ValueError(f"[trace] {cls}: example inputs mix the meta device and real tensors")
    state = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    kinds = {k: "parameter" for k, _ in model.named_parameters()}
    kinds.update({k: "buffer" for k, _ in model.named_buffers()})
    real = not any(on_meta) and not any(t.is_meta for t in state.values())
    if not real or meta:
        modes = ["meta"]  # meta inputs or a meta model: nothing real to fall back on
    elif meta is False:
        modes = ["real"]
    else:
        modes = ["meta", "real"]  # meta is faster and needs no activation memory
    errors = []
    for mode in modes:
        if mode == "meta":
            args = ({k: _meta_like(v) for k, v in state.items()},
                    [_meta_like(x) for x in example_inputs])
        else:
            args = ({k: v.detach() for k, v in state.items()}, [x.detach() for x in example_inputs])
        try:
            gm = _make_fx(model, *args)
            break
        except Exception as e:  # any error of the model's forward under tracing
            errors.append(f"on {mode} tensors: {type(e).__name__}: {e}")
    else:
        raise TraceError(f"{cls}: make_fx could not trace the model ({'; '.join(errors)})")
    _drop_dead(gm)
    names = list(state) + _input_names(model, len(example_inputs), set(state), gm)
    # Real inputs traced on meta: device args (empty(..., device=)) name the inputs' device.
    device = str(example_inputs[0].device)
    data = _convert(gm, names, state, kinds, example_inputs, device)
    data["model"] = name or cls
    data["dtype"] = dtype_name(example_inputs[0].dtype)
    data = {k: data[k] for k in ("format", "version", "model", "dtype", "inputs", "params",
                                 "constants", "nodes", "outputs")}
    weights = {k: v.detach() for k, v in state.items()} if real else None
    return Graph(data, weight_values=weights).validate(f"trace of {cls}")


def _meta_like(t):
    import torch

    return torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device="meta")


def _make_fx(model, state, inputs):
    import torch
    from torch.fx.experimental import proxy_tensor
    from torch.nn.utils.stateless import functional_call

    def run(params, *xs):
        return functional_call(model, params, xs)

    with torch.no_grad(), _module_paths(model) as stack, _recording_tracer(proxy_tensor, stack):
        return proxy_tensor.make_fx(run)(state, *inputs)


@contextlib.contextmanager
def _module_paths(model):
    """A stack of the nn.Module paths whose forward is running (hooks on every module)."""
    stack, handles = [], []

    def leave(mod, args, out):  # returns None: a value would replace the module's output
        stack.pop()

    for path, m in model.named_modules():
        handles.append(m.register_forward_pre_hook(lambda mod, args, p=path: stack.append(p)))
        handles.append(m.register_forward_hook(leave))
    try:
        yield stack
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def _recording_tracer(proxy_tensor, stack):
    """make_fx builds its tracer from proxy_tensor.PythonKeyTracer; a subclass
    stamps each node it creates with the module path on top of the stack."""
    base = proxy_tensor.PythonKeyTracer

    class Tracer(base):
        def create_node(self, *args, **kwargs):
            node = super().create_node(*args, **kwargs)
            node.meta["oomless_module"] = stack[-1] if stack else ""
            return node

    proxy_tensor.PythonKeyTracer = Tracer
    try:
        yield
    finally:
        proxy_tensor.PythonKeyTracer = base


def _input_names(model, count, taken, gm):
    """The forward's parameter names ("x"), else input0, input1, ...; never a
    name another tensor has."""
    try:
        params = [p for p in inspect.signature(model.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    taken = set(taken) | {n.name for n in gm.graph.nodes if n.op != "placeholder"}
    names = []
    for i in range(count):
        base = params[i].name if i < len(params) else f"input{i}"
        n, k = base, 1
        while n in taken:
            n, k = f"{base}_{k}", k + 1
        taken.add(n)
        names.append(n)
    return names


def _drop_dead(gm):
    """Removes aten nodes nothing reads that write nothing (batch norm's unused
    empty(0) reserve), last first so their own operands can go too."""
    for node in reversed(list(gm.graph.nodes)):
        schema = getattr(node.target, "_schema", None)
        if node.op == "call_function" and not node.users and schema is not None and (
                not schema.is_mutable):
            gm.graph.erase_node(node)


# ---- fx graph -> graph file ---------------------------------------------------------

def _decl(name, meta, **extra):
    return {"name": name, "shape": list(meta.shape), "dtype": dtype_name(meta.dtype),
            "stride": list(meta.stride), **extra}


def _tensor_decl(name, t, **extra):
    return {"name": name, "shape": list(t.shape), "dtype": dtype_name(t.dtype),
            "stride": list(t.stride()), **extra}


def _convert(gm, names, state, kinds, example_inputs, device):
    import torch

    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != len(names):
        raise GraphError(f"[trace] {len(placeholders)} placeholders for {len(names)} "
                         "params, buffers and inputs")
    tname = {ph: nm for ph, nm in zip(placeholders, names)}  # fx node -> tensor name
    n_state = len(state)
    inputs = [_tensor_decl(names[n_state + i], x) for i, x in enumerate(example_inputs)]
    params = [_tensor_decl(k, v, kind=kinds[k]) for k, v in state.items()]
    constants, nodes, outputs = [], [], []
    for node in gm.graph.nodes:
        if node.op == "get_attr":  # tensors made during the forward (torch.tensor(...))
            value = getattr(gm, node.target)
            tname[node] = node.name
            c = _tensor_decl(node.name, value)
            c["value"] = None if value.is_meta else plain(value.tolist())
            constants.append(c)
        elif node.op == "call_function" and node.target is operator.getitem:
            parent, index = node.args
            tname[node] = f"{tname[parent]}.{index}" if parent in tname else None
        elif node.op == "call_function":
            nodes.append(_convert_node(node, tname, torch, device))
        elif node.op == "output":
            for leaf in torch.utils._pytree.tree_flatten(node.args[0])[0]:
                if isinstance(leaf, torch.fx.Node):
                    outputs.append(tname[leaf])
    return {"format": FORMAT, "version": VERSION, "inputs": inputs, "params": params,
            "constants": constants, "nodes": nodes, "outputs": outputs}


def _bind(schema, args, kwargs, where):
    """[(schema argument, value)] in schema order, defaults filled in."""
    bound = []
    for i, a in enumerate(schema.arguments):
        if not a.kwarg_only and i < len(args):
            v = args[i]
        elif a.name in kwargs:
            v = kwargs[a.name]
        elif a.has_default_value():
            v = a.default_value
        else:
            raise GraphError(f"[trace] node '{where}': no value for argument '{a.name}'")
        bound.append((a, v))
    return bound


def _arg_value(v, a, tname, torch, device):
    if isinstance(v, torch.fx.Node):
        return tname[v]  # a tensor in a non-tensor slot (does not happen at aten level)
    if isinstance(v, torch.dtype):
        return dtype_name(v)
    if isinstance(v, torch.device):
        return device if v.type == "meta" else str(v)
    if isinstance(v, (torch.layout, torch.memory_format)):
        return str(v)
    if isinstance(v, (list, tuple)):
        v = [_arg_value(e, None, tname, torch, device) for e in v]
        n = getattr(a, "N", None) if a is not None else None
        if n and len(v) == 1 and n > 1:  # int[2] given one int means it for every dim
            v = v * n
        return v
    return plain(v)


def _convert_node(node, tname, torch, device):
    op = node.target
    schema = getattr(op, "_schema", None)
    rec = {"name": node.name, "op": str(op), "inputs": [], "args": {}, "outputs": [],
           "module": node.meta.get("oomless_module")}
    if schema is None:  # a Python callable, not an aten op: keep it, tensors as inputs
        flat = torch.utils._pytree.tree_flatten((node.args, node.kwargs))[0]
        rec["op"] = f"{getattr(op, '__module__', '')}.{getattr(op, '__name__', op)}"
        rec["inputs"] = [tname[v] for v in flat if isinstance(v, torch.fx.Node)]
        rec["outputs"] = [_decl(node.name, node.meta["tensor_meta"], alias_of=None)] if (
            "tensor_meta" in node.meta) else []
        return rec
    sources = {}  # alias set ("a") -> the tensor it names
    for a, v in _bind(schema, node.args, node.kwargs, node.name):
        kind = str(a.type)
        if kind in ("Tensor", "Optional[Tensor]") and isinstance(v, torch.fx.Node):
            rec["inputs"].append(tname[v])
            if a.alias_info is not None:
                for s in a.alias_info.before_set:
                    sources[s] = tname[v]
                if "*" in a.alias_info.after_set:  # its pieces are the list output's elements
                    sources["*"] = tname[v]
        elif kind in ("List[Tensor]", "List[Optional[Tensor]]"):
            tensors = [tname[t] for t in v if isinstance(t, torch.fx.Node)]
            rec["inputs"].extend(tensors)
            if kind == "List[Optional[Tensor]]":  # index.Tensor: where the Nones are
                rec["args"][a.name] = [tname[t] if isinstance(t, torch.fx.Node) else None
                                       for t in v]
        else:  # numbers in Tensor slots (mul(x, 0.5)), None, ints, lists, dtypes
            rec["args"][a.name] = _arg_value(v, a, tname, torch, device)
    rec["outputs"] = _outputs(node, schema, sources, tname)
    return rec


def _outputs(node, schema, sources, tname):
    rets = schema.returns
    if len(rets) == 1 and str(rets[0].type) == "Tensor":
        tname[node] = node.name
        return [_decl(node.name, _meta_of(node), alias_of=_alias(rets[0], sources))]
    tname[node] = node.name  # getitem names its outputs "<node>.<i>"
    items = {u.args[1]: u for u in node.users if u.target is operator.getitem}
    count = len(rets) if len(rets) > 1 else max(items, default=-1) + 1
    outs = []
    for i in range(count):
        if i not in items:
            raise GraphError(f"[trace] node '{node.name}' ({node.target}): output {i} has no "
                             "traced value")
        ret = rets[i] if len(rets) > 1 else rets[0]
        alias = _alias(ret, sources) or (sources.get("*") if str(ret.type).startswith("List") else None)
        outs.append(_decl(f"{node.name}.{i}", _meta_of(items[i]), alias_of=alias))
    return outs


def _meta_of(node):
    try:
        return node.meta["tensor_meta"]
    except KeyError:
        raise GraphError(f"[trace] node '{node.name}' ({node.target}) has no traced shape") from None


def _alias(ret, sources):
    if ret.alias_info is None:
        return None
    for s in ret.alias_info.before_set:
        if s in sources:
            return sources[s]
    return None
