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
#include "device/device.hpp"
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

// ---- Memory scripts ----------------------------------------------------------
// Most ops are one program: outputs, then the program's CBs. Some TT-NN ops are
// a sequence of device programs with buffers of their own (conv2d: reshard ->
// halo (+ config tensors in L1_SMALL) -> conv -> back to interleaved; a
// composite such as hardtanh's intermediate). Such an op gives `steps`, and
// the pre-check (plan::place_call) replays its steps in order instead of the
// default outputs-then-CBs, recording every allocation by name.

// How TT-NN holds an op's input when the op starts.
struct InputPlacement {
  bool on_host = false;  // stays on the host; the op moves it itself (conv weights, bias)
  Shape device_shape;    // as the device stores it (conv: NHWC as [1,1,N*H*W,C]); empty: as given
};
using InputsFn = std::vector<InputPlacement> (*)(const OpDesc&, const std::vector<TensorSpec>&,
                                                 const Args&);

// One step of a memory script. Buffers are named (unique among live ones);
// an Allocate with output >= 0 is that output of the call.
struct MemStep {
  enum class Kind : uint8_t { Allocate, Free, Program };
  Kind kind = Kind::Program;
  std::string name;  // the buffer (Allocate, Free) or the program (Program)
  // Allocate: pages of page_size bytes; sharded: shard_pages per core on `cores` cores.
  device::BufferType type = device::BufferType::L1;
  device::MemoryLayout layout = device::MemoryLayout::Interleaved;
  int64_t pages = 0, page_size = 0, shard_pages = 0, cores = 0;
  Shape shape;            // as the device stores it (reports only)
  int output = -1;        // this buffer is output `output` of the call
  bool persists = false;  // outlives the call (prepared weights, cached config tensors)
  // Program: its static (not globally allocated) CBs per core. The region is
  // released when the next program starts; the last one's stays, as for
  // single-program ops.
  std::vector<CircularBuffer> cbs;
};

struct MemScript {
  std::vector<MemStep> steps;
  std::vector<std::string> notes;         // what the op decided (sharding, blocks, slices)
  std::vector<std::string> not_modelled;  // what the script leaves out, said out loud
  std::string fatal;  // the op's own TT_FATAL before any allocation (e.g. no slice count fits)
};

// What a script sees: how the call is placed and the live device (after the
// call's inputs are placed), as TT-NN's own decisions read the allocator.
struct StepContext {
  Layout layout = Layout::Tile;
  device::BufferType in_memory = device::BufferType::L1;
  device::BufferType out_memory = device::BufferType::L1;
  const device::Device* device = nullptr;
};
using StepsFn = MemScript (*)(const OpDesc&, const std::vector<TensorSpec>&, const OutputSpec&,
                              const Args&, const StepContext&);

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
  InputsFn inputs = nullptr;  // default: every input on the device as given
  StepsFn steps = nullptr;    // default: outputs, then `cbs`
};

const std::vector<OpDesc>& op_table();
// By name, alias or aten name; throws InvalidArgument listing similar names.
const OpDesc& find_op(std::string_view name);

// Checks input count and dtypes, then calls op.infer.
OutputSpec infer_output(const OpDesc& op, const std::vector<TensorSpec>& inputs, const Args& args);

}  // namespace oomless::ops
