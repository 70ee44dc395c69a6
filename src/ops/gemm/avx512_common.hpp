// Helpers shared by the AVX-512 translation units (included only by them: they are
// compiled with AVX-512 flags). Everything here has internal linkage.
#pragma once
#include <immintrin.h>

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

// Accumulators of a kMR x kNR tile: two vectors per row.
struct Tile {
  __m512 v[kMR][2];
};

inline __attribute__((always_inline)) void tile_start(Tile& t, const UkArgs& g) {
  const __mmask16 m0 = lane_mask(g.nr), m1 = lane_mask(g.nr - 16);
#pragma GCC unroll 14
  for (int i = 0; i < kMR; ++i) {
    if (g.load_c && i < g.mr) {
      t.v[i][0] = _mm512_maskz_loadu_ps(m0, g.c + i * g.ldc);
      t.v[i][1] = _mm512_maskz_loadu_ps(m1, g.c + i * g.ldc + 16);
    } else {
      t.v[i][0] = _mm512_setzero_ps();
      t.v[i][1] = _mm512_setzero_ps();
    }
  }
}

inline __attribute__((always_inline)) void tile_finish(Tile& t, const UkArgs& g) {
  const __mmask16 m0 = lane_mask(g.nr), m1 = lane_mask(g.nr - 16);
  if (!g.store) {
#pragma GCC unroll 14
    for (int i = 0; i < kMR; ++i)
      if (i < g.mr) {
        _mm512_mask_storeu_ps(g.c + i * g.ldc, m0, t.v[i][0]);
        _mm512_mask_storeu_ps(g.c + i * g.ldc + 16, m1, t.v[i][1]);
      }
    return;
  }
  const TileStore& s = *g.store;
  __m512 cb0 = _mm512_setzero_ps(), cb1 = _mm512_setzero_ps();
  if (s.col_bias) {
    cb0 = _mm512_maskz_loadu_ps(m0, s.col_bias);
    cb1 = _mm512_maskz_loadu_ps(m1, s.col_bias + 16);
  }
#pragma GCC unroll 14
  for (int i = 0; i < kMR; ++i) {
    if (i >= g.mr) continue;
    __m512 x0 = t.v[i][0], x1 = t.v[i][1];
    if (s.row_bias) {
      const __m512 rb = _mm512_set1_ps(s.row_bias[i]);
      x0 = _mm512_add_ps(x0, rb);
      x1 = _mm512_add_ps(x1, rb);
    }
    if (s.col_bias) {
      x0 = _mm512_add_ps(x0, cb0);
      x1 = _mm512_add_ps(x1, cb1);
    }
    if (s.bf16) {
      uint16_t* o = static_cast<uint16_t*>(s.out) + i * s.rs;
      _mm256_mask_storeu_epi16(o, m0, to_bf16(x0));
      _mm256_mask_storeu_epi16(o + 16, m1, to_bf16(x1));
    } else {
      float* o = static_cast<float*>(s.out) + i * s.rs;
      _mm512_mask_storeu_ps(o, m0, x0);
      _mm512_mask_storeu_ps(o + 16, m1, x1);
    }
  }
}

// Row i of the A units of a step: rows 0-6 from p0, 7-13 from p7 = p0 + 7 r, each as
// one addressing mode (base + {1,2,4} x {r, 3r} or 5r), so no per-row pointers.
struct ARows {
  const char* p0;
  const char* p7;
  int64_t r, r3, r5;
  ARows(const UkArgs& g)
      : p0(reinterpret_cast<const char*>(g.a)),
        p7(p0 + 7 * g.a_row),
        r(g.a_row),
        r3(3 * g.a_row),
        r5(5 * g.a_row) {}
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
