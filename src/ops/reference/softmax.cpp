// Reference of softmax over `dim`: y_j = exp(x_j - m) / sum_i exp(x_i - m), m the row's
// max, one pass over the row per element (two for the bound).
//
// Error bound of the f32 computation, relative to y_j (u = 2^-24): x_j - m is rounded
// (relative error u|x_j - m| after the exp), likewise every term of the sum (at most
// the exp-weighted mean w of |x_i - m|); the sum of n positive terms sum_gamma(n)
// (detail.hpp: recursive within blocks of <= 4096 terms); the exp
// itself and the division/reciprocal a few ulps (8u + 2u):
//   |err| <= (u(|x_j - m| + w + 10) + sum_gamma(n)) * |y_j|.
#include <cmath>
#include <limits>

#include "ops/reference/detail.hpp"

namespace oomless::ops::ref {

namespace {

struct Row {
  const Tensor* x;
  Index base;
  std::vector<int64_t> dims;  // {dim}, or {} for a 0-d input
  int64_t n;
};

Row row_of(const OpCall& call, const Index& idx) {
  const Tensor& x = input(call, 0);
  const int64_t dim = normalize_dim(call.args.get_int("dim"), x.rank(), call.op.name);
  Row r{&x, idx, {}, 1};
  if (x.rank() > 0) {
    r.dims = {dim};
    r.n = x.shape()[dim];
  }
  return r;
}

double row_max(const Row& r) {
  double m = -std::numeric_limits<double>::infinity();
  bool nan = false;
  for_each_value(*r.x, r.base, r.dims, [&](double v) {
    nan |= std::isnan(v);
    if (v > m) m = v;
  });
  return nan ? std::numeric_limits<double>::quiet_NaN() : m;
}

}  // namespace

double softmax_at(const OpCall& call, const Shapes&, size_t output, const Index& idx) {
  if (output != 0) bad(call, "softmax has one output");
  const Row r = row_of(call, idx);
  const double m = row_max(r);
  Sum sum;
  for_each_value(*r.x, r.base, r.dims, [&](double v) { sum.add(std::exp(v - m)); });
  return std::exp(at(*r.x, idx) - m) / sum.value();
}

Bound softmax_bound(const OpCall& call, const Shapes&, size_t, const Index& idx, double ref) {
  const Row r = row_of(call, idx);
  const double m = row_max(r);
  Sum weights, weighted;
  for_each_value(*r.x, r.base, r.dims, [&](double v) {
    const double d = v - m;
    const double e = std::exp(d);
    weights.add(e);
    if (e > 0) weighted.add(e * std::fabs(d));  // exp(-inf) terms weigh nothing
  });
  const double w = weights.value() > 0 ? weighted.value() / weights.value() : 0;
  const double dj = std::fabs(at(*r.x, idx) - m);
  const double rel = kU * (dj + w + 10) + sum_gamma(static_cast<double>(r.n));
  return error_bound(rel * std::fabs(ref));
}

}  // namespace oomless::ops::ref
