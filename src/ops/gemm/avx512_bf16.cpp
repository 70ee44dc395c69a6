// The bf16 micro-kernel: vdpbf16ps on a 14 x 32 tile (28 accumulators; the
// instruction's ~6-cycle latency at 2 per cycle needs at least 12 in flight).
// Compiled with -mavx512bf16 (CMakeLists.txt); called only when the CPU has it.
#include "ops/gemm/avx512_common.hpp"

namespace oomless::ops::gemm::detail {

void avx512bf16_ukernel_bf16(const UkArgs& g) {
  Tile t;
  tile_start(t, g);
  ARows a(g);
  const uint32_t* b = g.b;
  for (int64_t s = 0; s < g.steps; ++s, a.next(g.a_step), b += kNR) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b);
    const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + 16);
#pragma GCC unroll 14
    for (int i = 0; i < kMR; ++i) {
      const __m512bh ai = (__m512bh)_mm512_set1_ps(bits_f32(a.row(i)));
      t.v[i][0] = _mm512_dpbf16_ps(t.v[i][0], ai, b0);
      t.v[i][1] = _mm512_dpbf16_ps(t.v[i][1], ai, b1);
    }
  }
  tile_finish(t, g);
}

}  // namespace oomless::ops::gemm::detail
