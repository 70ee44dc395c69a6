// upsample_nearest2d kernels over a range of output rows, driven by per-axis
// source index tables (torch 1.13's rule, see nearest_source_index).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace oomless::ops {

// Source index of every output position along one axis: identity when out ==
// in, o >> 1 when out == 2 * in, else min(floor(o * scale), in - 1) in float with
// scale = 1 / scale_factor when one is given, else in / out (torch's
// nearest_idx and compute_scales_value).
std::vector<int64_t> nearest_source_index(int64_t in, int64_t out,
                                          std::optional<double> scale_factor);

struct UpsampleGeom {
  int64_t H = 0, W = 0, OH = 0, OW = 0;
  const int64_t* src_h = nullptr;  // OH entries
  const int64_t* src_w = nullptr;  // OW entries
};

// Output rows [oh0, oh1) of one NCHW plane; elements of elem_size bytes
// (data movement only, so any dtype). `in` points at input row `in_row0`;
// `out` at output row oh0. Consecutive output rows with the same source row
// are copied from the row just written.
void upsample_nearest_rows(const UpsampleGeom& g, size_t elem_size, const void* in, int64_t in_row0,
                           void* out, int64_t oh0, int64_t oh1);

// Same for one NHWC image with C channels.
void upsample_nearest_rows_nhwc(const UpsampleGeom& g, int64_t C, size_t elem_size, const void* in,
                                int64_t in_row0, void* out, int64_t oh0, int64_t oh1);

}  // namespace oomless::ops
