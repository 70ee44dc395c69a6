// max_pool2d kernels (Highway, dynamic dispatch). NCHW vectorizes over output
// columns of a row (stride 1 or 2; other strides and the padded border columns
// take the scalar path); NHWC vectorizes over channels. Both visit the taps of
// a window in torch's order, so NaN and tie handling match it exactly.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/max_pool2d/pool_simd.cpp"
#include <hwy/cache_control.h>
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/max_pool2d/kernels.hpp"

HWY_BEFORE_NAMESPACE();
namespace oomless::ops::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

HWY_INLINE float LoadS(const float* p) {
  return *p;
}
HWY_INLINE float LoadS(const uint16_t* p) {
  return bf16_to_f32(*p);
}
HWY_INLINE void StoreS(float v, float* p) {
  *p = v;
}
HWY_INLINE void StoreS(float v, uint16_t* p) {
  *p = f32_to_bf16(v);
}

// First tap of a window at or after 0 (torch steps by the dilation).
HWY_INLINE int64_t FirstValid(int64_t start, int64_t dil) {
  return start >= 0 ? start : start + (-start + dil - 1) / dil * dil;
}

// One output element exactly as torch's scalar loop; `pix` is the element
// distance between pixels (1 for NCHW, C for NHWC).
template <class T>
HWY_INLINE void Point(const PoolGeom& g, const T* in, int64_t row0, int64_t pix, int64_t oh,
                      int64_t ow, T* out, int32_t* idx) {
  const int64_t hs = oh * g.sh - g.ph, ws = ow * g.sw - g.pw;
  const int64_t ih1 = std::min(hs + (g.kh - 1) * g.dh + 1, g.H);
  const int64_t iw1 = std::min(ws + (g.kw - 1) * g.dw + 1, g.W);
  const int64_t ih0 = FirstValid(hs, g.dh), iw0 = FirstValid(ws, g.dw);
  int64_t mi = ih0 * g.W + iw0;
  float mv = -std::numeric_limits<float>::infinity();
  for (int64_t ih = ih0; ih < ih1; ih += g.dh)
    for (int64_t iw = iw0; iw < iw1; iw += g.dw) {
      const float v = LoadS(in + ((ih - row0) * g.W + iw) * pix);
      if (v > mv || std::isnan(v)) {
        mv = v;
        mi = ih * g.W + iw;
      }
    }
  StoreS(mv, out);
  *idx = static_cast<int32_t>(mi);
}

using DF = hn::ScalableTag<float>;
using DI = hn::RebindToSigned<DF>;
using DU = hn::RebindToUnsigned<DF>;
using VF = hn::Vec<DF>;

// N consecutive elements (SW 1) or every other element (SW 2), widened to f32.
template <int SW>
HWY_INLINE VF LoadF(DF df, const float* p) {
  if constexpr (SW == 1) {
    return hn::LoadU(df, p);
  } else {
    VF even, odd;
    hn::LoadInterleaved2(df, p, even, odd);
    return even;
  }
}
template <int SW>
HWY_INLINE VF LoadF(DF df, const uint16_t* p) {
  const DU du;
  if constexpr (SW == 1) {
    const hn::Rebind<uint16_t, DF> d16;
    return hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(du, hn::LoadU(d16, p))));
  } else {  // pairs of bf16 as u32: the even element is the low half
    return hn::BitCast(df, hn::ShiftLeft<16>(hn::LoadU(du, reinterpret_cast<const uint32_t*>(p))));
  }
}

// Even and odd elements of 2N consecutive ones.
HWY_INLINE void LoadPair(DF df, const float* p, VF& even, VF& odd) {
  hn::LoadInterleaved2(df, p, even, odd);
}
HWY_INLINE void LoadPair(DF df, const uint16_t* p, VF& even, VF& odd) {
  const DU du;
  const auto u = hn::LoadU(du, reinterpret_cast<const uint32_t*>(p));
  even = hn::BitCast(df, hn::ShiftLeft<16>(u));
  odd = hn::BitCast(df, hn::And(u, hn::Set(du, 0xFFFF0000u)));
}

HWY_INLINE void StoreF(VF v, DF df, float* p) {
  hn::StoreU(v, df, p);
}
HWY_INLINE void StoreF(VF v, DF, uint16_t* p) {
  // Values are bf16 inputs, so dropping the low half is exact.
  const DI di;
  const hn::Rebind<uint16_t, DF> d16;
  hn::StoreU(hn::DemoteTo(d16, hn::BitCast(di, hn::ShiftRight<16>(hn::BitCast(DU(), v)))), d16, p);
}

HWY_INLINE void Update(VF v, hn::Vec<DI> iv, VF& mv, hn::Vec<DI>& mi) {
  const auto m = hn::Or(hn::Gt(v, mv), hn::IsNaN(v));
  mv = hn::IfThenElse(m, v, mv);
  mi = hn::IfThenElse(hn::RebindMask(DI(), m), iv, mi);
}

template <class T, int SW>
void RowsNCHW(const PoolGeom& g, const T* in, int64_t row0, T* out, int32_t* idx, int64_t oh0,
              int64_t oh1) {
  const DF df;
  const DI di;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  // Columns whose whole window (plus SW-1 elements read by interleaved loads)
  // lies inside the row: [owa, owb).
  const int64_t owa = std::min(g.OW, (g.pw + g.sw - 1) / g.sw);
  const int64_t last = g.W - ((g.kw - 1) * g.dw + g.sw) + g.pw;
  const int64_t owb = std::max(owa, std::min(g.OW, last < 0 ? 0 : last / g.sw + 1));
  const auto lane_step = hn::Mul(hn::Iota(di, 0), hn::Set(di, static_cast<int32_t>(g.sw)));
  const bool pair = SW == 2 && g.kw == 2 && g.dw == 1;
  for (int64_t oh = oh0; oh < oh1; ++oh) {
    T* orow = out + (oh - oh0) * g.OW;
    int32_t* irow = idx + (oh - oh0) * g.OW;
    const int64_t hs = oh * g.sh - g.ph;
    const int64_t ih0 = FirstValid(hs, g.dh), ih1 = std::min(hs + (g.kh - 1) * g.dh + 1, g.H);
    int64_t ow = 0;
    if (SW > 0 && ih0 < ih1) {
      for (; ow < owa; ++ow) Point(g, in, row0, 1, oh, ow, orow + ow, irow + ow);
      // Outputs are pure functions of the input, so the last vector may
      // overlap the previous one instead of leaving a scalar tail.
      auto vec = [&](int64_t ow) {
        const int64_t ws = ow * g.sw - g.pw;
        VF mv = hn::Set(df, -std::numeric_limits<float>::infinity());
        auto mi = hn::Add(hn::Set(di, static_cast<int32_t>(ih0 * g.W + ws)), lane_step);
        for (int64_t ih = ih0; ih < ih1; ih += g.dh) {
          const T* row = in + (ih - row0) * g.W;
          hwy::Prefetch(row + ws + 24 * N * SW);  // rows are short streams; help the prefetcher
          if (pair) {  // 2-wide window, stride 2: one load gives both taps
            VF even, odd;
            LoadPair(df, row + ws, even, odd);
            const auto iv = hn::Add(hn::Set(di, static_cast<int32_t>(ih * g.W + ws)), lane_step);
            Update(even, iv, mv, mi);
            Update(odd, hn::Add(iv, hn::Set(di, 1)), mv, mi);
            continue;
          }
          for (int64_t k = 0; k < g.kw; ++k) {
            const int64_t iw = ws + k * g.dw;
            const auto iv = hn::Add(hn::Set(di, static_cast<int32_t>(ih * g.W + iw)), lane_step);
            Update(LoadF<SW>(df, row + iw), iv, mv, mi);
          }
        }
        StoreF(mv, df, orow + ow);
        hn::StoreU(mi, di, irow + ow);
      };
      for (; ow + N <= owb; ow += N) vec(ow);
      if (ow < owb && owb - owa >= N) {
        vec(owb - N);
        ow = owb;
      }
    }
    for (; ow < g.OW; ++ow) Point(g, in, row0, 1, oh, ow, orow + ow, irow + ow);
  }
}

template <class T>
void RowsNHWC(const PoolGeom& g, int64_t C, const T* in, int64_t row0, T* out, int32_t* idx,
              int64_t oh0, int64_t oh1) {
  const DF df;
  const DI di;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  for (int64_t oh = oh0; oh < oh1; ++oh) {
    const int64_t hs = oh * g.sh - g.ph;
    const int64_t ih0 = FirstValid(hs, g.dh), ih1 = std::min(hs + (g.kh - 1) * g.dh + 1, g.H);
    for (int64_t ow = 0; ow < g.OW; ++ow) {
      const int64_t ws = ow * g.sw - g.pw;
      const int64_t iw0 = FirstValid(ws, g.dw), iw1 = std::min(ws + (g.kw - 1) * g.dw + 1, g.W);
      T* o = out + ((oh - oh0) * g.OW + ow) * C;
      int32_t* ix = idx + ((oh - oh0) * g.OW + ow) * C;
      int64_t c = 0;
      auto vec = [&](int64_t c) {
        VF mv = hn::Set(df, -std::numeric_limits<float>::infinity());
        auto mi = hn::Set(di, static_cast<int32_t>(ih0 * g.W + iw0));
        for (int64_t ih = ih0; ih < ih1; ih += g.dh)
          for (int64_t iw = iw0; iw < iw1; iw += g.dw)
            Update(LoadF<1>(df, in + ((ih - row0) * g.W + iw) * C + c),
                   hn::Set(di, static_cast<int32_t>(ih * g.W + iw)), mv, mi);
        StoreF(mv, df, o + c);
        hn::StoreU(mi, di, ix + c);
      };
      for (; c + N <= C; c += N) vec(c);
      if (c < C && C >= N) {  // overlapping last vector instead of a scalar tail
        vec(C - N);
        c = C;
      }
      for (; c < C; ++c) Point(g, in + c, row0, C, oh, ow, o + c, ix + c);
    }
  }
}

template <class T>
void DispatchNCHW(const PoolGeom& g, const T* in, int64_t row0, T* out, int32_t* idx, int64_t oh0,
                  int64_t oh1) {
  if (g.sw == 1) return RowsNCHW<T, 1>(g, in, row0, out, idx, oh0, oh1);
  if (g.sw == 2) return RowsNCHW<T, 2>(g, in, row0, out, idx, oh0, oh1);
  RowsNCHW<T, 0>(g, in, row0, out, idx, oh0, oh1);
}

void PoolNCHW32(const PoolGeom& g, const float* in, int64_t row0, float* out, int32_t* idx,
                int64_t oh0, int64_t oh1) {
  DispatchNCHW(g, in, row0, out, idx, oh0, oh1);
}
void PoolNCHW16(const PoolGeom& g, const uint16_t* in, int64_t row0, uint16_t* out, int32_t* idx,
                int64_t oh0, int64_t oh1) {
  DispatchNCHW(g, in, row0, out, idx, oh0, oh1);
}
void PoolNHWC32(const PoolGeom& g, int64_t C, const float* in, int64_t row0, float* out,
                int32_t* idx, int64_t oh0, int64_t oh1) {
  RowsNHWC(g, C, in, row0, out, idx, oh0, oh1);
}
void PoolNHWC16(const PoolGeom& g, int64_t C, const uint16_t* in, int64_t row0, uint16_t* out,
                int32_t* idx, int64_t oh0, int64_t oh1) {
  RowsNHWC(g, C, in, row0, out, idx, oh0, oh1);
}

}  // namespace oomless::ops::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace oomless::ops {
HWY_EXPORT(PoolNCHW32);
HWY_EXPORT(PoolNCHW16);
HWY_EXPORT(PoolNHWC32);
HWY_EXPORT(PoolNHWC16);

void max_pool2d_rows(const PoolGeom& g, DType t, const void* in, int64_t in_row0, void* out,
                     int32_t* idx, int64_t oh0, int64_t oh1) {
  if (t == DType::F32)
    return HWY_DYNAMIC_DISPATCH(PoolNCHW32)(g, static_cast<const float*>(in), in_row0,
                                            static_cast<float*>(out), idx, oh0, oh1);
  HWY_DYNAMIC_DISPATCH(PoolNCHW16)
  (g, static_cast<const uint16_t*>(in), in_row0, static_cast<uint16_t*>(out), idx, oh0, oh1);
}

void max_pool2d_rows_nhwc(const PoolGeom& g, int64_t C, DType t, const void* in, int64_t in_row0,
                          void* out, int32_t* idx, int64_t oh0, int64_t oh1) {
  if (t == DType::F32)
    return HWY_DYNAMIC_DISPATCH(PoolNHWC32)(g, C, static_cast<const float*>(in), in_row0,
                                            static_cast<float*>(out), idx, oh0, oh1);
  HWY_DYNAMIC_DISPATCH(PoolNHWC16)
  (g, C, static_cast<const uint16_t*>(in), in_row0, static_cast<uint16_t*>(out), idx, oh0, oh1);
}
}  // namespace oomless::ops
#endif
