// Dense and grouped convolution of channels-last images with output channels
// in vector lanes: an implicit GEMM that never packs the input. A tile is P
// output columns x V vectors of a group's output channels; per tap and input
// channel it loads V weight vectors and broadcasts P input values. Weights are
// packed once per call as [group][tap][c][Kp] (Kp: channels per group rounded
// up to whole vectors, zero past them). f32 input is read in place; bf16 rows
// are widened to f32 once per work item (image, group, block of output rows).
// Columns whose windows reach into the padding are computed one at a time with
// the taps checked (skipped, as everywhere).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/conv/nhwc_simd.cpp"
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

struct Nhwc {
  const ConvGeom* g = nullptr;
  ConvArgs a;
  int64_t cpg = 0, kpg = 0, T = 0, Kp = 0, NL = 0, nb = 0;
  const float* wp = nullptr;    // [groups][T][cpg][Kp]
  const float* bias = nullptr;  // [K + NL] or null
  const RedBlock* blocks = nullptr;
};

// Where the f32 input of a work item lives: row r of the plane at
// x + (r - row0) * rs, column iw at + iw * ps, the group's channel c at + c.
struct Src {
  const float* x = nullptr;
  int64_t row0 = 0, rs = 0, ps = 0;
};

// Columns [ow0, ow0 + P) of output row oh, the group's output-channel vectors
// [kv, kv + V), image n. kCheck (P == 1): skip the taps outside the row.
template <class T, int P, int V, bool kCheck>
void Tile(const Nhwc& s, const Src& src, int64_t n, int64_t g, int64_t kv, int64_t oh,
          int64_t ow0) {
  static_assert(!kCheck || P == 1);
  const DF df;
  const ConvGeom& G = *s.g;
  const int64_t NL = s.NL, gh = G.row0 + oh, step = G.sw * src.ps;
  VF acc[P][V];
  // Block b's partial sum into acc (from +0).
  auto accumulate = [&](const RedBlock& rb) HWY_ATTR __attribute__((always_inline)) {
    for (int p = 0; p < P; ++p)
      for (int v = 0; v < V; ++v) acc[p][v] = hn::Zero(df);
    for (int64_t t = rb.t0; t < rb.t1; ++t) {
      const int64_t i = t / G.kw, j = t % G.kw;
      const int64_t ih = gh * G.sh - G.ph + i * G.dh;
      if (ih < 0 || ih >= G.full_h) continue;
      const int64_t iw0 = ow0 * G.sw - G.pw + j * G.dw;
      if (kCheck && (iw0 < 0 || iw0 >= G.W)) continue;
      const float* xp = src.x + (ih - src.row0) * src.rs + iw0 * src.ps;
      const float* wt = s.wp + ((g * s.T + t) * s.cpg) * s.Kp + kv * NL;
      for (int64_t c = rb.c0; c < rb.c1; ++c) {
        VF wv[V];
        for (int v = 0; v < V; ++v) wv[v] = hn::LoadU(df, wt + c * s.Kp + v * NL);
        for (int p = 0; p < P; ++p) {
          const VF xb = hn::Set(df, xp[p * step + c]);
          for (int v = 0; v < V; ++v) acc[p][v] = hn::MulAdd(xb, wv[v], acc[p][v]);
        }
      }
    }
  };
  accumulate(s.blocks[0]);
  if (s.nb > 1) {  // the partials summed in block order
    alignas(64) float tot[P][V][kMaxLanes];
    for (int p = 0; p < P; ++p)
      for (int v = 0; v < V; ++v) hn::Store(acc[p][v], df, tot[p][v]);
    for (int64_t b = 1; b < s.nb; ++b) {
      accumulate(s.blocks[b]);
      for (int p = 0; p < P; ++p)
        for (int v = 0; v < V; ++v)
          hn::Store(hn::Add(hn::Load(df, tot[p][v]), acc[p][v]), df, tot[p][v]);
    }
    for (int p = 0; p < P; ++p)
      for (int v = 0; v < V; ++v) acc[p][v] = hn::Load(df, tot[p][v]);
  }
  T* out = static_cast<T*>(s.a.out) + n * s.a.os.n + oh * s.a.os.h + g * s.kpg;
  for (int p = 0; p < P; ++p) {
    T* o = out + (ow0 + p) * s.a.os.w;
    for (int v = 0; v < V; ++v) {
      const int64_t k = (kv + v) * NL;
      if (k >= s.kpg) break;
      const VF r = s.bias ? hn::Add(acc[p][v], hn::LoadU(df, s.bias + g * s.kpg + k)) : acc[p][v];
      StoreOut(df, r, o + k, static_cast<size_t>(std::min(NL, s.kpg - k)));
    }
  }
}

// One output row for the channel vectors [kv, kv + V): border columns checked
// one at a time, the interior in tiles of P, then 4, then 1 columns.
template <class T, int P, int V>
void Row(const Nhwc& s, const Src& src, const Cols& in, int64_t n, int64_t g, int64_t kv,
         int64_t oh) {
  const int64_t OW = s.g->OW;
  for (int64_t ow = 0; ow < in.lo; ++ow) Tile<T, 1, V, true>(s, src, n, g, kv, oh, ow);
  int64_t ow = in.lo;
  for (; ow + P <= in.hi; ow += P) Tile<T, P, V, false>(s, src, n, g, kv, oh, ow);
  for (; ow + 4 <= in.hi; ow += 4) Tile<T, 4, V, false>(s, src, n, g, kv, oh, ow);
  for (; ow < in.hi; ++ow) Tile<T, 1, V, false>(s, src, n, g, kv, oh, ow);
  for (ow = std::max(in.hi, in.lo); ow < OW; ++ow) Tile<T, 1, V, true>(s, src, n, g, kv, oh, ow);
}

// Accumulators per tile within the target's registers: P columns for V vectors.
constexpr int kMaxV = kRegs >= 32 ? 4 : 2;
template <int V>
constexpr int TileP() {
  if constexpr (kRegs >= 32) return V == 4 ? 6 : V == 3 ? 8 : V == 2 ? 12 : 24;
  return V == 2 ? 6 : 12;
}

template <class T>
void RowAll(const Nhwc& s, const Src& src, const Cols& in, int64_t n, int64_t g, int64_t oh) {
  const int64_t vecs = s.Kp / s.NL;
  for (int64_t kv = 0; kv < vecs; kv += kMaxV) {
    switch (std::min<int64_t>(kMaxV, vecs - kv)) {
      case 4:
        if constexpr (kMaxV >= 4) Row<T, TileP<4>(), 4>(s, src, in, n, g, kv, oh);
        break;
      case 3:
        if constexpr (kMaxV >= 3) Row<T, TileP<3>(), 3>(s, src, in, n, g, kv, oh);
        break;
      case 2:
        Row<T, TileP<2>(), 2>(s, src, in, n, g, kv, oh);
        break;
      default:
        Row<T, TileP<1>(), 1>(s, src, in, n, g, kv, oh);
    }
  }
}

template <class T>
void ConvNHWC(const ConvGeom& G, const ConvArgs& a) {
  const DF df;
  Nhwc s;
  s.g = &G;
  s.a = a;
  s.cpg = G.cin_per_group();
  s.kpg = G.cout_per_group();
  s.T = G.kh * G.kw;
  s.NL = static_cast<int64_t>(hn::Lanes(df));
  s.Kp = (s.kpg + s.NL - 1) / s.NL * s.NL;
  const std::vector<RedBlock> blocks = reduction_blocks(G);
  s.blocks = blocks.data();
  s.nb = static_cast<int64_t>(blocks.size());

  const int64_t wn = G.groups * s.T * s.cpg * s.Kp;
  float* wp = scratch(kWeights, wn);
  const T* w = static_cast<const T*>(a.w);
#pragma omp parallel for schedule(static) if (wn > (1 << 16))
  for (int64_t gt = 0; gt < G.groups * s.T; ++gt) {
    const int64_t g = gt / s.T, t = gt % s.T;
    for (int64_t c = 0; c < s.cpg; ++c) {
      float* dst = wp + (gt * s.cpg + c) * s.Kp;
      for (int64_t k = 0; k < s.Kp; ++k)
        dst[k] = k < s.kpg ? LoadS(w + ((g * s.kpg + k) * s.cpg + c) * s.T + t) : 0.0f;
    }
  }
  s.wp = wp;
  if (a.bias) {
    float* bias = scratch(kBias, G.K + s.NL);
    for (int64_t k = 0; k < G.K + s.NL; ++k)
      bias[k] = k < G.K ? LoadS(static_cast<const T*>(a.bias) + k) : 0.0f;
    s.bias = bias;
  }

  const Cols in = interior_cols(G);
  constexpr bool kInPlace = std::is_same_v<T, float>;  // f32 rows are read where they are
  const int64_t per_row = kInPlace ? 0 : G.W * s.cpg;
  const int64_t R = rows_per_item(G, G.N * G.groups, per_row, int64_t{1} << 18);
  const int64_t row_items = (G.OH + R - 1) / R;
  const T* x = static_cast<const T*>(a.x);
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t it = 0; it < G.N * G.groups * row_items; ++it) {
    const int64_t rb = it % row_items, g = it / row_items % G.groups, n = it / row_items / G.groups;
    const int64_t o0 = rb * R, o1 = std::min(G.OH, o0 + R);
    const T* xg = x + n * a.xs.n + g * s.cpg;
    Src src;
    if constexpr (kInPlace) {
      src = {xg, G.in_row0, a.xs.h, a.xs.w};
    } else {
      // Rows [lo, hi) widened to f32 as [row][W][cpg].
      const Rows h = halo_rows(G, o0, o1);
      float* st = scratch(kStage, std::max<int64_t>((h.hi - h.lo) * per_row, 1));
      for (int64_t r = h.lo; r < h.hi; ++r)
        for (int64_t iw = 0; iw < G.W; ++iw) {
          const T* p = xg + (r - G.in_row0) * a.xs.h + iw * a.xs.w;
          float* d = st + ((r - h.lo) * G.W + iw) * s.cpg;
          for (int64_t c = 0; c < s.cpg; ++c) d[c] = LoadS(p + c);
        }
      src = {st, h.lo, G.W * s.cpg, s.cpg};
    }
    for (int64_t oh = o0; oh < o1; ++oh) RowAll<T>(s, src, in, n, g, oh);
  }
}

void ConvNHWC32(const ConvGeom& G, const ConvArgs& a) {
  ConvNHWC<float>(G, a);
}
void ConvNHWC16(const ConvGeom& G, const ConvArgs& a) {
  ConvNHWC<uint16_t>(G, a);
}

}  // namespace oomless::ops::conv::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace oomless::ops::conv {
HWY_EXPORT(ConvNHWC32);
HWY_EXPORT(ConvNHWC16);

void conv_nhwc_dense(const ConvGeom& g, const ConvArgs& a) {
  if (a.dtype == DType::F32) return HWY_DYNAMIC_DISPATCH(ConvNHWC32)(g, a);
  HWY_DYNAMIC_DISPATCH(ConvNHWC16)(g, a);
}
}  // namespace oomless::ops::conv
#endif
