// The planned replay. Per node, in program order, on one allocator:
//   inputs on the host are uploaded; outputs go where the policy says;
//   a program that does not fit tries, in order: outputs in DRAM, streaming
//   CBs, slices along a split axis (whole output in DRAM, one slice's buffers
//   and CBs in L1), slices streamed to the host, and last the host itself.
// Auto may also evict (L1 -> DRAM when CBs clash with L1 buffers; DRAM -> host,
// farthest next use first, when DRAM is full), overwrite a dying input in place,
// and runs chains chunk by chunk at their last member.
#include "graph/engine.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <functional>
#include <set>
#include <tuple>

#include "graph/state.hpp"
#include "ops/families.hpp"

namespace oomless::graph {

using device::BufferType;

namespace {

constexpr int kMaxEvictions = 512;

bool elementwise(const ops::OpDesc& op) {
  return op.family == ops::Family::Unary || op.family == ops::Family::Binary ||
         op.family == ops::Family::Softmax;
}

class Engine {
 public:
  Engine(const Graph& g, const device::Profile& p, const plan::Budgets& b, const EngineConfig& cfg)
      : g_(g), p_(p), b_(b), cfg_(cfg), st_(g, p, ends(), cfg.exec) {}

  ReplayResult run(std::vector<ChainInfo>* chains_out) {
    R_.policy = cfg_.name;
    R_.nodes.resize(g_.nodes.size());
    if (ex()) ex()->start(st_.dev);
    chain_info_.resize(chains().size());
    // Weights and scalar constants in DRAM (on the host if DRAM cannot hold them).
    for (const auto& list : {g_.params, g_.constants})
      for (int t : list) {
        if (!g_.tensors[t].dtype) {
          st_.set_host(t);  // an integer buffer (num_batches_tracked)
          continue;
        }
        try {
          st_.allocate(t, BufferType::DRAM);
        } catch (const device::OutOfMemory&) {
          st_.set_host(t);
        }
      }
    R_.weights_dram_per_bank = st_.dev.stats(BufferType::DRAM).allocated;
    for (int t : g_.inputs) st_.set_host(t);  // uploaded at first use
    st_.sample_start();
    for (int n = 0; n < static_cast<int>(g_.nodes.size()); ++n) {
      cur_ = n;
      NodeResult& nr = R_.nodes[n];
      tr_ = &nr.traffic;
      st_.begin_node();
      if (ex()) ex()->begin_node(n);
      run_node(n, nr);
      st_.end_node(n, nr);
      if (ex()) ex()->end_node(n);
      st_.free_dead(n);
      check_host(n);
      R_.traffic += nr.traffic;
    }
    if (ex()) {
      std::vector<const device::Buffer*> bufs;
      for (const auto& b : st_.buf) bufs.push_back(b.get());
      ex()->finish(bufs);
    }
    // Graph outputs end on the host.
    for (int t : g_.outputs) {
      Place w = st_.where(t);
      if (w == Place::DRAM || w == Place::L1) R_.traffic.device_to_host += bytes(t);
    }
    R_.peak_l1_per_bank = st_.peak_l1;
    R_.peak_dram_per_bank = st_.peak_dram;
    R_.peak_host_bytes = st_.host_peak;
    R_.largest_buffer_bytes = st_.largest_bytes;
    R_.largest_buffer = st_.largest_what;
    R_.tensor_place = st_.written;
    if (chains_out) *chains_out = chain_info_;
    return R_;
  }

 private:
  const Graph& g_;
  const device::Profile& p_;
  plan::Budgets b_;
  const EngineConfig& cfg_;
  std::vector<std::vector<int>> uses_;  // per storage: nodes that read it (chains at run_at)
  std::vector<int> chain_of_;           // per node: its chain, or -1
  State st_;
  ReplayResult R_;
  std::vector<ChainInfo> chain_info_;
  int cur_ = -1;
  Traffic* tr_ = nullptr;

  Executor* ex() const { return cfg_.exec; }
  int index_of(const Node& n) const { return static_cast<int>(&n - g_.nodes.data()); }

  // ---- operands of a run (see hooks.hpp) --------------------------------------

  // How the kernel of step s sees its input / output i.
  Coords coords_in(const Node& node, const Step& s, size_t i) const {
    if (s.materialise) return Coords::Storage;
    return i == 0 && node.nhwc_call ? Coords::NHWC : Coords::Logical;
  }
  Coords coords_out(const Node& node, const Step& s, size_t i) const {
    if (s.materialise) return Coords::Storage;
    return node.nhwc_call && g_.tensors[s.outputs[i]].shape.size() == 4 ? Coords::NHWC
                                                                        : Coords::Logical;
  }
  // Tensor t where its storage is now, whole.
  Operand operand(int t, Coords coords) const {
    Operand o;
    o.tensor = t;
    o.coords = coords;
    o.buf = st_.buf[storage(t)].get();
    return o;
  }
  std::vector<Operand> step_inputs(const Node& node, const Step& s) const {
    std::vector<Operand> in;
    for (size_t i = 0; i < s.inputs.size(); ++i)
      in.push_back(operand(s.inputs[i], coords_in(node, s, i)));
    return in;
  }

  const std::vector<Chain>& chains() const {
    static const std::vector<Chain> none;
    return cfg_.chains ? *cfg_.chains : none;
  }

  // Last node that needs each storage; a chain reads its inputs when it runs.
  std::vector<int> ends() {
    const size_t T = g_.tensors.size();
    chain_of_.assign(g_.nodes.size(), -1);
    for (size_t c = 0; c < chains().size(); ++c)
      for (int m : chains()[c].members) chain_of_[m] = static_cast<int>(c);
    uses_.assign(T, {});
    for (int n = 0; n < static_cast<int>(g_.nodes.size()); ++n) {
      const Node& node = g_.nodes[n];
      int at = chain_of_[n] >= 0 ? chains()[chain_of_[n]].run_at : n;
      for (const auto* list : {&node.inputs, &node.call_inputs})
        for (int t : *list) uses_[g_.tensors[t].storage].push_back(at);
      for (const Step& s : node.steps)
        for (int t : s.inputs) uses_[g_.tensors[t].storage].push_back(at);
    }
    std::vector<int> end(T, -1);
    for (size_t s = 0; s < T; ++s) {
      auto& u = uses_[s];
      std::sort(u.begin(), u.end());
      u.erase(std::unique(u.begin(), u.end()), u.end());
      end[s] = std::max(g_.tensors[s].last_use, u.empty() ? -1 : u.back());
    }
    return end;
  }

  int next_use(int s) const {
    const auto& u = uses_[s];
    auto it = std::upper_bound(u.begin(), u.end(), cur_);
    if (it != u.end()) return *it;
    return g_.tensors[s].graph_output ? INT_MAX - 1 : -1;
  }

  int storage(int t) const { return g_.tensors[t].storage; }
  int64_t bytes(int t) const { return storage_bytes(g_.tensors[t]); }

  void check_host(int n) {
    if (b_.host && st_.host_live > *b_.host && R_.fits) {
      R_.fits = false;
      R_.error = fmt::format(
          "host memory {} B after node '{}' exceeds the host budget {} B (DRAM and L1 are full)",
          st_.host_live, g_.nodes[n].name, *b_.host);
    }
  }

  // ---- traffic --------------------------------------------------------------

  void read(int t, int64_t amount) {
    switch (st_.where(t)) {
      case Place::DRAM:
        tr_->dram_read += amount;
        break;
      case Place::Host:
        tr_->host_to_device += amount;
        break;
      default:
        break;
    }
  }
  void write(int t, int64_t amount) {
    switch (st_.where(t)) {
      case Place::DRAM:
        tr_->dram_write += amount;
        break;
      case Place::Host:
        tr_->device_to_host += amount;
        break;
      default:
        break;
    }
  }

  // ---- making room ------------------------------------------------------------

  // Moves L1 residents out of the way of CBs: the lowest address first (CBs grow
  // up from the bottom of L1; buffers fill it from the top).
  bool evict_l1(const std::set<int>& keep) {
    int best = -1;
    int64_t lowest = INT64_MAX;
    for (size_t s = 0; s < g_.tensors.size(); ++s) {
      if (st_.at[s] != Place::L1 || keep.count(static_cast<int>(s)) || !st_.buf[s]) continue;
      if (st_.buf[s]->address() < lowest) {
        lowest = st_.buf[s]->address();
        best = static_cast<int>(s);
      }
    }
    if (best < 0) return false;
    int64_t amount = bytes(best);
    try {
      st_.allocate(best, BufferType::DRAM);
      tr_->dram_write += amount;
    } catch (const device::OutOfMemory&) {
      st_.set_host(best);
      tr_->device_to_host += amount;
    }
    return true;
  }

  // Moves the DRAM resident needed farthest in the future to the host.
  bool evict_dram(const std::set<int>& keep) {
    int best = -1, far = -2;
    for (size_t s = 0; s < g_.tensors.size(); ++s) {
      if (st_.at[s] != Place::DRAM || keep.count(static_cast<int>(s))) continue;
      TensorKind k = g_.tensors[s].kind;
      if (k == TensorKind::Param || k == TensorKind::Constant) continue;
      int nu = next_use(static_cast<int>(s));
      if (nu > far) {
        far = nu;
        best = static_cast<int>(s);
      }
    }
    if (best < 0 || far <= cur_) return false;
    tr_->device_to_host += bytes(best);
    st_.set_host(best);
    return true;
  }

  // Runs `attempt` until it fits, evicting what blocks it (when `evict`).
  bool with_room(const std::function<void()>& attempt, const std::set<int>& keep,
                 bool evict = true) {
    for (int k = 0; k <= kMaxEvictions; ++k) {
      try {
        PeakGuard guard(st_.dev);  // a failed attempt leaves no high-water mark
        attempt();
        guard.keep = true;
        return true;
      } catch (const device::OutOfMemory& e) {
        if (!cfg_.evict || !evict) return false;
        bool dram =
            e.kind == device::OutOfMemory::Kind::Buffer && e.buffer_type == BufferType::DRAM;
        bool l1_buffer = e.kind == device::OutOfMemory::Kind::Buffer && !dram;
        if (l1_buffer) return false;  // the plan chose L1 for it; DRAM is the fallback
        if (!(dram ? evict_dram(keep) : evict_l1(keep))) return false;
      }
    }
    return false;
  }

  bool wants_l1(int s) const {
    if (cfg_.policy == Policy::GreedyL1) return true;
    return cfg_.policy == Policy::Auto && static_cast<size_t>(s) < cfg_.l1.size() && cfg_.l1[s];
  }

  // Puts storage t on the device (it is on the host): L1 if wanted and free, else DRAM.
  bool upload(int t, const std::set<int>& keep) {
    int s = storage(t);
    if (st_.at[s] != Place::Host) return st_.at[s] != Place::None;
    int64_t amount = bytes(s);
    if (wants_l1(s)) {
      try {
        st_.allocate(s, BufferType::L1);
        tr_->host_to_device += amount;
        return true;
      } catch (const device::OutOfMemory&) {
      }
    }
    if (!with_room([&] { st_.allocate(s, BufferType::DRAM); }, keep)) return false;
    tr_->host_to_device += amount;
    return true;
  }

  std::set<int> storages(const std::vector<int>& ts) const {
    std::set<int> s;
    for (int t : ts)
      if (t >= 0) s.insert(storage(t));
    return s;
  }

  // ---- one program -------------------------------------------------------------

  // Reads of a program (each storage once; a copy reads the view's elements).
  void account_reads(const Step& s, double times_whole) {
    std::set<int> seen;
    for (int t : s.inputs) {
      if (!seen.insert(storage(t)).second) continue;
      int64_t amount = s.materialise ? bytes(s.outputs[0]) : bytes(t);
      read(t, static_cast<int64_t>(std::llround(static_cast<double>(amount) * times_whole)));
    }
  }
  void account_writes(const Step& s) {
    for (int t : s.outputs)
      if (t >= 0 && numel(g_.tensors[t].device_shape) > 0) write(t, bytes(t));
  }

  bool inplace_ok(const Node& node, const Step& s) const {
    if (!cfg_.inplace || s.call.inplace || node.kind != NodeKind::Compute) return false;
    if (!elementwise(*s.call.op) || s.outputs.size() != 1 || s.inputs.empty()) return false;
    int in = s.inputs[0], out = s.outputs[0];
    const TensorInfo &a = g_.tensors[in], &b = g_.tensors[out];
    int sa = storage(in);
    if (sa != in || a.device_shape != b.device_shape || a.dtype != b.dtype) return false;
    if (a.graph_output || a.kind != TensorKind::Activation || st_.end[sa] != cur_) return false;
    for (size_t i = 1; i < s.inputs.size(); ++i)
      if (storage(s.inputs[i]) == sa) return false;
    return st_.at[sa] == Place::L1 || st_.at[sa] == Place::DRAM;
  }

  void exec_step(const Node& node, const Step& s, NodeResult& nr) {
    std::set<int> keep = storages(s.inputs);
    for (int t : s.inputs)
      if (!upload(t, keep)) return host_step(node, s, nr, "inputs do not fit on the device");
    int out0 = s.outputs.empty() ? -1 : s.outputs[0];
    bool in_place = inplace_ok(node, s);
    std::vector<std::pair<BufferType, bool>> attempts;
    if (out0 >= 0 && wants_l1(storage(out0)) && !in_place)
      attempts.push_back({BufferType::L1, false});
    attempts.push_back({BufferType::DRAM, false});
    attempts.push_back({BufferType::DRAM, true});
    // Every placement as things are first; moving others out of the way costs
    // bytes, so it comes second.
    std::vector<std::tuple<BufferType, bool, bool>> tries;
    for (bool evict : {false, true})
      for (auto [mem, streaming] : attempts)
        if (!evict || cfg_.evict) tries.push_back({mem, streaming, evict});
    for (auto [mem, streaming, evict] : tries) {
      plan::CallSpec c = s.call;
      c.in_memory = mem;
      c.out_memory = mem;
      c.streaming_cbs = streaming;
      if (in_place) c.inplace = true;
      plan::QueryResult r;
      if (!with_room([&] { st_.place(s, c, r); }, keep, evict)) continue;
      if (ex()) {
        std::vector<Operand> out;
        for (size_t i = 0; i < s.outputs.size(); ++i) {
          if (s.outputs[i] < 0) continue;
          out.push_back(operand(s.outputs[i], coords_out(node, s, i)));
          // The output takes over the dying input's buffer.
          if (i == 0 && in_place) out.back().buf = st_.buf[storage(s.inputs[0])].get();
        }
        ex()->program(index_of(node), &c, step_inputs(node, s), out, false);
      }
      if (in_place) {
        // The output takes over the dying input's buffer.
        int from = storage(s.inputs[0]);
        st_.buf[out0] = std::move(st_.buf[from]);
        st_.at[out0] = st_.at[from];
        st_.written[out0] = st_.at[out0];
        st_.at[from] = Place::None;
      }
      account_reads(s, 1.0);
      account_writes(s);
      if (!s.materialise)
        nr.strategy = streaming ? "streamed" : in_place || node.inplace ? "in place" : "direct";
      else if (nr.note.empty())
        nr.note = "copies a view the device cannot alias first";
      return;
    }
    if (sliced(node, s, nr, Place::DRAM)) return;
    if (sliced(node, s, nr, Place::Host)) return;
    host_step(node, s, nr, "no slice of it fits on the device");
  }

  // Slices along a split axis: the whole output at `dest`, one slice's
  // buffers (in L1) and CBs at a time, the largest slice that fits.
  bool sliced(const Node& node, const Step& s, NodeResult& nr, Place dest) {
    PeakGuard guard(st_.dev);  // outputs placed for axes that did not fit leave no mark
    guard.keep = sliced_impl(node, s, nr, dest);
    return guard.keep;
  }

  // Logical dim of a call dim of an operand seen in `coords` (-1: none).
  int logical_dim(int t, Coords coords, int d) const {
    if (d < 0 || coords == Coords::Logical) return d;
    if (coords == Coords::NHWC) return std::array<int, 4>{0, 2, 3, 1}.at(static_cast<size_t>(d));
    const TensorInfo& x = g_.tensors[t];
    if (x.nhwc) {
      // Folded [1, 1, N*H*W, C]: its channels, or rows that are one logical dim.
      if (d == 3) return 1;
      if (d == 2 && x.shape[0] == 1 && x.shape[3] == 1) return 2;
      if (d == 2 && x.shape[0] == 1 && x.shape[2] == 1) return 3;
      if (d == 2 && x.shape[2] == 1 && x.shape[3] == 1) return 0;
      return -2;
    }
    return x.order.at(static_cast<size_t>(d));
  }

  // Runs the slices of a sliced program: each slice's outputs and CBs placed
  // (in L1), its kernel run on the inputs' parts, its outputs copied into the
  // whole outputs.
  void run_slices(const Node& node, const Step& s, plan::Plan& P, int64_t num) {
    const plan::CallSpec& whole = s.call;
    ex()->begin_reuse();
    for (int64_t k = 0; k < num; ++k) {
      int64_t start = 0, len = 0;
      std::vector<std::pair<int64_t, int64_t>> ranges;
      plan::CallSpec ck = plan::chunk_call(P, whole, k, &start, &len, &ranges);
      plan::QueryResult r;
      plan::Placement pl = st_.trial(s.inputs, ck, r, true);
      std::vector<Operand> in = step_inputs(node, s);
      for (size_t i = 0; i < in.size(); ++i) {
        int d = P.axis.in_dims[i];
        if (d < 0) continue;
        in[i].dim = logical_dim(s.inputs[i], in[i].coords, d);
        if (in[i].dim < 0)
          throw Error(fmt::format("node '{}': a run cannot slice dim {} of '{}' as stored",
                                  node.name, d, g_.tensors[s.inputs[i]].name));
        in[i].start = ranges[i].first;
        in[i].len = ranges[i].second;
      }
      ops::OutputSpec outs = plan::device_outputs(ck);
      std::vector<Operand> out;
      for (size_t i = 0; i < s.outputs.size(); ++i) {
        Operand o;
        o.buf = pl.outputs.at(i).get();
        o.call_shape = outs.outputs[i].shape;
        out.push_back(o);
      }
      ex()->program(index_of(node), &ck, in, out, false);
      for (size_t i = 0; i < s.outputs.size(); ++i) {
        int t = s.outputs[i];
        if (t < 0 || numel(g_.tensors[t].shape) == 0) continue;
        Operand to = operand(t, coords_out(node, s, i));
        to.dim = logical_dim(t, to.coords, P.axis.out_dim);
        if (to.dim < 0)
          throw Error(fmt::format("node '{}': a run cannot slice dim {} of '{}' as stored",
                                  node.name, P.axis.out_dim, g_.tensors[t].name));
        to.start = start;
        to.len = len;
        ex()->copy(out[i], to);
      }
    }
    ex()->end_reuse();
  }

  bool sliced_impl(const Node& node, const Step& s, NodeResult& nr, Place dest) {
    const plan::CallSpec& whole = s.call;
    if (whole.inplace) return false;
    ops::OutputSpec out = plan::device_outputs(whole);
    auto axes = ops::split_axes(*whole.op, whole.inputs, out, whole.args);
    if (axes.empty()) return false;
    std::set<int> keep = storages(s.inputs);
    std::vector<int> placed;
    auto undo = [&] {
      for (int t : placed) st_.release(t);
    };
    for (int t : s.outputs) {
      if (t < 0 || storage(t) != t || numel(g_.tensors[t].device_shape) == 0) continue;
      if (dest == Place::Host) {
        st_.set_host(t);
      } else if (!with_room([&] { st_.allocate(t, BufferType::DRAM); }, keep)) {
        undo();
        return false;
      }
      placed.push_back(t);
      keep.insert(t);
    }
    for (const auto& axis : axes) {
      int64_t extent = out.outputs[0].shape[axis.out_dim];
      int64_t align = std::max<int64_t>(axis.align, 1);
      if (extent <= align) continue;
      // plan::chunk_call keeps `groups`: a depthwise conv cut along channels
      // would no longer match its weight.
      if (whole.op->family == ops::Family::Conv && axis.in_dims.size() > 1 &&
          axis.in_dims[1] == 0 && whole.args.get_int("groups") > 1)
        continue;
      plan::Plan P;
      P.strategy = plan::Strategy::Chunked;
      P.axis = axis;
      P.device_call = whole;
      P.device_call.out_memory = BufferType::L1;
      P.device_call.out_storage.clear();
      P.device_call.out_placed.clear();
      auto call_for = [&](int64_t m) {
        P.chunk = std::min(extent, m * align);
        return plan::chunk_call(P, whole, P.chunk < extent ? 1 : 0);
      };
      auto fits = [&](int64_t m) {
        plan::QueryResult r;
        try {
          st_.trial(s.inputs, call_for(m), r, false);
          return true;
        } catch (const device::OutOfMemory&) {
          return false;
        }
      };
      if (!fits(1)) continue;
      int64_t lo = 1, hi = (extent + align - 1) / align;
      while (lo < hi) {
        int64_t mid = lo + (hi - lo + 1) / 2;
        if (fits(mid))
          lo = mid;
        else
          hi = mid - 1;
      }
      plan::CallSpec cc = call_for(lo);
      int64_t num = (extent + P.chunk - 1) / P.chunk;
      if (ex()) {
        run_slices(node, s, P, num);
      } else {
        plan::QueryResult r;
        st_.trial(s.inputs, cc, r, true);
      }
      // Inputs cut with the output are read once (halo rows again); others per slice.
      std::set<int> seen;
      for (size_t i = 0; i < s.inputs.size(); ++i) {
        int t = s.inputs[i];
        if (!seen.insert(storage(t)).second) continue;
        int d = axis.in_dims[i];
        double times = static_cast<double>(num);
        if (d >= 0)
          times = std::max(1.0, static_cast<double>(num * cc.inputs[i].shape[d]) /
                                    static_cast<double>(whole.inputs[i].shape[d]));
        int64_t amount = s.materialise ? bytes(s.outputs[0]) : bytes(t);
        read(t, static_cast<int64_t>(std::llround(static_cast<double>(amount) * times)));
      }
      account_writes(s);
      nr.strategy = dest == Place::Host ? "sliced to host" : "sliced";
      nr.chunks = std::max(nr.chunks, num);
      nr.note = fmt::format("{} slices of {} along dim {} of {}", num, P.chunk, axis.out_dim,
                            shape_str(out.outputs[0].shape));
      return true;
    }
    undo();
    return false;
  }

  // The program runs on the host: device inputs are read back, outputs stay
  // there; it reads its inputs and writes its outputs in host memory.
  void host_step(const Node& node, const Step& s, NodeResult& nr, const std::string& why) {
    std::set<int> seen;
    for (int t : s.inputs) {
      if (!seen.insert(storage(t)).second) continue;
      Place w = st_.where(t);
      if (w == Place::DRAM || w == Place::L1) tr_->device_to_host += bytes(t);
      tr_->host += bytes(t);
    }
    for (int t : s.outputs)
      if (t >= 0) {
        st_.set_host(t);
        tr_->host += bytes(t);
      }
    if (ex()) {
      bool op = node.kind == NodeKind::Compute;
      std::vector<Operand> in = op ? step_inputs(node, s) : std::vector<Operand>{};
      if (!op)
        for (int t : s.inputs) in.push_back(operand(t, Coords::Logical));
      std::vector<Operand> out;
      for (size_t i = 0; i < s.outputs.size(); ++i)
        if (s.outputs[i] >= 0)
          out.push_back(operand(s.outputs[i], op ? coords_out(node, s, i) : Coords::Logical));
      ex()->program(index_of(node), op ? &s.call : nullptr, in, out, true);
    }
    nr.strategy = "host";
    nr.note = why;
  }

  // ---- chains -----------------------------------------------------------------------

  struct ChainChoice {
    bool ok = false;
    int pins = 0;
    BufferType internal = BufferType::L1;
    int64_t len = 0;
    Traffic traffic;
  };

  // One chunk of the chain on the live device (rolled back unless commit). With
  // `pinned` (a run) every program of the chunk runs on its operands: internal
  // tensors in the chunk's buffers, outer ones in their whole buffers (pinned
  // copies for those copied into L1), cut to the chunk.
  bool simulate(const Chain& c, int64_t start, int64_t len, BufferType internal, bool commit,
                int64_t* largest_chunk = nullptr,
                const std::map<int, const device::Buffer*>* pinned = nullptr) {
    std::vector<ChunkStep> steps = chunk_steps(g_, c, start, len);
    const bool run = pinned && ex();
    if (run) {
      std::vector<std::pair<int, Shape>> shapes;
      for (const auto& [t, d] : c.dim)
        if (d >= 0) shapes.push_back({t, cut_shape(g_.tensors[t].shape, d, len)});
      for (const auto& cs : steps)
        for (size_t i = 0; i < cs.outputs.size() && i < cs.out_shape.size(); ++i)
          shapes.push_back({cs.outputs[i], cs.out_shape[i]});
      ex()->set_chunk(shapes);
    }
    std::set<int> internal_set(c.internal.begin(), c.internal.end());
    std::map<int, int> remaining;
    for (const auto& cs : steps)
      for (int t : std::set<int>(cs.inputs.begin(), cs.inputs.end()))
        if (internal_set.count(storage(t))) ++remaining[storage(t)];
    std::map<int, std::shared_ptr<device::Buffer>> chunk;
    for (const auto& cs : steps) {
      plan::CallSpec call = cs.call;
      call.in_memory = internal;
      call.out_memory = internal;
      for (size_t i = 0; i < call.out_placed.size() && i < cs.outputs.size(); ++i)
        if (call.out_placed[i] && st_.at[storage(cs.outputs[i])] == Place::Host)
          call.out_placed[i] = false;  // staged per chunk, then sent to the host
      int in0 = cs.inputs.empty() ? -1 : storage(cs.inputs[0]);
      if (cfg_.inplace && !call.inplace && elementwise(*call.op) && cs.outputs.size() == 1 &&
          internal_set.count(in0) && remaining[in0] == 1 && internal_set.count(cs.outputs[0]) &&
          g_.tensors[cs.inputs[0]].dtype == g_.tensors[cs.outputs[0]].dtype &&
          numel(g_.tensors[cs.inputs[0]].shape) == numel(g_.tensors[cs.outputs[0]].shape))
        call.inplace = true;
      std::vector<std::shared_ptr<device::Buffer>> ins;
      for (int t : cs.inputs) {
        auto it = chunk.find(storage(t));
        ins.push_back(it != chunk.end() ? it->second : st_.buf[storage(t)]);
      }
      plan::QueryResult r;
      plan::Placement pl;
      try {
        pl = plan::place_call(st_.dev, call, ins, r);
      } catch (const device::OutOfMemory& e) {
        st_.dev.release_cbs();
        if (e.kind == device::OutOfMemory::Kind::Buffer || call.streaming_cbs) return false;
        // Whole-row CBs do not fit beside the chunk: stream tiles instead.
        call.streaming_cbs = true;
        r = plan::QueryResult{};
        try {
          pl = plan::place_call(st_.dev, call, ins, r);
        } catch (const device::OutOfMemory&) {
          st_.dev.release_cbs();
          return false;
        }
      }
      if (commit) {
        st_.sample();
        for (const auto& a : r.allocations)
          if (!a.is_view) st_.note_buffer(a.bytes, a.what + " " + shape_str(a.shape) + " (chunk)");
        if (largest_chunk)
          for (const auto& a : r.allocations)
            if (!a.is_view) *largest_chunk = std::max(*largest_chunk, a.bytes);
      }
      st_.dev.release_cbs();
      if (run) run_chunk_step(c, cs, call, pl, chunk, *pinned, start, len);
      for (size_t i = 0; i < cs.outputs.size(); ++i) {
        int s = storage(cs.outputs[i]);
        if (i < pl.outputs.size() && pl.outputs[i])
          chunk[s] = pl.outputs[i];
        else if (i == 0 && call.inplace && chunk.count(in0))
          chunk[s] = chunk[in0];
      }
      for (int t : std::set<int>(cs.inputs.begin(), cs.inputs.end())) {
        int s = storage(t);
        if (internal_set.count(s) && --remaining[s] == 0) chunk.erase(s);
      }
    }
    if (run)
      // Chain outputs kept as chunks (updated in place after their first
      // writer, or bound for the host) go into the whole tensors once.
      for (int s : c.outputs) {
        auto it = chunk.find(s);
        if (it == chunk.end()) continue;
        Operand from = operand(s, Coords::Logical), to = from;
        from.buf = it->second.get();
        from.chunk = true;
        to.dim = c.dim.at(s);
        to.start = start;
        to.len = len;
        ex()->copy(from, to);
      }
    return true;
  }

  static Shape cut_shape(Shape s, int d, int64_t len) {
    s[static_cast<size_t>(d)] = len;
    return s;
  }

  // Runs one program of a chunk (simulate placed it as pl).
  void run_chunk_step(const Chain& c, const ChunkStep& cs, const plan::CallSpec& call,
                      const plan::Placement& pl,
                      const std::map<int, std::shared_ptr<device::Buffer>>& chunk,
                      const std::map<int, const device::Buffer*>& pinned, int64_t start,
                      int64_t len) {
    const Node& node = g_.nodes[cs.node];
    Step shape_of;  // coords: a copy step, or the node's op step
    shape_of.materialise = cs.materialise;
    shape_of.outputs = cs.outputs;
    auto dim_of = [&](int t) {
      auto it = c.dim.find(t);
      return it == c.dim.end() ? -1 : it->second;
    };
    std::vector<Operand> in;
    for (size_t i = 0; i < cs.inputs.size(); ++i) {
      int t = cs.inputs[i], s = storage(t);
      Operand o = operand(t, coords_in(node, shape_of, i));
      if (auto it = chunk.find(s); it != chunk.end()) {
        o.buf = it->second.get();
        o.chunk = true;
      } else {
        if (auto p = pinned.find(s); p != pinned.end()) o.buf = p->second;
        if (i < cs.in_range.size() && cs.in_range[i].second >= 0 && dim_of(t) >= 0) {
          o.dim = dim_of(t);
          o.start = cs.in_range[i].first;
          o.len = cs.in_range[i].second;
        }
      }
      in.push_back(o);
    }
    std::vector<Operand> out;
    int in0 = cs.inputs.empty() ? -1 : storage(cs.inputs[0]);
    for (size_t i = 0; i < cs.outputs.size(); ++i) {
      int t = cs.outputs[i], s = storage(t);
      Operand o = operand(t, coords_out(node, shape_of, i));
      auto held = chunk.find(s);
      if (i < call.out_placed.size() && call.out_placed[i]) {
        o.dim = dim_of(t);
        o.start = start;
        o.len = len;
      } else if (i < pl.outputs.size() && pl.outputs[i]) {
        o.buf = pl.outputs[i].get();
        o.chunk = true;
      } else if (i == 0 && call.inplace && chunk.count(in0)) {
        o.buf = chunk.at(in0).get();
        o.chunk = true;
      } else if (held != chunk.end()) {
        o.buf = held->second.get();
        o.chunk = true;
      } else if (dim_of(t) >= 0) {
        o.dim = dim_of(t);
        o.start = start;
        o.len = len;
      }
      out.push_back(o);
    }
    ex()->program(cs.node, &call, in, out, false);
  }

  // Every chunk of a chain, run (the plan simulates one).
  void run_chain(const Chain& c, const ChainChoice& best, const std::vector<int>& dram_whole,
                 const std::vector<std::shared_ptr<device::Buffer>>& held, int64_t* largest) {
    std::map<int, const device::Buffer*> pinned;
    for (int i = 0; i < best.pins; ++i) {
      int s = dram_whole[static_cast<size_t>(i)];
      Operand from = operand(s, Coords::Logical), to = from;
      to.buf = held[static_cast<size_t>(i)].get();
      ex()->copy(from, to);
      pinned[s] = to.buf;
    }
    ex()->begin_reuse();
    for (int64_t start = 0; start < c.extent; start += best.len) {
      int64_t len = std::min(best.len, c.extent - start);
      if (!simulate(c, start, len, best.internal, true, largest, &pinned))
        throw Error(fmt::format("chain at node '{}': chunk [{}, {}) did not fit in the run",
                                g_.nodes[c.run_at].name, start, start + len));
    }
    ex()->end_reuse();
  }

  // Bytes a chain moves at chunk length len: every program of a chunk reads its
  // outer inputs where they are (a cut input once over all chunks, halo rows
  // again; a whole input per chunk unless pinned in L1, then once), writes each
  // chain output once; intermediates in L1 move nothing.
  Traffic chain_traffic(const Chain& c, int64_t len, int pins, const std::vector<int>& dram_whole,
                        BufferType internal) {
    Traffic t;
    int64_t num = (c.extent + len - 1) / len;
    auto add = [&](Place w, int64_t amount, bool write) {
      if (w == Place::DRAM) (write ? t.dram_write : t.dram_read) += amount;
      if (w == Place::Host) (write ? t.device_to_host : t.host_to_device) += amount;
    };
    std::set<int> made(c.internal.begin(), c.internal.end());
    made.insert(c.outputs.begin(), c.outputs.end());
    auto pinned = [&](int s) {
      auto pos = std::find(dram_whole.begin(), dram_whole.end(), s);
      return pos != dram_whole.end() && pos - dram_whole.begin() < pins;
    };
    for (const auto& cs : chunk_steps(g_, c, middle_chunk(c, len), len)) {
      auto ax = c.axis.find(cs.node);
      for (int x : std::set<int>(cs.inputs.begin(), cs.inputs.end())) {
        int s = storage(x);
        if (made.count(s)) continue;
        int d = c.dim.count(x) ? c.dim.at(x) : -1;
        if (d < 0) {
          if (!pinned(s)) add(st_.where(x), bytes(x) * num, false);
          continue;
        }
        // A windowed op (a convolution's rows) reads its halo rows again.
        double times = 1.0;
        const Node& n = g_.nodes[cs.node];
        if (ax != c.axis.end() && ax->second.halo && !n.call_inputs.empty() &&
            n.call_inputs[0] == x) {
          const auto& h = *ax->second.halo;
          int64_t in0 = std::clamp<int64_t>(len * h.stride - h.pad, 0, h.in_extent);
          int64_t rows = std::min(h.in_extent - in0, (len - 1) * h.stride + h.window);
          times = std::max(1.0, static_cast<double>(num * rows) / static_cast<double>(h.in_extent));
        }
        add(st_.where(x), static_cast<int64_t>(std::llround(static_cast<double>(bytes(x)) * times)),
            false);
      }
    }
    for (int i = 0; i < pins; ++i) t.dram_read += bytes(dram_whole[i]);
    for (int s : c.outputs) add(st_.at[s], bytes(s), true);
    if (internal == BufferType::DRAM)
      for (int s : c.internal) {
        t.dram_write += bytes(s);
        t.dram_read += bytes(s);
      }
    return t;
  }

  // Bytes the chain's programs would move run one by one, intermediates in DRAM.
  Traffic unchained_traffic(const Chain& c) {
    Traffic t;
    std::set<int> internal(c.internal.begin(), c.internal.end());
    for (int m : c.members)
      for (const Step& s : g_.nodes[m].steps) {
        for (int x : storages(s.inputs)) {
          if (internal.count(x))
            t.dram_read += bytes(x);
          else if (st_.at[x] == Place::DRAM)
            t.dram_read += bytes(x);
          else if (st_.at[x] == Place::Host)
            t.host_to_device += bytes(x);
        }
        for (int x : storages(s.outputs)) {
          if (internal.count(x) || st_.at[x] == Place::DRAM) t.dram_write += bytes(x);
          if (st_.at[x] == Place::Host) t.device_to_host += bytes(x);
        }
      }
    return t;
  }

  void exec_chain(int ci, NodeResult& nr, bool first = true) {
    const Chain& c = chains()[ci];
    ChainInfo& info = chain_info_[ci];
    info.nodes = c.members;
    info.run_at = c.run_at;
    info.axis = c.axis_text;
    info.extent = c.extent;
    for (int s : c.internal)
      info.largest_whole_bytes = std::max(info.largest_whole_bytes, bytes(s));
    for (int s : c.outputs) info.largest_whole_bytes = std::max(info.largest_whole_bytes, bytes(s));
    // Copies of whole-read views, once.
    if (first)
      for (auto [m, k] : c.pre) exec_step(g_.nodes[m], g_.nodes[m].steps[k], nr);
    std::vector<int> outer = c.cut_inputs;
    outer.insert(outer.end(), c.whole_inputs.begin(), c.whole_inputs.end());
    std::set<int> keep = storages(outer);
    for (int s : c.outputs) keep.insert(s);
    bool ok = true;
    for (int t : outer) ok = ok && upload(t, keep);
    for (int s : c.outputs) {
      if (!ok) break;
      if (wants_l1(s)) {
        try {
          st_.allocate(s, BufferType::L1);
          continue;
        } catch (const device::OutOfMemory&) {
        }
      }
      if (!with_room([&] { st_.allocate(s, BufferType::DRAM); }, keep)) st_.set_host(s);
    }
    // Whole inputs in DRAM are re-read by every chunk unless copied into L1 first.
    std::vector<int> dram_whole;
    for (int t : c.whole_inputs)
      if (st_.where(t) == Place::DRAM &&
          std::find(dram_whole.begin(), dram_whole.end(), storage(t)) == dram_whole.end())
        dram_whole.push_back(storage(t));
    std::sort(dram_whole.begin(), dram_whole.end(),
              [&](int a, int b) { return bytes(a) > bytes(b); });
    auto pin = [&](int k, std::vector<std::shared_ptr<device::Buffer>>& held) {
      for (int i = 0; i < k; ++i) {
        PageSpec ps = storage_pages(g_.tensors[dram_whole[i]]);
        try {
          held.push_back(st_.dev.allocate(BufferType::L1, ps.num_pages, ps.page_size));
        } catch (const device::OutOfMemory&) {
          return false;
        }
      }
      return true;
    };
    ChainChoice best;
    PeakGuard search(st_.dev);  // the search's trials leave no high-water marks
    for (int k = 0; ok && k <= static_cast<int>(dram_whole.size()); ++k) {
      std::vector<std::shared_ptr<device::Buffer>> held;
      if (!pin(k, held)) break;
      for (BufferType internal : {BufferType::L1, BufferType::DRAM}) {
        int64_t align = c.align, hi = (c.extent + align - 1) / align;
        auto len_of = [&](int64_t m) { return std::min(c.extent, m * align); };
        if (!simulate(c, middle_chunk(c, len_of(1)), len_of(1), internal, false)) continue;
        int64_t lo = 1;
        while (lo < hi) {
          int64_t mid = lo + (hi - lo + 1) / 2;
          if (simulate(c, middle_chunk(c, len_of(mid)), len_of(mid), internal, false))
            lo = mid;
          else
            hi = mid - 1;
        }
        Traffic t = chain_traffic(c, len_of(lo), k, dram_whole, internal);
        if (!best.ok || t.total() < best.traffic.total()) best = {true, k, internal, len_of(lo), t};
        break;
      }
    }
    st_.dev.set_peaks(search.saved);
    search.keep = true;  // marks from here on are the chain's own
    if (!best.ok && cfg_.evict && evict_l1(keep)) return exec_chain(ci, nr, false);
    // Chunks that re-read whole inputs (weights) more than the intermediates
    // would cost in DRAM are not worth it.
    if (best.ok && best.traffic.total() > unchained_traffic(c).total()) {
      best.ok = false;
      nr.note = "chain would move more bytes than its nodes one by one";
    }
    if (!best.ok) {
      // No chunk fits: the members run one by one.
      for (int m : c.members)
        for (const Step& s : g_.nodes[m].steps) exec_step(g_.nodes[m], s, nr);
      if (nr.note.empty()) nr.note = "chain did not fit; its nodes ran one by one";
      return;
    }
    std::vector<std::shared_ptr<device::Buffer>> held;
    pin(best.pins, held);
    int64_t largest = 0;
    if (ex())
      run_chain(c, best, dram_whole, held, &largest);
    else
      simulate(c, middle_chunk(c, best.len), best.len, best.internal, true, &largest);
    *tr_ += best.traffic;
    info.chunk = best.len;
    info.num_chunks = (c.extent + best.len - 1) / best.len;
    info.largest_chunk_bytes = largest;
    for (int i = 0; i < best.pins; ++i) info.pinned.push_back(g_.tensors[dram_whole[i]].name);
    nr.strategy = "chain";
    nr.chain = ci;
    nr.chunks = info.num_chunks;
    nr.note = fmt::format("chain #{} of {} nodes: {} chunks of {} along {}{}", ci, c.members.size(),
                          info.num_chunks, best.len, c.axis_text,
                          best.internal == BufferType::DRAM ? ", intermediates in DRAM" : "");
  }

  // ---- nodes -------------------------------------------------------------------------

  void run_node(int n, NodeResult& nr) {
    const Node& node = g_.nodes[n];
    int ci = chain_of_[n];
    if (ci >= 0) {
      nr.chain = ci;
      if (n != chains()[ci].run_at) {
        nr.strategy = "chain";
        nr.note =
            fmt::format("runs in chain #{} at node '{}'", ci, g_.nodes[chains()[ci].run_at].name);
        return;
      }
      return exec_chain(ci, nr);
    }
    switch (node.kind) {
      case NodeKind::Host: {
        Step s;
        s.inputs = node.inputs;
        s.outputs = node.outputs;
        host_step(node, s, nr, node.host_reason);
        nr.strategy = "host op";
        return;
      }
      case NodeKind::View:
        nr.strategy = "view";
        return;
      case NodeKind::Compute:
        for (const Step& s : node.steps) exec_step(node, s, nr);
        return;
    }
  }
};

}  // namespace

ReplayResult run_engine(const Graph& g, const device::Profile& profile,
                        const plan::Budgets& budgets, const EngineConfig& cfg,
                        std::vector<ChainInfo>* chains_out) {
  Engine e(g, profile, budgets, cfg);
  return e.run(chains_out);
}

}  // namespace oomless::graph
