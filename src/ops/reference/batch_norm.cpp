// Reference of native_batch_norm(input, weight, bias, running_mean, running_var;
// training, momentum, eps, channels_last). Outputs: out, save_mean, save_invstd.
//   out = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c
// Training uses the batch statistics of channel c (biased variance, two passes in
// double); eval uses the running stats as given (pass the pre-run inputs: the kernel
// updates them in place in training). In eval save_mean/save_invstd are empty, as in
// torch. The channel dim is 1, or the last one with channels_last (NHWC input).
//
// Batch statistics cost one pass over the channel; they are cached per channel, keyed
// by the input's storage (held weakly, so a dead storage can never alias a new one),
// view and channel: 1000 sampled elements of a 1x3x2176x3840 input need 3 passes.
//
// Error bound of the f32 computation (u = 2^-24, M elements per channel, g_M =
// sum_gamma(M), an M-term f32 sum recursive within blocks of <= 4096; detail.hpp):
//   e_mean = g_M * sum|x| / M + 2u|mean|      (training; 0 in eval)
//   rel(var + eps) = ((g_M + 3u) var + e_mean^2 + 2u (var + eps)) / (var + eps)
//   rel(invstd) = rel(var + eps) / 2 + 2u          (sqrt and reciprocal)
//   out: |w| invstd e_mean + |w| |x - mean| invstd (rel(invstd) + 2u)
//        + 2u |w| invstd (|x| + |mean|) + 2u|b| + u|ref|
// (the third line covers torch's folded form x * (w invstd) + (b - mean w invstd)).
// This assumes a two-pass or Welford variance; E[x^2] - mean^2 in f32 may fail it,
// rightly. save_mean: e_mean; save_invstd: rel(invstd) * invstd.
#include <fmt/format.h>

#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "ops/reference/detail.hpp"

namespace oomless::ops::ref {

namespace {

struct Stats {
  double mean = 0, var = 0, sum_abs = 0, m = 0;
};

struct Key {
  const void* storage;
  int64_t offset;
  Shape shape;
  Strides strides;
  DType dtype;
  int64_t cdim, channel;
  bool operator<(const Key& o) const {
    return std::tie(storage, offset, shape, strides, dtype, cdim, channel) <
           std::tie(o.storage, o.offset, o.shape, o.strides, o.dtype, o.cdim, o.channel);
  }
};

struct Entry {
  std::weak_ptr<Storage> owner;
  Stats stats;
};

std::mutex g_mutex;
std::map<Key, Entry> g_cache;
constexpr size_t kMaxEntries = 4096;

bool same_storage(const std::weak_ptr<Storage>& w, const std::shared_ptr<Storage>& s) {
  return !w.expired() && !w.owner_before(s) && !s.owner_before(w);
}

Stats compute_stats(const Tensor& x, int64_t cdim, int64_t c) {
  Index base(x.rank(), 0);
  base[cdim] = c;
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < x.rank(); ++d)
    if (d != cdim) dims.push_back(d);
  Stats s;
  Sum sum, sum_abs;
  for_each_value(x, base, dims, [&](double v) {
    sum.add(v);
    sum_abs.add(std::fabs(v));
    s.m += 1;
  });
  s.mean = sum.value() / s.m;
  s.sum_abs = sum_abs.value();
  Sum sq;
  for_each_value(x, base, dims, [&](double v) {
    const double d = v - s.mean;
    sq.add(d * d);
  });
  s.var = sq.value() / s.m;
  return s;
}

Stats batch_stats(const Tensor& x, int64_t cdim, int64_t c) {
  Key key{x.storage().get(), x.offset(), x.shape(), x.strides(), x.dtype(), cdim, c};
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = g_cache.find(key);
    if (it != g_cache.end() && same_storage(it->second.owner, x.storage())) return it->second.stats;
  }
  const Stats s = compute_stats(x, cdim, c);
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_cache.size() >= kMaxEntries) g_cache.clear();
  g_cache[key] = Entry{x.storage(), s};
  return s;
}

// Everything one output element depends on.
struct Element {
  double x = 0, mean = 0, var = 0, invstd = 0, w = 1, b = 0, eps = 0;
  double e_mean = 0;  // error bound of the f32 mean (0 in eval)
  double m = 0;       // elements per channel (training)
  bool training = false;
};

int64_t channel_dim(const OpCall& call, const Tensor& x) {
  if (x.rank() < 2)
    bad(call, fmt::format("expects an input of rank >= 2, got {}", shape_str(x.shape())));
  return call.args.get_bool("channels_last") ? x.rank() - 1 : 1;
}

Element element(const OpCall& call, size_t output, const Index& idx) {
  const Tensor& x = input(call, 0);
  const int64_t cdim = channel_dim(call, x);
  Element e;
  e.training = call.args.get_bool("training");
  e.eps = call.args.get_float("eps");
  const int64_t c = output == 0 ? idx[cdim] : idx[0];
  if (output == 0) e.x = at(x, idx);
  if (e.training) {
    const Stats s = batch_stats(x, cdim, c);
    e.mean = s.mean;
    e.var = s.var;
    e.m = s.m;
    e.e_mean = sum_gamma(s.m) * s.sum_abs / s.m + 2 * kU * std::fabs(s.mean);
  } else {
    if (output != 0) bad(call, "save_mean and save_invstd are empty in eval");
    if (!has_input(call, 3) || !has_input(call, 4))
      bad(call, "eval needs running_mean and running_var");
    e.mean = at(input(call, 3), {c});
    e.var = at(input(call, 4), {c});
  }
  e.invstd = 1.0 / std::sqrt(e.var + e.eps);
  if (has_input(call, 1)) e.w = at(input(call, 1), {c});
  if (has_input(call, 2)) e.b = at(input(call, 2), {c});
  return e;
}

}  // namespace

void batch_norm_clear_cache() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_cache.clear();
}

double batch_norm_at(const OpCall& call, const Shapes&, size_t output, const Index& idx) {
  if (output > 2) bad(call, "native_batch_norm has three outputs");
  const Element e = element(call, output, idx);
  if (output == 1) return e.mean;
  if (output == 2) return e.invstd;
  return (e.x - e.mean) * e.invstd * e.w + e.b;
}

Bound batch_norm_bound(const OpCall& call, const Shapes&, size_t output, const Index& idx,
                       double ref) {
  const Element e = element(call, output, idx);
  const double ve = e.var + e.eps;
  const double rel_ve =
      e.training ? ((sum_gamma(e.m) + 3 * kU) * e.var + e.e_mean * e.e_mean) / ve + 2 * kU : 2 * kU;
  const double rel_invstd = rel_ve / 2 + 2 * kU;
  if (output == 1) return error_bound(e.e_mean);
  if (output == 2) return error_bound(rel_invstd * e.invstd);
  const double w = std::fabs(e.w), s = e.invstd;
  return error_bound(w * s * e.e_mean + w * std::fabs(e.x - e.mean) * s * (rel_invstd + 2 * kU) +
                     2 * kU * w * s * (std::fabs(e.x) + std::fabs(e.mean)) +
                     2 * kU * std::fabs(e.b) + kU * std::fabs(ref));
}

}  // namespace oomless::ops::ref
