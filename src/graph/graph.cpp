// Reading a graph file: the JSON contract of docs/graph-format.md, checked field
// by field, then lowered node by node and given liveness.
#include "graph/graph.hpp"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "graph/detail.hpp"

namespace oomless::graph {

using nlohmann::json;

std::string_view tensor_kind_name(TensorKind k) {
  switch (k) {
    case TensorKind::Input:
      return "input";
    case TensorKind::Param:
      return "param";
    case TensorKind::Constant:
      return "constant";
    case TensorKind::Activation:
      return "activation";
  }
  return "?";
}

std::string_view node_kind_name(NodeKind k) {
  switch (k) {
    case NodeKind::Compute:
      return "compute";
    case NodeKind::View:
      return "view";
    case NodeKind::Host:
      return "host";
  }
  return "?";
}

int Graph::find(const std::string& name) const {
  auto it = by_name.find(name);
  return it == by_name.end() ? -1 : it->second;
}

namespace detail {

void fail_at(const Graph& g, const std::string& where, const std::string& what) {
  throw GraphError(fmt::format("graph {}: {}: {}", g.origin, where, what));
}

}  // namespace detail

namespace {

using detail::fail_at;

std::optional<DType> device_dtype(const std::string& name) {
  if (name == "bf16" || name == "bfloat16") return DType::BF16;
  if (name == "f32" || name == "float32") return DType::F32;
  if (name == "i32" || name == "int32") return DType::I32;
  return std::nullopt;
}

const json& field(const Graph& g, const json& obj, const char* key, const std::string& where) {
  if (!obj.is_object()) fail_at(g, where, "expected an object, got " + obj.dump());
  auto it = obj.find(key);
  if (it == obj.end()) fail_at(g, where, fmt::format("missing field '{}'", key));
  return *it;
}

std::vector<int64_t> ints(const Graph& g, const json& v, const std::string& where,
                          const char* what) {
  if (!v.is_array())
    fail_at(g, where, fmt::format("'{}' must be a list of ints, got {}", what, v.dump()));
  std::vector<int64_t> out;
  for (const auto& e : v) {
    if (!e.is_number_integer())
      fail_at(g, where, fmt::format("'{}' must be a list of ints, got {}", what, v.dump()));
    out.push_back(e.get<int64_t>());
  }
  return out;
}

std::string str(const Graph& g, const json& v, const std::string& where, const char* what) {
  if (!v.is_string())
    fail_at(g, where, fmt::format("'{}' must be a string, got {}", what, v.dump()));
  return v.get<std::string>();
}

// A tensor's declaration (input, param, constant, node output).
TensorInfo read_tensor(const Graph& g, const json& j, TensorKind kind, const std::string& where) {
  TensorInfo t;
  t.kind = kind;
  t.name = str(g, field(g, j, "name", where), where, "name");
  std::string at = fmt::format("{} '{}'", where, t.name);
  t.shape = ints(g, field(g, j, "shape", at), at, "shape");
  for (int64_t s : t.shape)
    if (s < 0) fail_at(g, at, fmt::format("negative size in shape {}", shape_str(t.shape)));
  t.dtype_name = str(g, field(g, j, "dtype", at), at, "dtype");
  t.dtype = device_dtype(t.dtype_name);
  if (j.contains("stride") && !j["stride"].is_null()) {
    t.stride = ints(g, j["stride"], at, "stride");
    if (t.stride.size() != t.shape.size())
      fail_at(g, at,
              fmt::format("stride {} has {} entries for shape {}", shape_str(t.stride),
                          t.stride.size(), shape_str(t.shape)));
  } else {
    t.stride = contiguous_strides(t.shape);
  }
  if (kind == TensorKind::Constant && j.contains("value") && j["value"].is_number())
    t.value = j["value"].get<double>();
  return t;
}

int define(Graph& g, TensorInfo t, const std::string& where) {
  auto [it, fresh] = g.by_name.emplace(t.name, static_cast<int>(g.tensors.size()));
  if (!fresh)
    fail_at(g, where,
            fmt::format("tensor '{}' is defined twice (first as {} '{}')", t.name,
                        tensor_kind_name(g.tensors[it->second].kind), t.name));
  detail::set_format(t);
  t.storage = it->second;
  g.tensors.push_back(std::move(t));
  return it->second;
}

}  // namespace

Graph parse_graph(const std::string& text, const std::string& origin) {
  Graph g;
  g.origin = origin;
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    fail_at(g, "file", fmt::format("not valid JSON ({})", e.what()));
  }
  if (!doc.is_object()) fail_at(g, "file", "the top level is not a JSON object");
  const json& format = field(g, doc, "format", "file");
  if (format != "oomless-graph")
    fail_at(g, "file", fmt::format("format is {}, expected \"oomless-graph\"", format.dump()));
  const json& version = field(g, doc, "version", "file");
  if (version != 1)
    fail_at(g, "file",
            fmt::format("format version {} is not supported (this reader: 1)", version.dump()));
  g.model = doc.value("model", std::string("model"));
  g.dtype = doc.value("dtype", std::string());

  auto list = [&](const char* key, bool required) -> const json& {
    static const json empty = json::array();
    if (!doc.contains(key)) {
      if (required) fail_at(g, "file", fmt::format("missing field '{}'", key));
      return empty;
    }
    if (!doc[key].is_array()) fail_at(g, "file", fmt::format("'{}' must be a list", key));
    return doc[key];
  };
  for (const auto& j : list("inputs", true))
    g.inputs.push_back(define(g, read_tensor(g, j, TensorKind::Input, "input"), "input"));
  for (const auto& j : list("params", false))
    g.params.push_back(define(g, read_tensor(g, j, TensorKind::Param, "param"), "param"));
  for (const auto& j : list("constants", false)) {
    TensorInfo t = read_tensor(g, j, TensorKind::Constant, "constant");
    g.constants.push_back(define(g, std::move(t), "constant"));
  }

  // Nodes: names unique, operands defined before use (a cycle is a use before
  // definition in a program-ordered list), outputs defined once.
  const json& nodes = list("nodes", true);
  std::map<std::string, int> node_names;
  // Tensors a later node defines, to tell "used before defined" from "unknown".
  std::map<std::string, std::string> defined_later;
  for (const auto& j : nodes)
    if (j.is_object() && j.contains("outputs") && j["outputs"].is_array() && j.contains("name"))
      for (const auto& o : j["outputs"])
        if (o.is_object() && o.contains("name") && o["name"].is_string())
          defined_later.emplace(o["name"].get<std::string>(), j["name"].dump());
  for (size_t i = 0; i < nodes.size(); ++i) {
    const json& j = nodes[i];
    Node n;
    n.name =
        str(g, field(g, j, "name", fmt::format("node {}", i)), fmt::format("node {}", i), "name");
    std::string where = fmt::format("node '{}'", n.name);
    if (!node_names.emplace(n.name, static_cast<int>(i)).second)
      fail_at(g, where, fmt::format("node name '{}' is used twice", n.name));
    n.op = str(g, field(g, j, "op", where), where, "op");
    where = fmt::format("node '{}' ({})", n.name, n.op);
    n.module =
        j.contains("module") && j["module"].is_string() ? j["module"].get<std::string>() : "";
    const json& ins = field(g, j, "inputs", where);
    if (!ins.is_array()) fail_at(g, where, "'inputs' must be a list of tensor names");
    for (const auto& in : ins) {
      std::string name = str(g, in, where, "inputs");
      int t = g.find(name);
      if (t < 0) {
        auto later = defined_later.find(name);
        if (later != defined_later.end())
          fail_at(g, where,
                  fmt::format("input '{}' is used before it is defined (by node {})", name,
                              later->second));
        fail_at(g, where, fmt::format("input '{}' is not a known tensor", name));
      }
      n.inputs.push_back(t);
    }
    n.args = j.contains("args") ? j["args"] : json::object();
    if (!n.args.is_object()) fail_at(g, where, "'args' must be an object");
    const json& outs = field(g, j, "outputs", where);
    if (!outs.is_array() || outs.empty()) fail_at(g, where, "'outputs' must be a non-empty list");
    g.nodes.push_back(std::move(n));
    Node& node = g.nodes.back();
    for (const auto& o : outs) {
      TensorInfo t = read_tensor(g, o, TensorKind::Activation, where + " output");
      t.producer = static_cast<int>(i);
      std::string alias = o.contains("alias_of") && o["alias_of"].is_string()
                              ? o["alias_of"].get<std::string>()
                              : "";
      int id = define(g, std::move(t), where);
      if (!alias.empty()) {
        int a = g.find(alias);
        if (a < 0 || std::find(node.inputs.begin(), node.inputs.end(), a) == node.inputs.end())
          fail_at(g, where,
                  fmt::format("output '{}' is an alias of '{}', which is not one of its inputs",
                              g.tensors[id].name, alias));
        g.tensors[id].alias_of = a;
      }
      node.outputs.push_back(id);
    }
    detail::lower_node(g, static_cast<int>(i));
  }
  for (const auto& o : list("outputs", true)) {
    std::string name = str(g, o, "outputs", "outputs");
    int t = g.find(name);
    if (t < 0) fail_at(g, "outputs", fmt::format("graph output '{}' is not a known tensor", name));
    g.outputs.push_back(t);
    g.tensors[t].graph_output = true;
  }
  detail::compute_liveness(g);
  return g;
}

Graph load_graph(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw GraphError(fmt::format("graph {}: cannot read the file", path));
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_graph(ss.str(), path);
}

}  // namespace oomless::graph
