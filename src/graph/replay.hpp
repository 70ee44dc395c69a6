// Whole-graph replays through ONE device allocator in program order: strict (as
// TT-NN model code places things) and planned (every tensor placed, every op
// given a strategy, so nothing runs out of memory). Results per node feed the
// CLI and the model reports.
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "graph/graph.hpp"
#include "plan/planner.hpp"

namespace oomless::graph {

enum class Place : uint8_t { None, Host, DRAM, L1 };
std::string_view place_name(Place p);  // "-", "host", "DRAM", "L1"

// Bytes moved, counted in device pages (a tile page carries its padding): DRAM
// reads and writes by programs (a tensor in L1 moves nothing), host->device and
// device->host transfers, and what a program run on the host reads and writes
// in host memory (else running everything on the host would look free).
// Weights read from DRAM count like any other read.
struct Traffic {
  int64_t dram_read = 0, dram_write = 0, host_to_device = 0, device_to_host = 0, host = 0;
  int64_t total() const { return dram_read + dram_write + host_to_device + device_to_host + host; }
  Traffic& operator+=(const Traffic& o);
};

// One node as replayed. Memory is sampled at the node's peak (its outputs and
// circular buffers placed, before anything is freed).
struct NodeResult {
  std::string strategy;          // direct, view, copy, in place, streamed, sliced, chain, host, ...
  std::vector<Place> out_place;  // per output tensor
  int64_t l1_per_bank = 0;       // L1 buffers per bank
  int64_t cb_per_core = 0;       // circular buffers per core
  int64_t dram_per_bank = 0;
  int64_t host_bytes = 0;  // host memory held by host-resident tensors
  int64_t chunks = 1;
  int chain = -1;   // index into the plan's chains
  Traffic traffic;  // planned replays (strict counts none)
  std::string note;
};

// An allocation that did not fit, with tt-metal's message.
struct Failure {
  int node = -1;       // -1: before the first node (weights, graph inputs)
  std::string where;   // node name, or the input/param name
  std::string op;      // aten op ("input", "param" for the others)
  std::string tensor;  // the tensor that did not fit, or "circular buffers"
  plan::Status status = plan::Status::Pass;
  std::string message, detail;
};

struct ReplayResult {
  std::string policy;  // strict, all_dram, greedy_l1, auto
  bool fits = true;
  std::string error;  // why a planned policy could not fit (a budget)
  std::vector<NodeResult> nodes;
  std::vector<Failure> failures;  // strict: in program order (first one first)
  int64_t peak_l1_per_bank = 0;   // L1 buffers + CBs per bank (core)
  int64_t peak_dram_per_bank = 0;
  int64_t peak_host_bytes = 0;
  int64_t weights_dram_per_bank = 0;
  int64_t largest_buffer_bytes = 0;  // the largest single buffer the replay placed
  std::string largest_buffer;        // which one
  Traffic traffic;                   // planned replays (strict counts none)
  std::vector<Place> tensor_place;   // per tensor: where its storage was when written
};

struct ModelOptions {
  device::BufferType memory = device::BufferType::L1;  // strict: where activations go
  bool all = false;                                    // strict: go on past failures
  plan::Budgets budgets;
};

// Strict: every activation in `memory` (interleaved, TILE), weights in DRAM
// placed first, each node's outputs allocated, its CBs placed (plan::place_call)
// then released, each storage freed after its last use. Stops at the first
// out-of-memory unless `all` (then a failed output goes to DRAM, or is skipped).
ReplayResult run_strict(const Graph& g, const device::Profile& profile, const ModelOptions& o);

// A chain of nodes chunked together along one axis (see chain.hpp).
struct ChainInfo {
  std::vector<int> nodes;
  int run_at = -1;   // the node where the chain runs (its last member)
  std::string axis;  // e.g. "dim 1 of bmm (8160)"
  int64_t extent = 0, chunk = 0, num_chunks = 0;
  int64_t largest_whole_bytes = 0;  // the largest member tensor, were it whole
  int64_t largest_chunk_bytes = 0;  // the largest member tensor as it lives (a chunk)
  std::vector<std::string> pinned;  // whole inputs copied into L1 for the chain
};

struct ModelPlan {
  ReplayResult best;                 // the auto plan
  ReplayResult all_dram, greedy_l1;  // the two baselines on the same graph
  std::vector<ChainInfo> chains;
  std::string variant;  // which auto configuration won
  // The winner's configuration, for a run to replay it: L1 storages chosen by
  // packing (empty: greedy residency).
  std::vector<char> l1;
  bool greedy = false;
  double seconds = 0;
};

ModelPlan plan_model(const Graph& g, const device::Profile& profile, const ModelOptions& o);

}  // namespace oomless::graph
