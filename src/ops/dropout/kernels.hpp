// native_dropout kernel over any element range, and the Philox4x32-10
// generator behind it (counter-based: the mask of an element depends only on
// the seed and its global index, never on how the work is split).
#pragma once
#include <array>
#include <cstdint>

#include "core/dtype.hpp"

namespace oomless::ops {

// Philox4x32-10 (Salmon et al., SC'11; Random123's constants and round order).
std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> ctr, std::array<uint32_t, 2> key);

// Key/counter mapping: key = (seed low 32 bits, seed high 32 bits); element g
// (global row-major index) uses counter (g/4 low 32, g/4 high 32, 0, 0) and
// output word g%4 = w. It is kept iff (w >> 8) * 2^-24 < 1 - p, so P(keep) =
// 1 - p to 24 bits, p = 0 keeps all and p = 1 drops all.
bool dropout_keep(uint64_t seed, uint64_t g, double p);

// Elements [0, count) of a chunk whose first element has global index `first`
// (contiguous in, out, mask of dtype t, f32 or bf16): mask = keep ? 1 : 0,
// out = (x * mask) * float(1 / (1 - p)) computed in f32 and rounded once
// (scale 0 when p = 1, so NaN/inf inputs give NaN exactly as x * 0 does).
// Vectorized (dropout_simd.cpp); bit-identical to the scalar definition below.
void dropout_range(DType t, const void* in, void* out, void* mask, int64_t count, uint64_t first,
                   uint64_t seed, double p);

// The scalar definition, one Philox block per 4 elements.
void dropout_range_scalar(const float* in, float* out, float* mask, int64_t count, uint64_t first,
                          uint64_t seed, double p);
void dropout_range_scalar(const uint16_t* in, uint16_t* out, uint16_t* mask, int64_t count,
                          uint64_t first, uint64_t seed, double p);

}  // namespace oomless::ops
