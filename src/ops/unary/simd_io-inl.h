// Per-target f32/bf16 loads and stores shared by the SIMD kernel files (include
// after hwy/highway.h inside a foreach_target TU). bf16 is carried as uint16_t
// bits. Highway 1.0.3's DemoteTo(bf16) truncates, so stores round to nearest
// even with integer ops and keep NaN quiet, exactly like core f32_to_bf16.
#if defined(OOMLESS_OPS_SIMD_IO_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef OOMLESS_OPS_SIMD_IO_INL_H_
#undef OOMLESS_OPS_SIMD_IO_INL_H_
#else
#define OOMLESS_OPS_SIMD_IO_INL_H_
#endif

#include <cstdint>
#include <cstring>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace oomless::ops::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Largest lane count of any target, for stack tails.
constexpr size_t kMaxLanesF32 = HWY_MAX_BYTES / sizeof(float);

template <class DF>
HWY_INLINE hn::VFromD<DF> LoadF(DF df, const float* p) {
  return hn::LoadU(df, p);
}

template <class DF>
HWY_INLINE hn::VFromD<DF> LoadF(DF df, const uint16_t* p) {
  const hn::Rebind<uint16_t, DF> du16;
  const hn::RebindToUnsigned<DF> du32;
  return hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(du32, hn::LoadU(du16, p))));
}

template <class DF>
HWY_INLINE void StoreF(DF df, hn::VFromD<DF> v, float* p) {
  hn::StoreU(v, df, p);
}

template <class DF>
HWY_INLINE void StoreF(DF /*df*/, hn::VFromD<DF> v, uint16_t* p) {
  const hn::RebindToUnsigned<DF> du;
  const hn::RebindToSigned<DF> di;
  const hn::Rebind<uint16_t, DF> du16;
  const auto u = hn::BitCast(du, v);
  const auto lsb = hn::And(hn::ShiftRight<16>(u), hn::Set(du, 1u));
  const auto rne = hn::ShiftRight<16>(hn::Add(hn::Add(u, hn::Set(du, 0x7fffu)), lsb));
  const auto quiet = hn::ShiftRight<16>(hn::Or(u, hn::Set(du, 0x00400000u)));
  const auto bits = hn::IfThenElse(hn::RebindMask(du, hn::IsNaN(v)), quiet, rne);
  // Values are < 2^16, so the saturating i32 -> u16 demotion is exact.
  hn::StoreU(hn::DemoteTo(du16, hn::BitCast(di, bits)), du16, p);
}

// out[i] = f(in[i]) for n elements, computing in f32. `in` may equal `out`.
// The tail goes through a padded stack vector so f always sees whole vectors.
template <class TI, class TO, class F>
HWY_INLINE void MapF32(const TI* in, TO* out, int64_t n, const F& f) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto a = f(df, LoadF(df, in + i));
    const auto b = f(df, LoadF(df, in + i + N));
    StoreF(df, a, out + i);
    StoreF(df, b, out + i + N);
  }
  for (; i + N <= n; i += N) StoreF(df, f(df, LoadF(df, in + i)), out + i);
  if (i < n) {
    TI tin[kMaxLanesF32] = {};
    TO tout[kMaxLanesF32];
    const size_t rest = static_cast<size_t>(n - i);
    std::memcpy(tin, in + i, rest * sizeof(TI));
    StoreF(df, f(df, LoadF(df, tin)), tout);
    std::memcpy(out + i, tout, rest * sizeof(TO));
  }
}

}  // namespace oomless::ops::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // OOMLESS_OPS_SIMD_IO_INL_H_
