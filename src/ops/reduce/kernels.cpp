// SIMD reduction kernels in double, compiled per target and picked at run
// time. Elements are widened f32 -> f64 (bf16 -> f32 -> f64) on load; a block
// uses four vector accumulators whose lanes depend only on the offset in the
// block, then folds lanes in a fixed order, then the scalar tail.
#include "ops/reduce/kernels.hpp"

#include <algorithm>

#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SSSE3 | HWY_SSE4)
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/reduce/kernels.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// Order matters: foreach_target re-includes this file per target.
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "ops/unary/simd_io-inl.h"

HWY_BEFORE_NAMESPACE();
namespace oomless::ops::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
namespace {

using DD = hn::ScalableTag<double>;
using VD = hn::VFromD<DD>;

HWY_INLINE VD LoadD(DD dd, const float* p) {
  return hn::PromoteTo(dd, hn::LoadU(hn::Rebind<float, DD>(), p));
}
HWY_INLINE VD LoadD(DD dd, const uint16_t* p) {
  const hn::Rebind<uint16_t, DD> du16;
  const hn::Rebind<uint32_t, DD> du32;
  const hn::Rebind<float, DD> df;
  const auto bits = hn::ShiftLeft<16>(hn::PromoteTo(du32, hn::LoadU(du16, p)));
  return hn::PromoteTo(dd, hn::BitCast(df, bits));
}
HWY_INLINE double ToD(float v) {
  return v;
}
HWY_INLINE double ToD(uint16_t v) {
  return bf16_to_f32(v);
}

// Each kind: vector step, scalar step, and the vector combine for lanes.
struct SumK {
  static constexpr NormKind kKind = NormKind::Sum;
  HWY_INLINE VD Step(DD, VD acc, VD v) const { return hn::Add(acc, v); }
  template <class V>
  HWY_INLINE V StepF(V acc, V v) const {
    return hn::Add(acc, v);
  }
  // The same sum on the FMA pipes: v * 1 + acc rounds once, like acc + v.
  template <class V>
  HWY_INLINE V StepFma(V acc, V v) const {
    return hn::MulAdd(v, hn::Set(hn::DFromV<V>(), 1.f), acc);
  }
  HWY_INLINE double F(double x) const { return x; }
};
struct AbsSumK {
  static constexpr NormKind kKind = NormKind::AbsSum;
  HWY_INLINE VD Step(DD, VD acc, VD v) const { return hn::Add(acc, hn::Abs(v)); }
  template <class V>
  HWY_INLINE V StepF(V acc, V v) const {
    return hn::Add(acc, hn::Abs(v));
  }
  template <class V>
  HWY_INLINE V StepFma(V acc, V v) const {
    return hn::MulAdd(hn::Abs(v), hn::Set(hn::DFromV<V>(), 1.f), acc);
  }
  HWY_INLINE double F(double x) const { return std::fabs(x); }
};
struct SqSumK {
  static constexpr NormKind kKind = NormKind::SqSum;
  HWY_INLINE VD Step(DD, VD acc, VD v) const { return hn::MulAdd(v, v, acc); }
  template <class V>
  HWY_INLINE V StepF(V acc, V v) const {
    return hn::MulAdd(v, v, acc);
  }
  template <class V>
  HWY_INLINE V StepFma(V acc, V v) const {
    return StepF(acc, v);
  }
  HWY_INLINE double F(double x) const { return x * x; }
};
struct PowSumK {
  static constexpr NormKind kKind = NormKind::PowSum;
  double p;
  HWY_INLINE VD Step(DD dd, VD acc, VD v) const {
    const VD a = hn::Abs(v);
    const VD zero = hn::Zero(dd), inf = hn::Set(dd, INFINITY);
    // exp(p log a) with the edges of pow: 0^p, inf^p, and overflow of exp.
    const VD lg = hn::Log(dd, hn::IfThenElse(hn::Eq(a, zero), hn::Set(dd, 1.0), a));
    const VD arg = hn::Mul(hn::Set(dd, p), lg);
    VD r = hn::Exp(dd, hn::Min(arg, hn::Set(dd, 700.0)));
    r = hn::IfThenElse(hn::Gt(arg, hn::Set(dd, 700.0)), inf, r);
    const VD at_zero = p > 0 ? zero : inf, at_inf = p > 0 ? inf : zero;
    r = hn::IfThenElse(hn::Eq(a, zero), at_zero, r);
    r = hn::IfThenElse(hn::Eq(a, inf), at_inf, r);
    r = hn::IfThenElse(hn::IsNaN(a), a, r);
    return hn::Add(acc, r);
  }
  HWY_INLINE double F(double x) const { return std::pow(std::fabs(x), p); }
};
struct MaxAbsK {
  static constexpr NormKind kKind = NormKind::MaxAbs;
  HWY_INLINE VD Step(DD, VD acc, VD v) const {
    const VD a = hn::Abs(v);
    return hn::IfThenElse(hn::Or(hn::IsNaN(acc), hn::Gt(acc, a)), acc, a);
  }
  HWY_INLINE double F(double x) const { return std::fabs(x); }
};
struct MinAbsK {
  static constexpr NormKind kKind = NormKind::MinAbs;
  HWY_INLINE VD Step(DD, VD acc, VD v) const {
    const VD a = hn::Abs(v);
    return hn::IfThenElse(hn::Or(hn::IsNaN(acc), hn::Lt(acc, a)), acc, a);
  }
  HWY_INLINE double F(double x) const { return std::fabs(x); }
};
struct CountK {
  static constexpr NormKind kKind = NormKind::CountNonzero;
  HWY_INLINE VD Step(DD dd, VD acc, VD v) const {
    return hn::Add(acc, hn::IfThenElseZero(hn::Not(hn::Eq(v, hn::Zero(dd))), hn::Set(dd, 1.0)));
  }
  HWY_INLINE double F(double x) const { return x != 0 ? 1.0 : 0.0; }
};

// Combines vector accumulators lane by lane with the kind's step: Step(acc,
// v) with v >= 0 is the combine for max/min; for sums use Add.
template <class K>
HWY_INLINE VD Merge(DD dd, const K& k, VD a, VD b) {
  if constexpr (K::kKind == NormKind::MaxAbs || K::kKind == NormKind::MinAbs)
    return hn::IfThenElse(hn::IsNaN(b), b, k.Step(dd, a, b));
  return hn::Add(a, b);
}

constexpr bool IsSum(NormKind k) {
  return k == NormKind::Sum || k == NormKind::AbsSum || k == NormKind::SqSum;
}

// Sums first add kSub terms per f32 lane, then widen the partials to double:
// 2.5x fewer conversions. A partial of kSub terms carries <= kSub * 2^-24 of
// its terms' magnitude (exact for most bf16 data). Returns elements done.
template <class K, class T>
HWY_INLINE int64_t SumF32(const K& k, const T* x, int64_t n, VD& a0, VD& a1) {
#if HWY_TARGET == HWY_SCALAR
  (void)k, (void)x, (void)n, (void)a0, (void)a1;
  return 0;
#else
  constexpr int kSub = 4;
  const DD dd;
  const hn::ScalableTag<float> df;
  const hn::Rebind<float, DD> dh;  // half of df
  const int64_t NF = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + 4 * NF * kSub <= n;) {
    auto f0 = hn::Zero(df), f1 = f0, f2 = f0, f3 = f0;
    for (int s = 0; s < kSub; ++s, i += 4 * NF) {
      f0 = k.StepF(f0, LoadF(df, x + i));
      f1 = k.StepF(f1, LoadF(df, x + i + NF));
      // Half the adds on the FMA pipes: Zen 4 has two FP add and two FMA
      // pipes, and a sum of adds alone ran at 2/3 of the sum of squares.
      f2 = k.StepFma(f2, LoadF(df, x + i + 2 * NF));
      f3 = k.StepFma(f3, LoadF(df, x + i + 3 * NF));
    }
    const auto f = hn::Add(hn::Add(f0, f1), hn::Add(f2, f3));
    a0 = hn::Add(a0, hn::PromoteTo(dd, hn::LowerHalf(dh, f)));
    a1 = hn::Add(a1, hn::PromoteTo(dd, hn::UpperHalf(dh, f)));
  }
  return i;
#endif
}

template <class K, class T>
double Block(const K& k, const T* x, int64_t n) {
  const DD dd;
  const int64_t N = static_cast<int64_t>(hn::Lanes(dd));
  const VD id = hn::Set(dd, reduce_identity(K::kKind));
  VD a0 = id, a1 = id, a2 = id, a3 = id;
  int64_t i = 0;
  if constexpr (IsSum(K::kKind)) i = SumF32(k, x, n, a0, a1);
  for (; i + 4 * N <= n; i += 4 * N) {
    a0 = k.Step(dd, a0, LoadD(dd, x + i));
    a1 = k.Step(dd, a1, LoadD(dd, x + i + N));
    a2 = k.Step(dd, a2, LoadD(dd, x + i + 2 * N));
    a3 = k.Step(dd, a3, LoadD(dd, x + i + 3 * N));
  }
  for (; i + N <= n; i += N) a0 = k.Step(dd, a0, LoadD(dd, x + i));
  const VD all = Merge(dd, k, Merge(dd, k, a0, a1), Merge(dd, k, a2, a3));
  HWY_ALIGN double lanes[HWY_MAX_BYTES / sizeof(double)];
  hn::Store(all, dd, lanes);
  double acc = reduce_identity(K::kKind);
  for (int64_t j = 0; j < N; ++j) acc = reduce_combine(K::kKind, acc, lanes[j]);
  for (; i < n; ++i) acc = reduce_combine(K::kKind, acc, k.F(ToD(x[i])));
  return acc;
}

// Folds `rows` rows (row_stride apart) into acc, row by row per column: the
// same per-lane order as one call per row, with acc loaded once per vector.
template <class K, class T>
void Accumulate(const K& k, const T* x, int64_t rows, int64_t rs, int64_t n, double* acc) {
  const DD dd;
  const int64_t N = static_cast<int64_t>(hn::Lanes(dd));
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    VD a = hn::LoadU(dd, acc + i);
    for (int64_t r = 0; r < rows; ++r) a = k.Step(dd, a, LoadD(dd, x + r * rs + i));
    hn::StoreU(a, dd, acc + i);
  }
  for (; i < n; ++i)
    for (int64_t r = 0; r < rows; ++r)
      acc[i] = reduce_combine(K::kKind, acc[i], k.F(ToD(x[r * rs + i])));
}

template <class F>
HWY_INLINE auto WithKind(NormKind kind, double p, const F& f) {
  switch (kind) {
    case NormKind::Sum:
      return f(SumK{});
    case NormKind::AbsSum:
      return f(AbsSumK{});
    case NormKind::SqSum:
      return f(SqSumK{});
    case NormKind::PowSum:
      return f(PowSumK{p});
    case NormKind::MaxAbs:
      return f(MaxAbsK{});
    case NormKind::MinAbs:
      return f(MinAbsK{});
    case NormKind::CountNonzero:
      break;
  }
  return f(CountK{});
}

}  // namespace

double ReduceBlock(int kind, double p, int bf16, const void* x, int64_t n) {
  return WithKind(static_cast<NormKind>(kind), p, [&](const auto& k) {
    if (bf16) return Block(k, static_cast<const uint16_t*>(x), n);
    return Block(k, static_cast<const float*>(x), n);
  });
}

void ReduceAccumulate(int kind, double p, int bf16, const void* x, int64_t rows, int64_t rs,
                      int64_t n, double* acc) {
  WithKind(static_cast<NormKind>(kind), p, [&](const auto& k) {
    if (bf16) return Accumulate(k, static_cast<const uint16_t*>(x), rows, rs, n, acc);
    return Accumulate(k, static_cast<const float*>(x), rows, rs, n, acc);
  });
}

}  // namespace oomless::ops::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace oomless::ops {

HWY_EXPORT(ReduceBlock);
HWY_EXPORT(ReduceAccumulate);

double reduce_block(NormKind k, double p, DType t, const void* x, int64_t n) {
  if (n <= 0) return reduce_identity(k);
  return HWY_DYNAMIC_DISPATCH(ReduceBlock)(static_cast<int>(k), p, t == DType::BF16, x, n);
}

double reduce_run(NormKind k, double p, DType t, const void* x, int64_t n, double acc) {
  const auto* c = static_cast<const char*>(x);
  const int64_t es = static_cast<int64_t>(element_size(t));
  for (int64_t b = 0; b < n; b += kReduceBlock)
    acc = reduce_combine(k, acc, reduce_block(k, p, t, c + b * es, std::min(kReduceBlock, n - b)));
  return acc;
}

void reduce_accumulate(NormKind k, double p, DType t, const void* x, int64_t rows,
                       int64_t row_stride, int64_t n, double* acc) {
  if (n > 0 && rows > 0) HWY_DYNAMIC_DISPATCH(ReduceAccumulate)
  (static_cast<int>(k), p, t == DType::BF16, x, rows, row_stride, n, acc);
}

}  // namespace oomless::ops
#endif  // HWY_ONCE
