// Matmul helpers around the packed GEMM (ops/gemm/gemm.hpp, which states the design,
// the determinism contract and the error bound): operand views and the per-row
// epilogue of addmm/linear (beta * input + alpha * product, one rounding).
#pragma once
#include <cstdint>

#include "core/dtype.hpp"
#include "ops/gemm/gemm.hpp"

namespace oomless::ops::matmul {

// A strided 2-D matrix view (strides in elements) of f32 or bf16 values.
using MatRef = gemm::MatView;

// One output row: out[j] = beta * in[j] + alpha * acc[j] for j < cols, computed in f32
// and stored once in out_dtype (f32 or bf16, round to nearest even). BLAS semantics
// for the scalars: beta == 0 (or in == nullptr) ignores `in` entirely (NaN/inf in it
// do not propagate), alpha == 0 ignores `acc` (which may then be null). `in` has
// in_dtype and element stride in_stride (0 broadcasts one value). `out` may alias
// `acc` when out_dtype is f32.
void epilogue_row(const float* acc, int64_t cols, float alpha, const void* in, DType in_dtype,
                  int64_t in_stride, float beta, void* out, DType out_dtype);

}  // namespace oomless::ops::matmul
