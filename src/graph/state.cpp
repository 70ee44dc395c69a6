#include "graph/state.hpp"

#include <algorithm>

namespace oomless::graph {

using device::BufferType;

std::string_view place_name(Place p) {
  switch (p) {
    case Place::None:
      return "-";
    case Place::Host:
      return "host";
    case Place::DRAM:
      return "DRAM";
    case Place::L1:
      return "L1";
  }
  return "?";
}

Traffic& Traffic::operator+=(const Traffic& o) {
  dram_read += o.dram_read;
  dram_write += o.dram_write;
  host_to_device += o.host_to_device;
  device_to_host += o.device_to_host;
  host += o.host;
  return *this;
}

int64_t host_bytes(const TensorInfo& t) {
  const std::string& d = t.dtype_name;
  int64_t e = d == "f32" || d == "i32"                ? 4
              : d == "i64" || d == "f64"              ? 8
              : d == "bool" || d == "u8" || d == "i8" ? 1
                                                      : 2;
  return numel(t.shape) * e;
}

State::State(const Graph& graph, const device::Profile& profile, std::vector<int> end_override,
             Executor* executor)
    : g(graph), dev(profile, /*backed=*/executor != nullptr), exec(executor) {
  const size_t T = g.tensors.size();
  const int N = static_cast<int>(g.nodes.size());
  buf.resize(T);
  at.assign(T, Place::None);
  written.assign(T, Place::None);
  device_read.assign(T, false);
  for (const Node& n : g.nodes)
    for (const Step& s : n.steps)
      for (int t : s.inputs) device_read[g.tensors[t].storage] = true;
  end = std::move(end_override);
  if (end.empty()) {
    end.assign(T, -1);
    for (size_t t = 0; t < T; ++t) end[t] = g.tensors[t].last_use;
  }
  frees.resize(static_cast<size_t>(N));
  for (size_t t = 0; t < T; ++t) {
    const TensorInfo& x = g.tensors[t];
    if (x.storage != static_cast<int>(t) || x.graph_output) continue;
    if (x.kind == TensorKind::Param || x.kind == TensorKind::Constant) continue;
    // Storages nothing reads die where they are made (inputs: at the first node).
    int e = std::max(end[t], x.producer);
    if (e >= N) continue;
    frees[static_cast<size_t>(std::max(e, 0))].push_back(static_cast<int>(t));
  }
}

void State::allocate(int t, BufferType type) {
  int s = g.tensors[t].storage;
  PageSpec ps = storage_pages(g.tensors[s]);
  auto b = dev.allocate(type, ps.num_pages, ps.page_size);
  note_buffer(ps.total_bytes(), g.tensors[s].name);
  if (exec)
    exec->moved(s, at[s], buf[s].get(), type == BufferType::L1 ? Place::L1 : Place::DRAM, b.get());
  release(s);
  buf[s] = std::move(b);
  at[s] = type == BufferType::L1 ? Place::L1 : Place::DRAM;
  if (written[s] == Place::None) written[s] = at[s];
  sample();
}

void State::set_host(int t) {
  int s = g.tensors[t].storage;
  if (at[s] == Place::Host) return;
  if (exec) exec->moved(s, at[s], buf[s].get(), Place::Host, nullptr);
  release(s, /*keep_image=*/true);
  at[s] = Place::Host;
  if (written[s] == Place::None) written[s] = Place::Host;
  host_live += host_bytes(g.tensors[s]);
  host_peak = std::max(host_peak, host_live);
}

void State::release(int s, bool keep_image) {
  if (exec && !keep_image && at[s] != Place::None) exec->released(s);
  if (at[s] == Place::Host) host_live -= host_bytes(g.tensors[s]);
  buf[s].reset();
  at[s] = Place::None;
}

void State::note_buffer(int64_t bytes, const std::string& what) {
  if (bytes > largest_bytes) {
    largest_bytes = bytes;
    largest_what = what;
  }
}

plan::Placement State::trial(const std::vector<int>& inputs, const plan::CallSpec& c,
                             plan::QueryResult& r, bool keep_sample) {
  std::vector<std::shared_ptr<device::Buffer>> ins;
  for (int t : inputs) ins.push_back(t >= 0 ? buf[g.tensors[t].storage] : nullptr);
  PeakGuard guard(dev);  // a failed attempt or a search's trial counts nothing
  try {
    plan::Placement p = plan::place_call(dev, c, std::move(ins), r);
    guard.keep = keep_sample;
    if (keep_sample) {
      sample();
      for (const auto& a : r.allocations)
        if (!a.is_view) note_buffer(a.bytes, a.what + " " + shape_str(a.shape));
    }
    dev.release_cbs();
    return p;
  } catch (const device::OutOfMemory&) {
    dev.release_cbs();
    throw;
  }
}

void State::place(const Step& s, const plan::CallSpec& c, plan::QueryResult& r) {
  plan::Placement p = trial(s.inputs, c, r);
  Place where = c.out_memory.value_or(c.in_memory) == BufferType::L1 ? Place::L1 : Place::DRAM;
  for (size_t i = 0; i < p.outputs.size() && i < s.outputs.size(); ++i) {
    int t = s.outputs[i];
    if (t < 0) continue;
    if (!p.outputs[i]) {
      if (written[t] == Place::None) written[t] = at[g.tensors[t].storage];
      continue;
    }
    release(t);
    buf[t] = std::move(p.outputs[i]);
    at[t] = where;
    written[t] = where;
  }
}

void State::sample() {
  auto l1 = dev.stats(BufferType::L1).allocated;
  int64_t cb = dev.cbs().bytes();
  int64_t dram = dev.stats(BufferType::DRAM).allocated;
  cur_l1_ = std::max(cur_l1_, l1);
  cur_cb_ = std::max(cur_cb_, cb);
  cur_dram_ = std::max(cur_dram_, dram);
  peak_l1 = std::max(peak_l1, l1 + cb);
  peak_dram = std::max(peak_dram, dram);
}

void State::sample_start() {
  sample();
}

void State::begin_node() {
  cur_l1_ = cur_cb_ = cur_dram_ = 0;
  sample();
}

void State::end_node(int n, NodeResult& nr) {
  sample();
  nr.l1_per_bank = cur_l1_;
  nr.cb_per_core = cur_cb_;
  nr.dram_per_bank = cur_dram_;
  nr.host_bytes = host_live;
  nr.out_place.clear();
  for (int t : g.nodes[static_cast<size_t>(n)].outputs) {
    Place w = written[t];
    if (w == Place::None) w = at[g.tensors[t].storage];
    nr.out_place.push_back(w);
  }
}

void State::free_dead(int n) {
  for (int s : frees[static_cast<size_t>(n)]) release(s);
}

}  // namespace oomless::graph
