// Reduction kernels for mean and linalg_vector_norm, accumulating in double.
// Determinism: a reduction is a left fold, in index order, of partials of
// fixed index-aligned blocks (kReduceBlock elements of a contiguous run;
// fixed row blocks for column reductions), so any chunking that cuts on block
// boundaries and folds partials in order gives the same bits, whatever the
// thread count.
//
// Determinism holds on one machine and target; AVX2 and AVX-512 may differ in
// the last bits (lane counts differ).
//
// Numerics: the fold is in double. Sums (mean, ord 1, ord 2) first add 16
// terms per f32 lane and widen those partials (2.5x fewer conversions, the
// reduction then runs at memory speed): |error| <= 2^-20 * sum |f(x)| on top
// of one final f32 rounding (mean divides it by the count, the 2-norm halves
// it relatively); typical error is well under 1 ulp, and for bf16 data the
// partials are mostly exact. Count, max and min are exact. General p uses
// Highway's f64 Exp/Log (|x|^p to ~1e-15) and pow(sum, 1/p). bf16 results
// round the f32 value once more (torch also reduces in f32): within 1 bf16 ulp
// of torch-in-f32-rounded.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/dtype.hpp"

namespace oomless::ops {

enum class NormKind : uint8_t { Sum, AbsSum, SqSum, PowSum, MaxAbs, MinAbs, CountNonzero };

constexpr int64_t kReduceBlock = 16384;

// The fold's start value and combine step (max/min propagate NaN like torch).
inline double reduce_identity(NormKind k) {
  return k == NormKind::MaxAbs ? 0.0 : k == NormKind::MinAbs ? INFINITY : 0.0;
}
inline double reduce_combine(NormKind k, double a, double b) {
  if (k == NormKind::MaxAbs) return std::isnan(a) || a > b ? a : b;
  if (k == NormKind::MinAbs) return std::isnan(a) || a < b ? a : b;
  return a + b;
}

// Rows per block of a column reduction (rows x k, k contiguous columns): all
// rows when k is wide, else about 2^18 elements. Block partials fold in order,
// so results depend on this partition; the planner cuts columns only where
// it stays the same (ops/split_axes.cpp).
inline int64_t column_row_block(int64_t rows, int64_t k) {
  return k >= 1024 ? rows : std::max<int64_t>(1, (int64_t{1} << 18) / std::max<int64_t>(k, 1));
}

// Partial of one block: n <= kReduceBlock contiguous elements (F32 or BF16
// bits), folded from the identity. `p` is the exponent for PowSum.
double reduce_block(NormKind k, double p, DType t, const void* x, int64_t n);

// Continues the fold `acc` with the blocks of a contiguous run, in order. A run
// cut on block boundaries gives the same bits when the calls are chained
// (acc = reduce_run(.., piece, acc)) or when every reduce_block partial is
// folded in order; the fold of per-piece folds is NOT the same.
double reduce_run(NormKind k, double p, DType t, const void* x, int64_t n, double acc);

// Rows of a column reduction: for r < rows in order, acc[j] =
// combine(acc[j], f(x[r * row_stride + j])), j < n. Splitting the rows over
// several calls (in order) gives the same bits.
void reduce_accumulate(NormKind k, double p, DType t, const void* x, int64_t rows,
                       int64_t row_stride, int64_t n, double* acc);

}  // namespace oomless::ops
