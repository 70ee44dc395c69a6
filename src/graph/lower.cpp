// Lowering: each aten node of a graph becomes op-table calls where oomless has
// the op, from one table (kLowerings); everything else stays a host op, listed
// and planned on the host with its transfers, never dropped. The op table's own
// infer checks every lowered node against the shapes in the file.
#include <fmt/format.h>

#include <algorithm>

#include "graph/detail.hpp"
#include "ops/families.hpp"

namespace oomless::graph {

using detail::fail_at;
using detail::same_pages;
using detail::set_format;

namespace {

// How an aten argument reaches the op-table call.
enum class Arg : uint8_t {
  Map,       // passed under the op's name `to`
  Drop,      // no effect on the result or on memory (memory_format, implicit)
  MustNull,  // anything but null makes the node a host op (div's rounding_mode)
  MustFalse  // true makes it a host op (a transposed convolution)
};

struct ArgRule {
  std::string_view from;
  Arg rule = Arg::Map;
  std::string_view to = {};  // Map: the op-table name (default: the same)
};

enum class Special : uint8_t {
  None,
  Transpose01,   // t: transpose(0, 1); a view of itself below 2 dims
  ViewAsOutput,  // a shape-only view (squeeze, alias, ...): view to the output shape
  UpsampleVec,   // output_size, or scale_factors [s, s] -> scale_factor s
  ReshapeAlias,  // a view whose `stride` must be the output's strides
  BatchNorm,     // optional operands must be trailing; training from the overload
  BatchNormNoTraining,
};

struct Lowering {
  std::string aten, op;
  std::vector<ArgRule> args;
  std::string_view scalar = {};  // an argument that may be a number in place of operand 1
  bool inplace = false;          // writes into input 0 (add_)
  Special special = Special::None;
  int checked_outputs = -1;  // outputs compared with infer (-1: all)
};

constexpr Arg D = Arg::Drop;
constexpr Arg N = Arg::MustNull;
constexpr Arg F = Arg::MustFalse;

const std::vector<Lowering>& lowerings() {
  static const std::vector<Lowering> k = [] {
    std::vector<Lowering> t = {
        {"aten.convolution.default",
         "convolution",
         {{"bias", N},  // a bias tensor is an operand; null here means none
          {"stride"},
          {"padding"},
          {"dilation"},
          {"transposed", F},
          {"output_padding"},
          {"groups"}}},
        // Eval batch norm's save_mean/save_invstd are empty on the CPU and [C] on
        // meta tensors: only the output is compared.
        {"aten.native_batch_norm.default",
         "native_batch_norm",
         {{"weight", N},
          {"bias", N},
          {"running_mean", N},
          {"running_var", N},
          {"training"},
          {"momentum"},
          {"eps"}},
         {},
         false,
         Special::BatchNorm,
         1},
        {"aten._native_batch_norm_legit_no_training.default",
         "native_batch_norm",
         {{"weight", N},
          {"bias", N},
          {"running_mean", N},
          {"running_var", N},
          {"momentum"},
          {"eps"}},
         {},
         false,
         Special::BatchNormNoTraining,
         1},
        {"aten.cat.default", "cat", {{"dim"}}},
        {"aten.stack.default", "stack", {{"dim"}}},
        {"aten.split.Tensor", "split", {{"split_size"}, {"dim"}}},
        {"aten.split_with_sizes.default", "split_with_sizes", {{"split_sizes"}, {"dim"}}},
        {"aten.transpose.int", "transpose", {{"dim0"}, {"dim1"}}},
        {"aten.t.default", "transpose", {}, {}, false, Special::Transpose01},
        {"aten.permute.default", "permute", {{"dims"}}},
        {"aten.view.default", "view", {{"size"}}},
        {"aten._reshape_alias.default",
         "view",
         {{"size"}, {"stride", D}},
         {},
         false,
         Special::ReshapeAlias},
        {"aten._unsafe_view.default", "unsafeview", {{"size"}}},
        {"aten.expand.default", "expand", {{"size"}, {"implicit", D}}},
        {"aten.unsqueeze.default", "unsqueeze", {{"dim"}}},
        {"aten.squeeze.dim", "view", {{"dim", D}}, {}, false, Special::ViewAsOutput},
        {"aten.squeeze.dims", "view", {{"dim", D}}, {}, false, Special::ViewAsOutput},
        {"aten.squeeze.default", "view", {}, {}, false, Special::ViewAsOutput},
        {"aten.alias.default", "view", {}, {}, false, Special::ViewAsOutput},
        {"aten.detach.default", "view", {}, {}, false, Special::ViewAsOutput},
        {"aten.clone.default", "clone", {{"memory_format", D}}},
        {"aten.bmm.default", "bmm", {}},
        {"aten.mm.default", "mm", {}},
        {"aten.addmm.default", "addmm", {{"beta"}, {"alpha"}}},
        {"aten._softmax.default", "softmax", {{"dim"}, {"half_to_float"}}},
        {"aten.upsample_nearest2d.vec",
         "upsample_nearest2d",
         {{"output_size"}, {"scale_factors", D}},
         {},
         false,
         Special::UpsampleVec},
        {"aten.upsample_nearest2d.default",
         "upsample_nearest2d",
         {{"output_size"}, {"scales_h", D}, {"scales_w", D}}},
        {"aten.max_pool2d_with_indices.default",
         "maxpool2d",
         {{"kernel_size"}, {"stride"}, {"padding"}, {"dilation"}, {"ceil_mode"}}},
        {"aten.mean.dim", "mean", {{"dim"}, {"keepdim"}, {"dtype", N}}},
        {"aten.linalg_vector_norm.default",
         "linalgvectornorm",
         {{"ord"}, {"dim"}, {"keepdim"}, {"dtype", N}}},
        {"aten.topk.default",
         "topk",
         {{"k"}, {"dim"}, {"largest"}, {"sorted"}},
         {},
         false,
         Special::None,
         1},
        {"aten.native_dropout.default", "dropout", {{"p"}, {"train"}}},
        {"aten.gelu.default", "gelu", {{"approximate"}}},
        {"aten.hardtanh.default", "hardtanh", {{"min_val"}, {"max_val"}}},
        {"aten.leaky_relu.default", "leakyrelu", {{"negative_slope"}}},
        {"aten.clamp.default", "clamp", {{"min"}, {"max"}}},
        {"aten.clamp_min.default", "clampmin", {{"min"}}},
        {"aten.softplus.default", "softplus", {{"beta"}, {"threshold"}}},
        {"aten.silu_.default", "silu_inplace", {}},
        {"aten.slice.Tensor", "slice", {{"dim"}, {"start"}, {"end"}, {"step"}}},
        {"aten.select.int", "select", {{"dim"}, {"index"}}},
    };
    // Unary ops without arguments, and their in-place forms.
    for (auto [aten, op] : {std::pair{"relu", "relu"},
                            {"sigmoid", "sigmoid"},
                            {"silu", "silu"},
                            {"tanh", "tanh"},
                            {"log", "log"},
                            {"mish", "mish"}}) {
      t.push_back({fmt::format("aten.{}.default", aten), op, {}});
      t.push_back({fmt::format("aten.{}_.default", aten), op, {}, {}, true});
    }
    // Binary ops: a number may stand for the second operand; in-place forms.
    for (auto name : {"add", "sub", "mul", "div"}) {
      std::vector<ArgRule> args;
      if (name == std::string_view("add") || name == std::string_view("sub"))
        args.push_back({"alpha"});
      for (auto overload : {"Tensor", "Scalar"})
        for (bool inplace : {false, true})
          t.push_back({fmt::format("aten.{}{}.{}", name, inplace ? "_" : "", overload), name, args,
                       "other", inplace});
    }
    return t;
  }();
  return k;
}

const Lowering* find_lowering(const std::string& aten) {
  static const std::map<std::string, const Lowering*> table = [] {
    std::map<std::string, const Lowering*> m;
    for (const auto& l : lowerings()) m[l.aten] = &l;
    return m;
  }();
  auto it = table.find(aten);
  return it == table.end() ? nullptr : it->second;
}

ops::ArgValue to_arg(const nlohmann::json& v) {
  if (v.is_null()) return std::monostate{};
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::vector<int64_t> out;
    for (const auto& e : v) {
      if (!e.is_number_integer()) throw Error("a list of non-integers");
      out.push_back(e.get<int64_t>());
    }
    return out;
  }
  throw Error("an object");
}

std::string json_str(const nlohmann::json& v) {
  return v.dump();
}

ops::TensorSpec spec_of(const TensorInfo& t) {
  return {t.shape, *t.dtype};
}

bool is_view_family(const ops::OpDesc& op) {
  return op.family == ops::Family::Split ||
         (op.family == ops::Family::Movement &&
          static_cast<ops::MovementOp>(op.variant) != ops::MovementOp::Clone &&
          static_cast<ops::MovementOp>(op.variant) != ops::MovementOp::Copy);
}

bool has_arg(const ops::OpDesc& op, std::string_view name) {
  for (const auto& a : op.args)
    if (a.name == name) return true;
  return false;
}

int add_constant(Graph& g, const Node& n, const std::string& arg, double value, DType dtype) {
  TensorInfo c;
  c.name = fmt::format("{}.{}", n.name, arg);
  if (g.by_name.count(c.name)) c.name += "#scalar";
  c.kind = TensorKind::Constant;
  c.shape = {};
  c.stride = {};
  c.dtype = dtype;
  c.dtype_name = std::string(dtype_name(dtype));
  c.value = value;
  set_format(c);
  int id = static_cast<int>(g.tensors.size());
  c.storage = id;
  g.by_name[c.name] = id;
  g.tensors.push_back(std::move(c));
  g.constants.push_back(id);
  return id;
}

// A tensor of its own for view v as node n reads it: v's elements, dense in v's
// memory order (an NHWC activation when v is a channel slice of one).
int materialised(Graph& g, const Node& n, int vi) {
  TensorInfo m = g.tensors[vi];
  m.name = fmt::format("{}@{}", m.name, n.name);
  m.kind = TensorKind::Activation;
  m.alias_of = -1;
  m.graph_output = false;
  m.users.clear();
  m.producer = static_cast<int>(&n - g.nodes.data());
  Strides st(m.shape.size(), 0);
  int64_t step = 1;
  for (size_t i = m.order.size(); i-- > 0;) {
    st[m.order[i]] = step;
    step *= m.shape[m.order[i]];
  }
  if (m.nhwc) st = {m.shape[1] * m.shape[2] * m.shape[3], 1, m.shape[3] * m.shape[1], m.shape[1]};
  m.stride = st;
  set_format(m);
  int id = static_cast<int>(g.tensors.size());
  m.storage = id;
  g.by_name[m.name] = id;
  g.tensors.push_back(std::move(m));
  return id;
}

void make_host(Graph& g, Node& n, std::string reason) {
  n.kind = NodeKind::Host;
  n.host_reason = std::move(reason);
  n.op_desc = nullptr;
  n.steps.clear();
  n.call_inputs.clear();
  ++g.host_ops[n.op];
  for (int o : n.outputs) {
    TensorInfo& t = g.tensors[o];
    t.storage = o;
    // A host op's float outputs can be uploaded; others stay on the host.
    set_format(t);
  }
}

}  // namespace

// Its pages are those of its storage: all of them, or (a slice along the
// outermost dims) a whole-tile range of rows of the same width.
bool aliasable(const Graph& g, int vi) {
  const TensorInfo& v = g.tensors[vi];
  const TensorInfo& base = g.tensors[v.storage];
  if (v.storage == vi) return true;
  if (!v.dense || !base.dense || v.dtype != base.dtype) return false;
  if (numel(v.shape) > numel(base.shape)) return false;
  return same_pages(v.device_shape, base.device_shape);
}

plan::CallSpec device_call(const Graph& g, const Node& n, const std::vector<Shape>& in,
                           const ops::Args& args, const std::vector<Shape>& out_logical) {
  const ops::OpDesc& op = *n.op_desc;
  plan::CallSpec c;
  c.op = &op;
  c.args = args;
  c.inplace = n.inplace;
  for (size_t i = 0; i < in.size(); ++i) {
    ops::TensorSpec sp{in[i], *g.tensors[n.call_inputs[i]].dtype};
    if (i == 0 && n.nhwc_call) sp.shape = {in[i][0], in[i][2], in[i][3], in[i][1]};
    c.inputs.push_back(sp);
  }
  if (n.nhwc_call) {
    auto v = c.args.values();
    v["channels_last"] = true;
    c.args = ops::Args(op.name, op.args, v);
  }
  ops::OutputSpec out = ops::infer_output(op, c.inputs, c.args);
  // Outputs are stored as the graph's tensors are (folded NHWC, memory order).
  for (size_t i = 0; i < n.outputs.size() && i < out.outputs.size(); ++i) {
    Shape st = storage_shape(g.tensors[n.outputs[i]], out_logical[i]);
    c.out_storage.push_back(numel(st) == numel(out.outputs[i].shape) ? st : Shape{});
  }
  return c;
}

plan::CallSpec copy_call(const TensorInfo& v, const Shape& logical) {
  plan::CallSpec c;
  c.op = &ops::find_op("clone");
  c.inputs = {{storage_shape(v, logical), *v.dtype}};
  c.args = ops::Args("clone", c.op->args, {});
  return c;
}

namespace detail {

void lower_node(Graph& g, int ni) {
  Node& n = g.nodes[ni];
  auto where = [&] { return fmt::format("node '{}' ({})", n.name, n.op); };
  const Lowering* low = find_lowering(n.op);
  if (!low) return make_host(g, n, "no op-table op");
  // Arguments: mapped, dropped, or forcing the host.
  std::map<std::string, ops::ArgValue> values;
  std::optional<double> scalar;
  for (const auto& [key, v] : n.args.items()) {
    if (key == low->scalar && v.is_number()) {
      scalar = v.get<double>();
      continue;
    }
    const ArgRule* rule = nullptr;
    for (const auto& r : low->args)
      if (r.from == key) rule = &r;
    if (!rule) return make_host(g, n, fmt::format("argument '{}' is not supported", key));
    if (rule->rule == Arg::Drop) continue;
    if (rule->rule == Arg::MustNull || rule->rule == Arg::MustFalse) {
      bool ok = rule->rule == Arg::MustNull ? v.is_null() : v == false;
      if (!ok)
        return make_host(g, n, fmt::format("argument {}={} is not supported", key, json_str(v)));
      continue;
    }
    try {
      values[std::string(rule->to.empty() ? rule->from : rule->to)] = to_arg(v);
    } catch (const Error& e) {
      fail_at(g, where(), fmt::format("argument '{}' is {}: {}", key, e.what(), json_str(v)));
    }
  }
  // Operands: every tensor must have a device dtype.
  std::vector<int> inputs = n.inputs;
  for (int t : inputs)
    if (!g.tensors[t].dtype)
      return make_host(
          g, n, fmt::format("input '{}' has dtype {}", g.tensors[t].name, g.tensors[t].dtype_name));
  if (scalar) {
    if (inputs.size() != 1)
      fail_at(g, where(),
              fmt::format("'{}' is a number but the node has {} tensor operands", low->scalar,
                          inputs.size()));
    DType dt = *g.tensors[inputs.front()].dtype;
    int c = add_constant(g, n, std::string(low->scalar), *scalar, dt);
    inputs = {inputs.front(), c};
  }
  switch (low->special) {
    case Special::Transpose01:
      if (g.tensors[inputs[0]].shape.size() < 2) {
        values["size"] = g.tensors[n.outputs[0]].shape;
        n.op_desc = &ops::find_op("view");
      } else {
        values["dim0"] = int64_t{0};
        values["dim1"] = int64_t{1};
      }
      break;
    case Special::ViewAsOutput:
      values["size"] = g.tensors[n.outputs.at(0)].shape;
      break;
    case Special::UpsampleVec: {
      const auto& sf = n.args.value("scale_factors", nlohmann::json());
      if (!sf.is_null()) {
        if (!sf.is_array() || sf.size() != 2 || sf[0] != sf[1])
          return make_host(g, n, "scale_factors " + json_str(sf) + " are not one factor");
        values["scale_factor"] = sf[0].get<double>();
      }
      break;
    }
    case Special::ReshapeAlias: {
      const auto& st = n.args.value("stride", nlohmann::json());
      if (st != nlohmann::json(g.tensors[n.outputs.at(0)].stride))
        fail_at(g, where(),
                fmt::format("stride {} is not the output's strides {}", json_str(st),
                            shape_str(g.tensors[n.outputs[0]].stride)));
      break;
    }
    case Special::BatchNormNoTraining:
      values["training"] = false;
      [[fallthrough]];
    case Special::BatchNorm: {
      // Optional operands are positional in the op table: only trailing ones may be absent.
      bool gap = false, absent = false;
      for (auto key : {"weight", "bias", "running_mean", "running_var"}) {
        bool is_null = n.args.contains(key) && n.args[key].is_null();
        if (is_null) absent = true;
        if (!is_null && absent) gap = true;
      }
      if (gap) return make_host(g, n, "an absent weight or bias before a given operand");
      break;
    }
    case Special::None:
      break;
  }
  if (!n.op_desc) n.op_desc = &ops::find_op(low->op);
  const ops::OpDesc& op = *n.op_desc;
  // torch's promotion: a 0-dim constant does not widen a tensor of its own
  // category (bf16 * f32 scalar tensor is bf16); it takes the other's dtype.
  if (op.family == ops::Family::Binary && inputs.size() == 2)
    for (int i : {0, 1}) {
      TensorInfo& c = g.tensors[inputs[i]];
      if (c.kind == TensorKind::Constant && c.shape.empty())
        c.dtype = g.tensors[inputs[1 - i]].dtype;
    }
  n.inplace = low->inplace;
  try {
    n.call_args = ops::Args(op.name, op.args, values);
  } catch (const InvalidArgument& e) {
    fail_at(g, where(), e.what());
  }
  n.call_inputs = inputs;
  // The op table's infer on the file's shapes must give the file's outputs.
  std::vector<ops::TensorSpec> specs;
  for (int t : inputs) specs.push_back(spec_of(g.tensors[t]));
  ops::OutputSpec out;
  try {
    out = ops::infer_output(op, specs, n.call_args);
  } catch (const InvalidArgument& e) {
    fail_at(g, where(), e.what());
  }
  size_t checked =
      low->checked_outputs < 0 ? out.outputs.size() : static_cast<size_t>(low->checked_outputs);
  if (out.outputs.size() != n.outputs.size())
    fail_at(g, where(),
            fmt::format("the file lists {} outputs; {} makes {}", n.outputs.size(), op.name,
                        out.outputs.size()));
  for (size_t i = 0; i < checked; ++i) {
    const TensorInfo& t = g.tensors[n.outputs[i]];
    if (t.shape != out.outputs[i].shape)
      fail_at(g, where(),
              fmt::format("output '{}' has shape {} in the file; {} infers {}", t.name,
                          shape_str(t.shape), op.name, shape_str(out.outputs[i].shape)));
    if (t.dtype && is_float(out.outputs[i].dtype) && *t.dtype != out.outputs[i].dtype)
      fail_at(g, where(),
              fmt::format("output '{}' has dtype {} in the file; {} infers {}", t.name,
                          t.dtype_name, op.name, dtype_name(out.outputs[i].dtype)));
  }
  // Outputs get the device dtype the op makes (max_pool2d's indices are int32).
  for (size_t i = 0; i < n.outputs.size(); ++i) {
    TensorInfo& t = g.tensors[n.outputs[i]];
    t.dtype = out.outputs[i].dtype;
    set_format(t);
    t.storage = n.outputs[i];
  }

  if (is_view_family(op)) {
    // A view shares its input's storage; whoever reads it copies it if the
    // device cannot read those pages as the view (see aliasable).
    n.kind = NodeKind::View;
    for (int o : n.outputs) {
      g.tensors[o].alias_of = inputs[0];
      g.tensors[o].storage = g.tensors[inputs[0]].storage;
    }
    return;
  }

  n.kind = NodeKind::Compute;
  // silu_ aliases its input per the op table; add_ and friends by the overload.
  bool aliases = n.inplace || (!out.view_of.empty() && out.view_of[0] == 0);
  if (aliases) {
    n.inplace = true;
    TensorInfo& o = g.tensors[n.outputs[0]];
    o.alias_of = inputs[0];
    o.storage = g.tensors[inputs[0]].storage;
  }
  // Convolution weights live as TT-NN prepares them: [1, 1, kh*kw*C/groups, K]
  // (not [K, C, kh, kw] in tiles, which pads each 3x3 kernel to 32x32).
  if (op.family == ops::Family::Conv && inputs.size() > 1) {
    TensorInfo& w = g.tensors[inputs[1]];
    if (w.kind == TensorKind::Param && w.storage == inputs[1] && w.shape.size() == 4) {
      w.nhwc = false;
      w.device_shape = {1, 1, w.shape[1] * w.shape[2] * w.shape[3], w.shape[0]};
    }
  }
  // Ops that take channels_last read an NHWC activation as NHWC.
  const TensorInfo& x = g.tensors[inputs[0]];
  n.nhwc_call = has_arg(op, "channels_last") && x.nhwc && x.shape.size() == 4;
  // Views the device cannot read as they are are copied first (a clone is that
  // copy itself).
  bool is_clone = op.family == ops::Family::Movement &&
                  static_cast<ops::MovementOp>(op.variant) == ops::MovementOp::Clone;
  std::vector<int> reads = inputs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (aliasable(g, inputs[i]) || is_clone) continue;
    int m = materialised(g, n, inputs[i]);
    reads[i] = m;
    Step c;
    c.call = copy_call(g.tensors[m], g.tensors[m].shape);
    c.inputs = {inputs[i]};
    c.outputs = {m};
    c.materialise = true;
    n.steps.push_back(std::move(c));
  }
  Step s;
  std::vector<Shape> in_shapes, out_shapes;
  for (int t : inputs) in_shapes.push_back(g.tensors[t].shape);
  for (int t : n.outputs) out_shapes.push_back(g.tensors[t].shape);
  try {
    s.call = device_call(g, n, in_shapes, n.call_args, out_shapes);
  } catch (const InvalidArgument& e) {
    fail_at(g, where(), std::string("as the device runs it: ") + e.what());
  }
  s.inputs = reads;
  s.outputs = n.outputs;
  // Where the device makes something else than the file lists (eval batch
  // norm's empty statistics), the tensor is what the device makes.
  ops::OutputSpec dev = ops::infer_output(op, s.call.inputs, s.call.args);
  for (size_t i = 0; i < n.outputs.size(); ++i)
    if (s.call.out_storage[i].empty()) g.tensors[n.outputs[i]].device_shape = dev.outputs[i].shape;
  n.steps.push_back(std::move(s));
}

}  // namespace detail

}  // namespace oomless::graph
