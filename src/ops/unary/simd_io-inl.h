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

// f32 bits with the bf16 result in the upper half: round to nearest even,
// NaN kept quiet (as core f32_to_bf16).
template <class DF>
HWY_INLINE hn::VFromD<hn::RebindToUnsigned<DF>> RoundToBF16Hi(DF /*df*/, hn::VFromD<DF> v) {
  const hn::RebindToUnsigned<DF> du;
  const auto u = hn::BitCast(du, v);
  const auto lsb = hn::And(hn::ShiftRight<16>(u), hn::Set(du, 1u));
  const auto rne = hn::Add(hn::Add(u, hn::Set(du, 0x7fffu)), lsb);
  const auto quiet = hn::Or(u, hn::Set(du, 0x00400000u));
  return hn::IfThenElse(hn::RebindMask(du, hn::IsNaN(v)), quiet, rne);
}

// f32 -> bf16 bits (one vector, half width).
template <class DF>
HWY_INLINE hn::VFromD<hn::Rebind<uint16_t, DF>> ToBF16(DF df, hn::VFromD<DF> v) {
  const hn::RebindToSigned<DF> di;
  const auto bits = hn::ShiftRight<16>(RoundToBF16Hi(df, v));
  // Values are < 2^16, so the saturating i32 -> u16 demotion is exact.
  return hn::DemoteTo(hn::Rebind<uint16_t, DF>(), hn::BitCast(di, bits));
}

template <class DF>
HWY_INLINE void StoreF(DF df, hn::VFromD<DF> v, float* p) {
  hn::StoreU(v, df, p);
}
template <class DF>
HWY_INLINE void StoreF(DF df, hn::VFromD<DF> v, uint16_t* p) {
  hn::StoreU(ToBF16(df, v), hn::Rebind<uint16_t, DF>(), p);
}

// Two vectors a, b to p[0, 2N). For bf16 one two-source shuffle of the upper
// halves replaces two demotions (pack + permute each).
template <bool kStream, class DF>
HWY_INLINE void StoreF2(DF df, hn::VFromD<DF> a, hn::VFromD<DF> b, float* p) {
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  if constexpr (kStream) {
    hn::Stream(a, df, p);
    hn::Stream(b, df, p + N);
  } else {
    hn::StoreU(a, df, p);
    hn::StoreU(b, df, p + N);
  }
}
template <bool kStream, class DF>
HWY_INLINE void StoreF2(DF df, hn::VFromD<DF> a, hn::VFromD<DF> b, uint16_t* p) {
#if HWY_TARGET == HWY_SCALAR
  StoreF(df, a, p);
  StoreF(df, b, p + 1);
#else
  const hn::Repartition<uint16_t, DF> dw;  // 2N lanes
  const auto v = hn::ConcatOdd(dw, hn::BitCast(dw, RoundToBF16Hi(df, b)),
                               hn::BitCast(dw, RoundToBF16Hi(df, a)));
  if constexpr (kStream)
    hn::Stream(v, dw, p);
  else
    hn::StoreU(v, dw, p);
#endif
}

// exp(x) in ~17 ops (hn::Exp takes ~22): round-to-int by the 1.5 * 2^23
// trick, Cody-Waite reduction, Highway's f32 polynomial (same accuracy, 1
// ulp), and 2^q applied as two normal powers of two 2^a * 2^b (a = q >> 1),
// so the whole range works: q = 128 overflows to inf only past FLT_MAX and
// results in the subnormal range round once, like a correctly scaled exp.
// Below ln(2^-150) the result is 0, -inf gives 0, NaN gives an unspecified
// finite value (callers handle NaN).
template <class D, class V>
HWY_INLINE V FastExp(D d, V x) {
  const hn::RebindToSigned<D> di;
  const V kMin = hn::Set(d, -103.972077f);  // ln(2^-150): below, exp rounds to 0
  // Just above ln(FLT_MAX), so that larger x still overflow to inf.
  const V xc = hn::Min(hn::Max(x, kMin), hn::Set(d, 88.7229f));
  const V magic = hn::Set(d, 12582912.f);  // 1.5 * 2^23
  const V t = hn::MulAdd(xc, hn::Set(d, 1.44269504088896341f), magic);
  const V q = hn::Sub(t, magic);
  const auto qi = hn::Sub(hn::BitCast(di, t), hn::BitCast(di, magic));  // in [-150, 128]
  V r = hn::MulAdd(q, hn::Set(d, -0.693145751953125f), xc);             // exact (Cody-Waite)
  r = hn::MulAdd(q, hn::Set(d, -1.428606765330187045e-6f), r);
  const V r2 = hn::Mul(r, r);
  const V p01 = hn::MulAdd(hn::Set(d, 0.166666671633720397949219f), r, hn::Set(d, 0.5f));
  const V p23 = hn::MulAdd(hn::Set(d, 0.00833336077630519866943359f), r,
                           hn::Set(d, 0.0416664853692054748535156f));
  const V p45 = hn::MulAdd(hn::Set(d, 0.000198527617612853646278381f), r,
                           hn::Set(d, 0.00139304355252534151077271f));
  const V p = hn::MulAdd(hn::MulAdd(p45, r2, p23), r2, p01);  // Estrin
  const V er = hn::Add(hn::MulAdd(p, r2, r), hn::Set(d, 1.f));
  const auto qa = hn::ShiftRight<1>(qi);  // arithmetic: a = floor(q / 2), b = q - a
  const auto qb = hn::Sub(qi, qa);
  const V scale_a = hn::BitCast(d, hn::ShiftLeft<23>(hn::Add(qa, hn::Set(di, 127))));
  const V scale_b = hn::BitCast(d, hn::ShiftLeft<23>(hn::Add(qb, hn::Set(di, 127))));
  return hn::IfThenZeroElse(hn::Lt(x, kMin), hn::Mul(hn::Mul(er, scale_a), scale_b));
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
    // Streams need the pair of vectors aligned: N f32 or 2N bf16 = N * 4 bytes.
    const auto addr = reinterpret_cast<uintptr_t>(out);
    const uintptr_t vbytes = static_cast<uintptr_t>(N) * sizeof(float);
    if (addr % sizeof(TO) != 0) return MapF32<false>(in, out, n, f);
    const int64_t head =
        std::min<int64_t>(n, static_cast<int64_t>((vbytes - addr % vbytes) % vbytes / sizeof(TO)));
    for (; i < head; i += std::min(N, head - i))
      MapPartial(in + i, out + i, std::min(N, head - i), f);
    for (; i + 2 * N <= n; i += 2 * N)
      StoreF2<true>(df, f(df, LoadF(df, in + i)), f(df, LoadF(df, in + i + N)), out + i);
  }
  for (; i + 2 * N <= n; i += 2 * N)
    StoreF2<false>(df, f(df, LoadF(df, in + i)), f(df, LoadF(df, in + i + N)), out + i);
  for (; i + N <= n; i += N) StoreF(df, f(df, LoadF(df, in + i)), out + i);
  if (i < n) MapPartial(in + i, out + i, n - i, f);
}

}  // namespace oomless::ops::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // OOMLESS_OPS_SIMD_IO_INL_H_
