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
// whole tensor. NaN ranks above every number, as in torch; sorted=false leaves
// the k winners in selection order.
void topk_rows(const TopKGeom& g, DType t, const void* in, void* values, int32_t* indices,
               int64_t r0, int64_t r1);

}  // namespace oomless::ops
