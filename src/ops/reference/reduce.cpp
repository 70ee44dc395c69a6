// Reference of mean(dim, keepdim) and linalg_vector_norm(ord, dim, keepdim): one pass
// over the element's reduced slice with a compensated double sum.
//
// Error bounds of the f32 computation (u = 2^-24, N the slice length, g_N = sum_gamma(N)
// the bound of an N-term f32 sum, recursive within blocks of <= 4096; detail.hpp):
//  - mean: g_N * sum|x| / N + 2u|ref| (the sum, then the scaling by 1/N).
//  - norm ord 2: ((g_N + 3u) / 2 + 2u) * ref (squares and sum of positive terms, halved
//    by the sqrt; a rescaling by the max is allowed).
//  - norm ord 1: g_N * ref.
//  - norm ord inf, -inf, 0: exact (max |x|, min |x|, a count).
//  - other p: |x|^p = exp(p log|x|) has relative error u(16 + |p log|x||), the sum
//    g_N; the final ^(1/p) divides that by |p| and adds u(16 + |log S / p|).
#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/families.hpp"
#include "ops/reference/detail.hpp"

namespace oomless::ops::ref {

namespace {

struct Slice {
  const Tensor* x;
  Index base;                 // the input index of the slice's first element
  std::vector<int64_t> dims;  // reduced dims, ascending
  double n = 1;               // elements in the slice
};

Slice slice_of(const OpCall& call, const Index& out_idx) {
  const Tensor& x = input(call, 0);
  const int64_t rank = x.rank();
  std::vector<bool> reduced(rank, false);
  const bool all = call.args.is_none("dim") || call.args.get_ints("dim").empty();
  if (all) {
    std::fill(reduced.begin(), reduced.end(), true);
  } else if (rank > 0) {
    for (int64_t d : call.args.get_ints("dim"))
      reduced[normalize_dim(d, rank, call.op.name)] = true;
  }
  const bool keepdim = call.args.get_bool("keepdim");
  Slice s{&x, Index(rank, 0), {}, 1};
  size_t k = 0;
  for (int64_t d = 0; d < rank; ++d) {
    if (reduced[d]) {
      s.dims.push_back(d);
      s.n *= static_cast<double>(x.shape()[d]);
      if (keepdim) ++k;
    } else {
      if (k >= out_idx.size()) bad(call, "output rank does not match the reduction");
      s.base[d] = out_idx[k++];
    }
  }
  if (k != out_idx.size()) bad(call, "output rank does not match the reduction");
  return s;
}

template <class F>
void each(const Slice& s, F&& f) {
  for_each_value(*s.x, s.base, s.dims, f);
}

double sum_abs(const Slice& s) {
  Sum sum;
  each(s, [&](double v) { sum.add(std::fabs(v)); });
  return sum.value();
}

double vector_norm(const Slice& s, double ord) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  if (std::isinf(ord)) {
    if (s.n == 0) return kNaN;  // torch refuses an empty max/min
    bool nan = false;
    double best = ord > 0 ? 0 : std::numeric_limits<double>::infinity();
    each(s, [&](double v) {
      nan |= std::isnan(v);
      best = ord > 0 ? std::max(best, std::fabs(v)) : std::min(best, std::fabs(v));
    });
    return nan ? kNaN : best;
  }
  Sum sum;
  if (ord == 0) {
    each(s, [&](double v) { sum.add(v != 0 ? 1 : 0); });
    return sum.value();
  }
  if (ord == 1) {
    each(s, [&](double v) { sum.add(std::fabs(v)); });
    return sum.value();
  }
  if (ord == 2) {
    each(s, [&](double v) { sum.add(v * v); });
    return std::sqrt(sum.value());
  }
  each(s, [&](double v) { sum.add(std::pow(std::fabs(v), ord)); });
  return std::pow(sum.value(), 1.0 / ord);
}

double norm_p_bound(const Slice& s, double ord, double ref) {
  double log_max = 0;  // max |log|x|| over the nonzero elements
  Sum sum;
  each(s, [&](double v) {
    if (v != 0) log_max = std::max(log_max, std::fabs(std::log(std::fabs(v))));
    sum.add(std::pow(std::fabs(v), ord));
  });
  const double p = std::fabs(ord);
  const double log_sum = sum.value() > 0 ? std::fabs(std::log(sum.value())) : 0;
  const double rel_sum = sum_gamma(s.n) + kU * (16 + p * log_max);
  return (rel_sum / p + kU * (16 + log_sum / p)) * std::fabs(ref);
}

}  // namespace

double reduce_at(const OpCall& call, const Shapes&, size_t output, const Index& idx) {
  if (output != 0) bad(call, "reductions have one output");
  const Slice s = slice_of(call, idx);
  if (static_cast<ReduceOp>(call.op.variant) == ReduceOp::Mean) {
    Sum sum;
    each(s, [&](double v) { sum.add(v); });
    return sum.value() / s.n;  // an empty slice gives NaN, as in torch
  }
  return vector_norm(s, call.args.get_float("ord"));
}

Bound reduce_bound(const OpCall& call, const Shapes&, size_t, const Index& idx, double ref) {
  const Slice s = slice_of(call, idx);
  const double r = std::fabs(ref);
  if (static_cast<ReduceOp>(call.op.variant) == ReduceOp::Mean)
    return error_bound(s.n > 0 ? sum_gamma(s.n) * sum_abs(s) / s.n + 2 * kU * r : 0);
  const double ord = call.args.get_float("ord");
  if (std::isinf(ord) || ord == 0) return exact_bound();
  if (ord == 1) return error_bound(sum_gamma(s.n) * r);
  if (ord == 2) return error_bound(((sum_gamma(s.n) + 3 * kU) / 2 + 2 * kU) * r);
  return error_bound(norm_p_bound(s, ord, ref));
}

}  // namespace oomless::ops::ref
