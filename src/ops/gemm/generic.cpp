// Portable micro-kernels and packer: the fallback on CPUs without AVX-512, and the
// executable definition of the arithmetic the vector kernels must reproduce bit for
// bit (tests compare them).
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "core/dtype.hpp"
#include "ops/gemm/ukernel.hpp"

namespace oomless::ops::gemm::detail {

namespace {

float f32_bits(uint32_t u) {
  return std::bit_cast<float>(u);
}

// vdpbf16ps treats denormal inputs as zero and flushes denormal results to zero.
float flush(float x) {
  return std::fpclassify(x) == FP_SUBNORMAL ? std::copysign(0.0f, x) : x;
}

uint32_t a_unit(const char* a, const UkArgs& g, int i, int64_t s) {
  uint32_t u;
  std::memcpy(&u, a + i * g.a_row + s * g.a_step, 4);
  return u;
}

// Calls run(a, b, steps) for each run of the chain (UkArgs::segs, or the one run).
template <class Run>
void for_runs(const UkArgs& g, Run run) {
  if (!g.segs) return run(reinterpret_cast<const char*>(g.a), g.b, g.steps);
  for (int q = 0; q < g.nsegs; ++q)
    run(reinterpret_cast<const char*>(g.a) + g.segs[q].a, g.b + g.segs[q].b, g.segs[q].steps);
}

float bf16_step(float c, uint32_t a, uint32_t b) {
  float a_lo = flush(f32_bits(a << 16)), a_hi = flush(f32_bits(a & 0xffff0000u));
  float b_lo = flush(f32_bits(b << 16)), b_hi = flush(f32_bits(b & 0xffff0000u));
  c = flush(std::fma(a_hi, b_hi, flush(c)));
  return flush(std::fma(a_lo, b_lo, c));
}

void finish(float (&acc)[kMR][kNR], const UkArgs& g) {
  for (int i = 0; i < g.mr; ++i)
    for (int j = 0; j < g.nr; ++j) {
      float v = acc[i][j];
      if (!g.store) {
        g.c[i * g.ldc + j] = v;
        continue;
      }
      const TileStore& s = *g.store;
      if (s.row_bias) v += s.row_bias[i];
      if (s.col_bias) v += s.col_bias[j];
      if (s.bf16)
        static_cast<uint16_t*>(s.out)[i * s.rs + j] = f32_to_bf16(v);
      else
        static_cast<float*>(s.out)[i * s.rs + j] = v;
    }
}

void start(float (&acc)[kMR][kNR], const UkArgs& g) {
  for (int i = 0; i < kMR; ++i)
    for (int j = 0; j < kNR; ++j)
      acc[i][j] = g.load_c && i < g.mr && j < g.nr ? g.c[i * g.ldc + j] : 0.0f;
}

}  // namespace

void generic_ukernel_f32(const UkArgs& g) {
  float acc[kMR][kNR];
  start(acc, g);
  for_runs(g, [&](const char* a, const uint32_t* b0, int64_t steps) {
    for (int64_t s = 0; s < steps; ++s) {
      const uint32_t* b = b0 + s * kNR;
      for (int i = 0; i < g.mr; ++i) {
        float ai = f32_bits(a_unit(a, g, i, s));
        for (int j = 0; j < g.nr; ++j) acc[i][j] = std::fma(ai, f32_bits(b[j]), acc[i][j]);
      }
    }
  });
  finish(acc, g);
}

// One vdpbf16ps lane: the odd (high) element of the pair first, then the even one,
// each a fused multiply-add rounded to nearest even, denormals flushed.
void generic_ukernel_bf16(const UkArgs& g) {
  float acc[kMR][kNR];
  start(acc, g);
  for_runs(g, [&](const char* a, const uint32_t* b0, int64_t steps) {
    for (int64_t s = 0; s < steps; ++s) {
      const uint32_t* b = b0 + s * kNR;
      for (int i = 0; i < g.mr; ++i) {
        uint32_t ai = a_unit(a, g, i, s);
        for (int j = 0; j < g.nr; ++j) acc[i][j] = bf16_step(acc[i][j], ai, b[j]);
      }
    }
  });
  finish(acc, g);
}

float chain_step(bool bf16, float c, uint32_t a, uint32_t b) {
  return bf16 ? bf16_step(c, a, b) : std::fma(f32_bits(a), f32_bits(b), c);
}

void generic_pack(uint32_t* dst, int P, const void* src, bool bf16, int64_t lanes, int64_t k,
                  int64_t ls, int64_t ks) {
  int64_t steps = steps_of(k, bf16);
  if (lanes > P) {  // several panels
    size_t esz = bf16 ? 2 : 4;
    for (int64_t q = 0; q * P < lanes; ++q)
      generic_pack(dst + q * steps * P, P, static_cast<const char*>(src) + q * P * ls * esz, bf16,
                   std::min<int64_t>(P, lanes - q * P), k, ls, ks);
    return;
  }
  const float* f = static_cast<const float*>(src);
  const uint16_t* h = static_cast<const uint16_t*>(src);
  for (int64_t s = 0; s < steps; ++s)
    for (int l = 0; l < P; ++l) {
      uint32_t u = 0;
      if (l < lanes) {
        if (bf16) {
          u = h[l * ls + 2 * s * ks];
          if (2 * s + 1 < k) u |= static_cast<uint32_t>(h[l * ls + (2 * s + 1) * ks]) << 16;
        } else {
          std::memcpy(&u, f + l * ls + s * ks, 4);
        }
      }
      dst[s * P + l] = u;
    }
}

}  // namespace oomless::ops::gemm::detail
