// Matmul kernels: pointers, extents and scratch in; no tensors, no budgets.
//
// The GEMM runs in f32 through OpenBLAS cblas_sgemm. bf16 operands are widened to
// f32 in scratch (exact), multiplied with f32 accumulation and rounded to bf16 once,
// in the epilogue, as torch's CPU bf16 matmul does. Operands whose last-two-dim
// strides BLAS can express (unit column stride: NoTrans; unit row stride: Trans) go
// to BLAS in place when f32; anything else (stride-0 broadcasts, general strides) is
// copied into scratch first.
//
// Determinism: K is always processed in fixed, index-aligned blocks of kKBlock
// (block j covers [j*kKBlock, (j+1)*kKBlock)), in increasing order, accumulated into
// the f32 output. A caller that splits K at multiples of kKBlock and accumulates the
// parts in order therefore gets bit-identical results to one call; splitting rows
// anywhere gives the same per-row computation (the tests check both).
//
// Accuracy (f32 accumulation; u = 2^-24): each output differs from the exact sum by at
// most about K * u * sum_k |a_ik * b_kj| (the blocked/FMA order is no worse than
// recursive summation). For bf16 outputs one more rounding to bf16 (half a bf16 ulp)
// follows, so on data where K * u * sum|a||b| is well below a bf16 ulp of the result
// (K * sum|a||b| / |c| << 2^16) we are within 1 bf16 ulp of torch (same f32 sum,
// different order, both rounded once).
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/dtype.hpp"

namespace oomless::ops::matmul {

constexpr int64_t kKBlock = 256;

// A strided 2-D matrix view (strides in elements) of f32 or bf16 values.
struct MatRef {
  const void* data = nullptr;
  DType dtype = DType::F32;
  int64_t rows = 0, cols = 0;
  int64_t row_stride = 0, col_stride = 1;
};

// Floats of scratch gemm_rows needs for rows [r0, r1) of A (rows x K) @ B (K x m).
size_t gemm_rows_scratch(const MatRef& a, const MatRef& b, int64_t r0, int64_t r1);

// c[i - r0, j] (f32, leading dimension ldc >= b.cols; c points at output row r0) for
// rows i in [r0, r1) of A and all columns j of B, over the K range [k0, k1):
//   accumulate == false:  c  = A[r0:r1, k0:k1] @ B[k0:k1, :]
//   accumulate == true:   c += A[r0:r1, k0:k1] @ B[k0:k1, :]
// An empty K range sets c to zero (or leaves it when accumulating). `scratch` holds
// gemm_rows_scratch(a, b, r0, r1) floats (may be null when that is 0). Requires
// a.cols == b.rows, 0 <= r0 <= r1 <= a.rows, 0 <= k0 <= k1 <= a.cols.
void gemm_rows(const MatRef& a, const MatRef& b, int64_t r0, int64_t r1, int64_t k0, int64_t k1,
               float* c, int64_t ldc, bool accumulate, float* scratch);

// One output row: out[j] = beta * in[j] + alpha * acc[j] for j < cols, computed in f32
// and stored once in out_dtype (f32 or bf16, round to nearest even). BLAS semantics
// for the scalars: beta == 0 (or in == nullptr) ignores `in` entirely (NaN/inf in it
// do not propagate), alpha == 0 ignores `acc`. `in` has in_dtype and element stride
// in_stride (0 broadcasts one value). `out` may alias `acc` when out_dtype is f32.
void epilogue_row(const float* acc, int64_t cols, float alpha, const void* in, DType in_dtype,
                  int64_t in_stride, float beta, void* out, DType out_dtype);

}  // namespace oomless::ops::matmul
