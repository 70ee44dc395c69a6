// SIMD unary kernels, compiled per target (AVX-512, AVX2, portable fallback)
// and picked at run time. f32 outputs use the accurate functors (math-inl.h),
// bf16 outputs the bf16-sized ones (bf16_math-inl.h) with the avx512_bf16
// rounding stores (bf16_store-inl.h) where the CPU has them.
#include "ops/unary/kernels.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "hwy/cache_control.h"

// SSSE3/SSE4 add build time but no machine of interest lacks AVX2.
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SSSE3 | HWY_SSE4)
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/unary/kernels.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// Order matters: foreach_target re-includes this file per target.
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "ops/unary/bf16_math-inl.h"
#include "ops/unary/bf16_store-inl.h"
#include "ops/unary/math-inl.h"
#include "ops/unary/simd_io-inl.h"

HWY_BEFORE_NAMESPACE();
namespace oomless::ops::HWY_NAMESPACE {
namespace {

template <bool kStream, class T>
void UnaryT(int op, const UnaryParams& p, const T* in, T* out, int64_t n) {  // f32
  switch (static_cast<UnaryOp>(op)) {
    case UnaryOp::Relu:
      return MapF32<kStream>(in, out, n, Relu{});
    case UnaryOp::Sigmoid:
      return MapF32<kStream>(in, out, n, Sigmoid{});
    case UnaryOp::Silu:
    case UnaryOp::SiluInplace:
      return MapF32<kStream>(in, out, n, Silu{});
    case UnaryOp::Tanh:
      return MapF32<kStream>(in, out, n, Tanh{});
    case UnaryOp::Mish:
      return MapF32<kStream>(in, out, n, Mish{});
    case UnaryOp::Softplus:
      if (p.a == 1.f) return MapF32<kStream>(in, out, n, Softplus<true>{p.a, p.b});
      return MapF32<kStream>(in, out, n, Softplus<false>{p.a, p.b});
    case UnaryOp::Hardtanh:
    case UnaryOp::Clamp:
    case UnaryOp::ClampMin:
      return MapF32<kStream>(in, out, n, Clamp{p.a, p.b, p.has_lo, p.has_hi});
    case UnaryOp::LeakyRelu:
      return MapF32<kStream>(in, out, n, LeakyRelu{p.a});
    case UnaryOp::Gelu:
      if (p.gelu_tanh) return MapF32<kStream>(in, out, n, GeluTanh{});
      return MapF32<kStream>(in, out, n, GeluErf{});
    case UnaryOp::Log:
      return MapF32<kStream>(in, out, n, Log{});
  }
}

}  // namespace

void UnaryF32(int op, const UnaryParams& p, const float* in, float* out, int64_t n, bool stream) {
  if (stream) return UnaryT<true>(op, p, in, out, n);
  UnaryT<false>(op, p, in, out, n);
}
template <bool kStream>
void UnaryBF16T(int op, const UnaryParams& p, const uint16_t* in, uint16_t* out, int64_t n) {
  switch (static_cast<UnaryOp>(op)) {
    case UnaryOp::Relu:
      return MapBF16<kStream>(in, out, n, Relu{});
    case UnaryOp::Sigmoid:
      return MapBF16<kStream>(in, out, n, SigmoidB{});
    case UnaryOp::Silu:
    case UnaryOp::SiluInplace:
      return MapBF16<kStream>(in, out, n, SiluB{});
    case UnaryOp::Tanh:
      return MapBF16<kStream>(in, out, n, TanhB{});
    case UnaryOp::Mish:
      return MapBF16<kStream>(in, out, n, MishB{});
    case UnaryOp::Softplus:
      // beta != 1 (rare): the f32 functor, rounded once.
      if (p.a == 1.f) return MapBF16<kStream>(in, out, n, SoftplusB{p.b});
      return MapBF16<kStream>(in, out, n, Softplus<false>{p.a, p.b});
    case UnaryOp::Hardtanh:
    case UnaryOp::Clamp:
    case UnaryOp::ClampMin:
      return MapBF16<kStream>(in, out, n, Clamp{p.a, p.b, p.has_lo, p.has_hi});
    case UnaryOp::LeakyRelu:
      return MapBF16<kStream>(in, out, n, LeakyRelu{p.a});
    case UnaryOp::Gelu:
      if (p.gelu_tanh) return MapBF16<kStream>(in, out, n, GeluTanhB{});
      return MapBF16<kStream>(in, out, n, GeluErfB{});
    case UnaryOp::Log:
      return MapBF16<kStream>(in, out, n, LogB{});
  }
}

void UnaryBF16(int op, const UnaryParams& p, const uint16_t* in, uint16_t* out, int64_t n,
               bool stream) {
  if (stream) return UnaryBF16T<true>(op, p, in, out, n);
  UnaryBF16T<false>(op, p, in, out, n);
}

}  // namespace oomless::ops::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace oomless::ops {

HWY_EXPORT(UnaryF32);
HWY_EXPORT(UnaryBF16);

void unary_kernel(UnaryOp op, const UnaryParams& p, const float* in, float* out, int64_t n,
                  bool stream) {
  if (n <= 0) return;
  HWY_DYNAMIC_DISPATCH(UnaryF32)(static_cast<int>(op), p, in, out, n, stream);
  if (stream) hwy::FlushStream();
}
void unary_kernel(UnaryOp op, const UnaryParams& p, const uint16_t* in, uint16_t* out, int64_t n,
                  bool stream) {
  if (n <= 0) return;
  HWY_DYNAMIC_DISPATCH(UnaryBF16)(static_cast<int>(op), p, in, out, n, stream);
  if (stream) hwy::FlushStream();
}

namespace {
// 64 KiB of f32 per block: big enough to amortise dispatch, small enough to
// balance two threads on small tensors.
constexpr int64_t kBlock = 16384;
constexpr int64_t kStreamBytes = int64_t{64} << 20;

template <class T>
void parallel(UnaryOp op, const UnaryParams& p, const T* in, T* out, int64_t n) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  if (blocks <= 1) return unary_kernel(op, p, in, out, n);
  // Outputs well beyond the last-level cache gain from non-temporal stores
  // (in place they would evict lines we are about to read: keep normal).
  const bool stream = in != out && n * static_cast<int64_t>(sizeof(T)) >= kStreamBytes;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t lo = b * kBlock;
    unary_kernel(op, p, in + lo, out + lo, std::min(kBlock, n - lo), stream);
  }
}
}  // namespace

void unary_parallel(UnaryOp op, const UnaryParams& p, const float* in, float* out, int64_t n) {
  parallel(op, p, in, out, n);
}
void unary_parallel(UnaryOp op, const UnaryParams& p, const uint16_t* in, uint16_t* out,
                    int64_t n) {
  parallel(op, p, in, out, n);
}

UnaryParams unary_params(UnaryOp op, const Args& args, std::string_view name) {
  UnaryParams p;
  auto finite = [&](std::string_view arg) {
    double v = args.get_float(arg);
    if (std::isnan(v)) fail(name, fmt::format("argument '{}' must not be NaN", arg));
    return static_cast<float>(v);
  };
  switch (op) {
    case UnaryOp::Softplus:
      p.a = finite("beta");
      p.b = finite("threshold");
      if (p.a == 0.f) fail(name, "argument 'beta' must be nonzero, got 0");
      break;
    case UnaryOp::Hardtanh:
      p.a = finite("min_val");
      p.b = finite("max_val");
      p.has_lo = p.has_hi = true;
      break;
    case UnaryOp::LeakyRelu:
      p.a = finite("negative_slope");
      break;
    case UnaryOp::Gelu: {
      // "approximate=none" parses as None; both mean the exact erf form.
      const std::string a = args.is_none("approximate") ? "none" : args.get_str("approximate");
      if (a != "none" && a != "tanh")
        fail(name, fmt::format("approximate must be 'none' or 'tanh', got '{}'", a));
      p.gelu_tanh = a == "tanh";
      break;
    }
    case UnaryOp::Clamp:
      p.has_lo = !args.is_none("min");
      p.has_hi = !args.is_none("max");
      if (!p.has_lo && !p.has_hi) fail(name, "at least one of 'min' or 'max' must not be None");
      // A NaN bound is ignored by torch's clamp; comparisons with NaN do the same.
      if (p.has_lo) p.a = static_cast<float>(args.get_float("min"));
      if (p.has_hi) p.b = static_cast<float>(args.get_float("max"));
      break;
    case UnaryOp::ClampMin:
      if (args.is_none("min")) fail(name, "argument 'min' is required");
      p.a = static_cast<float>(args.get_float("min"));
      p.has_lo = true;
      break;
    default:
      break;
  }
  return p;
}

}  // namespace oomless::ops
#endif  // HWY_ONCE
