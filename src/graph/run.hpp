// Runs a graph with data (oomless model run, Python run_model): the auto plan
// is replayed on a backed device and every program runs its kernel on the
// pages just placed (graph/hooks.hpp): tensors live in the emulated device's
// arenas as the plan places them, chains run chunk by chunk, views stay views,
// storages die at their last use. Each program's outputs are checked against
// the slow exact reference given its own inputs (a sample, or all elements).
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "graph/replay.hpp"

namespace oomless::graph {

enum class Verify : uint8_t { Off, Sample, Full };
Verify parse_verify(std::string_view s);

// A host op's kernel (Python: torch's aten op): the node and its logical inputs
// (null for operands it does not read) -> its outputs.
using HostOpFn = std::function<std::vector<Tensor>(int node, const std::vector<Tensor>& inputs)>;

struct RunOptions {
  ModelOptions model;  // budgets
  // Values of params/buffers and graph inputs by name (missing params: random,
  // seeded, fan-in scaled; missing inputs: uniform [0, 1)).
  std::map<std::string, Tensor> weights, inputs;
  uint64_t seed = 0;
  Verify verify = Verify::Sample;
  int64_t samples = 16;  // elements per program output (Sample)
  HostOpFn host_op;      // empty: a graph with host ops needs Python
};

struct OpTime {
  int64_t programs = 0;
  double seconds = 0;
};

struct RunReport {
  ModelPlan plan;               // what the plan promised
  ReplayResult run;             // the same replay with data (its samples are the allocator's)
  std::vector<Tensor> outputs;  // graph outputs, in order, logical, host dtype
  // The allocator's high-water marks over the run.
  int64_t peak_l1_per_core = 0, peak_l1_per_bank = 0, peak_dram_per_bank = 0;
  int64_t peak_rss_bytes = 0;  // of the process (VmHWM) at the end
  bool peaks_match = false;    // run peaks == plan peaks (L1, DRAM, host)
  int64_t programs = 0, verified_programs = 0, checked = 0, failed = 0;
  std::string first_failure;               // "node 'x' (op): output 0 [..]: got .., expected .."
  std::vector<std::string> host_fallback;  // nodes run on the host
  std::map<std::string, OpTime> by_op;     // kernel time per op
  // Time outside kernels: staging (pages -> host views), writing outputs to
  // pages, moves (uploads, evictions), verification.
  double stage_in_seconds = 0, stage_out_seconds = 0, move_seconds = 0, verify_seconds = 0;
  double plan_seconds = 0, run_seconds = 0;
};

// Nodes the C++ run cannot execute (host ops whose outputs are used), named.
std::vector<std::string> needs_python(const Graph& g);

// Checks weights and inputs against the graph (InvalidArgument naming the
// tensor and value), plans, and runs.
RunReport run_model(const Graph& g, const device::Profile& profile, const RunOptions& o);

}  // namespace oomless::graph
