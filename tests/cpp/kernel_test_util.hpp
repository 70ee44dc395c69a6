// Helpers shared by the kernel tests (unary, binary, softmax, reduce,
// batch_norm, dropout, movement, pool/upsample, topk, concat/split): seeded
// inputs, running an op through the table (checking its infer phase), every
// SIMD target, error checks, and ulp-based comparison against
// double-precision references.
#pragma once
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/tensor.hpp"
#include "hwy/targets.h"
#include "ops/args.hpp"
#include "ops/op.hpp"

namespace oomless::testing {

// Uniform values in [lo, hi), rounded to the tensor's dtype.
inline Tensor random_tensor(const Shape& shape, DType dt, uint32_t seed, double lo = -4.0,
                            double hi = 4.0) {
  Tensor t = Tensor::empty(shape, dt);
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.set(i, dist(gen));
  return t;
}

inline Tensor from_values(const Shape& shape, DType dt, const std::vector<double>& v) {
  Tensor t = Tensor::empty(shape, dt);
  for (int64_t i = 0; i < t.numel(); ++i) t.set(i, v[static_cast<size_t>(i)]);
  return t;
}

// A non-contiguous view with the same values as `t` (a transposed copy).
inline Tensor strided_copy(const Tensor& t) {
  if (t.rank() < 2) {
    // Every other element of a twice-longer buffer.
    Shape s2 = t.shape();
    s2[0] *= 2;
    Tensor big = Tensor::zeros(s2, t.dtype());
    Tensor v = Tensor::wrap(big.storage(), t.shape(), {2}, t.dtype());
    for (int64_t i = 0; i < t.numel(); ++i) v.set(i, t.get(i));
    return v;
  }
  Shape sw = t.shape();
  std::swap(sw[0], sw[1]);
  Tensor base = Tensor::empty(sw, t.dtype());
  Tensor v = base.transpose(0, 1);
  for (int64_t i = 0; i < t.numel(); ++i) v.set(i, t.get(i));
  return v;
}

inline std::vector<Tensor> run_op(const std::string& name, const std::vector<Tensor>& inputs,
                                  const std::vector<std::string>& kvs = {}) {
  const ops::OpDesc& op = ops::find_op(name);
  ops::Args args = ops::parse_args(op.name, op.args, kvs);
  ops::OpCall call{op, inputs, args};
  return op.exec(call);
}

// Runs an op through the table like run_op, and checks that the op table's
// infer phase predicts exactly the shapes and dtypes exec produced.
inline std::vector<Tensor> run(std::string_view name, std::vector<Tensor> in,
                               const std::vector<std::string>& kvs = {}) {
  const auto& op = ops::find_op(name);
  ops::Args args = ops::parse_args(op.name, op.args, kvs);
  std::vector<ops::TensorSpec> specs;
  for (const auto& t : in) specs.push_back({t.shape(), t.dtype()});
  ops::OpCall call{op, std::move(in), args};
  std::vector<Tensor> out = op.exec(call);
  ops::OutputSpec spec = ops::infer_output(op, specs, args);
  if (!spec.outputs.empty()) {
    EXPECT_EQ(spec.outputs.size(), out.size()) << name;
    for (size_t i = 0; i < std::min(out.size(), spec.outputs.size()); ++i) {
      EXPECT_EQ(spec.outputs[i].shape, out[i].shape()) << name << " output " << i;
      EXPECT_EQ(spec.outputs[i].dtype, out[i].dtype()) << name << " output " << i;
    }
  }
  return out;
}

// Both NaN or equal (exact comparison of kernel results that select or move values).
inline bool same(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || a == b;
}

// Row-major multi-index of linear index i in shape s, and back.
inline std::vector<int64_t> unravel(int64_t i, const Shape& s) {
  std::vector<int64_t> idx(s.size());
  for (size_t d = s.size(); d-- > 0;) {
    idx[d] = i % s[d];
    i /= s[d];
  }
  return idx;
}

inline int64_t ravel(const std::vector<int64_t>& idx, const Shape& s) {
  int64_t i = 0;
  for (size_t d = 0; d < s.size(); ++d) i = i * s[d] + idx[d];
  return i;
}

// Distance of one unit in the last place at |v| for a format with `mant` bits.
inline double ulp_at(double v, int mant) {
  v = std::fabs(v);
  if (v < std::numeric_limits<float>::min()) return std::ldexp(1.0, -126 - mant);
  int e;
  std::frexp(v, &e);  // v in [2^(e-1), 2^e)
  return std::ldexp(1.0, e - 1 - mant);
}

inline double ulp_bf16(double v) {
  return ulp_at(v, 7);
}
inline double ulp_f32(double v) {
  return ulp_at(v, 23);
}

// Both NaN, equal (incl. infinities), or |got - ref| <= tol.
inline bool close(double got, double ref, double tol) {
  if (std::isnan(ref) || std::isnan(got)) return std::isnan(ref) && std::isnan(got);
  if (std::isinf(ref) || std::isinf(got)) return got == ref;
  return std::fabs(got - ref) <= tol;
}

// bf16: within one bf16 ulp of the exact value (measured at the larger of the
// two magnitudes, so results that cross a binade are not penalised), plus
// `abs_tol` for cancellation the f32 math cannot avoid either.
inline bool close_bf16(double got, double ref, double abs_tol = 0.0) {
  double m = std::max(std::fabs(got), std::fabs(ref));
  return close(got, ref, ulp_bf16(m) + abs_tol);
}

inline bool close_f32(double got, double ref, double ulps, double abs_tol = 0.0) {
  double m = std::max(std::fabs(got), std::fabs(ref));
  return close(got, ref, ulps * ulp_f32(m) + abs_tol);
}

// Bitwise equality of two tensors' contents.
inline bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.raw(), cb.raw(), ca.nbytes()) == 0;
}

// Runs `fn` with 1 thread and with 2 threads; returns both results.
template <class F>
std::pair<std::vector<Tensor>, std::vector<Tensor>> with_1_and_2_threads(F fn) {
  int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  auto a = fn();
  omp_set_num_threads(2);
  auto b = fn();
  omp_set_num_threads(saved);
  return {a, b};
}

// The SIMD targets the kernels are compiled for: the elementwise, softmax,
// reduction, batch-norm and top-k kernels disable SSE4 (HWY_DISABLED_TARGETS);
// the movement, pooling and dropout kernels keep it.
constexpr int64_t kSimdTargets = HWY_AVX3 | HWY_AVX2 | HWY_SCALAR;
constexpr int64_t kSimdTargetsWithSse4 = kSimdTargets | HWY_SSE4;

// Runs `fn` once per SIMD target of `targets` this CPU supports (AVX-512, AVX2,
// SSE4, and the portable fallback), so every dispatched variant meets the same
// reference.
template <class F>
void for_each_simd_target(int64_t targets, F fn) {
  hwy::SetSupportedTargetsForTest(0);
  const int64_t supported = hwy::SupportedTargets();
  for (int64_t t : {int64_t{HWY_AVX3}, int64_t{HWY_AVX2}, int64_t{HWY_SSE4}, int64_t{HWY_SCALAR}}) {
    if ((supported & targets & t) == 0) continue;
    hwy::SetSupportedTargetsForTest(t);
    SCOPED_TRACE(hwy::TargetName(t));
    fn();
  }
  hwy::SetSupportedTargetsForTest(0);
}

template <class F>
void for_each_simd_target(F fn) {
  for_each_simd_target(kSimdTargets, fn);
}

// Asserts that `fn` throws InvalidArgument whose message contains `op` and
// every string of `needles`.
template <class F>
void expect_invalid(F fn, const std::string& op, const std::vector<std::string>& needles = {}) {
  try {
    fn();
    ADD_FAILURE() << "expected InvalidArgument from " << op;
  } catch (const InvalidArgument& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(op), std::string::npos) << msg;
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << msg;
  }
}

// Asserts that `fn` throws InvalidArgument whose message names the op as
// "[op]" (the prefix of every op's own error).
template <class F>
void expect_error(F fn, const std::string& op) {
  expect_invalid(fn, "[" + op + "]");
}

}  // namespace oomless::testing
