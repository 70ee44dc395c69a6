// The op table: one descriptor per operator, read by the CLI, the planner, the
// tests, the benchmarks and the sweep. Phases have separate signatures:
// infer (pure: validate + output specs) -> cbs (device memory per core) -> exec.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.hpp"
#include "core/layout.hpp"
#include "core/shape.hpp"
#include "core/tensor.hpp"
#include "device/profile.hpp"
#include "ops/args.hpp"

namespace oomless::ops {

struct TensorSpec {
  Shape shape;
  DType dtype = DType::BF16;
};

struct OutputSpec {
  std::vector<TensorSpec> outputs;
  // Per output: the input it is a view of (shares memory on the host), or -1.
  std::vector<int> view_of;
};

// Families group ops that share an infer rule and a kernel; `variant` selects
// the op within the family (values of the family's enum in ops/families.hpp).
enum class Family : uint8_t {
  Unary,
  Binary,
  Softmax,
  Reduce,
  BatchNorm,
  MaxPool,
  Upsample,
  TopK,
  Dropout,
  Movement,
  Concat,
  Split,
  Creation,
  Matmul,
  Conv,
};

// One per-core circular buffer of a TT-NN program.
struct CircularBuffer {
  std::string name;
  int64_t pages = 0;
  int64_t page_size = 0;  // bytes
  int64_t bytes() const { return pages * page_size; }
};

struct OpDesc;

// Context for CB sizing: how the device stores the tensors.
struct DeviceContext {
  Layout layout = Layout::Tile;
  const device::Profile* profile = nullptr;
};

struct OpCall {
  const OpDesc& op;
  std::vector<Tensor> inputs;
  const Args& args;
};

using InferFn = OutputSpec (*)(const OpDesc&, const std::vector<TensorSpec>&, const Args&);
using CbFn = std::vector<CircularBuffer> (*)(const OpDesc&, const std::vector<TensorSpec>&,
                                             const OutputSpec&, const Args&, const DeviceContext&);
using ExecFn = std::vector<Tensor> (*)(const OpCall&);

struct OpDesc {
  std::string_view name;                  // the seed's test name, used in reports
  std::string_view aten;                  // e.g. "aten._softmax.default"
  std::vector<std::string_view> aliases;  // other accepted names (aten short names)
  Family family;
  int variant;                 // family enum value
  int min_inputs, max_inputs;  // tensor inputs; max -1 = any number (cat, stack)
  std::vector<ArgSpec> args;
  std::string_view summary;
  InferFn infer;
  CbFn cbs;
  ExecFn exec;
};

const std::vector<OpDesc>& op_table();
// By name, alias or aten name; throws InvalidArgument listing similar names.
const OpDesc& find_op(std::string_view name);

// Checks input count and dtypes, then calls op.infer.
OutputSpec infer_output(const OpDesc& op, const std::vector<TensorSpec>& inputs, const Args& args);

}  // namespace oomless::ops
