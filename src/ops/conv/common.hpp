// Target-independent pieces the convolution kernels share: per-thread scratch,
// the columns whose windows lie inside the input, the input rows output rows
// read, and work items.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "ops/conv/kernels.hpp"

namespace oomless::ops::conv {

// The depthwise kernels behind conv_depthwise (one file each); conv_dense is
// conv_gemm (gemm_conv.hpp).
void conv_nchw(const ConvGeom& g, const ConvArgs& a);            // columns in lanes
void conv_nhwc_depthwise(const ConvGeom& g, const ConvArgs& a);  // channels in lanes

// A per-thread buffer of at least n floats for `slot`, kept between calls: big
// fresh allocations cost first-touch page faults on every call (DESIGN.md 5).
float* scratch(int slot, int64_t n);
enum ScratchSlot { kWeights = 0, kBias = 1, kStage = 2 };

// Output columns [lo, hi) whose taps all lie inside the W input columns.
struct Cols {
  int64_t lo = 0, hi = 0;
};
inline Cols interior_cols(const ConvGeom& g) {
  const int64_t ew = (g.kw - 1) * g.dw + 1;
  Cols c;
  c.lo = std::min(g.OW, (g.pw + g.sw - 1) / g.sw);
  const int64_t last = g.W - ew + g.pw;  // ow * sw <= last
  c.hi = last < 0 ? c.lo : std::max(c.lo, std::min(g.OW, last / g.sw + 1));
  return c;
}

// Rows [lo, hi) of the whole plane that output rows [oh0, oh1) of the call read.
struct Rows {
  int64_t lo = 0, hi = 0;
};
inline Rows halo_rows(const ConvGeom& g, int64_t oh0, int64_t oh1) {
  const int64_t eh = (g.kh - 1) * g.dh + 1;
  Rows r;
  r.lo = std::clamp<int64_t>((g.row0 + oh0) * g.sh - g.ph, 0, g.full_h);
  r.hi = std::clamp<int64_t>((g.row0 + oh1 - 1) * g.sh - g.ph + eh, r.lo, g.full_h);
  return r;
}

// Output rows per work item: enough items for the threads to balance, and
// staged input rows within `stage_cap` floats (`per_row` floats per input row).
int64_t rows_per_item(const ConvGeom& g, int64_t other_items, int64_t per_row, int64_t stage_cap);

}  // namespace oomless::ops::conv
