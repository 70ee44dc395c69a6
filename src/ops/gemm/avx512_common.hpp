// Helpers shared by the AVX-512 translation units (included only by them: they are
// compiled with AVX-512 flags). Everything here has internal linkage.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "ops/gemm/ukernel.hpp"

namespace oomless::ops::gemm::detail {
namespace {

// Not std::min: this file must not instantiate library templates (see ukernel.hpp).
inline int64_t imin(int64_t a, int64_t b) {
  return a < b ? a : b;
}

inline __mmask16 lane_mask(int n) {
  return n >= 16 ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

// f32 -> bf16 exactly as f32_to_bf16 (round to nearest even, NaN kept quiet), not
// vcvtneps2bh, which flushes denormals: every store path must give the same bits.
inline __m256i to_bf16(__m512 x) {
  const __m512i u = _mm512_castps_si512(x);
  const __m512i hi = _mm512_srli_epi32(u, 16);
  const __m512i bias =
      _mm512_add_epi32(_mm512_and_si512(hi, _mm512_set1_epi32(1)), _mm512_set1_epi32(0x7fff));
  __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, bias), 16);
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                                _mm512_set1_epi32(0x7f800000));
  r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(hi, _mm512_set1_epi32(0x40)));
  return _mm512_cvtepi32_epi16(r);
}

// 32 bf16 values (lo's 16, then hi's 16) rounded exactly as to_bf16.
inline __m512i to_bf16x2(__m512 lo, __m512 hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(to_bf16(lo)), to_bf16(hi), 1);
}

inline __mmask32 lane_mask32(int n) {
  return n >= 32 ? ~__mmask32(0) : n <= 0 ? __mmask32(0) : __mmask32((1u << n) - 1);
}

// Accumulators of a kMR x kNR tile: two vectors per row.
struct Tile {
  __m512 v[kMR][2];
};

// Write-prefetches (prefetchw) the lines the tile will store at the end: a fresh
// output line is otherwise read for ownership from memory only when the stores
// retire, a DRAM latency per row at every tile's end (measured, 14 x 32 bf16 tiles
// of 192 steps into a 60 MB output: 300-350 GFLOP/s, 400-420 with the output in
// cache; the prefetch hides it behind the tile's chains). Streamed stores need none.
inline __attribute__((always_inline)) void prefetch_out(const UkArgs& g) {
  const char* o;
  int64_t rs;
  int lines;
  if (g.store) {
    if (g.store->stream) return;
    o = static_cast<const char*>(g.store->out);
    rs = g.store->rs * (g.store->bf16 ? 2 : 4);
    lines = g.store->bf16 ? 1 : 2;
  } else if (!g.load_c) {
    o = reinterpret_cast<const char*>(g.c);
    rs = g.ldc * 4;
    lines = 2;
  } else {
    return;
  }
  for (int i = 0; i < g.mr; ++i)
    for (int l = 0; l < lines; ++l) asm volatile("prefetchw %0" : : "m"(o[i * rs + l * 64]));
}

inline __attribute__((always_inline)) void tile_start(Tile& t, const UkArgs& g) {
  const int mr = g.mr;
  prefetch_out(g);
  if (!g.load_c) {
#pragma GCC unroll 14
    for (int i = 0; i < kMR; ++i) t.v[i][0] = t.v[i][1] = _mm512_setzero_ps();
    return;
  }
  const __mmask16 m0 = lane_mask(g.nr), m1 = lane_mask(g.nr - 16);
  const float* c = g.c;
  const int64_t ldc = g.ldc;
#pragma GCC unroll 14
  for (int i = 0; i < kMR; ++i) {
    if (i < mr) {
      t.v[i][0] = _mm512_maskz_loadu_ps(m0, c + i * ldc);
      t.v[i][1] = _mm512_maskz_loadu_ps(m1, c + i * ldc + 16);
    } else {
      t.v[i][0] = t.v[i][1] = _mm512_setzero_ps();
    }
  }
}

// The store of a finished tile. Cvt(lo, hi) rounds 32 values to bf16 (to_bf16x2, or
// the AVX512_BF16 kernel's faster equivalent). Every field is read once up front:
// the stores could alias g as far as the compiler knows.
template <__m512i (*Cvt)(__m512, __m512) = to_bf16x2>
inline __attribute__((always_inline)) void tile_finish(Tile& t, const UkArgs& g) {
  const int mr = g.mr, nr = g.nr;
  const __mmask16 m0 = lane_mask(nr), m1 = lane_mask(nr - 16);
  if (!g.store) {
    float* c = g.c;
    const int64_t ldc = g.ldc;
#pragma GCC unroll 14
    for (int i = 0; i < kMR; ++i)
      if (i < mr) {
        _mm512_mask_storeu_ps(c + i * ldc, m0, t.v[i][0]);
        _mm512_mask_storeu_ps(c + i * ldc + 16, m1, t.v[i][1]);
      }
    return;
  }
  const TileStore s = *g.store;
  if (s.row_bias) {
#pragma GCC unroll 14
    for (int i = 0; i < kMR; ++i)
      if (i < mr) {
        const __m512 rb = _mm512_set1_ps(s.row_bias[i]);
        t.v[i][0] = _mm512_add_ps(t.v[i][0], rb);
        t.v[i][1] = _mm512_add_ps(t.v[i][1], rb);
      }
  }
  if (s.col_bias) {
    const __m512 cb0 = _mm512_maskz_loadu_ps(m0, s.col_bias);
    const __m512 cb1 = _mm512_maskz_loadu_ps(m1, s.col_bias + 16);
#pragma GCC unroll 14
    for (int i = 0; i < kMR; ++i) {
      t.v[i][0] = _mm512_add_ps(t.v[i][0], cb0);
      t.v[i][1] = _mm512_add_ps(t.v[i][1], cb1);
    }
  }
  // Streaming needs whole 64-byte lines: full tile width, every row aligned.
  const int64_t es = s.bf16 ? 2 : 4, rs = s.rs;
  const bool stream =
      s.stream && nr == kNR &&
      (reinterpret_cast<uintptr_t>(s.out) | static_cast<uintptr_t>(rs * es)) % 64 == 0;
  if (s.bf16) {
    uint16_t* o = static_cast<uint16_t*>(s.out);
    if (stream) {
#pragma GCC unroll 14
      for (int i = 0; i < kMR; ++i)
        if (i < mr)
          _mm512_stream_si512(reinterpret_cast<__m512i*>(o + i * rs), Cvt(t.v[i][0], t.v[i][1]));
      return;
    }
    const __mmask32 m = lane_mask32(nr);
#pragma GCC unroll 14
    for (int i = 0; i < kMR; ++i)
      if (i < mr) _mm512_mask_storeu_epi16(o + i * rs, m, Cvt(t.v[i][0], t.v[i][1]));
    return;
  }
  float* o = static_cast<float*>(s.out);
  if (stream) {
#pragma GCC unroll 14
    for (int i = 0; i < kMR; ++i)
      if (i < mr) {
        _mm512_stream_ps(o + i * rs, t.v[i][0]);
        _mm512_stream_ps(o + i * rs + 16, t.v[i][1]);
      }
    return;
  }
#pragma GCC unroll 14
  for (int i = 0; i < kMR; ++i)
    if (i < mr) {
      _mm512_mask_storeu_ps(o + i * rs, m0, t.v[i][0]);
      _mm512_mask_storeu_ps(o + i * rs + 16, m1, t.v[i][1]);
    }
}

// Row i of the A units of a step: rows 0-6 from p0, 7-13 from p7 = p0 + 7 r, each as
// one addressing mode (base + {1,2,4} x {r, 3r} or 5r), so no per-row pointers.
struct ARows {
  const char* p0;
  const char* p7;
  int64_t r, r3, r5;
  ARows(const char* a, int64_t a_row)
      : p0(a), p7(a + 7 * a_row), r(a_row), r3(3 * a_row), r5(5 * a_row) {}
  inline __attribute__((always_inline)) const char* row(int i) const {
    const char* b = i < 7 ? p0 : p7;
    switch (i % 7) {
      case 0:
        return b;
      case 1:
        return b + r;
      case 2:
        return b + 2 * r;
      case 3:
        return b + r3;
      case 4:
        return b + 4 * r;
      case 5:
        return b + r5;
      default:
        return b + 2 * r3;
    }
  }
  void next(int64_t step) {
    p0 += step;
    p7 += step;
  }
};

inline float bits_f32(const void* p) {
  float f;
  std::memcpy(&f, p, 4);
  return f;
}

}  // namespace
}  // namespace oomless::ops::gemm::detail
