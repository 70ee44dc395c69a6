// Finding chains and cutting them into chunks. An axis maps through a chain:
// through a compute op by its split axes (an input dim to an output dim),
// through a view by the view's own dim map (a permute moves it, a reshape keeps
// a dim whose size and prefix product stay). Only the first op of a chain may
// read a halo (a convolution's rows): later ones would need the neighbours'
// rows of an intermediate that exists one chunk at a time.
#include "graph/chain.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <set>
#include <tuple>

#include "ops/families.hpp"

namespace oomless::graph {

namespace {

int wrap(int64_t d, size_t rank) {
  return static_cast<int>(d < 0 ? d + static_cast<int64_t>(rank) : d);
}

// Where dim d of a view node's input lands in its output (-1: nowhere whole).
int map_view_dim(const Graph& g, const Node& n, int d) {
  if (d < 0 || !n.op_desc) return -1;
  const Shape& in = g.tensors[n.inputs.at(0)].shape;
  const Shape& out = g.tensors[n.outputs.at(0)].shape;
  if (n.outputs.size() != 1) return -1;
  const ops::Args& a = n.call_args;
  if (n.op_desc->family != ops::Family::Movement) return -1;
  switch (static_cast<ops::MovementOp>(n.op_desc->variant)) {
    case ops::MovementOp::Permute: {
      auto dims = a.get_ints("dims");
      for (size_t e = 0; e < dims.size(); ++e)
        if (wrap(dims[e], in.size()) == d) return static_cast<int>(e);
      return -1;
    }
    case ops::MovementOp::Transpose: {
      int d0 = wrap(a.get_int("dim0"), in.size()), d1 = wrap(a.get_int("dim1"), in.size());
      return d == d0 ? d1 : d == d1 ? d0 : d;
    }
    case ops::MovementOp::View:
    case ops::MovementOp::UnsafeView: {
      int64_t prefix = 1;
      for (int i = 0; i < d; ++i) prefix *= in[i];
      int64_t p = 1;
      for (size_t e = 0; e < out.size(); ++e) {
        if (p == prefix && out[e] == in[d]) return static_cast<int>(e);
        p *= out[e];
      }
      return -1;
    }
    case ops::MovementOp::Unsqueeze: {
      int u = wrap(a.get_int("dim"), in.size() + 1);
      return d >= u ? d + 1 : d;
    }
    case ops::MovementOp::Expand: {
      int e = d + static_cast<int>(out.size() - in.size());
      return out[e] == in[d] ? e : -1;
    }
    case ops::MovementOp::Identity:
      return d;
    default:
      return -1;
  }
}

Shape cut(const Shape& s, int d, int64_t len) {
  Shape o = s;
  if (d >= 0) o[d] = len;
  return o;
}

}  // namespace

std::vector<ops::SplitAxis> semantic_axes(const Graph& g, const Node& n) {
  if (n.kind != NodeKind::Compute || !n.op_desc) return {};
  std::vector<ops::TensorSpec> specs;
  for (int t : n.call_inputs) specs.push_back({g.tensors[t].shape, *g.tensors[t].dtype});
  ops::OutputSpec out = ops::infer_output(*n.op_desc, specs, n.call_args);
  std::fill(out.view_of.begin(), out.view_of.end(), -1);  // in place: cut as the op
  if (n.op_desc->family == ops::Family::BatchNorm && !n.call_args.get_bool("training")) {
    // Eval batch norm is per element with per-channel parameters (dim 1).
    std::vector<ops::SplitAxis> axes;
    const Shape& x = specs[0].shape;
    for (int d = 0; d < static_cast<int>(x.size()); ++d) {
      if (x[d] == 1) continue;
      ops::SplitAxis a{d, {d}};
      for (size_t i = 1; i < specs.size(); ++i) a.in_dims.push_back(d == 1 ? 0 : -1);
      axes.push_back(a);
    }
    return axes;
  }
  return ops::split_axes(*n.op_desc, specs, out, n.call_args);
}

namespace {

struct Grower {
  const Graph& g;
  const device::Profile& p;
  const std::vector<std::vector<int>>& readers;  // per storage
  const std::vector<char>& taken;

  int storage(int t) const { return g.tensors[t].storage; }
  bool big(int s) const {
    return bytes_per_bank(g.tensors[s], p, device::BufferType::L1) > p.l1_bank_size() / 4;
  }
  bool read_after(int s, int node) const {
    for (int r : readers[s])
      if (r > node) return true;
    return g.tensors[s].graph_output;
  }

  bool grow(int start, const ops::SplitAxis& A, Chain& c) const {
    const Node& first = g.nodes[start];
    const TensorInfo& out0 = g.tensors[first.outputs[0]];
    c = Chain{};
    c.extent = out0.shape[A.out_dim];
    if (c.extent < 2) return false;
    auto set_dim = [&](int t, int d) {
      auto [it, fresh] = c.dim.emplace(t, d);
      return fresh || it->second == d;
    };
    c.members = {start};
    c.axis[start] = A;
    for (size_t i = 0; i < first.call_inputs.size(); ++i)
      if (!set_dim(first.call_inputs[i], A.in_dims[i])) return false;
    for (const Step& st : first.steps)
      if (st.materialise) set_dim(st.outputs[0], c.dim.at(st.inputs[0]));
    set_dim(first.outputs[0], A.out_dim);
    for (size_t i = 1; i < first.outputs.size(); ++i)
      if (read_after(storage(first.outputs[i]), start)) return false;
    std::set<int> members{start};
    int front = storage(first.outputs[0]);
    int compute = 1;
    while (true) {
      // Views of the frontier join for free (their dim is mapped).
      bool more = true;
      while (more) {
        more = false;
        for (int r : readers[front]) {
          const Node& v = g.nodes[r];
          if (members.count(r) || v.kind != NodeKind::View || taken[r]) continue;
          auto it = c.dim.find(v.inputs[0]);
          if (it == c.dim.end() || v.outputs.size() != 1) continue;
          int e = map_view_dim(g, v, it->second);
          if (e < 0 || g.tensors[v.outputs[0]].shape[e] != c.extent) continue;
          set_dim(v.outputs[0], e);
          members.insert(r);
          c.members.push_back(r);
          more = true;
        }
      }
      if (g.tensors[front].graph_output) break;
      // Readers of the frontier tensors the axis reaches (an in-place op's
      // output shares the storage but is read only once that op has run).
      std::set<int> rest_set;
      for (const auto& [t, d] : c.dim)
        if (storage(t) == front)
          for (int r : g.tensors[t].users)
            if (!members.count(r)) rest_set.insert(r);
      std::vector<int> rest(rest_set.begin(), rest_set.end());
      bool any_view_output = false;
      for (const auto& [t, d] : c.dim)
        if (storage(t) == front && g.tensors[t].graph_output) any_view_output = true;
      if (any_view_output || rest.size() != 1 || taken[rest[0]]) break;
      const int C = rest[0];
      const Node& cn = g.nodes[C];
      if (cn.kind != NodeKind::Compute) break;
      // An axis of C that reads every frontier operand along its mapped dim.
      const ops::SplitAxis* B = nullptr;
      auto axes = semantic_axes(g, cn);
      for (const auto& b : axes) {
        if (b.halo || !b.offset_arg.empty()) continue;
        bool ok = true;
        for (size_t i = 0; i < cn.call_inputs.size() && ok; ++i) {
          int t = cn.call_inputs[i];
          auto it = c.dim.find(t);
          if (storage(t) == front)
            ok = it != c.dim.end() && it->second == b.in_dims[i];
          else if (it != c.dim.end())
            ok = it->second == b.in_dims[i];
        }
        if (ok && g.tensors[cn.outputs[0]].shape[b.out_dim] == c.extent) {
          B = &b;
          break;
        }
      }
      if (!B) break;
      bool stats_read = false;
      for (size_t i = 1; i < cn.outputs.size(); ++i)
        stats_read |= read_after(storage(cn.outputs[i]), C);
      if (stats_read) break;
      for (size_t i = 0; i < cn.call_inputs.size(); ++i) set_dim(cn.call_inputs[i], B->in_dims[i]);
      for (const Step& st : cn.steps)  // a view's copy is cut like the view
        if (st.materialise) set_dim(st.outputs[0], c.dim.at(st.inputs[0]));
      set_dim(cn.outputs[0], B->out_dim);
      c.axis[C] = *B;
      members.insert(C);
      c.members.push_back(C);
      ++compute;
      front = storage(cn.outputs[0]);
      if (!big(front)) break;
    }
    // Trailing views add nothing.
    while (c.members.size() > 1 && g.nodes[c.members.back()].kind == NodeKind::View)
      c.members.pop_back();
    if (compute < 2) return false;
    std::sort(c.members.begin(), c.members.end());
    c.run_at = c.members.back();
    members = std::set<int>(c.members.begin(), c.members.end());
    // Storages the members make: internal when only members read them.
    std::set<int> made, outer;
    for (int m : c.members) {
      const auto& steps = g.nodes[m].steps;
      for (size_t k = 0; k < steps.size(); ++k) {
        const Step& st = steps[k];
        if (st.materialise && c.dim.at(st.outputs[0]) < 0) {
          c.pre.push_back({m, static_cast<int>(k)});
          continue;
        }
        for (int t : st.outputs)
          if (storage(t) == t && c.dim.count(t)) made.insert(t);
      }
    }
    for (int s : made) {
      bool inside = !g.tensors[s].graph_output;
      for (int r : readers[s]) {
        if (members.count(r)) continue;
        inside = false;
        if (r < c.run_at) return false;  // read before the chain would have run
      }
      (inside ? c.internal : c.outputs).push_back(s);
    }
    // Outer inputs: read by members, made elsewhere.
    for (int m : c.members) {
      const Node& n = g.nodes[m];
      if (n.kind == NodeKind::View) continue;
      for (const Step& st : n.steps)
        for (int t : st.inputs) {
          if (st.materialise && c.dim.at(st.outputs[0]) < 0) break;  // made before the chunks
          if (made.count(storage(t)) || outer.count(t)) continue;
          outer.insert(t);
          auto it = c.dim.find(t);
          (it != c.dim.end() && it->second >= 0 ? c.cut_inputs : c.whole_inputs).push_back(t);
        }
    }
    // Every outer input must exist when the chain runs, and be read nowhere
    // else in a way that needs it earlier (it is read at run_at).
    c.align = c.extent >= 64 ? kTileDim : 1;
    c.axis_text = fmt::format("dim {} ({}) of {}", A.out_dim, c.extent, first.name);
    return c.internal.size() + c.outputs.size() >= 2 && !c.internal.empty();
  }
};

}  // namespace

std::vector<Chain> find_chains(const Graph& g, const device::Profile& p) {
  std::vector<std::vector<int>> readers(g.tensors.size());
  for (int n = 0; n < static_cast<int>(g.nodes.size()); ++n) {
    const Node& node = g.nodes[n];
    auto add = [&](int t) {
      auto& r = readers[g.tensors[t].storage];
      if (r.empty() || r.back() != n) r.push_back(n);
    };
    for (int t : node.inputs) add(t);
    for (int t : node.call_inputs) add(t);
  }
  std::vector<char> taken(g.nodes.size(), 0);
  Grower grower{g, p, readers, taken};
  std::vector<Chain> chains;
  for (int n = 0; n < static_cast<int>(g.nodes.size()); ++n) {
    const Node& node = g.nodes[n];
    if (taken[n] || node.kind != NodeKind::Compute) continue;
    if (!grower.big(g.tensors[node.outputs[0]].storage)) continue;
    std::optional<Chain> best;
    // Of the axes that make a chain: one whose smallest chunk of intermediates
    // fits in L1, reaching the most ops, reading the fewest bytes whole in
    // every chunk (a conv cut by output channels re-reads its input; by rows,
    // only its weights), then the longest.
    auto weight = [&](const Chain& c) {
      int ops = 0;
      for (int m : c.members) ops += g.nodes[m].kind != NodeKind::View;
      int64_t whole = 0, smallest = 0;
      for (int t : c.whole_inputs) whole += storage_bytes(g.tensors[t]);
      for (int s : c.internal)
        smallest = std::max(smallest, bytes_per_bank(g.tensors[s], p, device::BufferType::L1) *
                                          std::min(c.align, c.extent) / c.extent);
      return std::tuple{smallest <= p.l1_bank_size() / 2, ops, -whole, c.extent};
    };
    for (const auto& A : semantic_axes(g, node)) {
      if (!A.offset_arg.empty()) continue;
      Chain c;
      if (!grower.grow(n, A, c)) continue;
      bool clash = false;
      for (int m : c.members) clash |= taken[m] != 0;
      if (clash) continue;
      if (!best || weight(c) > weight(*best)) best = std::move(c);
    }
    if (best) {
      for (int m : best->members) taken[m] = 1;
      chains.push_back(std::move(*best));
    }
  }
  return chains;
}

std::vector<ChunkStep> chunk_steps(const Graph& g, const Chain& c, int64_t start, int64_t len) {
  // A chain output one program writes goes straight into the whole tensor; one
  // that later programs update in place (batch norm, then silu_) is kept as an
  // L1 chunk until its last writer, then written once.
  std::map<int, int> writers;
  for (int m : c.members)
    for (const Step& s : g.nodes[m].steps)
      for (int t : s.outputs) ++writers[g.tensors[t].storage];
  std::set<int> whole;
  for (int s : c.outputs)
    if (writers[s] == 1) whole.insert(s);
  auto chunk_of = [&](int t) {
    auto it = c.dim.find(t);
    return cut(g.tensors[t].shape, it == c.dim.end() ? -1 : it->second, len);
  };
  std::vector<ChunkStep> steps;
  for (int m : c.members) {
    const Node& n = g.nodes[m];
    if (n.kind != NodeKind::Compute) continue;
    const ops::SplitAxis& A = c.axis.at(m);
    std::vector<Shape> in;
    std::vector<std::pair<int64_t, int64_t>> range;
    for (size_t i = 0; i < n.call_inputs.size(); ++i) {
      Shape s = g.tensors[n.call_inputs[i]].shape;
      int d = A.in_dims[i];
      range.push_back({0, -1});
      if (d >= 0) {
        s[d] = len;
        range.back() = {start, len};
        if (const auto& h = A.halo) {
          // The rows a chunk's windows read (a middle chunk's count).
          int64_t in0 = std::clamp<int64_t>(start * h->stride - h->pad, 0, h->in_extent);
          s[d] = std::min(h->in_extent - in0, (len - 1) * h->stride + h->window);
          range.back() = {in0, s[d]};
        }
      }
      in.push_back(s);
    }
    auto values = n.call_args.values();
    // A depthwise convolution cut along channels keeps one group per channel.
    if (n.op_desc->family == ops::Family::Conv && A.in_dims.size() > 1 && A.in_dims[1] == 0 &&
        n.call_args.get_int("groups") > 1)
      values["groups"] = len;
    if (const auto& h = A.halo) {
      values[std::string(h->extent_arg)] = h->in_extent;
      values[std::string(h->start_arg)] = start;
      values[std::string(h->count_arg)] = len;
    }
    ops::Args args(n.op_desc->name, n.op_desc->args, values);
    // Copies of views the op reads, each the chunk (with its halo) the op reads.
    const std::vector<int>& reads = n.steps.back().inputs;
    for (const Step& s : n.steps) {
      if (!s.materialise || c.dim.at(s.outputs[0]) < 0) continue;
      int v = s.outputs[0];
      auto i = std::find(reads.begin(), reads.end(), v) - reads.begin();
      bool read = i < static_cast<long>(in.size());
      Shape shape = read ? in[i] : chunk_of(v);
      std::pair<int64_t, int64_t> r = read ? range[i] : std::pair<int64_t, int64_t>{start, len};
      steps.push_back({m, copy_call(g.tensors[v], shape), s.inputs, s.outputs, {r}, {shape}, true});
    }
    std::vector<Shape> outs;
    for (int t : n.outputs) outs.push_back(chunk_of(t));
    ChunkStep cs{m,   device_call(g, n, in, args, outs), n.steps.back().inputs, n.outputs, range,
                 outs};
    for (int t : n.outputs)
      cs.call.out_placed.push_back(g.tensors[t].storage == t && whole.count(t) > 0);
    steps.push_back(std::move(cs));
  }
  return steps;
}

}  // namespace oomless::graph
