// The _oomless extension: runs ops from the op table on torch tensors and numpy
// arrays without copying them, exposes the pre-check, and runs calls under the
// CLI's policies (auto plans, strict fails like TT-NN) on a budgeted device.
// python/oomless wraps it in aten-like functions.
#include <fmt/format.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "device/device.hpp"
#include "exec/planned.hpp"
#include "graph/run.hpp"
#include "ops/op.hpp"
#include "plan/planner.hpp"
#include "python/dlpack_bridge.hpp"

namespace py = pybind11;
using namespace oomless;

namespace {

// Python value -> op argument.
ops::ArgValue to_arg(const py::handle& v, std::string_view op, const std::string& name) {
  if (v.is_none()) return std::monostate{};
  if (py::isinstance<py::bool_>(v)) return v.cast<bool>();
  if (py::isinstance<py::int_>(v)) return v.cast<int64_t>();
  if (py::isinstance<py::float_>(v)) return v.cast<double>();
  if (py::isinstance<py::str>(v)) return v.cast<std::string>();
  if (py::isinstance<py::list>(v) || py::isinstance<py::tuple>(v)) {
    std::vector<int64_t> l;
    for (auto item : v) {
      if (!py::isinstance<py::int_>(item) || py::isinstance<py::bool_>(item))
        fail(op, fmt::format("argument '{}' must be a list of ints, got {}", name,
                             std::string(py::str(v))));
      l.push_back(item.cast<int64_t>());
    }
    return l;
  }
  if (py::hasattr(v, "__index__")) return v.attr("__index__")().cast<int64_t>();
  if (py::hasattr(v, "__float__")) return v.attr("__float__")().cast<double>();
  fail(op, fmt::format("argument '{}' has unsupported type {}", name,
                       std::string(py::str(v.get_type()))));
}

ops::Args to_args(const ops::OpDesc& op, const py::dict& kwargs) {
  std::map<std::string, ops::ArgValue> values;
  for (auto [k, v] : kwargs) {
    std::string key = k.cast<std::string>();
    values[key] = to_arg(v, op.name, key);
  }
  return ops::Args(op.name, op.args, values);
}

Tensor to_tensor(const py::handle& obj, std::string_view op, size_t i) {
  std::string what = fmt::format("{}: input {}", op, i);
  if (py::isinstance<Tensor>(obj)) return obj.cast<Tensor>();
  if (py::hasattr(obj, "__dlpack__")) {
    py::object cap = obj.attr("__dlpack__")();
    return python::from_dlpack(cap.cast<py::capsule>(), what);
  }
  if (PyObject_CheckBuffer(obj.ptr()))
    return python::from_buffer(py::reinterpret_borrow<py::buffer>(obj), what);
  fail(op, fmt::format("input {} is a {}, not a tensor or array", i,
                       std::string(py::str(obj.get_type()))));
}

std::vector<Tensor> call(const std::string& name, const py::list& inputs, const py::dict& kwargs) {
  const ops::OpDesc& op = ops::find_op(name);
  std::vector<Tensor> ts;
  for (size_t i = 0; i < inputs.size(); ++i) ts.push_back(to_tensor(inputs[i], op.name, i));
  ops::Args args = to_args(op, kwargs);
  std::vector<ops::TensorSpec> specs;
  for (const auto& t : ts) specs.push_back({t.shape(), t.dtype()});
  ops::infer_output(op, specs, args);  // validates with the op's own messages
  ops::OpCall c{op, ts, args};
  py::gil_scoped_release nogil;
  return op.exec(c);
}

// A budget: None, a positive int of bytes, or a string such as "64MB".
std::optional<int64_t> to_budget(const py::handle& v, const char* what) {
  if (v.is_none()) return std::nullopt;
  if (py::isinstance<py::str>(v)) return plan::parse_bytes(v.cast<std::string>(), what);
  if (py::isinstance<py::int_>(v) && !py::isinstance<py::bool_>(v)) {
    int overflow = 0;
    long long b = PyLong_AsLongLongAndOverflow(v.ptr(), &overflow);
    if (overflow == 0 && b > 0) return static_cast<int64_t>(b);
  }
  fail(what, fmt::format("bad size {} (expected a positive number of bytes, or a string such as "
                         "64MB, 1MiB, 512KB)",
                         std::string(py::repr(v))));
}

// Where and how a call runs: the options of `oomless run` besides the op.
struct RunOptions {
  std::string policy = "auto";
  device::Profile profile;  // budgets applied
  device::BufferType memory = device::BufferType::L1;
  std::optional<device::BufferType> out_memory;
  std::optional<DType> dtype;  // default: the first input's
  Layout layout = Layout::Tile;
  plan::Budgets budgets;
};

// Validates every option; InvalidArgument names `who` and the bad value.
RunOptions parse_options(std::string_view who, const std::string& policy, const std::string& device,
                         const std::string& memory, const std::optional<std::string>& out_memory,
                         const std::optional<std::string>& dtype, const std::string& layout,
                         const py::object& l1_budget, const py::object& dram_budget,
                         const py::object& host_budget) {
  RunOptions o;
  if (policy != "auto" && policy != "strict")
    fail(who, fmt::format("unknown policy '{}' (expected auto or strict)", policy));
  o.policy = policy;
  o.memory = device::parse_buffer_type(memory, who);
  if (out_memory) o.out_memory = device::parse_buffer_type(*out_memory, who);
  if (dtype) {
    o.dtype = parse_dtype(*dtype, who);
    if (*o.dtype != DType::F32 && *o.dtype != DType::BF16 && *o.dtype != DType::BFP8_B)
      fail(who, fmt::format("dtype must be bf16, f32 or bfp8, got '{}'", *dtype));
  }
  o.layout = parse_layout(layout, who);
  if (o.dtype == DType::BFP8_B && o.layout != Layout::Tile)
    fail(who, "bfloat8_b needs layout='tile'");
  o.budgets.l1 = to_budget(l1_budget, "l1_budget");
  o.budgets.dram = to_budget(dram_budget, "dram_budget");
  o.budgets.host = to_budget(host_budget, "host_budget");
  device::Profile base = device::load_profile(device);
  if (o.budgets.l1 && *o.budgets.l1 < base.l1_banks)
    fail("l1_budget", fmt::format("l1_budget={} B leaves no byte in each of the {} L1 banks of {}",
                                  *o.budgets.l1, base.l1_banks, base.name));
  if (o.budgets.dram && *o.budgets.dram < base.dram_banks)
    fail("dram_budget",
         fmt::format("dram_budget={} B leaves no byte in each of the {} DRAM banks of {}",
                     *o.budgets.dram, base.dram_banks, base.name));
  o.profile = plan::apply_budgets(base, o.budgets);
  return o;
}

py::object json_to_py(const nlohmann::json& j) {
  return py::module_::import("json").attr("loads")(j.dump());
}

py::dict check_options(const std::string& policy, const std::string& device,
                       const std::string& memory, const std::optional<std::string>& out_memory,
                       const std::optional<std::string>& dtype, const std::string& layout,
                       const py::object& l1_budget, const py::object& dram_budget,
                       const py::object& host_budget) {
  RunOptions o = parse_options("policy", policy, device, memory, out_memory, dtype, layout,
                               l1_budget, dram_budget, host_budget);
  auto opt = [](const std::optional<int64_t>& v) { return v ? py::cast(*v) : py::none(); };
  return py::dict(
      py::arg("policy") = o.policy, py::arg("device") = device,
      py::arg("memory") = std::string(device::buffer_type_name(o.memory)),
      py::arg("out_memory") = o.out_memory
                                  ? py::cast(std::string(device::buffer_type_name(*o.out_memory)))
                                  : py::none(),
      py::arg("dtype") = o.dtype ? py::cast(std::string(dtype_name(*o.dtype))) : py::none(),
      py::arg("layout") = std::string(layout_name(o.layout)),
      py::arg("l1_budget") = opt(o.budgets.l1), py::arg("dram_budget") = opt(o.budgets.dram),
      py::arg("host_budget") = opt(o.budgets.host));
}

int64_t spec_bytes(const ops::TensorSpec& t) {
  return numel(t.shape) * static_cast<int64_t>(element_size(exec::host_dtype(t.dtype)));
}

// Runs one call under a policy, as `oomless run` does: auto plans it to fit the
// budgeted device, strict honours the placement and raises OutOfMemory with
// tt-metal's message. Returns (outputs, report dict).
py::tuple run(const std::string& name, const py::list& inputs, const py::dict& kwargs,
              const std::string& policy, const std::string& device, const std::string& memory,
              const std::optional<std::string>& out_memory, const std::optional<std::string>& dtype,
              const std::string& layout, const py::object& l1_budget, const py::object& dram_budget,
              const py::object& host_budget) {
  const ops::OpDesc& op = ops::find_op(name);
  RunOptions o = parse_options(op.name, policy, device, memory, out_memory, dtype, layout,
                               l1_budget, dram_budget, host_budget);
  // The given tensors outlive the GIL-free section, so borrowed Python memory is
  // released with the GIL held.
  std::vector<Tensor> given;
  for (size_t i = 0; i < inputs.size(); ++i) given.push_back(to_tensor(inputs[i], op.name, i));
  plan::CallSpec c;
  c.op = &op;
  c.args = to_args(op, kwargs);
  c.dtype = o.dtype.value_or(given.empty() ? DType::BF16 : given[0].dtype());
  if (c.dtype != DType::F32 && c.dtype != DType::BF16 && c.dtype != DType::BFP8_B)
    fail(op.name,
         fmt::format("input 0 has dtype {}; expected float32 or bfloat16", dtype_name(c.dtype)));
  c.layout = o.layout;
  if (c.dtype == DType::BFP8_B && c.layout != Layout::Tile)
    fail(op.name, "bfloat8_b needs layout='tile'");
  c.in_memory = o.memory;
  c.out_memory = o.out_memory;
  DType host = exec::host_dtype(c.dtype);
  std::vector<Tensor> staged;  // the inputs in the call's host dtype
  for (size_t i = 0; i < given.size(); ++i) {
    if (given[i].dtype() != DType::F32 && given[i].dtype() != DType::BF16)
      fail(op.name, fmt::format("input {} has dtype {}; expected float32 or bfloat16", i,
                                dtype_name(given[i].dtype())));
    c.inputs.push_back({given[i].shape(), c.dtype});
    staged.push_back(given[i].dtype() == host ? given[i] : given[i].to(host));
  }
  const device::Profile& profile = o.profile;
  exec::PlannedResult pr;
  {
    py::gil_scoped_release nogil;
    plan::Plan p;
    if (o.policy == "auto") {
      p = plan::choose_plan(c, profile, o.budgets);
    } else {
      p.device_call = c;
      p.check = plan::precheck(c, profile);  // validates the call
      if (!p.check.fits) throw device::OutOfMemory(p.check.error);
      for (const auto& t : c.inputs) p.bytes_to_device += spec_bytes(t);
      for (const auto& t : p.check.outputs.outputs) p.bytes_from_device += spec_bytes(t);
      p.host_bytes = p.bytes_to_device + p.bytes_from_device;
      if (o.budgets.host && p.host_bytes > *o.budgets.host)
        throw Error(
            fmt::format("[{}] inputs and outputs need {} B of host memory; the host budget is {} B",
                        op.name, p.host_bytes, *o.budgets.host));
    }
    pr = exec::run_planned(p, c, staged, profile);
  }
  const plan::Plan& p = pr.plan;
  const exec::RunResult& r = pr.run;
  auto opt = [](const std::optional<int64_t>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
  };
  bool chunked = p.strategy == plan::Strategy::Chunked;
  nlohmann::json j = {
      {"op", op.name},
      {"policy", o.policy},
      {"device", profile.name},
      {"dtype", dtype_name(c.dtype)},
      {"layout", layout_name(c.layout)},
      {"strategy", plan::strategy_name(p.strategy)},
      {"why", p.why.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.why)},
      {"chunks", p.num_chunks},
      {"chunk", chunked ? nlohmann::json(p.chunk) : nlohmann::json(nullptr)},
      {"chunk_dim", chunked ? nlohmann::json(p.axis.out_dim) : nlohmann::json(nullptr)},
      {"peak_l1_per_bank", r.peak_l1_per_core},
      {"peak_dram_per_bank", r.peak_dram_per_bank},
      {"peak_l1", r.peak_l1_per_core * profile.l1_banks},
      {"peak_dram", r.peak_dram_per_bank * profile.dram_banks},
      {"l1_banks", profile.l1_banks},
      {"dram_banks", profile.dram_banks},
      {"l1_bank_size", profile.l1_bank_size()},
      {"dram_bank_size", profile.dram_allocatable()},
      {"l1_budget", opt(o.budgets.l1)},
      {"dram_budget", opt(o.budgets.dram)},
      {"host_budget", opt(o.budgets.host)},
      {"host_bytes", pr.peak_host_bytes},
      {"bytes_host_to_device", p.bytes_to_device},
      {"bytes_device_to_host", p.bytes_from_device},
      {"seconds", r.seconds},
      {"compute_seconds", r.compute_seconds},
      {"plan", plan::plan_json(p, profile)},
  };
  return py::make_tuple(py::cast(r.outputs), json_to_py(j));
}

py::dict query(const std::string& name, const std::vector<std::vector<int64_t>>& shapes,
               const py::dict& args, const std::string& dtype, const std::string& layout,
               const std::string& memory, const std::optional<std::string>& out_memory,
               const std::string& device, const py::object& l1_budget,
               const py::object& dram_budget) {
  plan::CallSpec c;
  c.op = &ops::find_op(name);
  c.dtype = parse_dtype(dtype, c.op->name);
  c.layout = parse_layout(layout, c.op->name);
  c.in_memory = device::parse_buffer_type(memory, c.op->name);
  if (out_memory) c.out_memory = device::parse_buffer_type(*out_memory, c.op->name);
  for (const auto& s : shapes) c.inputs.push_back({s, c.dtype});
  c.args = to_args(*c.op, args);
  plan::Budgets b;
  b.l1 = to_budget(l1_budget, "l1_budget");
  b.dram = to_budget(dram_budget, "dram_budget");
  device::Profile profile = plan::apply_budgets(device::load_profile(device), b);
  plan::QueryResult r = plan::precheck(c, profile);
  return json_to_py(plan::to_json(r, c, profile));
}

py::list list_ops() {
  py::list out;
  for (const auto& op : ops::op_table()) {
    py::list args;
    for (const auto& a : op.args)
      args.append(py::make_tuple(std::string(a.name), a.required,
                                 std::holds_alternative<std::monostate>(a.default_value)));
    py::list aliases;
    for (auto al : op.aliases) aliases.append(std::string(al));
    out.append(py::dict(py::arg("name") = std::string(op.name),
                        py::arg("aten") = std::string(op.aten), py::arg("aliases") = aliases,
                        py::arg("min_inputs") = op.min_inputs,
                        py::arg("max_inputs") = op.max_inputs, py::arg("args") = args,
                        py::arg("summary") = std::string(op.summary)));
  }
  return out;
}

// Runs a graph (its JSON text) with data under the auto plan (graph/run.hpp).
// `host_op(node_index, inputs)` runs a node without an oomless kernel (torch).
// Returns (outputs, report dict).
py::tuple run_model(const std::string& graph_text, const py::dict& weights, const py::dict& inputs,
                    const py::object& host_op, const std::string& device,
                    const py::object& l1_budget, const py::object& dram_budget,
                    const py::object& host_budget, const std::string& verify, int64_t samples,
                    uint64_t seed) {
  RunOptions ro = parse_options("run_model", "auto", device, "l1", std::nullopt, std::nullopt,
                                "tile", l1_budget, dram_budget, host_budget);
  graph::Graph g = graph::parse_graph(graph_text, "run_model");
  graph::RunOptions o;
  o.model.budgets = ro.budgets;
  o.verify = graph::parse_verify(verify);
  o.samples = samples;
  o.seed = seed;
  for (auto [k, v] : weights) {
    std::string name = k.cast<std::string>();
    int t = g.find(name);
    if (t >= 0 && !g.tensors[t].dtype) continue;  // host only (num_batches_tracked)
    o.weights[name] = to_tensor(v, "run_model: weight " + name, 0);
  }
  for (auto [k, v] : inputs) {
    std::string name = k.cast<std::string>();
    o.inputs[name] = to_tensor(v, "run_model: input " + name, 0);
  }
  if (!host_op.is_none())
    o.host_op = [&host_op](int n, const std::vector<Tensor>& xs) {
      py::gil_scoped_acquire gil;
      py::list args;
      for (const auto& x : xs) args.append(x.defined() ? py::cast(x) : py::none());
      py::object r = host_op(n, args);
      std::vector<Tensor> out;
      for (auto item : r) {
        // Copied while the GIL is held: borrowed torch memory is not kept.
        out.push_back(item.is_none() ? Tensor() : to_tensor(item, "host op", out.size()).clone());
      }
      return out;
    };
  graph::RunReport r;
  {
    py::gil_scoped_release nogil;
    r = graph::run_model(g, ro.profile, o);
  }
  const graph::ReplayResult& p = r.plan.best;
  nlohmann::json ops_time = nlohmann::json::object();
  for (const auto& [k, v] : r.by_op)
    ops_time[k] = {{"programs", v.programs}, {"seconds", v.seconds}};
  std::vector<std::string> strategies;
  for (const auto& n : r.run.nodes) strategies.push_back(n.strategy);
  nlohmann::json j = {{"fits", r.run.fits},
                      {"plan_seconds", r.plan_seconds},
                      {"run_seconds", r.run_seconds},
                      {"peak_rss_bytes", r.peak_rss_bytes},
                      {"planned",
                       {{"l1_per_bank", p.peak_l1_per_bank},
                        {"dram_per_bank", p.peak_dram_per_bank},
                        {"host_bytes", p.peak_host_bytes}}},
                      {"measured",
                       {{"l1_per_bank", r.run.peak_l1_per_bank},
                        {"dram_per_bank", r.run.peak_dram_per_bank},
                        {"host_bytes", r.run.peak_host_bytes},
                        {"allocator_l1_per_core", r.peak_l1_per_core},
                        {"allocator_dram_per_bank", r.peak_dram_per_bank}}},
                      {"peaks_match", r.peaks_match},
                      {"programs", r.programs},
                      {"verified_programs", r.verified_programs},
                      {"checked", r.checked},
                      {"failed", r.failed},
                      {"first_failure", r.first_failure},
                      {"host_fallback", r.host_fallback},
                      {"kernel_seconds", ops_time},
                      {"strategies", strategies},
                      {"chains", r.plan.chains.size()}};
  py::list outs;
  for (auto& t : r.outputs) outs.append(py::cast(t));
  py::object loads = py::module_::import("json").attr("loads");
  return py::make_tuple(outs, loads(j.dump()));
}

}  // namespace

PYBIND11_MODULE(_oomless, m) {
  m.doc() = "oomless: Tenstorrent device-memory model and op runtime (C++ core)";
  // pybind11 tries translators newest first: the base class goes first.
  py::register_exception<Error>(m, "Error", PyExc_RuntimeError);
  py::register_exception<InvalidArgument>(m, "InvalidArgument", PyExc_ValueError);
  py::register_exception<device::OutOfMemory>(m, "OutOfMemory", PyExc_MemoryError);

  py::class_<Tensor>(m, "Tensor", py::buffer_protocol())
      .def_property_readonly("shape",
                             [](const Tensor& t) { return py::tuple(py::cast(t.shape())); })
      .def_property_readonly("dtype",
                             [](const Tensor& t) { return std::string(dtype_name(t.dtype())); })
      .def(
          "__dlpack__", [](const Tensor& t, py::object) { return python::to_dlpack(t); },
          py::arg("stream") = py::none())
      .def("__dlpack_device__", [](const Tensor&) { return py::make_tuple(1, 0); })
      .def_buffer([](const Tensor& t) -> py::buffer_info {
        std::string fmt = t.dtype() == DType::F32   ? "f"
                          : t.dtype() == DType::I32 ? "i"
                          : t.dtype() == DType::U32 ? "I"
                                                    : "H";  // bf16 bits
        ssize_t es = static_cast<ssize_t>(element_size(t.dtype()));
        std::vector<ssize_t> shape(t.shape().begin(), t.shape().end()), strides;
        for (int64_t s : t.strides()) strides.push_back(s * es);
        return py::buffer_info(t.raw(), es, fmt, t.rank(), shape, strides);
      });

  m.def("call", &call, py::arg("op"), py::arg("inputs"), py::arg("args"),
        "run one op on tensors (DLPack or buffer protocol), returning oomless Tensors");
  m.def("query", &query, py::arg("op"), py::arg("shapes"), py::arg("args") = py::dict(),
        py::arg("dtype") = "bf16", py::arg("layout") = "tile", py::arg("memory") = "l1",
        py::arg("out_memory") = py::none(), py::arg("device") = device::kDefaultProfile,
        py::arg("l1_budget") = py::none(), py::arg("dram_budget") = py::none(),
        "the pre-check of `oomless query` as a dict (budgets: bytes or strings like '1MB')");
  m.def("run", &run, py::arg("op"), py::arg("inputs"), py::arg("args") = py::dict(),
        py::arg("policy") = "auto", py::arg("device") = device::kDefaultProfile,
        py::arg("memory") = "l1", py::arg("out_memory") = py::none(), py::arg("dtype") = py::none(),
        py::arg("layout") = "tile", py::arg("l1_budget") = py::none(),
        py::arg("dram_budget") = py::none(), py::arg("host_budget") = py::none(),
        "run one op under a policy (auto | strict) on a budgeted device profile, as `oomless "
        "run` does; returns (outputs, report dict); strict raises OutOfMemory");
  m.def("check_options", &check_options, py::arg("policy") = "auto",
        py::arg("device") = device::kDefaultProfile, py::arg("memory") = "l1",
        py::arg("out_memory") = py::none(), py::arg("dtype") = py::none(),
        py::arg("layout") = "tile", py::arg("l1_budget") = py::none(),
        py::arg("dram_budget") = py::none(), py::arg("host_budget") = py::none(),
        "validate run options (ValueError naming a bad value); returns them normalized");
  m.def("run_model", &run_model, py::arg("graph"), py::arg("weights"), py::arg("inputs"),
        py::arg("host_op") = py::none(), py::arg("device") = device::kDefaultProfile,
        py::arg("l1_budget") = py::none(), py::arg("dram_budget") = py::none(),
        py::arg("host_budget") = py::none(), py::arg("verify") = "sample", py::arg("samples") = 16,
        py::arg("seed") = 0,
        "run a graph (JSON text) with data under its auto plan; returns (outputs, report)");
  m.def("ops", &list_ops, "the op table: names, aten names, arguments");
  m.def("devices", &device::builtin_profile_names, "built-in device profiles");
}
