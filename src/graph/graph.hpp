// A traced model (docs/graph-format.md) as the device sees it: tensors, nodes in
// program order, each node lowered to op-table calls (or kept as a host op), the
// storage every tensor lives in and its liveness. Loading validates everything;
// errors are GraphError (exit 2) naming the node and the value.
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "plan/precheck.hpp"

namespace oomless::graph {

struct GraphError : InvalidArgument {
  using InvalidArgument::InvalidArgument;
};

enum class TensorKind : uint8_t { Input, Param, Constant, Activation };
std::string_view tensor_kind_name(TensorKind k);

struct TensorInfo {
  std::string name;
  TensorKind kind = TensorKind::Activation;
  Shape shape;
  Strides stride;
  std::string dtype_name;       // as in the file: bf16, f32, i64, bool, ...
  std::optional<DType> dtype;   // the device dtype (bf16, f32, i32); none: host only
  std::optional<double> value;  // constants: the scalar
  int producer = -1;            // node index (-1: input, param, constant)
  int alias_of = -1;            // the tensor this one views, per the file or the op table

  // How the device stores it. A 4-D tensor with channels-last strides is kept as
  // TT-NN keeps activations, [1,1,N*H*W,C]; a dense tensor in its memory order
  // (logical dims sorted by stride); `storage` is the tensor owning the pages
  // (itself, or the base of a view the device can alias).
  bool nhwc = false;
  bool dense = true;       // no gaps and no repeats: a contiguous range of its storage
  std::vector<int> order;  // logical dims, outermost in memory first
  Shape device_shape;      // the shape whose TILE pages the device stores
  int storage = -1;

  // Liveness in node indices: nodes reading it (each once), first and last read.
  // A storage's last use covers every view of it; graph outputs live to the end.
  std::vector<int> users;
  int first_use = -1, last_use = -1;
  bool graph_output = false;
};

// Compute: op-table calls on the device. View: its outputs alias the input's
// storage (free: torch's view, and the device's where pages match; an op that
// reads a view the device cannot alias first copies it). Host: kept as it is
// and run on the host.
enum class NodeKind : uint8_t { Compute, View, Host };
std::string_view node_kind_name(NodeKind k);

// One program a node runs on the device: the call template (memory fields are
// set by whoever places it) over tensors `inputs` writing tensors `outputs`.
// A materialising step copies a view the device cannot alias (its tile pages
// are not its storage's: a channel slice, a broadcast) into a tensor of its own
// that the op then reads (TT-NN's slice / permute / expand before the op).
struct Step {
  plan::CallSpec call;
  std::vector<int> inputs, outputs;
  bool materialise = false;
};

struct Node {
  std::string name, op, module;  // op: the aten name as in the file
  std::vector<int> inputs;       // tensor operands as in the file
  std::vector<int> outputs;
  nlohmann::json args;
  NodeKind kind = NodeKind::Host;
  std::string host_reason;  // why a Host node is not lowered
  // Lowered nodes: the op-table op and its semantic call (logical shapes, the
  // file's args mapped; scalar operands became constant tensors).
  const ops::OpDesc* op_desc = nullptr;
  ops::Args call_args;
  std::vector<int> call_inputs;
  bool inplace = false;  // output 0 is written into input 0's storage
  // Ops with a channels_last argument take an NHWC input 0 as NHWC.
  bool nhwc_call = false;
  std::vector<Step> steps;  // Compute: materialising copies, then the op
};

struct Graph {
  std::string origin, model, dtype;
  std::vector<TensorInfo> tensors;
  std::vector<Node> nodes;
  std::vector<int> inputs, params, constants, outputs;
  std::map<std::string, int> by_name;
  std::map<std::string, int> host_ops;  // aten name -> nodes kept on the host

  int find(const std::string& name) const;  // -1 when unknown
  // The storage's tensor of t (t itself when it owns its pages).
  const TensorInfo& storage_of(int t) const { return tensors[tensors[t].storage]; }
};

// Parses, validates, lowers and computes liveness. Throws GraphError.
Graph parse_graph(const std::string& text, const std::string& origin);
Graph load_graph(const std::string& path);

// Pages of a tensor's device storage (TILE) and its bytes per bank in `type`.
PageSpec storage_pages(const TensorInfo& t);
int64_t storage_bytes(const TensorInfo& t);  // pages x page size: what a transfer moves
int64_t bytes_per_bank(const TensorInfo& t, const device::Profile& p, device::BufferType type);

// The shape whose pages the device stores for a (chunk of a) tensor with t's format.
Shape storage_shape(const TensorInfo& t, const Shape& logical);

// The device call of lowered node `n` over logical input shapes `in` (its own or
// a chunk's, in call_inputs order) and semantic `args`; `out_logical` are the
// logical output shapes (for how they are stored). Throws InvalidArgument.
plan::CallSpec device_call(const Graph& g, const Node& n, const std::vector<Shape>& in,
                           const ops::Args& args, const std::vector<Shape>& out_logical);
// The copy program that materialises (a chunk of) view `v`.
plan::CallSpec copy_call(const TensorInfo& v, const Shape& logical);
// True when the device reads view `v` in its storage's pages as they are.
bool aliasable(const Graph& g, int v);

}  // namespace oomless::graph
