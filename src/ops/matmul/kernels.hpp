// Matmul kernels: pointers and extents in; no tensors, no budgets.
//
// The GEMM runs in f32 through OpenBLAS cblas_sgemm. bf16 operands are widened to
// f32 (exact), multiplied with f32 accumulation and rounded to bf16 once, in the
// epilogue, as torch's CPU bf16 matmul does. Operands whose strides BLAS can express
// (unit column stride: NoTrans; unit row stride: Trans; leading dimension large
// enough) go to BLAS in place when f32; anything else (stride-0 broadcasts, general
// strides, bf16) is copied block by block into per-thread scratch.
//
// Determinism. OpenBLAS results depend on the call shape, on where an element sits
// in the call (edge micro-kernels) and on OpenBLAS's own thread count (measured on
// 0.3.21: row splits and 1 vs 2 threads both change bits). So the kernel
//   * switches OpenBLAS to one thread at first use and parallelises itself, with
//     OpenMP, over fixed output tiles of kMBlock x kNBlock, index-aligned to the
//     whole output (tile (i, j) covers rows [i*kMBlock, ...), cols [j*kNBlock, ...));
//   * walks K in fixed, index-aligned blocks of kKBlock, in increasing order, one
//     sgemm per (tile, K block), accumulating into the f32 output.
// Every output element is thus computed by the same sequence of identically shaped
// calls whatever the thread count, and whatever the split, as long as rows are split
// at multiples of kMBlock and K at multiples of kKBlock (accumulating the K parts in
// order). Other splits are still correct, only not bit-identical.
//
// bf16 operands: each K block of A and B is widened (a vectorized shift) into the
// thread's scratch just before its sgemm. Blocks are 0.5-1 KB runs in different pages,
// which the hardware prefetcher does not follow, so runs are software-prefetched
// ahead (without it the widening stalled on DRAM: in a perf profile of addmm bf16 it
// had half as many samples as all of OpenBLAS). A work unit takes up to kRowGroup row
// tiles of one column tile, so each B block is widened once for all of them; the
// calls per tile are unchanged, so results are too. What bounds bf16 and f32 alike
// is the tiled call structure the determinism needs (one 128x512x256 sgemm per tile
// and K block, the C tile re-read per K block); BENCHMARKS.md has the % of sgemm.
//
// Scratch: at most kScratchBytesPerThread per OpenMP thread (thread-local, reused),
// independent of the problem size.
//
// Accuracy (f32 accumulation; u = 2^-24): each output differs from the exact sum by
// at most about K * u * sum_k |a_ik * b_kj|. bf16 outputs add one rounding to bf16
// (half a bf16 ulp), so where K * u * sum|a||b| is well below a bf16 ulp of the
// result (K * sum|a||b| / |c| << 2^16) we are within 1 bf16 ulp of torch (same f32
// sum in another order, both rounded once).
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/dtype.hpp"

namespace oomless::ops::matmul {

constexpr int64_t kMBlock = 128;  // output rows per tile
constexpr int64_t kNBlock = 512;  // output columns per tile
constexpr int64_t kKBlock = 256;  // reduction length per sgemm call
constexpr size_t kScratchBytesPerThread = (kMBlock * kKBlock + kKBlock * kNBlock) * sizeof(float);
constexpr int64_t kRowGroup = 4;  // bf16 B: row tiles sharing one widened B block

// A strided 2-D matrix view (strides in elements) of f32 or bf16 values.
struct MatRef {
  const void* data = nullptr;
  DType dtype = DType::F32;
  int64_t rows = 0, cols = 0;
  int64_t row_stride = 0, col_stride = 1;
};

// c[i - r0, j] (f32, leading dimension ldc >= b.cols; c points at output row r0) for
// rows i in [r0, r1) of A (rows x K) and all columns j of B (K x m), over the K range
// [k0, k1):
//   accumulate == false:  c  = A[r0:r1, k0:k1] @ B[k0:k1, :]
//   accumulate == true:   c += A[r0:r1, k0:k1] @ B[k0:k1, :]
// An empty K range sets c to zero (or leaves it when accumulating). Requires
// a.cols == b.rows, 0 <= r0 <= r1 <= a.rows, 0 <= k0 <= k1 <= a.cols; c must not
// overlap A or B.
void gemm_rows(const MatRef& a, const MatRef& b, int64_t r0, int64_t r1, int64_t k0, int64_t k1,
               float* c, int64_t ldc, bool accumulate);

// One output row: out[j] = beta * in[j] + alpha * acc[j] for j < cols, computed in f32
// and stored once in out_dtype (f32 or bf16, round to nearest even). BLAS semantics
// for the scalars: beta == 0 (or in == nullptr) ignores `in` entirely (NaN/inf in it
// do not propagate), alpha == 0 ignores `acc` (which may then be null). `in` has
// in_dtype and element stride in_stride (0 broadcasts one value). `out` may alias
// `acc` when out_dtype is f32.
void epilogue_row(const float* acc, int64_t cols, float alpha, const void* in, DType in_dtype,
                  int64_t in_stride, float beta, void* out, DType out_dtype);

}  // namespace oomless::ops::matmul
