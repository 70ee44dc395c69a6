// The NCHW implicit GEMM's B panels (gemm_conv.cpp): 32 output pixels x a run of
// kernel steps, unit (step s, pixel l) = the input under tap t of pixel l at the
// step's channel (f32), or the channel pair (c, c + 1) as one 32-bit unit with the
// even channel in the low half (bf16; the pad channel of an odd count is zero).
// Padding reads as zero. Pixels one or two columns apart in the input (stride 1 or
// 2, the whole panel inside the row) are loaded as vectors, others one at a time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/conv/pack_simd.cpp"
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SSSE3 | HWY_SSE4)
#endif
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <cstring>

#include "ops/conv/pack.hpp"

HWY_BEFORE_NAMESPACE();
namespace oomless::ops::conv::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// One step of one panel: 32 units at dst. r0 / r1: the input row of the step's
// channel(s) (r1 null: zero), iw0 the input column of pixel 0, nr valid pixels.
template <bool kBf16>
void Step(const void* r0v, const void* r1v, int64_t iw0, int64_t sw, int64_t W, int64_t nr,
          uint32_t* dst) {
  const hn::ScalableTag<uint32_t> du;
  const int64_t N = static_cast<int64_t>(hn::Lanes(du));
  const bool vec = nr == 32 && iw0 >= 0 && (sw == 1 || sw == 2) && iw0 + 32 * sw <= W;
  if constexpr (!kBf16) {
    const uint32_t* r0 = static_cast<const uint32_t*>(r0v);
    if (vec && sw == 1) {
      for (int64_t l = 0; l < 32; l += N) hn::StoreU(hn::LoadU(du, r0 + iw0 + l), du, dst + l);
      return;
    }
#if HWY_TARGET != HWY_SCALAR
    if (vec) {
      for (int64_t l = 0; l < 32; l += N) {
        const auto lo = hn::LoadU(du, r0 + iw0 + 2 * l);
        const auto hi = hn::LoadU(du, r0 + iw0 + 2 * l + N);
        hn::StoreU(hn::ConcatEven(du, hi, lo), du, dst + l);
      }
      return;
    }
#endif
    for (int64_t l = 0; l < 32; ++l) {
      const int64_t iw = iw0 + l * sw;
      dst[l] = l < nr && iw >= 0 && iw < W ? r0[iw] : 0u;
    }
  } else {
    const uint16_t* r0 = static_cast<const uint16_t*>(r0v);
    const uint16_t* r1 = static_cast<const uint16_t*>(r1v);
    if (vec && sw == 1) {
      const hn::Rebind<uint16_t, decltype(du)> d16;
      for (int64_t l = 0; l < 32; l += N) {
        auto u = hn::PromoteTo(du, hn::LoadU(d16, r0 + iw0 + l));
        if (r1) u = hn::Or(u, hn::ShiftLeft<16>(hn::PromoteTo(du, hn::LoadU(d16, r1 + iw0 + l))));
        hn::StoreU(u, du, dst + l);
      }
      return;
    }
    if (vec) {  // pairs of columns as one u32: the even column is the low half
      const auto low = hn::Set(du, 0xffffu);
      for (int64_t l = 0; l < 32; l += N) {
        auto u = hn::And(hn::LoadU(du, reinterpret_cast<const uint32_t*>(r0 + iw0 + 2 * l)), low);
        if (r1)
          u = hn::Or(u, hn::ShiftLeft<16>(
                            hn::LoadU(du, reinterpret_cast<const uint32_t*>(r1 + iw0 + 2 * l))));
        hn::StoreU(u, du, dst + l);
      }
      return;
    }
    for (int64_t l = 0; l < 32; ++l) {
      const int64_t iw = iw0 + l * sw;
      uint32_t u = 0;
      if (l < nr && iw >= 0 && iw < W) {
        u = r0[iw];
        if (r1) u |= static_cast<uint32_t>(r1[iw]) << 16;
      }
      dst[l] = u;
    }
  }
}

template <bool kBf16>
void Pack(const NchwPanels& p, int64_t q0, int64_t q1, int64_t s0, int64_t ks, uint32_t* dst) {
  using T = std::conditional_t<kBf16, uint16_t, uint32_t>;
  const T* x = static_cast<const T*>(p.x);
  const int64_t P = p.OH * p.OW;
  for (int64_t q = q0; q < q1; ++q) {
    uint32_t* d = dst + (q - q0) * ks * 32;
    int64_t nr, gh = 0, iw_base;
    const T* plane = x;  // pixel 0 of the panel's row (flat: of the panel) in channel 0
    if (p.flat) {
      const int64_t p0 = q * 32;
      nr = std::min<int64_t>(32, P - p0);
      plane = x + p.flat_off;
      iw_base = p0;
    } else {
      const int64_t oh = q / p.ppr, ow0 = q % p.ppr * 32;
      nr = std::min<int64_t>(32, p.OW - ow0);
      gh = p.row0 + oh;
      iw_base = ow0 * p.sw - p.pw;
    }
    for (int64_t s = s0; s < s0 + ks; ++s) {
      uint32_t* ds = d + (s - s0) * 32;
      const int64_t t = s / p.upt, u = s % p.upt;
      const int64_t c = kBf16 ? 2 * u : u;
      const T* r0;
      int64_t iw0, W;
      if (p.flat) {
        r0 = plane + c * p.xs_c;
        iw0 = iw_base;
        W = P;
      } else {
        const int64_t i = t / p.kw, j = t % p.kw;
        const int64_t ih = gh * p.sh - p.ph + i * p.dh;
        if (ih < 0 || ih >= p.full_h) {
          std::memset(ds, 0, 32 * 4);
          continue;
        }
        r0 = x + c * p.xs_c + (ih - p.in_row0) * p.xs_h;
        iw0 = iw_base + j * p.dw;
        W = p.W;
      }
      const T* r1 = kBf16 && c + 1 < p.cpg ? r0 + p.xs_c : nullptr;
      Step<kBf16>(r0, r1, iw0, p.flat ? 1 : p.sw, W, nr, ds);
    }
  }
}

void PackF32(const NchwPanels& p, int64_t q0, int64_t q1, int64_t s0, int64_t ks, uint32_t* dst) {
  Pack<false>(p, q0, q1, s0, ks, dst);
}
void PackBf16(const NchwPanels& p, int64_t q0, int64_t q1, int64_t s0, int64_t ks,
              uint32_t* dst) {
  Pack<true>(p, q0, q1, s0, ks, dst);
}

}  // namespace oomless::ops::conv::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace oomless::ops::conv {
HWY_EXPORT(PackF32);
HWY_EXPORT(PackBf16);

void pack_nchw_panels(const NchwPanels& p, int64_t q0, int64_t q1, int64_t s0, int64_t ks,
                      uint32_t* dst) {
  if (p.bf16) return HWY_DYNAMIC_DISPATCH(PackBf16)(p, q0, q1, s0, ks, dst);
  HWY_DYNAMIC_DISPATCH(PackF32)(p, q0, q1, s0, ks, dst);
}
}  // namespace oomless::ops::conv
#endif
