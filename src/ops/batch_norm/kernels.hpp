// Batch-norm kernels: per-channel moments (mean, M2) over fixed blocks merged
// with Chan's formula in block order, and the affine apply y = x * a + b.
// Chunk-ready: blocks are fixed by the shape (see exec.cpp), so statistics do
// not depend on threads or on how a planner cuts the input, as long as it
// merges block moments in order.
//
// Numerics: each block is two-pass in double (mean, then sum of squared
// deviations), merged in double, so mean/var carry ~1e-15 relative error
// even for data far from zero. The apply computes a = invstd * w and
// b = bias - mean * a in double, rounds them to f32 and evaluates x * a + b in
// f32 (torch's form): |error| <= 2^-24 (|x a| + |b|) + 2^-24 |y| per element,
// so outputs near 0 from large |mean / std| carry absolute error like torch's.
// bf16 rounds that f32 once.
#pragma once
#include <cstdint>

#include "core/dtype.hpp"

namespace oomless::ops {

struct Moments {
  double n = 0, mean = 0, m2 = 0;  // count, mean, sum of squared deviations
};

// Chan et al. parallel merge; a before b (the order is fixed by callers).
inline Moments moments_merge(const Moments& a, const Moments& b) {
  if (a.n == 0) return b;
  if (b.n == 0) return a;
  Moments r;
  r.n = a.n + b.n;
  const double d = b.mean - a.mean;
  r.mean = a.mean + d * (b.n / r.n);
  r.m2 = a.m2 + b.m2 + d * d * (a.n * b.n / r.n);
  return r;
}

// Elements per statistics block (also the target size of strided blocks).
constexpr int64_t kMomentBlock = 4096;

// Moments of `count` segments of `len` contiguous elements, `stride` elements
// apart (a block of one channel in NCHW). Two passes in double. Serial.
Moments moments_block(DType t, const void* x, int64_t len, int64_t count, int64_t stride);

// Per-column moments of a rows x cols block whose rows are `row_stride`
// elements apart (channels-last): writes mean[c], m2[c] (n = rows).
void moments_columns(DType t, const void* x, int64_t rows, int64_t row_stride, int64_t cols,
                     double* mean, double* m2);

// out[i] = x[i] * a + b for n contiguous elements (one NCHW plane). `stream`
// uses non-temporal stores (huge outputs); same bits.
void batch_norm_apply(DType t, const void* x, void* out, int64_t n, float a, float b,
                      bool stream = false);

// out[r, c] = x[r, c] * a[c] + b[c] for contiguous rows of `cols` (NHWC).
void batch_norm_apply_columns(DType t, const void* x, void* out, int64_t rows, int64_t cols,
                              const float* a, const float* b);

}  // namespace oomless::ops
