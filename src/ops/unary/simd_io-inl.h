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

#include <algorithm>
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

// f32 -> bf16 bits, round to nearest even, NaN kept quiet.
template <class DF>
HWY_INLINE hn::VFromD<hn::Rebind<uint16_t, DF>> ToBF16(DF /*df*/, hn::VFromD<DF> v) {
  const hn::RebindToUnsigned<DF> du;
  const hn::RebindToSigned<DF> di;
  const hn::Rebind<uint16_t, DF> du16;
  const auto u = hn::BitCast(du, v);
  const auto lsb = hn::And(hn::ShiftRight<16>(u), hn::Set(du, 1u));
  const auto rne = hn::ShiftRight<16>(hn::Add(hn::Add(u, hn::Set(du, 0x7fffu)), lsb));
  const auto quiet = hn::ShiftRight<16>(hn::Or(u, hn::Set(du, 0x00400000u)));
  const auto bits = hn::IfThenElse(hn::RebindMask(du, hn::IsNaN(v)), quiet, rne);
  // Values are < 2^16, so the saturating i32 -> u16 demotion is exact.
  return hn::DemoteTo(du16, hn::BitCast(di, bits));
}

template <class DF>
HWY_INLINE void StoreF(DF df, hn::VFromD<DF> v, float* p) {
  hn::StoreU(v, df, p);
}
template <class DF>
HWY_INLINE void StoreF(DF df, hn::VFromD<DF> v, uint16_t* p) {
  hn::StoreU(ToBF16(df, v), hn::Rebind<uint16_t, DF>(), p);
}

// Non-temporal stores (p aligned to the stored vector): outputs far larger
// than the caches then skip the read-for-ownership of each line.
template <class DF>
HWY_INLINE void StreamF(DF df, hn::VFromD<DF> v, float* p) {
  hn::Stream(v, df, p);
}
template <class DF>
HWY_INLINE void StreamF(DF df, hn::VFromD<DF> v, uint16_t* p) {
  hn::Stream(ToBF16(df, v), hn::Rebind<uint16_t, DF>(), p);
}

// Fewer than Lanes elements through a padded stack vector (zeros in the pad).
template <class TI, class TO, class F>
HWY_INLINE void MapPartial(const TI* in, TO* out, int64_t count, const F& f) {
  const hn::ScalableTag<float> df;
  TI tin[kMaxLanesF32] = {};
  TO tout[kMaxLanesF32];
  std::memcpy(tin, in, static_cast<size_t>(count) * sizeof(TI));
  StoreF(df, f(df, LoadF(df, tin)), tout);
  std::memcpy(out, tout, static_cast<size_t>(count) * sizeof(TO));
}

// out[i] = f(in[i]) for n elements, computing in f32. `in` may equal `out`.
// f always sees whole vectors and lanes are independent, so an element's
// result never depends on where a call starts. kStream uses non-temporal
// stores for the aligned middle (callers fence with hwy::FlushStream()).
template <bool kStream = false, class TI, class TO, class F>
HWY_INLINE void MapF32(const TI* in, TO* out, int64_t n, const F& f) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  if constexpr (kStream) {
    const auto addr = reinterpret_cast<uintptr_t>(out);
    const uintptr_t vbytes = static_cast<uintptr_t>(N) * sizeof(TO);
    if (addr % sizeof(TO) == 0) {
      const int64_t head = std::min<int64_t>(
          n, static_cast<int64_t>((vbytes - addr % vbytes) % vbytes / sizeof(TO)));
      if (head > 0) MapPartial(in, out, head, f);  // head < N
      i = head;
      for (; i + 2 * N <= n; i += 2 * N) {
        const auto a = f(df, LoadF(df, in + i));
        const auto b = f(df, LoadF(df, in + i + N));
        StreamF(df, a, out + i);
        StreamF(df, b, out + i + N);
      }
    }
  }
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto a = f(df, LoadF(df, in + i));
    const auto b = f(df, LoadF(df, in + i + N));
    StoreF(df, a, out + i);
    StoreF(df, b, out + i + N);
  }
  for (; i + N <= n; i += N) StoreF(df, f(df, LoadF(df, in + i)), out + i);
  if (i < n) MapPartial(in + i, out + i, n - i, f);
}

}  // namespace oomless::ops::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // OOMLESS_OPS_SIMD_IO_INL_H_
