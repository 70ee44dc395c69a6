// Batch-norm kernels: per-channel moments (mean, M2) over fixed blocks merged
// with Chan's formula in block order, and the affine apply y = x * a + b.
// Chunk-ready: blocks are fixed by the shape (see exec.cpp), so statistics do
// not depend on threads or on how a planner cuts the input, as long as it
// merges block moments in order.
//
// Numerics: NCHW blocks are two-pass in double (mean, then sum of squared
// deviations), merged in double, so mean/var carry ~1e-15 relative error
// even for data far from zero. Channels-last statistics are one pass in
// double about a shift near the mean (exec.cpp), ~1e-16 * rows relative at
// worst. The apply computes a = invstd * w and
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
// Target elements per channels-last statistics block (whole rows).
constexpr int64_t kColumnBlock = 16384;

// Moments of `count` segments of `len` contiguous elements, `stride` elements
// apart (a block of one channel in NCHW). Two passes in double. Serial.
Moments moments_block(DType t, const void* x, int64_t len, int64_t count, int64_t stride);

// Channels-last statistics of a contiguous rows x cols block, one pass in
// double about a per-column shift: s1[c] = sum_r (x[r, c] - shift[c]) and
// s2[c] = sum_r (x[r, c] - shift[c])^2. Serial; the result depends only on
// the block (lanes accumulate rows in order).
void shifted_sums_columns(DType t, const void* x, int64_t rows, int64_t cols, const double* shift,
                          double* s1, double* s2);

// out[i] = x[i] * a + b for n contiguous elements (one NCHW plane). `stream`
// uses non-temporal stores (huge outputs); same bits.
void batch_norm_apply(DType t, const void* x, void* out, int64_t n, float a, float b,
                      bool stream = false);

// Channels-last apply: out[i] = x[i] * a[i % period] + b[i % period] for n
// contiguous elements starting at phase 0. `period` is >= 64 and a multiple of
// the channel count (a and b repeat the channels); a, b hold period + 64
// values. `stream` uses non-temporal stores (huge outputs); same bits.
void batch_norm_apply_periodic(DType t, const void* x, void* out, int64_t n, const float* a,
                               const float* b, int64_t period, bool stream);

}  // namespace oomless::ops
