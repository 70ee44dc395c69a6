// pack_run (pack.hpp) with AVX-512 F/BW: masked loads of the run's valid pixels (a
// masked-off element is never read, so runs may start before or end after their
// row), stride 2 by selecting even elements, bf16 channel pairs interleaved by
// vpermt2w. Compiled with AVX-512 flags (CMakeLists.txt), called only when the GEMM
// kernels are the AVX-512 ones.
#include <immintrin.h>

#include "ops/conv/pack.hpp"

namespace oomless::ops::conv::detail {

namespace {

inline __mmask32 bits32(int lo, int hi) {  // bits [lo, hi) of 32
  if (hi <= lo) return 0;
  const uint64_t m = ((hi >= 64 ? ~0ull : (1ull << hi) - 1)) & ~((1ull << lo) - 1);
  return static_cast<__mmask32>(m);
}

inline const void* at(const char* base, int64_t bytes) {
  return reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(base) +
                                       static_cast<uintptr_t>(bytes));
}

}  // namespace

void pack_run_avx512(const RowRun& r) {
  if (r.sw > 2) return pack_run_generic(r);
  const int l0 = r.l0;
  const __mmask32 store = bits32(l0, l0 + r.len);            // lanes of the run
  const __mmask32 valid = bits32(l0 + r.d_lo, l0 + r.d_hi);  // lanes that read input
  // Element e of a load at lane L reads pixel d = L - l0 (+ e for stride 1).
  if (!r.bf16) {
    const __mmask16 st0 = static_cast<__mmask16>(store), st1 = static_cast<__mmask16>(store >> 16);
    if (r.sw == 1) {
      const __mmask16 v0 = static_cast<__mmask16>(valid), v1 = static_cast<__mmask16>(valid >> 16);
      for (int64_t k = 0; k < r.units; ++k) {
        const char* x = static_cast<const char*>(at(r.x, k * r.cstep - int64_t{l0} * 4));
        uint32_t* d = r.dst + k * 32;
        _mm512_mask_storeu_ps(d, st0, _mm512_maskz_loadu_ps(v0, x));
        _mm512_mask_storeu_ps(d + 16, st1, _mm512_maskz_loadu_ps(v1, at(x, 64)));
      }
      return;
    }
    // Stride 2: lanes [16h, 16h + 16) read elements 2 (L - l0) + {0, 1}: two loads of
    // 16, the even elements kept.
    __mmask16 e[4];
    for (int q = 0; q < 4; ++q) {  // element masks of the four 16-element loads
      uint32_t m = 0;
      for (int b = 0; b < 8; ++b)
        if (valid >> (8 * q + b) & 1) m |= 1u << (2 * b);
      e[q] = static_cast<__mmask16>(m);
    }
    const __m512i even =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (int64_t k = 0; k < r.units; ++k) {
      const char* x = static_cast<const char*>(at(r.x, k * r.cstep - int64_t{l0} * 8));
      uint32_t* d = r.dst + k * 32;
      for (int h = 0; h < 2; ++h) {
        const __m512 a = _mm512_maskz_loadu_ps(e[2 * h], at(x, h * 128));
        const __m512 b = _mm512_maskz_loadu_ps(e[2 * h + 1], at(x, h * 128 + 64));
        _mm512_mask_storeu_ps(d + 16 * h, h ? st1 : st0, _mm512_permutex2var_ps(a, even, b));
      }
    }
    return;
  }
  const __mmask16 st0 = static_cast<__mmask16>(store), st1 = static_cast<__mmask16>(store >> 16);
  if (r.sw == 1) {
    // 32 pixels of channel c and c + 1, interleaved into units 0-15 and 16-31.
    const __m512i lo =
        _mm512_setr_epi32(0x00200000, 0x00210001, 0x00220002, 0x00230003, 0x00240004, 0x00250005,
                          0x00260006, 0x00270007, 0x00280008, 0x00290009, 0x002a000a, 0x002b000b,
                          0x002c000c, 0x002d000d, 0x002e000e, 0x002f000f);
    const __m512i hi = _mm512_add_epi16(lo, _mm512_set1_epi16(16));
    for (int64_t k = 0; k < r.units; ++k) {
      const char* x = static_cast<const char*>(at(r.x, k * r.cstep - int64_t{l0} * 2));
      const bool second = !(r.odd && k == r.units - 1);
      const __m512i a = _mm512_maskz_loadu_epi16(valid, x);
      const __m512i b =
          second ? _mm512_maskz_loadu_epi16(valid, at(x, r.xs_c)) : _mm512_setzero_si512();
      uint32_t* d = r.dst + k * 32;
      _mm512_mask_storeu_epi32(d, st0, _mm512_permutex2var_epi16(a, lo, b));
      _mm512_mask_storeu_epi32(d + 16, st1, _mm512_permutex2var_epi16(a, hi, b));
    }
    return;
  }
  // Stride 2: lane L's unit is elements 2 (L - l0) of both channels; with the odd
  // elements masked off, a 32-bit lane of the load holds just the even one.
  __mmask32 e[2];
  for (int h = 0; h < 2; ++h) {
    uint64_t m = 0;
    for (int b = 0; b < 16; ++b)
      if (valid >> (16 * h + b) & 1) m |= 1ull << (2 * b);
    e[h] = static_cast<__mmask32>(m);
  }
  for (int64_t k = 0; k < r.units; ++k) {
    const char* x = static_cast<const char*>(at(r.x, k * r.cstep - int64_t{l0} * 4));
    const bool second = !(r.odd && k == r.units - 1);
    uint32_t* d = r.dst + k * 32;
    for (int h = 0; h < 2; ++h) {
      const __m512i a = _mm512_maskz_loadu_epi16(e[h], at(x, h * 64));
      __m512i u = a;
      if (second)
        u = _mm512_or_si512(
            a, _mm512_slli_epi32(_mm512_maskz_loadu_epi16(e[h], at(x, h * 64 + r.xs_c)), 16));
      _mm512_mask_storeu_epi32(d + 16 * h, h ? st1 : st0, u);
    }
  }
}

}  // namespace oomless::ops::conv::detail
