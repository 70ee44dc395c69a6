// max_pool2d_with_indices kernels over a range of output rows. They know
// nothing about budgets: a chunked caller passes the input rows a range needs
// (its halo) and buffers for just those output rows.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string_view>
#include <utility>

#include "core/dtype.hpp"
#include "ops/args.hpp"

namespace oomless::ops {

struct PoolGeom {
  int64_t H = 0, W = 0;    // input plane
  int64_t OH = 0, OW = 0;  // output plane
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
};

// torch's pooling_output_shape: floor or ceil, and with ceil_mode the last
// window must start inside the input or the left padding.
int64_t pool_output_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dilation,
                         bool ceil_mode);

// Input rows [first, last) that output rows [oh0, oh1) read (their halo),
// clipped to the plane's H rows. A call may hold just these rows of a larger
// plane (the planner's row chunks: arguments rows_of, out_row0, out_rows).
inline std::pair<int64_t, int64_t> pool_input_rows(int64_t H, int64_t kh, int64_t sh, int64_t ph,
                                                   int64_t dh, int64_t oh0, int64_t oh1) {
  return {std::clamp<int64_t>(oh0 * sh - ph, 0, H),
          std::clamp<int64_t>((oh1 - 1) * sh - ph + (kh - 1) * dh + 1, 0, H)};
}

// The output rows a call computes, [row0, row0 + rows) of OH, for an input
// plane of full_h rows of which the call holds h: all of them, or (rows_of
// set) h rows from the first row of those rows' halo, at least the halo.
// InvalidArgument naming `op` otherwise.
struct PoolRows {
  int64_t full_h = 0, OH = 0, row0 = 0, rows = 0, in_row0 = 0;
};
PoolRows pool_rows(std::string_view op, const Args& a, int64_t h, int64_t kh, int64_t sh,
                   int64_t ph, int64_t dh, bool ceil_mode);

// Output rows [oh0, oh1) of one NCHW plane (f32 or bf16). `in` points at input
// row `in_row0` of the plane (rows are W apart); `out` and `idx` point at output
// row oh0 (rows are OW apart). Indices are ih * W + iw within the plane, as
// torch; NaN wins (the last NaN of a window), ties keep the first maximum.
void max_pool2d_rows(const PoolGeom& g, DType t, const void* in, int64_t in_row0, void* out,
                     int32_t* idx, int64_t oh0, int64_t oh1);

// Same for one NHWC image with C channels: pixels are C elements apart.
void max_pool2d_rows_nhwc(const PoolGeom& g, int64_t C, DType t, const void* in, int64_t in_row0,
                          void* out, int32_t* idx, int64_t oh0, int64_t oh1);

}  // namespace oomless::ops
