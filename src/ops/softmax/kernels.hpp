// Softmax kernels: exp(x - max) / sum over one axis, computed in f32 (bf16
// input is widened, the output rounded once). Chunk-ready in two ways:
//  - softmax_kernel runs any sub-range of rows (outer x inner) of a
//    [outer, len, inner] view; rows are independent.
//  - a last-dim row too long for one chunk is cut into pieces starting on
//    multiples of kSoftmaxBlock: fold the stats through the pieces in row
//    order (st = softmax_row_stats(piece, st)), then softmax_row_apply each
//    piece with the row's stats (online softmax, Milakov & Gimelshein 2018).
//    softmax_kernel folds the same blocks the same way, so the bits never
//    depend on the cut or on threads. (Merging per-piece stats computed from
//    scratch is NOT bit-identical; merge per-block stats instead.)
//
// Numerics (f32): out = exp(x - M) * (1 / S). Exp is FastExp (unary/
// simd_io-inl.h: Highway's polynomial, 1 ulp; values below 2^-125 flush to 0,
// so outputs carry up to 2.4e-38 absolute error there); S sums
// up to kSoftmaxBlock terms per block in 4 x lanes f32 accumulators, then merges
// blocks with expf. Relative error <= (4 + |x - M| + len / (4 lanes)) * 2^-24
// worst case (x - M is rounded in f32 before exp, exact for bf16 inputs), with
// sqrt(len) instead of len typical; bf16 then rounds once. bf16 outputs use
// ExpB instead (unary/bf16_math-inl.h, relative error < 2^-17.2; FastExp
// below -86.5 so tiny terms stay exact): the output's f32 error stays below
// 2^-15, far inside the 2^-9 that keeps it within 1 bf16 ulp.
// Rows holding NaN or +inf, or only -inf, give NaN like torch.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/dtype.hpp"

namespace oomless::ops {

constexpr int64_t kSoftmaxBlock = 8192;

// Extents of one call over a [outer, len, inner] view. Consecutive inner
// elements are adjacent (stride 1); the other strides are in elements. Input
// and output use the same strides.
struct SoftmaxGeom {
  int64_t outer = 1, len = 1, inner = 1;
  int64_t outer_stride = 1, len_stride = 1;
  bool stream = false;  // non-temporal output stores (huge outputs); same bits
};

// Softmax over `len` for every (outer, inner) position of the view. Serial.
// `to` may be F32 for a BF16 input (half_to_float); otherwise to == ti.
void softmax_kernel(DType ti, const void* in, DType to, void* out, const SoftmaxGeom& g);

// Running (max, sum of exp(x - max)) of part of a last-dim row.
struct SoftmaxStats {
  float max = -INFINITY;
  float sum = 0.f;
  bool nan = false;
};

// `carry` folded with the blocks of `len` contiguous elements that start at a
// multiple of kSoftmaxBlock within their row (len itself is free). The output
// dtype `to` picks the exp, as in softmax_row_apply.
SoftmaxStats softmax_row_stats(DType ti, DType to, const void* x, int64_t len,
                               const SoftmaxStats& carry = {});
// Merge of two consecutive pieces (a before b); deterministic (expf).
inline SoftmaxStats softmax_merge(const SoftmaxStats& a, const SoftmaxStats& b) {
  SoftmaxStats r;
  r.nan = a.nan || b.nan;
  r.max = a.max > b.max ? a.max : b.max;
  if (r.nan || !std::isfinite(r.max)) return r;  // the row will be NaN (or is empty so far)
  r.sum = a.sum * std::exp(a.max - r.max) + b.sum * std::exp(b.max - r.max);
  return r;
}
// out = softmax of `len` contiguous elements given the whole row's stats.
void softmax_row_apply(DType ti, const void* x, DType to, void* out, int64_t len,
                       const SoftmaxStats& row);

}  // namespace oomless::ops
