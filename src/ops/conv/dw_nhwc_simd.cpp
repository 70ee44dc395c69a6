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

// One output row: channel blocks outer (their input rows stay in cache),
// border columns checked one at a time, the interior in tiles of kP columns.
template <class T, class D, int V>
void Row(D d, const Dw& s, const Cols& in, int64_t n, int64_t oh, int64_t c0) {
  const int64_t OW = s.g->OW;
  for (int64_t ow = 0; ow < in.lo; ++ow) Tile<T, D, 1, V, true>(d, s, n, oh, ow, c0);
  int64_t ow = in.lo;
  for (; ow + kP <= in.hi; ow += kP) Tile<T, D, kP, V, false>(d, s, n, oh, ow, c0);
  for (; ow < in.hi; ++ow) Tile<T, D, 1, V, false>(d, s, n, oh, ow, c0);
  for (ow = in.hi; ow < OW; ++ow) Tile<T, D, 1, V, true>(d, s, n, oh, ow, c0);
}

template <class T>
void ConvDw(const ConvGeom& G, const ConvArgs& a) {
  const DF df;
  const hn::CappedTag<float, 1> d1;
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
  const int64_t row_items = (G.OH + R - 1) / R, full = C / NL;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t it = 0; it < G.N * row_items; ++it) {
    const int64_t n = it / row_items, o0 = it % row_items * R, o1 = std::min(G.OH, o0 + R);
    for (int64_t oh = o0; oh < o1; ++oh) {
      int64_t cv = 0;
      for (; cv + kV <= full; cv += kV) Row<T, DF, kV>(df, s, in, n, oh, cv * NL);
      for (; cv < full; ++cv) Row<T, DF, 1>(df, s, in, n, oh, cv * NL);
      for (int64_t c = full * NL; c < C; ++c) Row<T, decltype(d1), 1>(d1, s, in, n, oh, c);
    }
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
