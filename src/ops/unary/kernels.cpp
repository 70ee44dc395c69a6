// SIMD unary kernels, compiled per target (AVX-512, AVX2, portable fallback)
// and picked at run time. One functor per op; the loop lives in MapF32.
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
#include "ops/unary/simd_io-inl.h"

HWY_BEFORE_NAMESPACE();
namespace oomless::ops::HWY_NAMESPACE {
namespace {

template <class D, class V>
HWY_INLINE V KeepNaN(D, V x, V r) {
  return hn::IfThenElse(hn::IsNaN(x), x, r);
}

// exp(-t) for the logistic forms (overflow to inf is harmless there).
template <class D, class V>
HWY_INLINE V ExpNeg(D d, V t) {
  return FastExp(d, hn::Neg(t));
}

struct Relu {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    return hn::IfThenElse(hn::Lt(x, hn::Zero(d)), hn::Zero(d), x);
  }
};

struct Sigmoid {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    const V one = hn::Set(d, 1.f);
    return KeepNaN(d, x, hn::Div(one, hn::Add(one, ExpNeg(d, x))));
  }
};

struct Silu {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    return KeepNaN(d, x, hn::Div(x, hn::Add(hn::Set(d, 1.f), ExpNeg(d, x))));
  }
};

struct Tanh {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    // Highway's Tanh is specified for finite inputs only.
    const V big = hn::Set(d, 10.f);  // tanh(10) rounds to 1 in f32
    const V r = hn::Tanh(d, hn::Min(hn::Max(x, hn::Neg(big)), big));
    return KeepNaN(d, x, r);
  }
};

struct Mish {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    // tanh(log1p(e)) = n / (n + 2) with n = e (e + 2); e^20 keeps n finite and
    // already makes the ratio exactly 1 in f32.
    // hn::Exp keeps subnormal e^x: x e^x is still normal down to x ~ -88.7.
    const V e = hn::Exp(d, hn::Min(x, hn::Set(d, 20.f)));
    const V n = hn::Mul(e, hn::Add(e, hn::Set(d, 2.f)));
    return KeepNaN(d, x, hn::Mul(x, hn::Div(n, hn::Add(n, hn::Set(d, 2.f)))));
  }
};

// kUnit: beta == 1 (the default) skips the multiply and divide (both exact).
template <bool kUnit>
struct Softplus {
  float beta, threshold;
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    const V bx = kUnit ? x : hn::Mul(x, hn::Set(d, beta));
    const V soft =
        hn::Add(hn::Max(bx, hn::Zero(d)), hn::Log1p(d, FastExp(d, hn::Neg(hn::Abs(bx)))));
    const V r = kUnit ? soft : hn::Div(soft, hn::Set(d, beta));
    return KeepNaN(d, x, hn::IfThenElse(hn::Gt(bx, hn::Set(d, threshold)), x, r));
  }
};

// lo <= x <= hi by comparisons so NaN passes through (torch clamp semantics;
// lo > hi gives hi like torch).
struct Clamp {
  float lo, hi;
  bool has_lo, has_hi;
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    if (has_lo) {
      const V l = hn::Set(d, lo);
      x = hn::IfThenElse(hn::Lt(x, l), l, x);
    }
    if (has_hi) {
      const V h = hn::Set(d, hi);
      x = hn::IfThenElse(hn::Gt(x, h), h, x);
    }
    return x;
  }
};

struct LeakyRelu {
  float slope;
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    return hn::IfThenElse(hn::Gt(x, hn::Zero(d)), x, hn::Mul(x, hn::Set(d, slope)));
  }
};

struct GeluErf {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    // erfc(z), z = |x|/sqrt2 >= 0: Numerical Recipes erfcc, rel. error < 1.2e-7.
    const V z = hn::Mul(hn::Abs(x), hn::Set(d, 0.70710678118654752f));
    const V t = hn::Div(hn::Set(d, 1.f), hn::MulAdd(z, hn::Set(d, 0.5f), hn::Set(d, 1.f)));
    // Estrin: shorter dependency chains than Horner for the 10 terms.
    const V p =
        hn::impl::Estrin(t, hn::Set(d, -1.26551223f), hn::Set(d, 1.00002368f),
                         hn::Set(d, 0.37409196f), hn::Set(d, 0.09678418f), hn::Set(d, -0.18628806f),
                         hn::Set(d, 0.27886807f), hn::Set(d, -1.13520398f), hn::Set(d, 1.48851587f),
                         hn::Set(d, -0.82215223f), hn::Set(d, 0.17087277f));
    const V erfc_z = hn::Mul(t, FastExp(d, hn::Sub(p, hn::Mul(z, z))));
    // Phi(x) = erfc(-x/sqrt2) / 2; for x > 0 use erfc(-z) = 2 - erfc(z).
    const V twice_phi =
        hn::IfThenElse(hn::Lt(x, hn::Zero(d)), erfc_z, hn::Sub(hn::Set(d, 2.f), erfc_z));
    // NaN needs no fix-up: the product with x keeps it.
    return hn::Mul(hn::Mul(x, hn::Set(d, 0.5f)), twice_phi);
  }
};

struct GeluTanh {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    // 0.5 x (1 + tanh u) = x / (1 + exp(-2u)): no cancellation for x << 0.
    const V x3 = hn::Mul(hn::Mul(x, x), x);
    const V u =
        hn::Mul(hn::Set(d, 0.7978845608028654f), hn::Add(x, hn::Mul(hn::Set(d, 0.044715f), x3)));
    const V r = hn::Div(x, hn::Add(hn::Set(d, 1.f), ExpNeg(d, hn::Add(u, u))));
    return KeepNaN(d, x, r);
  }
};

struct Log {
  template <class D, class V>
  HWY_INLINE V operator()(D d, V x) const {
    const V inf = hn::Set(d, HUGE_VALF);
    V r = hn::Log(d, x);
    r = hn::IfThenElse(hn::Eq(x, hn::Zero(d)), hn::Neg(inf), r);
    r = hn::IfThenElse(hn::Eq(x, inf), inf, r);
    r = hn::IfThenElse(hn::Lt(x, hn::Zero(d)), hn::Set(d, NAN), r);
    return KeepNaN(d, x, r);
  }
};

// bf16 gelu by table: a bf16 input has only 2^16 values, so the bf16 output of
// GeluErf / GeluTanh (f32 arithmetic, one rounding) is tabulated once per
// target by that same vector code and then looked up with gathers: the same
// bits as evaluating it, at a fraction of the cost. The table is 2^16 + 2
// entries (128 KB, L2-resident): each lane gathers the 4 bytes at entry x and
// keeps the low half (little endian), so the last entry needs 2 bytes of pad.
template <class F>
const uint16_t* Bf16Table(const F& f) {
  alignas(64) static uint16_t table[65536 + 2];
  static const bool done = [&] {
    alignas(64) static uint16_t in[65536];
    for (uint32_t i = 0; i < 65536; ++i) in[i] = static_cast<uint16_t>(i);
    MapF32<false>(in, table, 65536, f);
    table[65536] = table[65537] = 0;
    return true;
  }();
  (void)done;
  return table;
}

template <bool kStream>
void LookupBF16(const uint16_t* table, const uint16_t* in, uint16_t* out, int64_t n) {
  const hn::ScalableTag<int32_t> di;
  const int64_t N = static_cast<int64_t>(hn::Lanes(di));
  int64_t i = 0;
  if constexpr (kStream) {
    // Streams need 2N bf16 = N * 4 bytes aligned.
    const auto addr = reinterpret_cast<uintptr_t>(out);
    const uintptr_t vbytes = static_cast<uintptr_t>(N) * 4;
    if (addr % 2 != 0) return LookupBF16<false>(table, in, out, n);
    const int64_t head =
        std::min<int64_t>(n, static_cast<int64_t>((vbytes - addr % vbytes) % vbytes / 2));
    for (; i < head; ++i) out[i] = table[in[i]];
  }
#if HWY_TARGET != HWY_SCALAR
  const hn::Rebind<uint16_t, decltype(di)> dh;       // N bf16
  const hn::Repartition<uint16_t, decltype(di)> dw;  // 2N bf16
  const auto* base = reinterpret_cast<const int32_t*>(table);
  for (; i + 2 * N <= n; i += 2 * N) {
    // Byte offsets 2 x; in may equal out (both loads precede the store).
    const auto o0 = hn::ShiftLeft<1>(hn::BitCast(
        di, hn::PromoteTo(hn::RebindToUnsigned<decltype(di)>(), hn::LoadU(dh, in + i))));
    const auto o1 = hn::ShiftLeft<1>(hn::BitCast(
        di, hn::PromoteTo(hn::RebindToUnsigned<decltype(di)>(), hn::LoadU(dh, in + i + N))));
    const auto g0 = hn::GatherOffset(di, base, o0);
    const auto g1 = hn::GatherOffset(di, base, o1);
    const auto v = hn::ConcatEven(dw, hn::BitCast(dw, g1), hn::BitCast(dw, g0));
    if constexpr (kStream)
      hn::Stream(v, dw, out + i);
    else
      hn::StoreU(v, dw, out + i);
  }
#endif
  for (; i < n; ++i) out[i] = table[in[i]];
}

template <bool kStream, class T>
void UnaryT(int op, const UnaryParams& p, const T* in, T* out, int64_t n) {
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
void UnaryBF16(int op, const UnaryParams& p, const uint16_t* in, uint16_t* out, int64_t n,
               bool stream) {
  if (static_cast<UnaryOp>(op) == UnaryOp::Gelu) {
    const uint16_t* table = p.gelu_tanh ? Bf16Table(GeluTanh{}) : Bf16Table(GeluErf{});
    if (stream) return LookupBF16<true>(table, in, out, n);
    return LookupBF16<false>(table, in, out, n);
  }
  if (stream) return UnaryT<true>(op, p, in, out, n);
  UnaryT<false>(op, p, in, out, n);
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
