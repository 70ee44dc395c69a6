// The data side of a run: an Executor (hooks.hpp) that keeps every storage's
// data where the replay places it. A storage on the device is its TILE pages
// in the device arena, in its device format (an NHWC activation as
// [1,1,N*H*W,C], others in memory order, conv weights as TT-NN prepares
// them); on the host, a host image of those pages. A program's operands are
// strided views of the pages read back (a view of a storage is its file strides
// and offset over that image), its kernel's outputs go back into pages. Within
// a node a storage read or written whole is read once and written back once
// (chunks and slices of one node reuse it).
#include "graph/run.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <numeric>

#include "exec/device_tensor.hpp"
#include "exec/runner.hpp"
#include "exec/verify.hpp"
#include "graph/engine.hpp"
#include "ops/families.hpp"
#include "ops/movement/copy.hpp"

namespace oomless::graph {

using Clock = std::chrono::steady_clock;

Verify parse_verify(std::string_view s) {
  if (s == "off") return Verify::Off;
  if (s == "sample") return Verify::Sample;
  if (s == "full") return Verify::Full;
  fail("model run", fmt::format("unknown --verify '{}' (expected sample, full or off)", s));
}

std::vector<std::string> needs_python(const Graph& g) {
  std::vector<std::string> out;
  for (const Node& n : g.nodes) {
    if (n.kind != NodeKind::Host) continue;
    bool used = false;
    for (int t : n.outputs) used = used || !g.tensors[t].users.empty() || g.tensors[t].graph_output;
    if (used) out.push_back(fmt::format("{} ({})", n.name, n.op));
  }
  return out;
}

namespace {

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::shared_ptr<device::Buffer> borrow(const device::Buffer* b) {
  return std::shared_ptr<device::Buffer>(std::shared_ptr<device::Buffer>{},
                                         const_cast<device::Buffer*>(b));
}

DType image_dtype(const TensorInfo& t) {
  return exec::host_dtype(t.dtype.value_or(DType::F32));
}

// Conv weights stored as TT-NN prepares them: rows (ky, kx, c), columns k.
bool prepared_weight(const TensorInfo& t) {
  const Shape& s = t.shape;
  return !t.nhwc && s.size() == 4 && t.device_shape == Shape{1, 1, s[1] * s[2] * s[3], s[0]} &&
         t.device_shape != storage_shape(t, s);
}

// Strides of the logical tensor (shape L) over a dense image of storage format S.
Strides image_strides(const TensorInfo& S, const Shape& L) {
  if (prepared_weight(S)) return {1, L[0], L[3] * L[1] * L[0], L[1] * L[0]};
  if (S.nhwc) return {L[1] * L[2] * L[3], 1, L[3] * L[1], L[1]};
  Strides cs = contiguous_strides(storage_shape(S, L));
  Strides st(L.size(), 0);
  for (size_t i = 0; i < L.size(); ++i) st[static_cast<size_t>(S.order[i])] = cs[i];
  return st;
}

Shape image_shape(const TensorInfo& S, const Shape& L) {
  if (prepared_weight(S)) return S.device_shape;
  return storage_shape(S, L);
}

// A view's strides over a chunk of its storage: each stride re-expressed in
// the storage dim it steps along.
Strides rebase(const Strides& v, const Strides& whole, const Strides& chunk) {
  Strides out(v.size(), 0);
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == 0) continue;
    int best = -1;
    for (size_t j = 0; j < whole.size(); ++j)
      if (whole[j] > 0 && whole[j] <= v[i] && v[i] % whole[j] == 0 &&
          (best < 0 || whole[j] > whole[static_cast<size_t>(best)]))
        best = static_cast<int>(j);
    if (best < 0) throw Error(fmt::format("a view stride {} fits no storage dim", v[i]));
    out[i] = chunk[static_cast<size_t>(best)] * (v[i] / whole[static_cast<size_t>(best)]);
  }
  return out;
}

// The dims of x outermost first in memory when x covers a dense block (a
// permuted contiguous tensor, e.g. an NHWC activation seen as NCHW); empty if
// not. An elementwise kernel runs on x permuted so: contiguous, no layout pass.
std::vector<int64_t> memory_order(const Tensor& x) {
  std::vector<int64_t> p(static_cast<size_t>(x.rank()));
  std::iota(p.begin(), p.end(), 0);
  std::stable_sort(p.begin(), p.end(), [&](int64_t a, int64_t b) {
    return x.strides()[static_cast<size_t>(a)] > x.strides()[static_cast<size_t>(b)];
  });
  int64_t expect = 1;
  for (size_t i = p.size(); i-- > 0;) {
    int64_t d = p[i];
    if (x.shape()[static_cast<size_t>(d)] == 1) continue;
    if (x.strides()[static_cast<size_t>(d)] != expect) return {};
    expect *= x.shape()[static_cast<size_t>(d)];
  }
  return p;
}

uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Seeded random value of a param (batch norm statistics nontrivial, conv
// weights scaled by fan-in so activations keep their size through the depth).
Tensor random_param(const TensorInfo& t, uint64_t seed) {
  Tensor out = Tensor::empty(t.shape, DType::F32);
  uint64_t base = mix(seed ^ std::hash<std::string>{}(t.name));
  auto ends = [&](std::string_view s) {
    return t.name.size() >= s.size() && t.name.compare(t.name.size() - s.size(), s.size(), s) == 0;
  };
  double lo = -0.1, hi = 0.1;
  if (ends("running_var") || (t.shape.size() == 1 && ends("weight"))) {
    lo = 0.5;
    hi = 1.5;
  } else if (t.shape.size() >= 2) {
    int64_t fan = std::max<int64_t>(1, numel(t.shape) / t.shape[0]);
    hi = std::sqrt(3.0 / static_cast<double>(fan));
    lo = -hi;
  }
  float* p = out.data<float>();
  for (int64_t i = 0; i < out.numel(); ++i) {
    double u = static_cast<double>(mix(base + static_cast<uint64_t>(i)) >> 11) * 0x1.0p-53;
    p[i] = static_cast<float>(lo + (hi - lo) * u);
  }
  return out;
}

Tensor random_input(const TensorInfo& t, uint64_t seed) {
  Tensor out = Tensor::empty(t.shape, DType::F32);
  uint64_t base = mix(seed * 7919 + 17);
  float* p = out.data<float>();
  for (int64_t i = 0; i < out.numel(); ++i)
    p[i] = static_cast<float>(static_cast<double>(mix(base + static_cast<uint64_t>(i)) >> 11) *
                              0x1.0p-53);
  return out;
}

int64_t vm_hwm_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  return 0;
}

class DataExecutor final : public Executor {
 public:
  DataExecutor(const Graph& g, const RunOptions& o, RunReport& rep) : g_(g), o_(o), rep_(rep) {
    offsets();
  }

  std::vector<Tensor> outputs;

  void start(device::Device& dev) override {
    dev_ = &dev;
    dev.set_drop_freed_dram(true);
  }

  void moved(int s, Place from, const device::Buffer* from_buf, Place to,
             const device::Buffer* to_buf) override {
    const TensorInfo& S = g_.tensors[s];
    if (!S.dtype) return;
    auto t0 = Clock::now();
    Tensor img;
    if (from == Place::None) {
      img = initial(s);
    } else if (from == Place::Host) {
      auto it = host_.find(s);
      if (it != host_.end()) img = it->second;
    } else {
      auto it = cache_.find({s, from_buf});
      img = it != cache_.end() ? it->second.t : read(S, from_buf, S.device_shape);
    }
    drop(s);
    if (to == Place::Host) {
      if (img.defined()) host_[s] = img;
    } else {
      if (img.defined()) write(S, img, to_buf);
      host_.erase(s);
    }
    rep_.move_seconds += since(t0);
  }

  void released(int s) override {
    drop(s);
    host_.erase(s);
  }

  void set_chunk(const std::vector<std::pair<int, Shape>>& shapes) override {
    chunk_.clear();
    for (const auto& [t, sh] : shapes) chunk_[t] = sh;
  }
  void begin_reuse() override {}
  // Pinned copies and slice buffers die with the chain or program: written back now.
  void end_reuse() override { flush_all(); }
  void begin_node(int n) override { node_ = n; }
  void end_node(int) override { flush_all(); }

  void finish(const std::vector<const device::Buffer*>& buffers) override {
    flush_all();
    auto pk = dev_->peaks();
    rep_.peak_l1_per_core = pk.l1_core;
    rep_.peak_l1_per_bank = pk.l1;
    rep_.peak_dram_per_bank = pk.dram;
    for (int t : g_.outputs) {
      int s = g_.tensors[t].storage;
      Operand o;
      o.tensor = t;
      o.buf = buffers[static_cast<size_t>(s)];
      outputs.push_back(read_operand(o).contiguous());
    }
    cache_.clear();
  }

  void program(int n, const plan::CallSpec* call, const std::vector<Operand>& in,
               const std::vector<Operand>& out, bool on_host) override {
    const Node& node = g_.nodes[static_cast<size_t>(n)];
    if (!call) return host_op(n, in, out);
    if (on_host) fallback(node);
    auto t0 = Clock::now();
    std::vector<Tensor> xs;
    for (size_t i = 0; i < in.size(); ++i) {
      Tensor x = to_call(read_operand(in[i]), in[i]);
      if (i < call->inputs.size() && x.shape() != call->inputs[i].shape)
        throw Error(fmt::format("node '{}' ({}): input {} is {} as run, the call wants {}",
                                node.name, call->op->name, i, shape_str(x.shape()),
                                shape_str(call->inputs[i].shape)));
      xs.push_back(x);
    }
    // Elementwise ops on same-layout operands run in memory order.
    std::vector<int64_t> perm;
    bool elementwise =
        call->op->family == ops::Family::Unary || call->op->family == ops::Family::Binary;
    if (elementwise && !xs.empty()) {
      perm = memory_order(xs[0]);
      for (const auto& x : xs)
        if (x.shape() != xs[0].shape() || x.strides() != xs[0].strides()) perm.clear();
      bool identity = true;
      for (size_t i = 0; i < perm.size(); ++i)
        identity = identity && perm[i] == static_cast<int64_t>(i);
      if (identity) perm.clear();
      for (auto& x : xs)
        if (!perm.empty()) x = x.permute(perm);
    }
    // An in-place kernel writes through its input: verification needs it as it was.
    std::vector<Tensor> before = xs;
    const bool check = o_.verify != Verify::Off;
    if (check && node.inplace && !xs.empty()) before[0] = xs[0].clone();
    rep_.stage_in_seconds += since(t0);
    t0 = Clock::now();
    std::vector<Tensor> ys;
    {
      ops::OpCall oc{*call->op, xs, call->args};
      ys = call->op->exec(oc);
    }
    double dt = since(t0);
    OpTime& ot = rep_.by_op[std::string(call->op->name)];
    ot.programs++;
    ot.seconds += dt;
    rep_.programs++;
    if (check) {
      t0 = Clock::now();
      ops::OpCall oc{*call->op, before, call->args};
      exec::VerifyResult v = exec::verify_outputs(
          oc, ys, o_.verify == Verify::Full ? 0 : o_.samples, o_.seed + static_cast<uint64_t>(n));
      rep_.verified_programs++;
      rep_.checked += v.checked;
      if (!v.ok() && rep_.failed == 0)
        rep_.first_failure =
            fmt::format("node '{}' ({}): {}", node.name, call->op->name, v.first_failure);
      rep_.failed += v.failed;
      rep_.verify_seconds += since(t0);
    }
    t0 = Clock::now();
    if (!perm.empty()) {
      std::vector<int64_t> inv(perm.size());
      for (size_t i = 0; i < perm.size(); ++i)
        inv[static_cast<size_t>(perm[i])] = static_cast<int64_t>(i);
      for (auto& y : ys) y = y.permute(inv);
    }
    for (size_t i = 0; i < out.size() && i < ys.size(); ++i) write_operand(out[i], ys[i]);
    rep_.stage_out_seconds += since(t0);
  }

  void copy(const Operand& from, const Operand& to) override {
    auto t0 = Clock::now();
    Tensor x = read_operand(from);
    if (from.tensor >= 0) {
      Operand t = to;
      t.coords = Coords::Logical;
      write_operand(t, x);
    } else {
      write_operand(to, x);
    }
    rep_.stage_out_seconds += since(t0);
  }

 private:
  const Graph& g_;
  const RunOptions& o_;
  RunReport& rep_;
  device::Device* dev_ = nullptr;
  int node_ = -1;
  std::vector<int64_t> offset_;  // per tensor: element offset of a view into its storage
  struct Image {
    Tensor t;
    bool dirty = false;
  };
  std::map<std::pair<int, const device::Buffer*>, Image> cache_;
  std::map<int, Tensor> host_;                    // host images per storage
  std::map<int, Shape> chunk_;                    // logical chunk shapes of the current chain
  std::map<const device::Buffer*, DType> slice_;  // slice buffers: dtype written

  void fallback(const Node& node) {
    auto& v = rep_.host_fallback;
    if (std::find(v.begin(), v.end(), node.name) == v.end()) v.push_back(node.name);
  }

  // View offsets, as the op table's views compute them (slice, select, split).
  void offsets() {
    offset_.assign(g_.tensors.size(), 0);
    static char dummy[64];
    for (const Node& n : g_.nodes) {
      if (n.inputs.empty()) continue;
      int x = n.inputs[0];
      bool narrowing =
          n.kind == NodeKind::View && n.op_desc &&
          (n.op_desc->family == ops::Family::Split ||
           (n.op_desc->family == ops::Family::Movement &&
            (static_cast<ops::MovementOp>(n.op_desc->variant) == ops::MovementOp::Slice ||
             static_cast<ops::MovementOp>(n.op_desc->variant) == ops::MovementOp::Select)));
      if (narrowing) {
        const TensorInfo& t = g_.tensors[x];
        auto st = Storage::borrow(dummy, SIZE_MAX / 4, nullptr);
        Tensor v = Tensor::wrap(st, t.shape, t.stride, DType::F32, offset_[x]);
        ops::OpCall oc{*n.op_desc, {v}, n.call_args};
        std::vector<Tensor> r = n.op_desc->exec(oc);
        for (size_t i = 0; i < n.outputs.size() && i < r.size(); ++i)
          offset_[n.outputs[i]] = r[i].offset();
      } else if (n.kind == NodeKind::View || n.inplace) {
        for (int t : n.outputs)
          if (g_.tensors[t].storage == g_.tensors[x].storage) offset_[t] = offset_[x];
      }
    }
  }

  Tensor read(const TensorInfo& S, const device::Buffer* b, const Shape& shape) {
    exec::DeviceTensor d{borrow(b), shape, *S.dtype, Layout::Tile};
    return exec::read_pages(d, image_dtype(S));
  }
  void write(const TensorInfo& S, const Tensor& img, const device::Buffer* b) {
    exec::DeviceTensor d{borrow(b), img.shape(), *S.dtype, Layout::Tile};
    exec::write_pages(img, d);
  }

  void flush(int s, const device::Buffer* b, Image& e) {
    if (!e.dirty || !b) return;
    write(g_.tensors[s], e.t, b);
    e.dirty = false;
  }
  void flush_all() {
    auto t0 = Clock::now();
    for (auto& [k, e] : cache_) flush(k.first, k.second, e);
    cache_.clear();
    rep_.stage_out_seconds += since(t0);
  }
  // Forgets storage s's cached images (written back first if dirty).
  void drop(int s) {
    for (auto it = cache_.begin(); it != cache_.end();) {
      if (it->first.first == s) {
        flush(s, it->first.second, it->second);
        it = cache_.erase(it);
      } else {
        ++it;
      }
    }
  }

  // The whole image of storage s in buffer b (null: its host image).
  Image& image(int s, const device::Buffer* b, bool overwrite) {
    const TensorInfo& S = g_.tensors[s];
    if (!b) {
      Tensor& h = host_[s];
      if (!h.defined()) h = Tensor::zeros(S.device_shape, image_dtype(S));
      static Image host_img;
      host_img.t = h;
      return host_img;
    }
    auto key = std::make_pair(s, b);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    Image e;
    e.t = overwrite ? Tensor::empty(S.device_shape, image_dtype(S)) : read(S, b, S.device_shape);
    return cache_.emplace(key, std::move(e)).first->second;
  }

  const Shape& chunk_shape(int t) const {
    auto it = chunk_.find(t);
    if (it == chunk_.end())
      throw Error(fmt::format("tensor '{}': no chunk shape in this chain", g_.tensors[t].name));
    return it->second;
  }

  // Operand o as a logical (strided) tensor, and its image when it is a chunk.
  Tensor view_of(const Operand& o, Tensor* chunk_img, bool overwrite) {
    const TensorInfo& T = g_.tensors[o.tensor];
    int s = T.storage;
    const TensorInfo& S = g_.tensors[s];
    if (!S.dtype)
      throw Error(fmt::format("tensor '{}' ({}) has no device dtype", T.name, T.dtype_name));
    Tensor x;
    if (o.chunk) {
      const Shape& CL = chunk_shape(s);
      Shape ishape = image_shape(S, CL);
      *chunk_img = overwrite ? Tensor::empty(ishape, image_dtype(S)) : read(S, o.buf, ishape);
      Strides st = image_strides(S, CL);
      if (o.tensor == s) {
        x = Tensor::wrap(chunk_img->storage(), CL, st, image_dtype(S));
      } else {
        if (offset_[o.tensor] != 0)
          throw Error(fmt::format("view '{}' of a chunk has an offset", T.name));
        x = Tensor::wrap(chunk_img->storage(), chunk_shape(o.tensor),
                         rebase(T.stride, image_strides(S, S.shape), st), image_dtype(S));
      }
    } else {
      Image& e = image(s, o.buf, overwrite);
      Strides st = o.tensor == s ? image_strides(S, S.shape) : T.stride;
      x = Tensor::wrap(e.t.storage(), T.shape, st, image_dtype(S), offset_[o.tensor]);
    }
    if (o.dim >= 0) x = x.narrow(o.dim, o.start, o.len);
    return x;
  }

  Tensor read_operand(const Operand& o) {
    if (o.tensor < 0) {
      exec::DeviceTensor d{borrow(o.buf), o.call_shape, slice_.at(o.buf), Layout::Tile};
      return exec::read_pages(d, exec::host_dtype(d.dtype));
    }
    Tensor img;
    return view_of(o, &img, false);
  }

  // Logical tensor -> as the kernel takes it.
  Tensor to_call(const Tensor& x, const Operand& o) const {
    if (o.tensor < 0 || o.coords == Coords::Logical) return x;
    const TensorInfo& T = g_.tensors[o.tensor];
    if (o.coords == Coords::NHWC) return x.permute({0, 2, 3, 1});
    if (T.nhwc) {
      Tensor y = x.permute({0, 2, 3, 1});
      Shape f{1, 1, y.shape()[0] * y.shape()[1] * y.shape()[2], y.shape()[3]};
      try {
        return y.view(f);
      } catch (const InvalidArgument&) {
        return y.contiguous().view(f);
      }
    }
    return x.permute(std::vector<int64_t>(T.order.begin(), T.order.end()));
  }

  // A kernel result -> logical, of the destination's shape L.
  Tensor from_call(const Tensor& r, const Operand& o, const Shape& L) const {
    if (o.coords == Coords::Logical) return r;
    const TensorInfo& T = g_.tensors[o.tensor];
    if (o.coords == Coords::NHWC) return r.permute({0, 3, 1, 2});
    if (T.nhwc) {
      Tensor c = r.is_contiguous() ? r : r.contiguous();
      return c.view({L[0], L[2], L[3], L[1]}).permute({0, 3, 1, 2});
    }
    std::vector<int64_t> inv(T.order.size());
    for (size_t i = 0; i < T.order.size(); ++i)
      inv[static_cast<size_t>(T.order[i])] = static_cast<int64_t>(i);
    return r.permute(inv);
  }

  void write_operand(const Operand& o, const Tensor& r) {
    if (o.tensor < 0) {
      exec::DeviceTensor d{borrow(o.buf), o.call_shape, r.dtype(), Layout::Tile};
      exec::write_pages(r, d);
      slice_[o.buf] = r.dtype();
      return;
    }
    const TensorInfo& T = g_.tensors[o.tensor];
    int s = T.storage;
    bool whole = o.tensor == s && o.dim < 0 && !prepared_weight(T);
    Tensor img;
    Tensor dst = view_of(o, &img, whole);
    if (dst.numel() != r.numel()) {
      // Eval batch norm's statistics: the device makes [C], the file lists [0].
      if (T.users.empty() && !T.graph_output) return;
      throw Error(fmt::format("node '{}': output '{}' is {}, the kernel made {}",
                              g_.nodes[static_cast<size_t>(node_)].name, T.name,
                              shape_str(dst.shape()), shape_str(r.shape())));
    }
    Tensor src = from_call(r, o, dst.shape());
    if (src.data<char>() != dst.data<char>() || src.strides() != dst.strides())
      ops::copy_into(dst, src, "model run");
    if (o.chunk) {
      write(g_.tensors[s], img, o.buf);
    } else if (o.buf) {
      cache_.at({s, o.buf}).dirty = true;
    }
  }

  void host_op(int n, const std::vector<Operand>& in, const std::vector<Operand>& out) {
    const Node& node = g_.nodes[static_cast<size_t>(n)];
    bool used = false;
    for (int t : node.outputs)
      used = used || !g_.tensors[t].users.empty() || g_.tensors[t].graph_output;
    if (!used) return;
    fallback(node);
    if (!o_.host_op)
      throw InvalidArgument(fmt::format("node '{}' ({}) has no oomless kernel: run it from Python",
                                        node.name, node.op));
    auto t0 = Clock::now();
    std::vector<Tensor> xs;
    for (const auto& o : in) xs.push_back(g_.tensors[o.tensor].dtype ? read_operand(o) : Tensor());
    std::vector<Tensor> ys = o_.host_op(n, xs);
    OpTime& ot = rep_.by_op["host:" + node.op];
    ot.programs++;
    ot.seconds += since(t0);
    for (size_t i = 0; i < out.size() && i < ys.size(); ++i)
      if (g_.tensors[out[i].tensor].dtype && ys[i].defined()) write_operand(out[i], ys[i]);
  }

  // The value a param, constant or graph input starts with, as an image.
  Tensor initial(int s) {
    const TensorInfo& S = g_.tensors[s];
    Tensor v;
    if (S.kind == TensorKind::Param) {
      auto it = o_.weights.find(S.name);
      v = it != o_.weights.end() ? it->second : random_param(S, o_.seed);
    } else if (S.kind == TensorKind::Input) {
      auto it = o_.inputs.find(S.name);
      v = it != o_.inputs.end() ? it->second : random_input(S, o_.seed);
    } else if (S.kind == TensorKind::Constant) {
      v = Tensor::empty(S.shape, DType::F32);
      float* p = v.data<float>();
      for (int64_t i = 0; i < v.numel(); ++i) p[i] = static_cast<float>(S.value.value_or(0.0));
    } else {
      return {};
    }
    Tensor img = Tensor::empty(S.device_shape, image_dtype(S));
    if (prepared_weight(S) || S.nhwc || numel(S.device_shape) == numel(S.shape)) {
      Tensor dst = Tensor::wrap(img.storage(), S.shape, image_strides(S, S.shape), image_dtype(S));
      ops::copy_into(dst, v, "model run");
    } else {
      throw Error(fmt::format("tensor '{}': device shape {} for {}", S.name,
                              shape_str(S.device_shape), shape_str(S.shape)));
    }
    return img;
  }
};

void check_values(const Graph& g, const RunOptions& o) {
  for (const auto& [name, t] : o.weights) {
    int i = g.find(name);
    if (i < 0 || g.tensors[i].kind != TensorKind::Param) {
      // Params the graph does not list (unused buffers) are an error: the file is for another
      // model.
      throw InvalidArgument(
          fmt::format("weights: '{}' is not a param of graph '{}'", name, g.model));
    }
    if (t.shape() != g.tensors[i].shape)
      throw InvalidArgument(fmt::format("weights: '{}' has shape {}, the graph says {}", name,
                                        shape_str(t.shape()), shape_str(g.tensors[i].shape)));
  }
  for (const auto& [name, t] : o.inputs) {
    int i = g.find(name);
    if (i < 0 || g.tensors[i].kind != TensorKind::Input)
      throw InvalidArgument(fmt::format("input '{}' is not a graph input (inputs: {})", name,
                                        fmt::join(
                                            [&] {
                                              std::vector<std::string> v;
                                              for (int k : g.inputs) v.push_back(g.tensors[k].name);
                                              return v;
                                            }(),
                                            ", ")));
    const TensorInfo& T = g.tensors[i];
    if (t.shape() != T.shape)
      throw InvalidArgument(fmt::format("input '{}' has shape {}, the graph says {}", name,
                                        shape_str(t.shape()), shape_str(T.shape)));
    if (t.dtype() != DType::F32 && t.dtype() != DType::BF16)
      throw InvalidArgument(fmt::format("input '{}' has dtype {}, the graph says {}", name,
                                        dtype_name(t.dtype()), T.dtype_name));
  }
}

}  // namespace

RunReport run_model(const Graph& g, const device::Profile& profile, const RunOptions& o) {
  check_values(g, o);
  if (!o.host_op) {
    auto need = needs_python(g);
    if (!need.empty())
      throw InvalidArgument(fmt::format(
          "graph '{}' needs Python: {} node(s) have no oomless kernel and their outputs are "
          "used: {}",
          g.model, need.size(), fmt::join(need, ", ")));
  }
  RunReport rep;
  rep.plan = plan_model(g, profile, o.model);
  rep.plan_seconds = rep.plan.seconds;
  auto t0 = Clock::now();
  DataExecutor ex(g, o, rep);
  rep.run = replay_plan(g, profile, o.model, rep.plan, &ex);
  rep.run_seconds = since(t0);
  rep.outputs = std::move(ex.outputs);
  rep.peak_rss_bytes = vm_hwm_bytes();
  const ReplayResult& p = rep.plan.best;
  rep.peaks_match = rep.run.peak_l1_per_bank == p.peak_l1_per_bank &&
                    rep.run.peak_dram_per_bank == p.peak_dram_per_bank &&
                    rep.run.peak_host_bytes == p.peak_host_bytes;
  return rep;
}

}  // namespace oomless::graph
