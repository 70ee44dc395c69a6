// Depthwise convolution of NCHW planes with output columns in vector lanes (the
// tile code is general: P output channels per tile; depthwise uses P = 1). A work item is (image,
// group, block of output rows, share of the group's output-channel tiles). It stages the input rows
// its block reads as f32, each row split into `sw` column phases so that every stride reads
// contiguous vectors, with zero columns around for the loads (their lanes are masked: taps in the
// padding are skipped, not multiplied). A tile is P output channels x V vectors of columns: one
// input vector feeds P multiply-adds and one weight broadcast V.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/conv/nchw_simd.cpp"
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SSSE3 | HWY_SSE4)
#endif
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "ops/conv/common.hpp"
#include "ops/conv/simd-inl.hpp"

HWY_BEFORE_NAMESPACE();
namespace oomless::ops::conv::HWY_NAMESPACE {

using DI = hn::RebindToSigned<DF>;

struct Nchw {
  const ConvGeom* g = nullptr;
  ConvArgs a;
  int64_t cpg = 0, kpg = 0, T = 0, KT = 0, NL = 0, M = 0, nb = 0;
  const float* wp = nullptr;    // [groups][KT][T][cpg][P], zero past kpg
  const float* bias = nullptr;  // [K] or null
  const RedBlock* blocks = nullptr;
  const int64_t* jofs = nullptr;  // staged offset of kernel column j: phase and shift
  Cols in;
};

// Input rows [lo, hi) of channels [g * cpg, (g + 1) * cpg) of image x as
// st[c][row][phase][M]: phase q, index m holds column m * sw + q - pw.
template <class T>
void Stage(const Nchw& s, const T* x, int64_t g, int64_t lo, int64_t hi, float* st) {
  const ConvGeom& G = *s.g;
  const int64_t nr = hi - lo, sw = G.sw, M = s.M, W = G.W, pw = G.pw;
  for (int64_t c = 0; c < s.cpg; ++c)
    for (int64_t r = lo; r < hi; ++r) {
      const T* src = x + (g * s.cpg + c) * s.a.xs.c + (r - G.in_row0) * s.a.xs.h;
      float* dst = st + (c * nr + (r - lo)) * sw * M;
      if (sw == 1) {
        const int64_t n = std::min(W, M - pw);
        std::fill(dst, dst + pw, 0.0f);
        for (int64_t i = 0; i < n; ++i) dst[pw + i] = LoadS(src + i);
        std::fill(dst + pw + n, dst + M, 0.0f);
        continue;
      }
      for (int64_t q = 0; q < sw; ++q)
        for (int64_t m = 0; m < M; ++m) {
          const int64_t iw = m * sw + q - pw;
          dst[q * M + m] = iw >= 0 && iw < W ? LoadS(src + iw) : 0.0f;
        }
    }
}

// Lane masks as bits (a uint64_t each): Highway masks are not storable types
// on every target (AVX2 masks are 32-byte vectors that std::vector misaligns).
using MaskBits = uint64_t;

// The lanes of columns [ow0, ow0 + V * NL) whose input column ow * sw - pw + j
// * dw lies inside the row, as m[j * V + v]; false when every lane of every tap
// does (no masks needed).
template <int V>
bool ColumnMasks(const ConvGeom& G, int64_t NL, const Cols& in, int64_t ow0, MaskBits* m) {
  if (ow0 >= in.lo && std::min(ow0 + V * NL, G.OW) <= in.hi) return false;
  const DI di;
  for (int64_t j = 0; j < G.kw; ++j)
    for (int v = 0; v < V; ++v) {
      const auto iw = hn::Add(hn::Mul(hn::Iota(di, static_cast<int32_t>(ow0 + v * NL)),
                                      hn::Set(di, static_cast<int32_t>(G.sw))),
                              hn::Set(di, static_cast<int32_t>(j * G.dw - G.pw)));
      const auto in_row =
          hn::And(hn::Gt(iw, hn::Set(di, -1)), hn::Lt(iw, hn::Set(di, static_cast<int32_t>(G.W))));
      m[j * V + v] = 0;
      hn::StoreMaskBits(di, in_row, reinterpret_cast<uint8_t*>(&m[j * V + v]));
    }
  return true;
}

// Output channels [kt * P, kt * P + P) of group g, columns [ow0, ow0 + V * NL)
// of output row oh (of the call) of image n. `st` holds rows [lo, lo + nr).
// `masks` (ColumnMasks) or null for interior columns.
template <class T, int P, int V>
void Tile(const Nchw& s, const float* st, int64_t lo, int64_t nr, int64_t n, int64_t g, int64_t kt,
          int64_t oh, int64_t ow0, const MaskBits* masks) {
  const DF df;
  const ConvGeom& G = *s.g;
  const int64_t NL = s.NL, gh = G.row0 + oh, cstride = nr * G.sw * s.M;
  VF acc[P][V];
  const float* wtile = s.wp + (g * s.KT + kt) * s.T * s.cpg * P;
  const float* xtile = st + ow0;
  // Block b's partial sum into acc (from +0).
  auto accumulate = [&](const RedBlock& rb) HWY_ATTR __attribute__((always_inline)) {
    for (int p = 0; p < P; ++p)
      for (int v = 0; v < V; ++v) acc[p][v] = hn::Zero(df);
    int64_t i = rb.t0 / G.kw, j = rb.t0 % G.kw;
    const float* xrow = nullptr;
    for (int64_t t = rb.t0; t < rb.t1; ++t, ++j) {
      if (j == G.kw || t == rb.t0) {  // next kernel row
        if (t != rb.t0) ++i, j = 0;
        const int64_t ih = gh * G.sh - G.ph + i * G.dh;
        xrow = ih >= 0 && ih < G.full_h ? xtile + (ih - lo) * G.sw * s.M : nullptr;
      }
      if (!xrow) continue;  // the row is padding
      const float* xr = xrow + s.jofs[j];
      const float* wt = wtile + t * s.cpg * P;
      if (!masks) {
        for (int64_t c = rb.c0; c < rb.c1; ++c) {
          VF xv[V];
          for (int v = 0; v < V; ++v) xv[v] = hn::LoadU(df, xr + c * cstride + v * NL);
          for (int p = 0; p < P; ++p) {
            const VF wv = hn::Set(df, wt[c * P + p]);
            for (int v = 0; v < V; ++v) acc[p][v] = hn::MulAdd(xv[v], wv, acc[p][v]);
          }
        }
        continue;
      }
      hn::Mask<DF> m[V];
      for (int v = 0; v < V; ++v)
        m[v] = hn::LoadMaskBits(df, reinterpret_cast<const uint8_t*>(masks + j * V + v));
      for (int64_t c = rb.c0; c < rb.c1; ++c) {
        VF xv[V];
        for (int v = 0; v < V; ++v) xv[v] = hn::LoadU(df, xr + c * cstride + v * NL);
        for (int p = 0; p < P; ++p) {
          const VF wv = hn::Set(df, wt[c * P + p]);
          for (int v = 0; v < V; ++v)
            acc[p][v] = hn::IfThenElse(m[v], hn::MulAdd(xv[v], wv, acc[p][v]), acc[p][v]);
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
  T* out = static_cast<T*>(s.a.out);
  for (int p = 0; p < P && kt * P + p < s.kpg; ++p) {
    const int64_t k = g * s.kpg + kt * P + p;
    T* orow = out + n * s.a.os.n + k * s.a.os.c + oh * s.a.os.h;
    for (int v = 0; v < V; ++v) {
      const int64_t ow = ow0 + v * NL;
      if (ow >= G.OW) break;
      const VF r = s.bias ? hn::Add(acc[p][v], hn::Set(df, s.bias[k])) : acc[p][v];
      StoreOut(df, r, orow + ow, static_cast<size_t>(std::min(NL, G.OW - ow)));
    }
  }
}

// One output channel per group (P == 1): rows [oh, oh + RR) x columns [ow0,
// ow0 + V * NL) of rows whose taps all lie inside the plane, one reduction
// block. A tap's weight broadcast and lane masks serve all RR rows (depthwise
// tiles are otherwise dominated by them). The same sums as Tile.
template <class T, int RR, int V>
void TileRows(const Nchw& s, const float* st, int64_t lo, int64_t nr, int64_t n, int64_t g,
              int64_t oh, int64_t ow0, const MaskBits* masks) {
  const DF df;
  const ConvGeom& G = *s.g;
  const int64_t NL = s.NL, gh = G.row0 + oh, cstride = nr * G.sw * s.M;
  const int64_t rstep = G.sh * G.sw * s.M;  // staged floats between the rows' input rows
  VF acc[RR][V];
  for (int r = 0; r < RR; ++r)
    for (int v = 0; v < V; ++v) acc[r][v] = hn::Zero(df);
  const float* wg = s.wp + g * s.T * s.cpg;
  for (int64_t i = 0; i < G.kh; ++i) {
    const float* xrow = st + ow0 + (gh * G.sh - G.ph + i * G.dh - lo) * G.sw * s.M;
    for (int64_t j = 0; j < G.kw; ++j) {
      const float* xr = xrow + s.jofs[j];
      const float* wt = wg + (i * G.kw + j) * s.cpg;
      if (!masks) {
        for (int64_t c = 0; c < s.cpg; ++c) {
          const VF wv = hn::Set(df, wt[c]);
          for (int r = 0; r < RR; ++r)
            for (int v = 0; v < V; ++v)
              acc[r][v] =
                  hn::MulAdd(hn::LoadU(df, xr + c * cstride + r * rstep + v * NL), wv, acc[r][v]);
        }
        continue;
      }
      hn::Mask<DF> m[V];
      for (int v = 0; v < V; ++v)
        m[v] = hn::LoadMaskBits(df, reinterpret_cast<const uint8_t*>(masks + j * V + v));
      for (int64_t c = 0; c < s.cpg; ++c) {
        const VF wv = hn::Set(df, wt[c]);
        for (int r = 0; r < RR; ++r)
          for (int v = 0; v < V; ++v)
            acc[r][v] = hn::IfThenElse(
                m[v],
                hn::MulAdd(hn::LoadU(df, xr + c * cstride + r * rstep + v * NL), wv, acc[r][v]),
                acc[r][v]);
      }
    }
  }
  T* out = static_cast<T*>(s.a.out);
  const int64_t k = g * s.kpg;
  for (int r = 0; r < RR; ++r) {
    T* orow = out + n * s.a.os.n + k * s.a.os.c + (oh + r) * s.a.os.h;
    for (int v = 0; v < V; ++v) {
      const int64_t ow = ow0 + v * NL;
      if (ow >= G.OW) break;
      const VF res = s.bias ? hn::Add(acc[r][v], hn::Set(df, s.bias[k])) : acc[r][v];
      StoreOut(df, res, orow + ow, static_cast<size_t>(std::min(NL, G.OW - ow)));
    }
  }
}

// RR > 1 (P == 1): interior rows in groups of RR through TileRows.
template <class T, int P, int V, int RR = 1>
void RunPV(const ConvGeom& G, const ConvArgs& a) {
  const DF df;
  Nchw s;
  s.g = &G;
  s.a = a;
  s.cpg = G.cin_per_group();
  s.kpg = G.cout_per_group();
  s.T = G.kh * G.kw;
  s.KT = (s.kpg + P - 1) / P;
  s.NL = static_cast<int64_t>(hn::Lanes(df));
  const int64_t cols = (G.OW + V * s.NL - 1) / (V * s.NL) * (V * s.NL);
  s.M = cols + (G.kw - 1) * G.dw / G.sw;
  s.in = interior_cols(G);
  std::vector<int64_t> jofs(static_cast<size_t>(G.kw));
  for (int64_t j = 0; j < G.kw; ++j) jofs[j] = j * G.dw % G.sw * s.M + j * G.dw / G.sw;
  s.jofs = jofs.data();
  const std::vector<RedBlock> blocks = reduction_blocks(G);
  s.blocks = blocks.data();
  s.nb = static_cast<int64_t>(blocks.size());

  // Weights as [g][kt][t][c][p] f32 (a tile's P broadcasts are adjacent).
  const int64_t wn = G.groups * s.KT * s.T * s.cpg * P;
  float* wp = scratch(kWeights, wn);
  const T* w = static_cast<const T*>(a.w);
#pragma omp parallel for schedule(static) if (wn > (1 << 16))
  for (int64_t gk = 0; gk < G.groups * s.KT; ++gk) {
    const int64_t g = gk / s.KT, kt = gk % s.KT;
    float* dst = wp + gk * s.T * s.cpg * P;
    for (int64_t t = 0; t < s.T; ++t)
      for (int64_t c = 0; c < s.cpg; ++c)
        for (int p = 0; p < P; ++p) {
          const int64_t k = kt * P + p;
          dst[(t * s.cpg + c) * P + p] =
              k < s.kpg ? LoadS(w + ((g * s.kpg + k) * s.cpg + c) * s.T + t) : 0.0f;
        }
  }
  s.wp = wp;
  if (a.bias) {
    float* bias = scratch(kBias, G.K);
    for (int64_t k = 0; k < G.K; ++k) bias[k] = LoadS(static_cast<const T*>(a.bias) + k);
    s.bias = bias;
  }

  const int64_t per_row = s.cpg * G.sw * s.M;
  const int64_t R = rows_per_item(G, G.N * G.groups, per_row, int64_t{1} << 18);
  const int64_t row_items = (G.OH + R - 1) / R, items0 = G.N * G.groups * row_items;
  const int64_t parts = std::clamp<int64_t>(8 * omp_get_max_threads() / items0, 1, s.KT);
  const T* x = static_cast<const T*>(a.x);
  // Lane masks per column block (null: interior), the same for every item.
  const int64_t col_blocks = (G.OW + V * s.NL - 1) / (V * s.NL);
  std::vector<MaskBits> masks(static_cast<size_t>(col_blocks * G.kw * V));
  std::vector<const MaskBits*> mask_of(static_cast<size_t>(col_blocks));
  for (int64_t cb = 0; cb < col_blocks; ++cb) {
    MaskBits* m = masks.data() + cb * G.kw * V;
    mask_of[cb] = ColumnMasks<V>(G, s.NL, s.in, cb * V * s.NL, m) ? m : nullptr;
  }
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t it = 0; it < items0 * parts; ++it) {
    const int64_t part = it % parts, rest = it / parts;
    const int64_t rb = rest % row_items, g = rest / row_items % G.groups,
                  n = rest / row_items / G.groups;
    const int64_t o0 = rb * R, o1 = std::min(G.OH, o0 + R);
    const Rows h = halo_rows(G, o0, o1);
    const int64_t nr = h.hi - h.lo;
    float* st = scratch(kStage, std::max<int64_t>(s.cpg * nr * G.sw * s.M, 1));
    Stage(s, x + n * a.xs.n, g, h.lo, h.hi, st);
    const int64_t kt0 = part * s.KT / parts, kt1 = (part + 1) * s.KT / parts;
    for (int64_t oh = o0; oh < o1;) {
      if constexpr (RR > 1) {
        static_assert(P == 1);
        const int64_t first = (G.row0 + oh) * G.sh - G.ph;  // of the group's first row
        const int64_t last = (G.row0 + oh + RR - 1) * G.sh - G.ph + (G.kh - 1) * G.dh;
        if (s.nb == 1 && oh + RR <= o1 && first >= 0 && last < G.full_h) {
          for (int64_t cb = 0; cb < col_blocks; ++cb)
            TileRows<T, RR, V>(s, st, h.lo, nr, n, g, oh, cb * V * s.NL, mask_of[cb]);
          oh += RR;
          continue;
        }
      }
      for (int64_t cb = 0; cb < col_blocks; ++cb)
        for (int64_t kt = kt0; kt < kt1; ++kt)
          Tile<T, P, V>(s, st, h.lo, nr, n, g, kt, oh, cb * V * s.NL, mask_of[cb]);
      ++oh;
    }
  }
}

// One output channel per group (depthwise): the widest tile of up to kMaxV
// column vectors that a row of OW columns fills best (short rows waste less).
// Interior rows go RR at a time (TileRows), RR x V accumulators.
template <class T, int kMaxV, int RR>
void OneChannel(const ConvGeom& G, const ConvArgs& a) {
  const int64_t vecs = (G.OW + hn::Lanes(DF()) - 1) / hn::Lanes(DF());
  auto waste = [&](int64_t v) { return (vecs + v - 1) / v * v - vecs; };
  if (vecs >= kMaxV && waste(kMaxV) <= waste(kMaxV / 2)) return RunPV<T, 1, kMaxV, RR>(G, a);
  return RunPV<T, 1, kMaxV / 2, RR>(G, a);
}

// Depthwise only (dense convolutions run on the GEMM kernels, gemm_conv.hpp).
template <class T>
void ConvNCHW(const ConvGeom& G, const ConvArgs& a) {
  if constexpr (kRegs >= 32)
    OneChannel<T, 4, 4>(G, a);
  else
    OneChannel<T, 2, 4>(G, a);
}

void ConvNCHW32(const ConvGeom& G, const ConvArgs& a) {
  ConvNCHW<float>(G, a);
}
void ConvNCHW16(const ConvGeom& G, const ConvArgs& a) {
  ConvNCHW<uint16_t>(G, a);
}

}  // namespace oomless::ops::conv::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace oomless::ops::conv {
HWY_EXPORT(ConvNCHW32);
HWY_EXPORT(ConvNCHW16);

void conv_nchw(const ConvGeom& g, const ConvArgs& a) {
  if (a.dtype == DType::F32) return HWY_DYNAMIC_DISPATCH(ConvNCHW32)(g, a);
  HWY_DYNAMIC_DISPATCH(ConvNCHW16)(g, a);
}
}  // namespace oomless::ops::conv
#endif
