// Per-target helpers of the convolution kernels, included by each *_simd.cpp
// once per Highway target (Highway's -inl include guard).
#if defined(OOMLESS_CONV_SIMD_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef OOMLESS_CONV_SIMD_INL_H_
#undef OOMLESS_CONV_SIMD_INL_H_
#else
#define OOMLESS_CONV_SIMD_INL_H_
#endif

#include <hwy/highway.h>

#include <cstring>

#include "core/dtype.hpp"

HWY_BEFORE_NAMESPACE();
namespace oomless::ops::conv::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// Vector registers of the target: tiles hold at most about this many accumulators.
constexpr int kRegs = HWY_TARGET <= HWY_AVX3 ? 32 : 16;
constexpr size_t kMaxLanes = HWY_MAX_BYTES / sizeof(float);

// Lanes(d) f32 values, or bf16 values widened (exact).
template <class D>
HWY_INLINE hn::Vec<D> LoadX(D d, const float* p) {
  return hn::LoadU(d, p);
}
template <class D>
HWY_INLINE hn::Vec<D> LoadX(D d, const uint16_t* p) {
  const hn::RebindToUnsigned<D> du;
  const hn::Rebind<uint16_t, D> d16;
  return hn::BitCast(d, hn::ShiftLeft<16>(hn::PromoteTo(du, hn::LoadU(d16, p))));
}

HWY_INLINE float LoadS(const float* p) {
  return *p;
}
HWY_INLINE float LoadS(const uint16_t* p) {
  return bf16_to_f32(*p);
}

// The bf16 bits of each lane rounded to nearest even (f32_to_bf16 of
// core/dtype.hpp, NaN kept quiet), in the low half of u32 lanes.
template <class D>
HWY_INLINE hn::Vec<hn::RebindToUnsigned<D>> Bf16Bits(D, hn::Vec<D> v) {
  const hn::RebindToUnsigned<D> du;
  const auto u = hn::BitCast(du, v);
  const auto hi = hn::ShiftRight<16>(u);
  const auto rounded =
      hn::ShiftRight<16>(hn::Add(u, hn::Add(hn::Set(du, 0x7fffu), hn::And(hi, hn::Set(du, 1u)))));
  const auto quiet = hn::Or(hi, hn::Set(du, 0x40u));
  return hn::IfThenElse(hn::RebindMask(du, hn::IsNaN(v)), quiet, rounded);
}

// Stores the first n lanes of v (n <= Lanes(d)) as f32, or rounded once to bf16.
// A partial vector goes through a stack buffer: no access past n elements.
template <class D>
HWY_INLINE void StoreOut(D d, hn::Vec<D> v, float* p, size_t n) {
  if (n == hn::Lanes(d)) return hn::StoreU(v, d, p);
  alignas(64) float buf[kMaxLanes];
  hn::StoreU(v, d, buf);
  std::memcpy(p, buf, n * sizeof(float));
}
template <class D>
HWY_INLINE void StoreOut(D d, hn::Vec<D> v, uint16_t* p, size_t n) {
  const hn::Rebind<int32_t, D> di;
  const hn::Rebind<uint16_t, D> d16;
  const auto b = hn::DemoteTo(d16, hn::BitCast(di, Bf16Bits(d, v)));
  if (n == hn::Lanes(d)) return hn::StoreU(b, d16, p);
  alignas(64) uint16_t buf[kMaxLanes];
  hn::StoreU(b, d16, buf);
  std::memcpy(p, buf, n * sizeof(uint16_t));
}

// Scalar copy of the same rounding (borders and tails computed one element at a time).
HWY_INLINE void StoreS(float v, float* p) {
  *p = v;
}
HWY_INLINE void StoreS(float v, uint16_t* p) {
  *p = f32_to_bf16(v);
}

}  // namespace oomless::ops::conv::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // OOMLESS_CONV_SIMD_INL_H_
