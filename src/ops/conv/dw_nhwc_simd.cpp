// Depthwise convolution of channels-last images with channels in vector
// lanes, read in place (bf16 widened per load). A tile is P output columns x V
// channel vectors; per tap it loads V weight vectors (packed [tap][channel]
// f32) and P x V input vectors. The last C % Lanes channels run as one-lane
// vectors: the same multiply-add, so a channel's bits do not depend on whether
// it sits in a full vector (the planner cuts depthwise channels anywhere).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/conv/dw_nhwc_simd.cpp"
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SSSE3 | HWY_SSE4)
#endif
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <omp.h>

#include <algorithm>

#include "ops/conv/common.hpp"
#include "ops/conv/simd-inl.hpp"

HWY_BEFORE_NAMESPACE();
namespace oomless::ops::conv::HWY_NAMESPACE {

struct Dw {
  const ConvGeom* g = nullptr;
  ConvArgs a;
  int64_t T = 0, Cp = 0, nb = 0;
  const float* wd = nullptr;    // [T][Cp]
  const float* bias = nullptr;  // [Cp] or null
  const RedBlock* blocks = nullptr;
};

// Columns [ow0, ow0 + P) of output row oh of image n, channels [c0, c0 + V *
// Lanes(d)). kCheck (P == 1): skip the taps outside the row.
template <class T, class D, int P, int V, bool kCheck>
void Tile(D d, const Dw& s, int64_t n, int64_t oh, int64_t ow0, int64_t c0) {
  static_assert(!kCheck || P == 1);
  using V_ = hn::Vec<D>;
  const ConvGeom& G = *s.g;
  const int64_t NL = static_cast<int64_t>(hn::Lanes(d)), gh = G.row0 + oh;
  const T* x = static_cast<const T*>(s.a.x) + n * s.a.xs.n + c0;
  const int64_t step = G.sw * s.a.xs.w;
  V_ acc[P][V];
  // Block b's partial sum into acc (from +0).
  auto accumulate = [&](const RedBlock& rb) HWY_ATTR __attribute__((always_inline)) {
    for (int p = 0; p < P; ++p)
      for (int v = 0; v < V; ++v) acc[p][v] = hn::Zero(d);
    for (int64_t t = rb.t0; t < rb.t1; ++t) {
      const int64_t i = t / G.kw, j = t % G.kw;
      const int64_t ih = gh * G.sh - G.ph + i * G.dh;
      if (ih < 0 || ih >= G.full_h) continue;
      const int64_t iw0 = ow0 * G.sw - G.pw + j * G.dw;
      if (kCheck && (iw0 < 0 || iw0 >= G.W)) continue;
      const T* xp = x + (ih - G.in_row0) * s.a.xs.h + iw0 * s.a.xs.w;
      V_ wv[V];
      for (int v = 0; v < V; ++v) wv[v] = hn::LoadU(d, s.wd + t * s.Cp + c0 + v * NL);
      for (int p = 0; p < P; ++p)
        for (int v = 0; v < V; ++v)
          acc[p][v] = hn::MulAdd(LoadX(d, xp + p * step + v * NL), wv[v], acc[p][v]);
    }
  };
  accumulate(s.blocks[0]);
  if (s.nb > 1) {  // the partials summed in block order
    alignas(64) float tot[P][V][kMaxLanes];
    for (int p = 0; p < P; ++p)
      for (int v = 0; v < V; ++v) hn::StoreU(acc[p][v], d, tot[p][v]);
    for (int64_t b = 1; b < s.nb; ++b) {
      accumulate(s.blocks[b]);
      for (int p = 0; p < P; ++p)
        for (int v = 0; v < V; ++v)
          hn::StoreU(hn::Add(hn::LoadU(d, tot[p][v]), acc[p][v]), d, tot[p][v]);
    }
    for (int p = 0; p < P; ++p)
      for (int v = 0; v < V; ++v) acc[p][v] = hn::LoadU(d, tot[p][v]);
  }
  T* out = static_cast<T*>(s.a.out) + n * s.a.os.n + oh * s.a.os.h + c0;
  for (int p = 0; p < P; ++p)
    for (int v = 0; v < V; ++v) {
      const V_ r = s.bias ? hn::Add(acc[p][v], hn::LoadU(d, s.bias + c0 + v * NL)) : acc[p][v];
      StoreOut(d, r, out + (ow0 + p) * s.a.os.w + v * NL, static_cast<size_t>(NL));
    }
}

// Accumulators within the target's registers.
constexpr int kP = kRegs >= 32 ? 6 : 4, kV = 2;

// Interior columns [ow0, ow0 + P) for stride 1, dilation 1 and KW kernel
// columns, one reduction block: per kernel row the KW weight vectors stay in
// registers and each of the P + KW - 1 input columns is loaded once for the
// up to KW outputs it feeds (Tile loads it per tap). Output p still receives
// tap (i, j) in order of i, then j: the same sums as Tile.
template <class T, class D, int P, int V, int KW>
void TileSlide(D d, const Dw& s, int64_t n, int64_t oh, int64_t ow0, int64_t c0) {
  using V_ = hn::Vec<D>;
  const ConvGeom& G = *s.g;
  const int64_t NL = static_cast<int64_t>(hn::Lanes(d)), gh = G.row0 + oh;
  const int64_t xw = s.a.xs.w;
  const T* x = static_cast<const T*>(s.a.x) + n * s.a.xs.n + c0 + (ow0 - G.pw) * xw;
  V_ acc[P][V];
  for (int p = 0; p < P; ++p)
    for (int v = 0; v < V; ++v) acc[p][v] = hn::Zero(d);
  for (int64_t i = 0; i < G.kh; ++i) {
    const int64_t ih = gh * G.sh - G.ph + i * G.dh;
    if (ih < 0 || ih >= G.full_h) continue;
    const T* xr = x + (ih - G.in_row0) * s.a.xs.h;
    V_ wv[KW][V];
    for (int j = 0; j < KW; ++j)
      for (int v = 0; v < V; ++v) wv[j][v] = hn::LoadU(d, s.wd + (i * KW + j) * s.Cp + c0 + v * NL);
        // Fully unrolled, so that acc and wv stay in registers.
#pragma GCC unroll 32
    for (int q = 0; q < P + KW - 1; ++q) {
      V_ xv[V];
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) xv[v] = LoadX(d, xr + q * xw + v * NL);
#pragma GCC unroll 8
      for (int j = 0; j < KW; ++j)
        if (q - j >= 0 && q - j < P)
#pragma GCC unroll 4
          for (int v = 0; v < V; ++v) acc[q - j][v] = hn::MulAdd(xv[v], wv[j][v], acc[q - j][v]);
    }
  }
  T* out = static_cast<T*>(s.a.out) + n * s.a.os.n + oh * s.a.os.h + c0;
  for (int p = 0; p < P; ++p)
    for (int v = 0; v < V; ++v) {
      const V_ r = s.bias ? hn::Add(acc[p][v], hn::LoadU(d, s.bias + c0 + v * NL)) : acc[p][v];
      StoreOut(d, r, out + (ow0 + p) * s.a.os.w + v * NL, static_cast<size_t>(NL));
    }
}

// Columns per sliding tile: accumulators, KW x V weights and V inputs in registers.
template <int KW, int V>
constexpr int SlideP() {
  return KW == 0 ? 0 : std::min(10, (kRegs - 4 - (KW + 1) * V) / V);
}

// One output row: border columns checked one at a time, the interior in tiles
// of kP columns (or sliding tiles for KW > 0).
template <class T, class D, int V, int KW>
void Row(D d, const Dw& s, const Cols& in, int64_t n, int64_t oh, int64_t c0) {
  const int64_t OW = s.g->OW;
  for (int64_t ow = 0; ow < in.lo; ++ow) Tile<T, D, 1, V, true>(d, s, n, oh, ow, c0);
  int64_t ow = in.lo;
  constexpr int SP = SlideP<KW, V>();
  if constexpr (SP >= 3)
    for (; ow + SP <= in.hi; ow += SP) TileSlide<T, D, SP, V, KW>(d, s, n, oh, ow, c0);
  for (; ow + kP <= in.hi; ow += kP) Tile<T, D, kP, V, false>(d, s, n, oh, ow, c0);
  for (; ow < in.hi; ++ow) Tile<T, D, 1, V, false>(d, s, n, oh, ow, c0);
  for (ow = in.hi; ow < OW; ++ow) Tile<T, D, 1, V, true>(d, s, n, oh, ow, c0);
}

// Output rows [o0, o1) of image n, channel blocks outer: a block's input rows
// (kh + rows - 1 of them, a few hundred KB) stay in L2 for all the rows.
template <class T, int KW>
void Rows(const Dw& s, const Cols& in, int64_t n, int64_t o0, int64_t o1) {
  const DF df;
  const hn::CappedTag<float, 1> d1;
  const int64_t NL = static_cast<int64_t>(hn::Lanes(df)), C = s.g->C, full = C / NL;
  int64_t cv = 0;
  for (; cv + kV <= full; cv += kV)
    for (int64_t oh = o0; oh < o1; ++oh) Row<T, DF, kV, KW>(df, s, in, n, oh, cv * NL);
  for (; cv < full; ++cv)
    for (int64_t oh = o0; oh < o1; ++oh) Row<T, DF, 1, KW>(df, s, in, n, oh, cv * NL);
  for (int64_t c = full * NL; c < C; ++c)
    for (int64_t oh = o0; oh < o1; ++oh) Row<T, decltype(d1), 1, 0>(d1, s, in, n, oh, c);
}

template <class T>
void ConvDw(const ConvGeom& G, const ConvArgs& a) {
  const DF df;
  const int64_t NL = static_cast<int64_t>(hn::Lanes(df)), C = G.C;
  Dw s;
  s.g = &G;
  s.a = a;
  s.T = G.kh * G.kw;
  s.Cp = (C + NL - 1) / NL * NL;
  const std::vector<RedBlock> blocks = reduction_blocks(G);
  s.blocks = blocks.data();
  s.nb = static_cast<int64_t>(blocks.size());
  float* wd = scratch(kWeights, s.T * s.Cp);
  const T* w = static_cast<const T*>(a.w);
  for (int64_t t = 0; t < s.T; ++t)
    for (int64_t c = 0; c < s.Cp; ++c) wd[t * s.Cp + c] = c < C ? LoadS(w + c * s.T + t) : 0.0f;
  s.wd = wd;
  if (a.bias) {
    float* bias = scratch(kBias, s.Cp);
    for (int64_t c = 0; c < s.Cp; ++c)
      bias[c] = c < C ? LoadS(static_cast<const T*>(a.bias) + c) : 0.0f;
    s.bias = bias;
  }
  const Cols in = interior_cols(G);
  const int64_t R = rows_per_item(G, G.N, 0, 0);
  const int64_t row_items = (G.OH + R - 1) / R;
  const bool slide = G.sw == 1 && G.dw == 1 && s.nb == 1;
  auto rows = slide && G.kw == 3   ? &Rows<T, 3>
              : slide && G.kw == 5 ? &Rows<T, 5>
              : slide && G.kw == 7 ? &Rows<T, 7>
                                   : &Rows<T, 0>;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t it = 0; it < G.N * row_items; ++it) {
    const int64_t n = it / row_items, o0 = it % row_items * R;
    rows(s, in, n, o0, std::min(G.OH, o0 + R));
  }
}

void ConvDw32(const ConvGeom& G, const ConvArgs& a) {
  ConvDw<float>(G, a);
}
void ConvDw16(const ConvGeom& G, const ConvArgs& a) {
  ConvDw<uint16_t>(G, a);
}

}  // namespace oomless::ops::conv::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace oomless::ops::conv {
HWY_EXPORT(ConvDw32);
HWY_EXPORT(ConvDw16);

void conv_nhwc_depthwise(const ConvGeom& g, const ConvArgs& a) {
  if (a.dtype == DType::F32) return HWY_DYNAMIC_DISPATCH(ConvDw32)(g, a);
  HWY_DYNAMIC_DISPATCH(ConvDw16)(g, a);
}
}  // namespace oomless::ops::conv
#endif
