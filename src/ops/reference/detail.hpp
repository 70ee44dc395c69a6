// Internals of the reference (ops/reference/reference.hpp): element access, exact
// summation, error-bound helpers and the per-family entry points.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "ops/op.hpp"

namespace oomless::ops::ref {

using Index = std::vector<int64_t>;
using Shapes = std::vector<Shape>;

// Unit roundoff of f32 (half an ulp at 1): every f32 operation is exact * (1 + d),
// |d| <= kU.
inline constexpr double kU = 0x1p-24;

// gamma_n = n u / (1 - n u): the classic bound on the relative error of n chained
// roundings (a length-n sum of same-signed terms, a length-n dot product).
inline double gamma(double n) {
  const double nu = n * kU;
  return nu < 0.5 ? nu / (1.0 - nu) : 2.0 * nu;
}

// The bound of an f32 sum of n terms as kernels must compute long sums: recursively
// within blocks of at most kSumBlock terms, then over the block partials, i.e.
// gamma_{min(n, kSumBlock + ceil(n / kSumBlock))}. Any order of a short sum, SIMD
// lanes over blocks, pairwise sums and double accumulation all stay within it; a
// naive running f32 sum over millions of terms may not, rightly (the plain gamma_n
// would pass anything once n u >= 1/2, i.e. for n >= 2^23).
inline constexpr double kSumBlock = 4096;
inline double sum_gamma(double n) {
  return gamma(std::min(n, kSumBlock + std::ceil(n / kSumBlock)));
}

// What a family says about the error of the f32 computation of one element.
struct Bound {
  bool exact = false;  // the op only selects or copies values
  double abs = 0;      // otherwise: a bound on the absolute error of the f32 arithmetic
};
inline Bound exact_bound() {
  return {true, 0};
}
inline Bound error_bound(double abs) {
  return {false, abs};
}

// Neumaier's compensated sum: error ~ 2^-53 relative to sum|terms|, independent of n
// for the lengths we meet; good enough to call the result exact.
struct Sum {
  double s = 0, c = 0;
  void add(double x) {
    const double t = s + x;
    if (std::fabs(s) >= std::fabs(x))
      c += (s - t) + x;
    else
      c += (x - t) + s;
    s = t;
  }
  // An infinite or NaN partial sum is the answer (the compensation is meaningless then).
  double value() const { return std::isfinite(s) ? s + c : s; }
};

// The value of a float element at `offset` elements from t.raw().
double load(const Tensor& t, int64_t offset);
// The element at multi-index `idx` (rank of t) of a strided view.
double at(const Tensor& t, const Index& idx);
// Offset in elements of multi-index `idx` from t.raw() (no bounds check).
int64_t offset_of(const Tensor& t, const Index& idx);

// Calls f(offset) for every element of the sub-block of `t` that varies along `dims`
// (the other coordinates fixed to those of `base`), in row-major order of `dims`.
template <class F>
void for_each_in(const Tensor& t, const Index& base, const std::vector<int64_t>& dims, F&& f) {
  int64_t off = offset_of(t, base);
  for (int64_t d : dims) {
    if (t.shape()[d] == 0) return;
    off -= base[d] * t.strides()[d];
  }
  if (dims.empty()) {
    f(off);
    return;
  }
  std::vector<int64_t> ctr(dims.size(), 0);
  while (true) {
    f(off);
    size_t k = dims.size();
    while (true) {
      if (k == 0) return;
      --k;
      const int64_t d = dims[k];
      off += t.strides()[d];
      if (++ctr[k] < t.shape()[d]) break;
      off -= ctr[k] * t.strides()[d];
      ctr[k] = 0;
    }
  }
}

namespace detail {

template <class T, class Conv, class F>
void visit_typed(const Tensor& t, const Index& base, const std::vector<int64_t>& dims, Conv conv,
                 F& f) {
  const T* p = static_cast<const T*>(t.raw());
  if (dims.empty()) {
    f(conv(p[offset_of(t, base)]));
    return;
  }
  const int64_t last = dims.back(), n = t.shape()[last], step = t.strides()[last];
  const std::vector<int64_t> outer(dims.begin(), dims.end() - 1);
  for_each_in(t, base, outer, [&](int64_t off) {
    off -= base[last] * step;
    for (int64_t q = 0; q < n; ++q) f(conv(p[off + q * step]));
  });
}

}  // namespace detail

// Calls f(value) for the same elements and in the same order as for_each_in, reading
// the dtype once (the innermost dim is a plain strided loop).
template <class F>
void for_each_value(const Tensor& t, const Index& base, const std::vector<int64_t>& dims, F&& f) {
  switch (t.dtype()) {
    case DType::F32:
      return detail::visit_typed<float>(
          t, base, dims, [](float v) { return double{v}; }, f);
    case DType::BF16:
      return detail::visit_typed<uint16_t>(
          t, base, dims, [](uint16_t b) { return double{bf16_to_f32(b)}; }, f);
    case DType::I32:
      return detail::visit_typed<int32_t>(
          t, base, dims, [](int32_t v) { return double(v); }, f);
    case DType::U32:
      return detail::visit_typed<uint32_t>(
          t, base, dims, [](uint32_t v) { return double(v); }, f);
    case DType::BFP8_B:
      break;
  }
  for_each_in(t, base, dims, [&](int64_t off) { f(load(t, off)); });  // load reports the dtype
}

// The input tensor `i` of the call; fails naming the op when it is missing.
const Tensor& input(const OpCall& call, size_t i);
// True when input i was passed (optional trailing inputs; an undefined Tensor is None).
bool has_input(const OpCall& call, size_t i);
// Row-major linear position of idx in shape.
int64_t linear_index(const Shape& shape, const Index& idx);
// The index of `in_shape` that `out_idx` reads under broadcasting (dims aligned right;
// size-1 dims read 0).
Index broadcast_index(const Shape& in_shape, const Index& out_idx);
[[noreturn]] void bad(const OpCall& call, const std::string& what);

// Per family: the exact value of an element, and the error bound of its f32 computation.
double unary_at(const OpCall&, const Shapes&, size_t, const Index&);
Bound unary_bound(const OpCall&, const Shapes&, size_t, const Index&, double ref);
double binary_at(const OpCall&, const Shapes&, size_t, const Index&);
Bound binary_bound(const OpCall&, const Shapes&, size_t, const Index&, double ref);
double softmax_at(const OpCall&, const Shapes&, size_t, const Index&);
Bound softmax_bound(const OpCall&, const Shapes&, size_t, const Index&, double ref);
double reduce_at(const OpCall&, const Shapes&, size_t, const Index&);
Bound reduce_bound(const OpCall&, const Shapes&, size_t, const Index&, double ref);
double batch_norm_at(const OpCall&, const Shapes&, size_t, const Index&);
Bound batch_norm_bound(const OpCall&, const Shapes&, size_t, const Index&, double ref);
void batch_norm_clear_cache();
double max_pool2d_at(const OpCall&, const Shapes&, size_t, const Index&);
bool max_pool2d_index_ok(const OpCall&, const Shapes&, const Index&, int64_t got);
double upsample_at(const OpCall&, const Shapes&, size_t, const Index&);
double topk_at(const OpCall&, const Shapes&, size_t, const Index&);
bool topk_index_ok(const OpCall&, const Shapes&, const Index&, int64_t got);
double dropout_at(const OpCall&, const Shapes&, size_t, const Index&);
Bound dropout_bound(const OpCall&, const Shapes&, size_t, const Index&, double ref);
double movement_at(const OpCall&, const Shapes&, size_t, const Index&);
double concat_at(const OpCall&, const Shapes&, size_t, const Index&);
double split_at(const OpCall&, const Shapes&, size_t, const Index&);
double matmul_at(const OpCall&, const Shapes&, size_t, const Index&);
Bound matmul_bound(const OpCall&, const Shapes&, size_t, const Index&, double ref);
double conv_at(const OpCall&, const Shapes&, size_t, const Index&);
Bound conv_bound(const OpCall&, const Shapes&, size_t, const Index&, double ref);

}  // namespace oomless::ops::ref
