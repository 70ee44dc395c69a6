// The _oomless extension: runs ops from the op table on torch tensors and numpy
// arrays without copying them, and exposes the pre-check. python/oomless wraps
// it in aten-like functions.
#include <fmt/format.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "device/device.hpp"
#include "ops/op.hpp"
#include "plan/precheck.hpp"
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
  std::map<std::string, ops::ArgValue> values;
  for (auto [k, v] : kwargs) {
    std::string key = k.cast<std::string>();
    values[key] = to_arg(v, op.name, key);
  }
  ops::Args args(op.name, op.args, values);
  std::vector<ops::TensorSpec> specs;
  for (const auto& t : ts) specs.push_back({t.shape(), t.dtype()});
  ops::infer_output(op, specs, args);  // validates with the op's own messages
  ops::OpCall c{op, ts, args};
  py::gil_scoped_release nogil;
  return op.exec(c);
}

py::dict query(const std::string& name, const std::vector<std::vector<int64_t>>& shapes,
               const py::dict& args, const std::string& dtype, const std::string& layout,
               const std::string& memory, const std::optional<std::string>& out_memory,
               const std::string& device) {
  plan::CallSpec c;
  c.op = &ops::find_op(name);
  c.dtype = parse_dtype(dtype, c.op->name);
  c.layout = parse_layout(layout, c.op->name);
  c.in_memory = device::parse_buffer_type(memory, c.op->name);
  if (out_memory) c.out_memory = device::parse_buffer_type(*out_memory, c.op->name);
  for (const auto& s : shapes) c.inputs.push_back({s, c.dtype});
  std::map<std::string, ops::ArgValue> values;
  for (auto [k, v] : args)
    values[k.cast<std::string>()] = to_arg(v, c.op->name, k.cast<std::string>());
  c.args = ops::Args(c.op->name, c.op->args, values);
  device::Profile profile = device::load_profile(device);
  plan::QueryResult r = plan::precheck(c, profile);
  py::object loads = py::module_::import("json").attr("loads");
  return loads(plan::to_json(r, c, profile).dump());
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
        "the pre-check of `oomless query` as a dict");
  m.def("ops", &list_ops, "the op table: names, aten names, arguments");
  m.def("devices", &device::builtin_profile_names, "built-in device profiles");
}
