// Elementwise binary kernels (add/sub with alpha, mul, div) over one run of
// elements with per-operand strides, so a broadcasting driver (or a planner's
// chunk) calls them once per innermost row. They know nothing about budgets.
//
// Numerics: computed in f32 and rounded once (bf16 output only when both
// inputs are bf16; mixed inputs promote to f32 as in torch). add/sub with
// alpha != 1 use one fused multiply-add like torch's vectorized CPU kernel
// (fmadd(other, alpha, self)); everything else is one IEEE operation. So f32
// results are correctly rounded (<= 0.5 ulp vs the exact value; alpha != 1 on
// the portable non-FMA fallback rounds twice like torch's scalar path: + 0.5
// ulp of alpha * b) and bf16 results are torch-in-f32 rounded once.
#pragma once
#include <cstdint>

#include "core/dtype.hpp"
#include "ops/families.hpp"

namespace oomless::ops {

// out[i] = a[i * sa] (op) b[i * sb] for i < n. Strides are in elements; 0
// broadcasts one value, 1 is the fast contiguous case, anything else gathers.
// a/b dtypes are F32 or BF16 (uint16_t bits); `out` is contiguous of dtype `to`
// (BF16 only if both inputs are BF16). Serial. `stream` uses non-temporal
// stores (for outputs much larger than the last-level cache); same bits.
void binary_kernel(BinaryOp op, float alpha, DType ta, const void* a, int64_t sa, DType tb,
                   const void* b, int64_t sb, DType to, void* out, int64_t n, bool stream = false);

}  // namespace oomless::ops
