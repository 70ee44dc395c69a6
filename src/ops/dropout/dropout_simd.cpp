// Vectorized Philox dropout (Highway, dynamic dispatch): lane i of the state
// vectors runs the Philox block q0 + i, StoreInterleaved4 puts the 4 words of
// each block in element order, then the elements are masked and scaled in f32.
// Bit-identical to the scalar definition in dropout_kernel.cpp.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/dropout/dropout_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <cmath>

#include "ops/dropout/kernels.hpp"

HWY_BEFORE_NAMESPACE();
namespace oomless::ops::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

#if HWY_TARGET != HWY_SCALAR
using DU = hn::ScalableTag<uint32_t>;
using DF = hn::Rebind<float, DU>;
using DU64 = hn::RepartitionToWide<DU>;
using VU = hn::Vec<DU>;

// 32x32 -> 64-bit products of every lane, split into high and low words.
HWY_INLINE void MulHiLo(VU a, VU m, VU& hi, VU& lo) {
  const DU du;
  const DU64 d64;
  const auto pe = hn::MulEven(a, m);
  const auto po = hn::MulEven(hn::BitCast(du, hn::ShiftRight<32>(hn::BitCast(d64, a))), m);
  lo = hn::OddEven(hn::BitCast(du, hn::ShiftLeft<32>(po)), hn::BitCast(du, pe));
  hi = hn::OddEven(hn::BitCast(du, po), hn::BitCast(du, hn::ShiftRight<32>(pe)));
}

// Words of Philox blocks q_lo + lane (all lanes share q_hi), in element order.
HWY_INLINE void Blocks(uint32_t q_lo, uint32_t q_hi, uint32_t k0, uint32_t k1, uint32_t* words) {
  const DU du;
  const VU m0 = hn::Set(du, 0xD2511F53u), m1 = hn::Set(du, 0xCD9E8D57u);
  VU c0 = hn::Add(hn::Set(du, q_lo), hn::Iota(du, 0)), c1 = hn::Set(du, q_hi);
  VU c2 = hn::Zero(du), c3 = hn::Zero(du);
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    VU hi0, lo0, hi1, lo1;
    MulHiLo(c0, m0, hi0, lo0);
    MulHiLo(c2, m1, hi1, lo1);
    c0 = hn::Xor(hn::Xor(hi1, c1), hn::Set(du, k0));
    c2 = hn::Xor(hn::Xor(hi0, c3), hn::Set(du, k1));
    c1 = lo1;
    c3 = lo0;
  }
  hn::StoreInterleaved4(c0, c1, c2, c3, du, words);
}

HWY_INLINE hn::Vec<DF> LoadF(const float* p) {
  return hn::LoadU(DF(), p);
}
HWY_INLINE hn::Vec<DF> LoadF(const uint16_t* p) {
  const hn::Rebind<uint16_t, DU> d16;
  return hn::BitCast(DF(), hn::ShiftLeft<16>(hn::PromoteTo(DU(), hn::LoadU(d16, p))));
}
HWY_INLINE void StoreF(hn::Vec<DF> v, float* p) {
  hn::StoreU(v, DF(), p);
}
HWY_INLINE void StoreF(hn::Vec<DF> v, uint16_t* p) {
  // Round to nearest even as f32_to_bf16 does; NaN keeps its top bits, quiet.
  const DU du;
  const hn::RebindToSigned<DU> di;
  const hn::Rebind<uint16_t, DU> d16;
  const VU u = hn::BitCast(du, v);
  const VU bias = hn::Add(hn::Set(du, 0x7FFFu), hn::And(hn::ShiftRight<16>(u), hn::Set(du, 1u)));
  const VU rounded = hn::ShiftRight<16>(hn::Add(u, bias));
  const VU nan = hn::Or(hn::ShiftRight<16>(u), hn::Set(du, 0x40u));
  const VU r = hn::IfThenElse(hn::RebindMask(du, hn::IsNaN(v)), nan, rounded);
  hn::StoreU(hn::DemoteTo(d16, hn::BitCast(di, r)), d16, p);
}
#endif

template <class T>
void Range(const T* in, T* out, T* mask, int64_t count, uint64_t first, uint64_t seed, double p) {
  int64_t j = 0;
#if HWY_TARGET != HWY_SCALAR
  const DU du;
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(du));
  const double keep_p = 1.0 - p;
  // keep iff (w >> 8) * 2^-24 < keep_p  <=>  (w >> 8) < ceil(keep_p * 2^24).
  const auto thr = hn::Set(du, static_cast<uint32_t>(std::ceil(keep_p * 0x1p24)));
  const auto scale = hn::Set(df, keep_p == 0 ? 0.0f : static_cast<float>(1.0 / keep_p));
  const auto one = hn::Set(df, 1.0f);
  const uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  HWY_ALIGN uint32_t words[4 * HWY_MAX_BYTES / 4];
  // Scalar up to a block boundary, then 4N elements (N blocks) per step.
  const int64_t head = std::min<int64_t>(count, static_cast<int64_t>((4 - first % 4) % 4));
  dropout_range_scalar(in, out, mask, head, first, seed, p);
  j = head;
  for (; j + 4 * N <= count; j += 4 * N) {
    const uint64_t q = (first + static_cast<uint64_t>(j)) / 4;
    if (static_cast<uint32_t>(q) > 0xFFFFFFFFu - static_cast<uint32_t>(N)) break;  // carry: scalar
    Blocks(static_cast<uint32_t>(q), static_cast<uint32_t>(q >> 32), k0, k1, words);
    for (int64_t v = 0; v < 4; ++v) {
      const int64_t e = j + v * N;
      const auto w = hn::Load(du, words + v * N);
      const auto m = hn::IfThenElseZero(hn::RebindMask(df, hn::Lt(hn::ShiftRight<8>(w), thr)), one);
      StoreF(hn::Mul(hn::Mul(LoadF(in + e), m), scale), out + e);
      StoreF(m, mask + e);
    }
  }
#endif
  dropout_range_scalar(in + j, out + j, mask + j, count - j, first + static_cast<uint64_t>(j), seed,
                       p);
}

void Range32(const float* in, float* out, float* mask, int64_t count, uint64_t first, uint64_t seed,
             double p) {
  Range(in, out, mask, count, first, seed, p);
}
void Range16(const uint16_t* in, uint16_t* out, uint16_t* mask, int64_t count, uint64_t first,
             uint64_t seed, double p) {
  Range(in, out, mask, count, first, seed, p);
}

}  // namespace oomless::ops::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace oomless::ops {
HWY_EXPORT(Range32);
HWY_EXPORT(Range16);

void dropout_range(DType t, const void* in, void* out, void* mask, int64_t count, uint64_t first,
                   uint64_t seed, double p) {
  if (t == DType::F32)
    return HWY_DYNAMIC_DISPATCH(Range32)(static_cast<const float*>(in), static_cast<float*>(out),
                                         static_cast<float*>(mask), count, first, seed, p);
  HWY_DYNAMIC_DISPATCH(Range16)
  (static_cast<const uint16_t*>(in), static_cast<uint16_t*>(out), static_cast<uint16_t*>(mask),
   count, first, seed, p);
}
}  // namespace oomless::ops
#endif
