// The bf16 micro-kernel: vdpbf16ps on a 14 x 32 tile (28 accumulators; the
// instruction's ~6-cycle latency at 2 per cycle needs at least 12 in flight).
// Compiled with -mavx512bf16 (CMakeLists.txt); called only when the CPU has it.
#include "ops/gemm/avx512_common.hpp"

namespace oomless::ops::gemm::detail {

namespace {

// vcvtne2ps2bf16 rounds to nearest even and quiets NaNs as to_bf16 does, but reads
// denormal inputs as zero; those lanes (rare) take to_bf16 so that every path gives
// the same bits.
__m512i cvt_bf16(__m512 lo, __m512 hi) {
  const __m512i r = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
  const __mmask16 d0 = _mm512_fpclass_ps_mask(lo, 0x20), d1 = _mm512_fpclass_ps_mask(hi, 0x20);
  if (__builtin_expect((d0 | d1) == 0, 1)) return r;
  return to_bf16x2(lo, hi);
}

}  // namespace

namespace {

// NV B vectors per step: 2, or 1 for a panel of at most 16 valid columns (the last
// panel of an output whose width is not a multiple of 32: half the instructions;
// the valid columns' chains are the same operations in the same order).
template <int NV>
inline __attribute__((always_inline)) void chains(Tile& t, const UkArgs& g) {
  const Seg one{0, 0, g.steps};
  const Seg* segs = g.segs ? g.segs : &one;
  const int nsegs = g.segs ? g.nsegs : 1;
  for (int q = 0; q < nsegs; ++q) {
    ARows a(reinterpret_cast<const char*>(g.a) + segs[q].a, g.a_row);
    const uint32_t* b = g.b + segs[q].b;
    for (int64_t s = 0; s < segs[q].steps; ++s, a.next(g.a_step), b += kNR) {
      const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b);
      const __m512bh b1 = NV == 2 ? (__m512bh)_mm512_loadu_si512(b + 16) : b0;
#pragma GCC unroll 14
      for (int i = 0; i < kMR; ++i) {
        const __m512bh ai = (__m512bh)_mm512_set1_ps(bits_f32(a.row(i)));
        t.v[i][0] = _mm512_dpbf16_ps(t.v[i][0], ai, b0);
        if (NV == 2) t.v[i][1] = _mm512_dpbf16_ps(t.v[i][1], ai, b1);
      }
    }
  }
}

}  // namespace

void avx512bf16_ukernel_bf16(const UkArgs& g) {
  Tile t;
  tile_start(t, g);
  if (g.nr <= 16)
    chains<1>(t, g);
  else
    chains<2>(t, g);
  tile_finish<cvt_bf16>(t, g);
}

}  // namespace oomless::ops::gemm::detail
