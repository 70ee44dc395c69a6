// The f32 micro-kernel (FMA on a 14 x 32 tile) and the packer, for CPUs with
// AVX-512 F/BW/VL/DQ. Compiled with those flags (CMakeLists.txt); called only after
// the runtime check in isa.cpp.
#include "ops/gemm/avx512_common.hpp"

namespace oomless::ops::gemm::detail {

namespace {

// NV B vectors per step: 2, or 1 for a panel of at most 16 valid columns (as the
// bf16 kernel).
template <int NV>
inline __attribute__((always_inline)) void chains_f32(Tile& t, const UkArgs& g) {
  const Seg one{0, 0, g.steps};
  const Seg* segs = g.segs ? g.segs : &one;
  const int nsegs = g.segs ? g.nsegs : 1;
  for (int q = 0; q < nsegs; ++q) {
    ARows a(reinterpret_cast<const char*>(g.a) + segs[q].a, g.a_row);
    const uint32_t* b = g.b + segs[q].b;
    for (int64_t s = 0; s < segs[q].steps; ++s, a.next(g.a_step), b += kNR) {
      const __m512 b0 = _mm512_castsi512_ps(_mm512_loadu_si512(b));
      const __m512 b1 = NV == 2 ? _mm512_castsi512_ps(_mm512_loadu_si512(b + 16)) : b0;
#pragma GCC unroll 14
      for (int i = 0; i < kMR; ++i) {
        const __m512 ai = _mm512_set1_ps(bits_f32(a.row(i)));
        t.v[i][0] = _mm512_fmadd_ps(ai, b0, t.v[i][0]);
        if (NV == 2) t.v[i][1] = _mm512_fmadd_ps(ai, b1, t.v[i][1]);
      }
    }
  }
}

}  // namespace

void avx512_ukernel_f32(const UkArgs& g) {
  Tile t;
  tile_start(t, g);
  if (g.nr <= 16)
    chains_f32<1>(t, g);
  else
    chains_f32<2>(t, g);
  tile_finish(t, g);
}

namespace {

// In-register transpose of 16 x 16 32-bit units: r[i] lane j -> r[j] lane i.
inline void transpose16(__m512i (&r)[16]) {
  __m512i t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  for (int g = 0; g < 4; ++g) {
    u[4 * g + 0] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
    u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
    u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
    u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
  }
  // u[4g + j], 128-bit lane L, holds column 4L + j of rows 4g..4g+3.
  for (int j = 0; j < 4; ++j) {
    __m512i s0 = _mm512_shuffle_i32x4(u[j], u[4 + j], _MM_SHUFFLE(2, 0, 2, 0));
    __m512i s1 = _mm512_shuffle_i32x4(u[j], u[4 + j], _MM_SHUFFLE(3, 1, 3, 1));
    __m512i s2 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], _MM_SHUFFLE(2, 0, 2, 0));
    __m512i s3 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], _MM_SHUFFLE(3, 1, 3, 1));
    r[j] = _mm512_shuffle_i32x4(s0, s2, _MM_SHUFFLE(2, 0, 2, 0));
    r[8 + j] = _mm512_shuffle_i32x4(s0, s2, _MM_SHUFFLE(3, 1, 3, 1));
    r[4 + j] = _mm512_shuffle_i32x4(s1, s3, _MM_SHUFFLE(2, 0, 2, 0));
    r[12 + j] = _mm512_shuffle_i32x4(s1, s3, _MM_SHUFFLE(3, 1, 3, 1));
  }
}

// Lanes contiguous along k: 32-bit units (an f32, or a bf16 pair) of lane l at
// base + l * lane_bytes + s * 4. Transposes 16 lanes x 16 steps at a time.
void pack_transpose(uint32_t* dst, int P, const char* base, int64_t lanes, int64_t steps,
                    int64_t lane_bytes) {
  for (int l0 = 0; l0 < P; l0 += 16) {
    const int width = P - l0 < 16 ? P - l0 : 16;  // lanes of dst this group fills
    const __mmask16 store_mask = lane_mask(width);
    for (int64_t s0 = 0; s0 < steps; s0 += 16) {
      const int64_t n = steps - s0 < 16 ? steps - s0 : 16;
      const __mmask16 load_mask = lane_mask(static_cast<int>(n));
      __m512i r[16];
      for (int i = 0; i < 16; ++i)
        r[i] = l0 + i < lanes
                   ? _mm512_maskz_loadu_epi32(load_mask, base + (l0 + i) * lane_bytes + s0 * 4)
                   : _mm512_setzero_si512();
      transpose16(r);
      for (int64_t s = 0; s < n; ++s)
        _mm512_mask_storeu_epi32(dst + (s0 + s) * P + l0, store_mask, r[s]);
    }
  }
}

// Lanes contiguous for each k (k stride ks elements), `lanes` possibly spanning several
// panels (panel q at dst + q * steps * P). Walks k outer, so each k row of the block
// is read once, contiguously, and rows ahead are prefetched: rows are a matrix row
// stride apart, further than the hardware prefetcher follows.
void pack_copy(uint32_t* dst, int P, const void* src, bool bf16, int64_t lanes, int64_t k,
               int64_t ks) {
  const int64_t steps = steps_of(k, bf16);
  const int64_t esz = bf16 ? 2 : 4, row_bytes = lanes * esz, per_step = bf16 ? 2 : 1;
  const int64_t panels = (lanes + P - 1) / P;
  const char* base = static_cast<const char*>(src);
  constexpr int64_t kAhead = 8;  // steps
  for (int64_t s = 0; s < steps; ++s) {
    if (s + kAhead < steps)
      for (int64_t e = 0; e < per_step && (s + kAhead) * per_step + e < k; ++e) {
        const char* row = base + ((s + kAhead) * per_step + e) * ks * esz;
        for (int64_t off = 0; off < row_bytes; off += 64) _mm_prefetch(row + off, _MM_HINT_T0);
      }
    for (int64_t q = 0; q < panels; ++q) {
      uint32_t* d = dst + q * steps * P + s * P;
      for (int l0 = 0; l0 < P; l0 += 16) {
        const int64_t lane0 = q * P + l0;
        const __mmask16 store_mask = lane_mask(P - l0 < 16 ? P - l0 : 16);
        const __mmask16 load_mask = lane_mask(static_cast<int>(imin(lanes - lane0, 16)));
        __m512i v;
        if (bf16) {
          const uint16_t* h = static_cast<const uint16_t*>(src) + lane0;
          const __m512i lo =
              _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(load_mask, h + 2 * s * ks));
          __m512i hi = _mm512_setzero_si512();
          if (2 * s + 1 < k)
            hi = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(load_mask, h + (2 * s + 1) * ks));
          v = _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16));
        } else {
          v = _mm512_maskz_loadu_epi32(load_mask, static_cast<const float*>(src) + lane0 + s * ks);
        }
        _mm512_mask_storeu_epi32(d + l0, store_mask, v);
      }
    }
  }
}

}  // namespace

void avx512_pack(uint32_t* dst, int P, const void* src, bool bf16, int64_t lanes, int64_t k,
                 int64_t ls, int64_t ks) {
  if (lanes <= 0 || k <= 0) {
    generic_pack(dst, P, src, bf16, lanes, k, ls, ks);
    return;
  }
  if (ks == 1 && (lanes == 1 || ls != 1)) {
    const int64_t esz = bf16 ? 2 : 4, steps = steps_of(k, bf16);
    const int64_t full = bf16 ? k / 2 : k;  // whole 32-bit units
    for (int64_t q = 0; q * P < lanes; ++q) {
      const int64_t n = imin(P, lanes - q * P);
      uint32_t* d = dst + q * steps * P;
      const char* b = static_cast<const char*>(src) + q * P * ls * esz;
      pack_transpose(d, P, b, n, full, ls * esz);
      if (full < steps) {  // odd bf16 K: the last pair's high half is zero
        const uint16_t* h = reinterpret_cast<const uint16_t*>(b);
        for (int l = 0; l < P; ++l) d[full * P + l] = l < n ? h[l * ls + k - 1] : 0u;
      }
    }
    return;
  }
  if (ls == 1) {
    pack_copy(dst, P, src, bf16, lanes, k, ks);
    return;
  }
  generic_pack(dst, P, src, bf16, lanes, k, ls, ks);
}

}  // namespace oomless::ops::gemm::detail
