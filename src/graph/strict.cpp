// Strict replay: the graph run as TT-NN model code places it. Weights in DRAM
// first, every activation in the requested memory, each node's programs placed
// through plan::place_call (outputs, then CBs, released after), each storage
// freed after its last use. The first allocation that fails is the model's OOM,
// with tt-metal's message.
#include <fmt/format.h>

#include "graph/replay.hpp"
#include "graph/state.hpp"

namespace oomless::graph {

using device::BufferType;

namespace {

// The tensor whose allocation failed in a step, or "circular buffers".
std::string failed_tensor(const Graph& g, const plan::QueryResult& r, const Step& s) {
  for (const auto& a : r.allocations) {
    if (a.fits || a.is_view) continue;
    if (a.what.rfind("output ", 0) == 0) {
      size_t i = std::stoul(a.what.substr(7));
      if (i < s.outputs.size() && s.outputs[i] >= 0) return g.tensors[s.outputs[i]].name;
    }
    return a.what;
  }
  return "circular buffers";
}

}  // namespace

ReplayResult run_strict(const Graph& g, const device::Profile& profile, const ModelOptions& o) {
  ReplayResult R;
  R.policy = "strict";
  State st(g, profile);
  R.nodes.resize(g.nodes.size());
  auto record = [&](Failure f) {
    R.fits = false;
    R.failures.push_back(std::move(f));
  };
  auto oom_failure = [&](int node, const std::string& where, const std::string& op,
                         const std::string& tensor, const device::OutOfMemory& e) {
    Failure f{node, where, op, tensor};
    f.message = e.what();
    bool buffer = e.kind == device::OutOfMemory::Kind::Buffer;
    f.detail = buffer ? e.detail() : f.message;
    f.status = !buffer                           ? plan::Status::CbOutOfMem
               : e.buffer_type == BufferType::L1 ? plan::Status::L1OutOfMem
                                                 : plan::Status::DramOutOfMem;
    record(std::move(f));
  };
  auto finish = [&] {
    R.peak_l1_per_bank = st.peak_l1;
    R.peak_dram_per_bank = st.peak_dram;
    R.largest_buffer_bytes = st.largest_bytes;
    R.largest_buffer = st.largest_what;
    R.tensor_place = st.written;
    return R;
  };

  // Weights (and the constants made for scalar operands) in DRAM, first.
  // (An integer buffer such as batch norm's num_batches_tracked has no device
  // dtype and stays on the host.)
  for (const auto& list : {g.params, g.constants})
    for (int t : list) {
      if (!g.tensors[t].dtype) {
        st.set_host(t);
        continue;
      }
      try {
        st.allocate(t, BufferType::DRAM);
      } catch (const device::OutOfMemory& e) {
        oom_failure(-1, g.tensors[t].name, "param", g.tensors[t].name, e);
        if (!o.all) return finish();
      }
    }
  R.weights_dram_per_bank = st.dev.stats(BufferType::DRAM).allocated;
  // Graph inputs, as from_torch places them: in the requested memory.
  auto place_activation = [&](int node, const std::string& where, const std::string& op, int t) {
    try {
      st.allocate(t, o.memory);
      return true;
    } catch (const device::OutOfMemory& e) {
      oom_failure(node, where, op, g.tensors[t].name, e);
      if (!o.all) return false;
    }
    if (o.memory == BufferType::L1) {
      try {
        st.allocate(t, BufferType::DRAM);
      } catch (const device::OutOfMemory&) {
      }
    }
    return true;
  };
  for (int t : g.inputs) {
    if (!st.device_read[t]) {
      st.set_host(t);  // only host ops read it
      continue;
    }
    if (!place_activation(-1, g.tensors[t].name, "input", t)) return finish();
  }
  st.sample_start();

  for (int n = 0; n < static_cast<int>(g.nodes.size()); ++n) {
    const Node& node = g.nodes[n];
    NodeResult& nr = R.nodes[n];
    st.begin_node();
    switch (node.kind) {
      case NodeKind::Host:
        // Host outputs a device op reads are placed as from_torch would.
        nr.strategy = "host";
        for (int t : node.outputs) {
          if (!st.device_read[g.tensors[t].storage]) {
            st.set_host(t);
            continue;
          }
          if (!place_activation(n, node.name, node.op, t)) return finish();
        }
        break;
      case NodeKind::View:
        nr.strategy = "view";
        break;
      case NodeKind::Compute:
        nr.strategy = node.inplace ? "in place" : "direct";
        if (node.steps.size() > 1) nr.note = "copies a view the device cannot alias first";
        for (const Step& s : node.steps) {
          plan::CallSpec c = s.call;
          c.in_memory = o.memory;
          c.out_memory = o.memory;
          plan::QueryResult r;
          try {
            st.place(s, c, r);
            continue;
          } catch (const device::OutOfMemory& e) {
            oom_failure(n, node.name, node.op, failed_tensor(g, r, s), e);
            if (!o.all) {
              st.end_node(n, nr);
              return finish();
            }
          }
          // Going on: the outputs in DRAM with the program, else without it.
          c.out_memory = BufferType::DRAM;
          try {
            plan::QueryResult again;
            st.place(s, c, again);
            nr.strategy = "failed; outputs in DRAM";
            continue;
          } catch (const device::OutOfMemory&) {
          }
          nr.strategy = "failed; skipped";
          for (int t : s.outputs) {
            if (t < 0 || g.tensors[t].storage != t) continue;
            try {
              st.allocate(t, BufferType::DRAM);
            } catch (const device::OutOfMemory&) {
            }
          }
        }
        break;
    }
    st.end_node(n, nr);
    st.free_dead(n);
  }
  return finish();
}

}  // namespace oomless::graph
