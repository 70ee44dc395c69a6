// The auto plan: which storages live in L1, chosen with the whole graph in view,
// then replayed (engine.cpp) with chains, eviction and in-place writes. The L1
// choice is interval packing (ggml-alloc / TFLite's arena planner idea, on the
// per-bank footprint): each storage is an interval [made, last read] of height
// its bytes per L1 bank and value the DRAM traffic it saves (its write and every
// read); intervals are taken densest first while every node keeps room for its
// circular buffers (and a chain's working set). The replay through tt-metal's
// allocator decides what really fits (fragmentation, CB clashes); a few margins
// of headroom are tried and the plan that moves the fewest bytes wins.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "graph/engine.hpp"

namespace oomless::graph {

using device::BufferType;

namespace {

// Per-core CB bytes of a node's largest program, as tt-metal places them.
std::vector<int64_t> node_cbs(const Graph& g, const device::Profile& p) {
  std::vector<int64_t> out(g.nodes.size(), 0);
  ops::DeviceContext ctx{Layout::Tile, &p};
  for (size_t n = 0; n < g.nodes.size(); ++n)
    for (const Step& s : g.nodes[n].steps) {
      ops::OutputSpec o = plan::device_outputs(s.call);
      int64_t sum = 0;
      for (const auto& cb : s.call.op->cbs(*s.call.op, s.call.inputs, o, s.call.args, ctx))
        sum += round_up(cb.bytes(), p.dram_alignment);
      // A program whose CBs take most of L1 runs with streaming CBs instead.
      if (sum > p.l1_bank_size() / 2) {
        sum = 0;
        for (const auto& cb : plan::streaming_cbs(s.call, o))
          sum += round_up(cb.bytes(), p.dram_alignment);
      }
      out[n] = std::max(out[n], sum);
    }
  return out;
}

// A chain's smallest chunk on an empty device: its buffers and CBs per core.
int64_t chain_working_set(const Graph& g, const device::Profile& p, const Chain& c) {
  device::Device dev(p, false);
  int64_t len = std::min(c.extent, c.align);
  std::vector<std::shared_ptr<device::Buffer>> held;
  try {
    for (const auto& cs : chunk_steps(g, c, middle_chunk(c, len), len)) {
      plan::CallSpec call = cs.call;
      call.out_memory = BufferType::L1;
      plan::QueryResult r;
      auto pl = plan::place_call(dev, call, {}, r);
      dev.release_cbs();
      for (auto& b : pl.outputs)
        if (b) held.push_back(b);
    }
  } catch (const device::OutOfMemory&) {
    return p.l1_bank_size();
  }
  return dev.peak_l1_per_core();
}

struct Packing {
  std::vector<int64_t> cbs;      // per node
  std::vector<int64_t> reserve;  // per node: a chain's working set where it runs
  std::vector<int> end;          // per storage
  std::vector<int> reads;        // per storage: device programs reading it
  std::vector<char> internal;    // per storage: lives one chunk at a time
};

Packing analyse(const Graph& g, const device::Profile& p, const std::vector<Chain>& chains) {
  Packing k;
  const size_t T = g.tensors.size(), N = g.nodes.size();
  k.cbs = node_cbs(g, p);
  k.reserve.assign(N, 0);
  k.internal.assign(T, 0);
  std::vector<int> run_at(N, -1);
  for (const auto& c : chains) {
    for (int m : c.members) run_at[m] = c.run_at;
    for (int s : c.internal) k.internal[s] = 1;
    k.reserve[c.run_at] = std::max(k.reserve[c.run_at], chain_working_set(g, p, c));
  }
  k.end.assign(T, -1);
  k.reads.assign(T, 0);
  for (size_t t = 0; t < T; ++t) k.end[t] = g.tensors[t].last_use;
  for (size_t n = 0; n < N; ++n) {
    const Node& node = g.nodes[n];
    int at = run_at[n] >= 0 ? run_at[n] : static_cast<int>(n);
    std::vector<int> seen;
    std::vector<int> ins = node.inputs;
    ins.insert(ins.end(), node.call_inputs.begin(), node.call_inputs.end());
    for (const Step& st : node.steps) ins.insert(ins.end(), st.inputs.begin(), st.inputs.end());
    for (const auto* list : {&ins})
      for (int t : *list) {
        int s = g.tensors[t].storage;
        k.end[s] = std::max(k.end[s], at);
        if (std::find(seen.begin(), seen.end(), s) != seen.end()) continue;
        seen.push_back(s);
        if (node.kind != NodeKind::Host && node.kind != NodeKind::View) ++k.reads[s];
      }
  }
  return k;
}

std::vector<char> pack_l1(const Graph& g, const device::Profile& p, const Packing& k,
                          double margin) {
  const int N = static_cast<int>(g.nodes.size());
  std::vector<int64_t> cap(static_cast<size_t>(N));
  int64_t bank = static_cast<int64_t>(static_cast<double>(p.l1_bank_size()) * (1.0 - margin));
  for (int n = 0; n < N; ++n) cap[n] = bank - k.cbs[n] - k.reserve[n];
  struct Cand {
    int s, def, last;
    int64_t size;
    double density;
  };
  std::vector<Cand> cands;
  for (size_t s = 0; s < g.tensors.size(); ++s) {
    const TensorInfo& t = g.tensors[s];
    if (t.storage != static_cast<int>(s) || !t.dtype || k.internal[s]) continue;
    bool made_on_device = t.kind == TensorKind::Activation && t.producer >= 0 &&
                          g.nodes[t.producer].kind != NodeKind::Host;
    if (!made_on_device && t.kind != TensorKind::Input) continue;
    int def = t.producer >= 0 ? t.producer : t.first_use;
    int last = t.graph_output ? N - 1 : std::max(k.end[s], def);
    int64_t size = bytes_per_bank(t, p, BufferType::L1);
    if (def < 0 || size <= 0) continue;
    double value = static_cast<double>(storage_bytes(t)) *
                   (k.reads[s] + (t.kind == TensorKind::Input ? 0 : 1));
    if (value <= 0) continue;
    cands.push_back({static_cast<int>(s), def, last, size,
                     value / (static_cast<double>(size) * (last - def + 1))});
  }
  std::stable_sort(cands.begin(), cands.end(),
                   [](const Cand& a, const Cand& b) { return a.density > b.density; });
  std::vector<int64_t> used(static_cast<size_t>(N), 0);
  std::vector<char> l1(g.tensors.size(), 0);
  for (const auto& c : cands) {
    bool fits = true;
    for (int n = c.def; n <= c.last && fits; ++n) fits = used[n] + c.size <= cap[n];
    if (!fits) continue;
    for (int n = c.def; n <= c.last; ++n) used[n] += c.size;
    l1[c.s] = 1;
  }
  return l1;
}

bool better(const ReplayResult& a, const ReplayResult& b) {
  if (a.fits != b.fits) return a.fits;
  return a.traffic.total() < b.traffic.total();
}

}  // namespace

ModelPlan plan_model(const Graph& g, const device::Profile& profile, const ModelOptions& o) {
  auto t0 = std::chrono::steady_clock::now();
  ModelPlan mp;
  std::vector<Chain> chains = find_chains(g, profile);
  EngineConfig dram{Policy::AllDram, "all_dram"};
  mp.all_dram = run_engine(g, profile, o.budgets, dram);
  EngineConfig greedy{Policy::GreedyL1, "greedy_l1"};
  mp.greedy_l1 = run_engine(g, profile, o.budgets, greedy);

  Packing k = analyse(g, profile, chains);
  bool have = false;
  for (double margin : {0.0, 0.1, 0.25, 0.5}) {
    EngineConfig a{Policy::Auto, "auto", &chains, pack_l1(g, profile, k, margin), true, true};
    std::vector<ChainInfo> info;
    ReplayResult r = run_engine(g, profile, o.budgets, a, &info);
    if (!have || better(r, mp.best)) {
      mp.best = std::move(r);
      mp.chains = std::move(info);
      mp.l1 = a.l1;
      mp.variant = fmt::format("L1 by interval packing with {:.0f}% headroom, {} chains",
                               margin * 100, chains.size());
      have = true;
    }
  }
  // Greedy residency with auto's chains, eviction and in-place writes: a graph
  // whose tensors all fit in L1 needs no packing.
  {
    EngineConfig a{Policy::GreedyL1, "auto", &chains, {}, true, true};
    std::vector<ChainInfo> info;
    ReplayResult r = run_engine(g, profile, o.budgets, a, &info);
    if (better(r, mp.best)) {
      mp.best = std::move(r);
      mp.chains = std::move(info);
      mp.l1.clear();
      mp.greedy = true;
      mp.variant = fmt::format("L1 whenever it fits, {} chains", chains.size());
    }
  }
  mp.best.policy = "auto";
  mp.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return mp;
}

ReplayResult replay_plan(const Graph& g, const device::Profile& profile, const ModelOptions& o,
                         const ModelPlan& mp, Executor* exec) {
  std::vector<Chain> chains = find_chains(g, profile);
  EngineConfig a{mp.greedy ? Policy::GreedyL1 : Policy::Auto, "auto", &chains, mp.l1, true, true};
  a.exec = exec;
  std::vector<ChainInfo> info;
  return run_engine(g, profile, o.budgets, a, &info);
}

}  // namespace oomless::graph
