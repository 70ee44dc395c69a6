// Reference of convolution (2-D, not transposed): one dot product per element,
//   out[n,k,oh,ow] = bias[k] + sum_{c,i,j} x[n, g*C/G + c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]
//                                           * w[k, c, i, j]
// over the input channels c of k's group g, taps inside the input (zero padding).
// Products of two floats are exact in double; the sum is compensated. Error bound
// of the f32 computation: sum_gamma(R + 1) * (sum |x w| + |bias|), R = C/G * kh * kw
// (any order or blocking of the sum, the bias as one more term).
#include <cmath>

#include "ops/conv/geometry.hpp"
#include "ops/reference/detail.hpp"

namespace oomless::ops::ref {

namespace {

struct ConvDot {
  double value = 0, sum_abs = 0, terms = 0;
};

ConvDot conv_dot(const OpCall& call, const Index& idx) {
  std::vector<TensorSpec> specs;
  for (const auto& t : call.inputs) specs.push_back({t.shape(), t.dtype()});
  const ConvGeom g = conv_geometry(call.op.name, specs, call.args);
  if (static_cast<int64_t>(idx.size()) != (g.batched ? 4 : 3)) bad(call, "bad output index rank");
  const size_t b = g.batched ? 1 : 0;
  const int64_t n = g.batched ? idx[0] : 0;
  const int64_t k = g.channels_last ? idx[3] : idx[b];
  const int64_t oh = g.channels_last ? idx[1] : idx[b + 1];
  const int64_t ow = g.channels_last ? idx[2] : idx[b + 2];
  const Tensor &x = input(call, 0), &w = input(call, 1);
  const int64_t cpg = g.cin_per_group(), c0 = k / g.cout_per_group() * cpg;
  Sum sum, sum_abs;
  ConvDot d;
  d.terms = static_cast<double>(g.reduction() + (g.has_bias ? 1 : 0));
  for (int64_t c = 0; c < cpg; ++c)
    for (int64_t i = 0; i < g.kh; ++i) {
      const int64_t ih = (g.row0 + oh) * g.sh - g.ph + i * g.dh;
      if (ih < 0 || ih >= g.full_h) continue;
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t iw = ow * g.sw - g.pw + j * g.dw;
        if (iw < 0 || iw >= g.W) continue;
        const int64_t h = ih - g.in_row0;
        Index xi = g.channels_last ? Index{n, h, iw, c0 + c} : Index{n, c0 + c, h, iw};
        if (!g.batched) xi.erase(xi.begin());
        const double p = at(x, xi) * at(w, {k, c, i, j});
        sum.add(p);
        sum_abs.add(std::fabs(p));
      }
    }
  if (g.has_bias) {
    const double bv = at(input(call, 2), {k});
    sum.add(bv);
    sum_abs.add(std::fabs(bv));
  }
  d.value = sum.value();
  d.sum_abs = sum_abs.value();
  return d;
}

}  // namespace

double conv_at(const OpCall& call, const Shapes&, size_t output, const Index& idx) {
  if (output != 0) bad(call, "convolution has one output");
  return conv_dot(call, idx).value;
}

Bound conv_bound(const OpCall& call, const Shapes&, size_t, const Index& idx, double) {
  const ConvDot d = conv_dot(call, idx);
  return error_bound(sum_gamma(d.terms) * d.sum_abs);
}

}  // namespace oomless::ops::ref
