// The planned replay (internal to graph/): one engine for the three placement
// policies so their traffic is comparable. Every node runs; when a placement
// does not fit the engine falls back (outputs to DRAM, streaming CBs, slices,
// outputs to the host, the host itself), so a policy always completes and its
// traffic says what its placement costs.
#pragma once
#include <vector>

#include "graph/chain.hpp"
#include "graph/hooks.hpp"
#include "graph/replay.hpp"

namespace oomless::graph {

enum class Policy : uint8_t {
  AllDram,   // TT-NN's default: every activation in DRAM
  GreedyL1,  // each output in L1 when it fits at that moment, else DRAM (tt-mlir's fallback)
  Auto,      // L1 residency chosen over the whole graph, chains, eviction, in-place
};

struct EngineConfig {
  Policy policy = Policy::AllDram;
  std::string name;
  const std::vector<Chain>* chains = nullptr;  // run these chunked
  std::vector<char> l1;                        // Auto: storages chosen for L1
  bool evict = false;    // move residents out of the way (L1 -> DRAM, DRAM -> host)
  bool inplace = false;  // elementwise ops overwrite an input that dies with them
  // A run: the device is backed and every committed placement, move and program
  // goes to the executor (chunks and slices all of them, not one).
  Executor* exec = nullptr;
};

ReplayResult run_engine(const Graph& g, const device::Profile& profile,
                        const plan::Budgets& budgets, const EngineConfig& cfg,
                        std::vector<ChainInfo>* chains_out = nullptr);

// The auto plan `mp` (plan_model's winner) replayed again, with `exec` running it.
ReplayResult replay_plan(const Graph& g, const device::Profile& profile, const ModelOptions& o,
                         const ModelPlan& mp, Executor* exec);

}  // namespace oomless::graph
