// topk kernel over a range of rows. A row is the `n` elements along the topk
// dim; rows are indexed r = outer * inner + i for a contiguous input viewed as
// [outer, n, inner].
#pragma once
#include <cstdint>

#include "core/dtype.hpp"

namespace oomless::ops {

struct TopKGeom {
  int64_t n = 0;      // size of the dim
  int64_t inner = 1;  // product of the dims after it (its stride)
  int64_t k = 0;
  bool largest = true;
  bool sorted = true;
};

// Rows [r0, r1): values (input dtype) and int32 indices into `values` and
// `indices`, laid out as [outer, k, inner]; all pointers at element 0 of the
// whole tensor. NaN (any sign or payload) ranks above every number, as in
// torch, for largest and smallest alike; -0.0 and +0.0 are equal.
// Deterministic: equal values (ties, including -0.0 vs +0.0 and NaN vs NaN)
// come out lower index first, so the result is the first k of a stable sort of
// the row, and the chosen set at a tie on the k-th value holds the lower
// indices. Each value is the input element at its index, bit for bit (a -0.0
// stays -0.0). sorted=false returns the same set in an unspecified order (the
// row's own order when k == n).
void topk_rows(const TopKGeom& g, DType t, const void* in, void* values, int32_t* indices,
               int64_t r0, int64_t r1);

}  // namespace oomless::ops
